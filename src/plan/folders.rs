//! Batch folders (`iaup upload --folders DIR`): the layout of IA's old FTP contribution flow,
//! one subfolder per item named by its identifier, holding the item's files plus
//! `ID_meta.xml` (its metadata), `ID_marc.xml` / `ID_meta.mrc` (a MARC record) and
//! `ID_files.xml` (IA's file list). Turned into the same [`Plan`] a spreadsheet gives:
//! `_meta.xml` becomes the item's metadata (sent as headers, not uploaded), the MARC files go
//! first of the item's files (IA builds metadata from them), `_files.xml` is not uploaded (IA
//! generates it). Every problem in every folder is collected before anything is sent.

use std::path::{Path, PathBuf};

use quick_xml::events::Event;
use quick_xml::Reader;

use super::files::{self, Origin};
use super::meta::{self, MetaBuilder, FIELD_NAME_HINT};
use super::validate::{parse_field_name, validate_field_name, IDENTIFIER_RULE};
use super::{validate_identifier, ItemBuilder, Plan, PlanOptions, Problem};

/// Builds a plan from the item folders in `dir`, in name order.
pub fn from_folders(dir: &Path, opts: &PlanOptions) -> Result<Plan, Vec<Problem>> {
    let (options_meta, mut problems) = meta::from_options(&opts.metadata);
    let entries = match item_folders(dir) {
        Ok(entries) => entries,
        Err(p) => return Err(vec![p]),
    };
    let mut plan = Plan {
        items: Vec::new(),
        gone: Vec::new(),
        notes: Vec::new(),
    };
    let mut loose = Vec::new();
    let mut files_xml = 0;
    let mut marc_notes = Vec::new();
    for (path, is_dir) in entries {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        if !is_dir {
            if !name.starts_with('.') {
                loose.push(name);
            }
            continue;
        }
        let folder = ItemFolder::read(&path, &name, opts, &mut problems);
        files_xml += usize::from(folder.files_xml);
        if folder.marc && folder.crosswalked.iter().any(|f| !f.is_empty()) {
            marc_notes.push(format!("{name} ({})", folder.crosswalked.join(", ")));
        }
        if folder.gone {
            plan.gone.push(path.clone());
        }
        let item = folder
            .item
            .finish(&options_meta, Some(&path), &mut problems);
        if !item.files.is_empty() {
            plan.items.push(item);
        }
    }
    if !loose.is_empty() {
        problems.push(
            Problem::new(format!(
                "files directly in the folder belong to no item: {}",
                shorten(&loose)
            ))
            .with_file(dir)
            .with_hint("move each file into the folder of its item (named by its identifier)"),
        );
    }
    if plan.items.is_empty() && plan.gone.is_empty() && problems.is_empty() {
        problems.push(
            Problem::new("the folder holds no item folders")
                .with_file(dir)
                .with_hint("make one subfolder per item, named by its identifier"),
        );
    }
    if files_xml > 0 {
        plan.notes.push(format!(
            "{files_xml} `_files.xml` {} not uploaded: IA generates each item's file list",
            if files_xml == 1 {
                "file is"
            } else {
                "files are"
            }
        ));
    }
    if !marc_notes.is_empty() {
        plan.notes.push(format!(
            "IA's MARC crosswalk will overwrite these `_meta.xml` fields when the items \
             derive: {}",
            shorten(&marc_notes)
        ));
    }
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(problems)
    }
}

/// The entries of `dir` (path, is a folder), sorted by name.
fn item_folders(dir: &Path) -> Result<Vec<(PathBuf, bool)>, Problem> {
    let read = std::fs::read_dir(dir).map_err(|e| {
        Problem::new(format!("cannot read the folder: {e}"))
            .with_file(dir)
            .with_hint("--folders takes a folder holding one subfolder per item")
    })?;
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry
            .map_err(|e| Problem::new(format!("cannot read the folder: {e}")).with_file(dir))?;
        // Follows links: a linked item folder counts as one.
        let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
        entries.push((entry.path(), is_dir));
    }
    entries.sort();
    Ok(entries)
}

/// One item folder, read.
struct ItemFolder {
    item: ItemBuilder,
    /// It held an `ID_files.xml` (not uploaded).
    files_xml: bool,
    /// It held a MARC record (`ID_marc.xml` or `ID_meta.mrc`).
    marc: bool,
    /// `_meta.xml` fields that IA's MARC crosswalk overwrites.
    crosswalked: Vec<String>,
    /// Everything in it was uploaded and removed by an earlier `--delete` run.
    gone: bool,
}

/// Fields IA's MARC-to-DC crosswalk sets (and so overwrites) when the item derives.
const CROSSWALKED: [&str; 2] = ["title", "description"];

impl ItemFolder {
    fn read(path: &Path, name: &str, opts: &PlanOptions, problems: &mut Vec<Problem>) -> Self {
        if let Err(why) = validate_identifier(name) {
            problems.push(
                Problem::new(format!(
                    "the folder name `{name}` is not a valid identifier: {why}"
                ))
                .with_file(path)
                .with_hint(IDENTIFIER_RULE),
            );
        }
        let mut item = ItemBuilder::new(name, None);
        let mut folder = ItemFolder {
            item: ItemBuilder::new(name, None), // replaced by `item` below
            files_xml: false,
            marc: false,
            crosswalked: Vec::new(),
            gone: false,
        };
        // A trailing separator: keys are paths inside the folder, without its name.
        let expansion = files::expand(
            &path.join(""),
            false,
            None,
            Origin::Argument,
            opts.uploaded_paths.as_ref(),
        );
        folder.gone = expansion.gone;
        for mut problem in expansion.problems {
            if problem.message.contains("contains no files") {
                problem.message = format!("the item folder `{name}` holds no files");
                problem.hint = Some("put the item's files in it, or remove it".to_owned());
            }
            problem.file.get_or_insert_with(|| path.to_path_buf());
            problems.push(problem);
        }
        let meta_xml = format!("{name}_meta.xml");
        let marc = [format!("{name}_marc.xml"), format!("{name}_meta.mrc")];
        let mut first = Vec::new();
        let mut rest = Vec::new();
        let mut meta_path = None;
        for file in expansion.files {
            if file.key == meta_xml {
                meta_path = Some(file.local.clone());
            } else if file.key == format!("{name}_files.xml") {
                folder.files_xml = true;
            } else if marc.contains(&file.key) {
                folder.marc = true;
                first.push(file);
            } else {
                rest.push(file);
            }
        }
        if first.is_empty() && rest.is_empty() && meta_path.is_some() && problems.is_empty() {
            problems.push(
                Problem::new(format!(
                    "the item folder `{name}` holds only its `_meta.xml`: no files to upload"
                ))
                .with_file(path)
                .with_hint("put the item's files in it, or remove it"),
            );
        }
        for file in first.into_iter().chain(rest) {
            item.add_file(file, None, problems);
        }
        if let Some(meta_path) = meta_path {
            match read_meta_xml(&meta_path, name) {
                Ok(fields) => {
                    folder.crosswalked = fields
                        .iter()
                        .filter(|(k, _)| CROSSWALKED.contains(&k.as_str()))
                        .map(|(k, _)| k.clone())
                        .collect();
                    item.set_fields(fields);
                }
                Err(found) => problems.extend(found),
            }
        }
        folder.item = item;
        folder
    }
}

/// Reads an `ID_meta.xml`: a flat `<metadata>` root with one element per value; a repeated
/// element (adjacent or not) is a list in document order. Its `<identifier>`, when present,
/// must be `id`. Problems name the file and line.
pub fn read_meta_xml(path: &Path, id: &str) -> Result<Vec<(String, Vec<String>)>, Vec<Problem>> {
    let text = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                return Err(vec![at_line(
                    path,
                    e.as_bytes(),
                    at,
                    "the file is not valid UTF-8",
                )]);
            }
        },
        Err(e) => {
            return Err(vec![
                Problem::new(format!("cannot read the file: {e}")).with_file(path)
            ])
        }
    };
    let mut parsed = MetaXml::new(path, id, &text);
    parsed.read();
    if parsed.problems.is_empty() {
        Ok(parsed.fields.finish())
    } else {
        Err(parsed.problems)
    }
}

/// A problem at byte `at` of `text`, located by its line.
fn at_line(path: &Path, text: &[u8], at: usize, message: impl Into<String>) -> Problem {
    let line = text[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1;
    Problem::new(message).with_file(path).with_row(line)
}

const ROOT_HINT: &str =
    "an item's _meta.xml is one <metadata> element holding one element per field value";

/// The state of reading one `_meta.xml`.
struct MetaXml<'a> {
    path: &'a Path,
    id: &'a str,
    text: &'a str,
    fields: MetaBuilder,
    problems: Vec<Problem>,
}

impl<'a> MetaXml<'a> {
    fn new(path: &'a Path, id: &'a str, text: &'a str) -> Self {
        MetaXml {
            path,
            id,
            text,
            fields: MetaBuilder::default(),
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, at: u64, message: String, hint: Option<&str>) {
        let mut p = at_line(self.path, self.text.as_bytes(), at as usize, message);
        p.hint = hint.map(str::to_owned);
        self.problems.push(p);
    }

    fn read(&mut self) {
        let text = self.text.strip_prefix('\u{feff}').unwrap_or(self.text);
        let offset = (self.text.len() - text.len()) as u64;
        let mut reader = Reader::from_str(text);
        // Depth 1 is inside <metadata>, 2 inside a field element.
        let mut depth = 0;
        let mut root_seen = false;
        let mut field: Option<(String, u64, String)> = None;
        loop {
            let at = offset + reader.buffer_position();
            let event = match reader.read_event() {
                Ok(event) => event,
                Err(e) => {
                    let at = offset + reader.error_position();
                    self.problem(at, format!("malformed XML: {e}"), None);
                    return;
                }
            };
            match event {
                Event::Start(e) if depth == 0 => {
                    if !self.root(&e, at, &mut root_seen) {
                        return;
                    }
                    depth = 1;
                }
                Event::Empty(e) if depth == 0 && !self.root(&e, at, &mut root_seen) => return,
                Event::Empty(_) if depth == 0 => {}
                Event::Start(e) if depth == 1 => {
                    let name = e.name().as_ref().to_owned();
                    field = Some((name, at, String::new()));
                    depth = 2;
                }
                Event::Empty(_) if depth == 1 => {}
                Event::Start(e) | Event::Empty(e) => {
                    let name = e.name().as_ref().to_owned();
                    self.problem(
                        at,
                        format!("the element `<{name}>` is inside another field: _meta.xml fields are flat"),
                        None,
                    );
                    return;
                }
                Event::Text(t) if depth == 2 => {
                    if let Some((_, _, value)) = field.as_mut() {
                        value.push_str(&t.xml10_content());
                    }
                }
                Event::CData(c) if depth == 2 => {
                    if let Some((_, _, value)) = field.as_mut() {
                        value.push_str(&c.xml10_content());
                    }
                }
                Event::GeneralRef(r) if depth == 2 => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c.to_string()),
                        Ok(None) => {
                            quick_xml::escape::resolve_predefined_entity(&r).map(str::to_owned)
                        }
                        Err(_) => None,
                    };
                    match (resolved, field.as_mut()) {
                        (Some(s), Some((_, _, value))) => value.push_str(&s),
                        _ => {
                            let name = r.to_string();
                            self.problem(at, format!("unknown entity `&{name};`"), None);
                        }
                    }
                }
                Event::End(_) if depth == 2 => {
                    depth = 1;
                    if let Some((name, at, value)) = field.take() {
                        self.field(&name, at, value.trim());
                    }
                }
                Event::End(_) if depth == 1 => depth = 0,
                Event::Eof => break,
                _ => {}
            }
        }
        if !root_seen {
            self.problem(
                0,
                "the file has no `<metadata>` element".to_owned(),
                Some(ROOT_HINT),
            );
        } else if depth > 0 {
            self.problem(
                self.text.len() as u64,
                "the file ends before `</metadata>`".to_owned(),
                None,
            );
        }
    }

    /// The root element: `<metadata>`, once.
    fn root(&mut self, e: &quick_xml::events::BytesStart, at: u64, seen: &mut bool) -> bool {
        let name = e.name().as_ref().to_owned();
        if name != "metadata" || *seen {
            self.problem(
                at,
                format!("the root element is `<{name}>`, not one `<metadata>`"),
                Some(ROOT_HINT),
            );
            return false;
        }
        *seen = true;
        true
    }

    /// One field element's value.
    fn field(&mut self, name: &str, at: u64, value: &str) {
        if name == "identifier" {
            if value != self.id {
                self.problem(
                    at,
                    format!(
                        "the identifier is `{value}`, but the folder is `{}`",
                        self.id
                    ),
                    Some("name the folder by the item's identifier, or fix <identifier>"),
                );
            }
            return;
        }
        let lower = name.to_ascii_lowercase();
        let parsed = validate_field_name(name).and_then(|()| parse_field_name(&lower));
        match parsed {
            Ok((base, None)) => {
                if !value.is_empty() {
                    self.fields.push_plain(base, value, false);
                }
            }
            Ok((_, Some(_))) => self.problem(
                at,
                format!("`<{name}>` is not a field name: a list is the element repeated"),
                None,
            ),
            Err(why) => self.problem(
                at,
                format!("invalid metadata field name `{name}`: {why}"),
                Some(FIELD_NAME_HINT),
            ),
        }
    }
}

/// The first few names of a list, and how many more.
fn shorten(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    s
}
