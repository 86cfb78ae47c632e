//! The spreadsheet input, in `ia upload --spreadsheet` format: a UTF-8 CSV (BOM allowed)
//! whose header names a `file` column, an `identifier` (or `item`) column, an optional
//! `REMOTE_NAME` column, and metadata columns. Every row is checked and every problem kept, with
//! the row number a spreadsheet app shows (quoted newlines do not shift it).
//!
//! Leniencies beyond `ia`, all harmless for sheets `ia` accepts: `file`, `identifier` and `item`
//! match in any case; header names are trimmed; rows whose cells are all empty are skipped.
//! Stricter than `ia`: a `remote_name` column in another case is a problem (ia would silently
//! take it as metadata), duplicate columns are problems (ia keeps the last one).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use csv::ByteRecord;

use super::files::{self, Origin};
use super::meta::{self, MetaBuilder, FIELD_NAME_HINT};
use super::sheet_text::{self, column_letters, RowCounter};
use super::validate::{
    parse_field_name, validate_field_name, validate_identifier, validate_key, IDENTIFIER_RULE,
};
use super::{ItemBuilder, Plan, PlanOptions, Problem};

const UTF8_HINT: &str = "save the spreadsheet as \"CSV UTF-8\" (in LibreOffice: character set \
     Unicode (UTF-8))";

/// Builds a plan from a spreadsheet; see the module docs for the format.
///
/// Local paths in the `file` column are relative to the current directory, as with `ia`.
/// On failure, every problem found is returned, sorted by row.
pub fn from_spreadsheet(path: &Path, opts: &PlanOptions) -> Result<Plan, Vec<Problem>> {
    read_sheet(path, opts, false)
}

/// Reads a metadata-only spreadsheet (`iaup metadata --spreadsheet`): the same rules, but no
/// `file` column is needed, and `file` and `REMOTE_NAME` cells are ignored, so an upload sheet
/// works as is. Items come back without files, each with its rows' metadata.
pub fn metadata_from_spreadsheet(path: &Path) -> Result<Plan, Vec<Problem>> {
    read_sheet(path, &PlanOptions::default(), true)
}

fn read_sheet(path: &Path, opts: &PlanOptions, metadata_only: bool) -> Result<Plan, Vec<Problem>> {
    let data = std::fs::read(path).map_err(|e| {
        vec![Problem::new(format!("cannot read the spreadsheet: {e}")).with_file(path)]
    })?;
    let (options_meta, problems) = meta::from_options(&opts.metadata);
    let mut sheet = Sheet {
        path,
        opts,
        metadata_only,
        problems,
        items: Vec::new(),
        by_identifier: HashMap::new(),
        current: None,
        missing_identifier_reported: false,
        unnamed_reported: HashSet::new(),
        gone: Vec::new(),
        notes: Vec::new(),
        row_lines: HashMap::new(),
        lines: sheet_text::LineCounter::default(),
    };
    sheet.read(&data);
    let Sheet {
        mut problems,
        items,
        gone,
        notes,
        row_lines,
        ..
    } = sheet;
    for p in &mut problems {
        if p.file.as_deref() == Some(path) {
            p.line = p.row.and_then(|r| row_lines.get(&r).copied());
        }
    }
    let items: Vec<_> = items
        .into_iter()
        .map(|item| item.finish(&options_meta, Some(path), &mut problems))
        .collect();
    if problems.is_empty() {
        Ok(Plan { items, gone, notes })
    } else {
        // Stable: problems of one row stay in the order they were found.
        problems.sort_by_key(|p| p.row.unwrap_or(0));
        Err(problems)
    }
}

/// What each column of the header means.
#[derive(Debug, Default)]
struct Header {
    /// Column names as written (trimmed), or `#N` for unnamed ones; for problems.
    names: Vec<String>,
    file: Option<usize>,
    identifier: Option<usize>,
    item: Option<usize>,
    remote_name: Option<usize>,
    meta: Vec<MetaColumn>,
    /// Columns with an empty name: tolerated while their cells are empty.
    unnamed: Vec<usize>,
}

#[derive(Debug)]
struct MetaColumn {
    col: usize,
    base: String,
    index: Option<usize>,
}

#[derive(Clone, Copy)]
enum Special {
    File,
    Identifier,
    Item,
    RemoteName,
}

impl Header {
    fn slot(&mut self, kind: Special) -> &mut Option<usize> {
        match kind {
            Special::File => &mut self.file,
            Special::Identifier => &mut self.identifier,
            Special::Item => &mut self.item,
            Special::RemoteName => &mut self.remote_name,
        }
    }

    fn name(&self, col: usize) -> &str {
        &self.names[col]
    }
}

/// State while reading rows.
struct Sheet<'a> {
    path: &'a Path,
    opts: &'a PlanOptions,
    /// `iaup metadata --spreadsheet`: no files, `file` and `REMOTE_NAME` cells ignored.
    metadata_only: bool,
    problems: Vec<Problem>,
    items: Vec<ItemBuilder>,
    by_identifier: HashMap<String, usize>,
    /// The item a row with a blank identifier continues.
    current: Option<usize>,
    missing_identifier_reported: bool,
    unnamed_reported: HashSet<usize>,
    /// See [`Plan::gone`].
    gone: Vec<PathBuf>,
    /// See [`Plan::notes`].
    notes: Vec<String>,
    /// Row -> text line where they differ (a quoted cell above spans lines).
    row_lines: HashMap<usize, u32>,
    /// Where the reader is, in lines.
    lines: sheet_text::LineCounter,
}

impl Sheet<'_> {
    fn report(&mut self, row: usize, column: Option<&str>, message: String, hint: Option<&str>) {
        let mut problem = Problem::new(message).with_file(self.path).with_row(row);
        problem.column = column.map(str::to_owned);
        problem.hint = hint.map(str::to_owned);
        self.problems.push(problem);
    }

    fn read(&mut self, data: &[u8]) {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let delimiter = self.delimiter(data);
        let open_quote = sheet_text::unclosed_quote(data, delimiter);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(data);
        let mut record = ByteRecord::new();
        let mut rows = RowCounter::default();
        let mut header: Option<Header> = None;
        let mut data_rows = 0usize;
        // The row of the record holding the quote left open, once it is read.
        let mut open_row = None;
        loop {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let row = rows.last + 1;
                    self.report(
                        row,
                        None,
                        format!("cannot parse the spreadsheet: {e}"),
                        None,
                    );
                    return;
                }
            }
            let row = rows.next(&record, data);
            let start = record.position().map_or(0, |p| p.byte() as usize);
            let line = self.record_line(data, start, row);
            let holds_open_quote = open_quote.is_some_and(|at| at >= start);
            if holds_open_quote {
                open_row = Some(row);
            }
            match &header {
                None => header = Some(self.header(&record, row)),
                Some(header) => {
                    if record.iter().all(<[u8]>::is_empty) {
                        continue;
                    }
                    data_rows += 1;
                    if !holds_open_quote && !self.opts.allow_multiline_rows {
                        self.swallowed_rows(header, &record, row, line, delimiter);
                    }
                    self.data_row(header, &record, row);
                }
            }
        }
        if let (Some(at), Some(row)) = (open_quote, open_row) {
            self.open_quote(data, at, row);
        }
        self.require_rows(header.is_some(), data_rows);
    }

    /// The separator: `--delimiter`, else recognised from the header line (and said so).
    fn delimiter(&mut self, data: &[u8]) -> u8 {
        if let Some(d) = self.opts.delimiter {
            return d;
        }
        let (d, sniffed) = sheet_text::sniff_delimiter(data);
        if sniffed {
            self.notes.push(format!(
                "{}: the columns are separated by {}; reading it so (--delimiter to \
                 force another)",
                self.path.display(),
                sheet_text::delimiter_name(d)
            ));
        }
        d
    }

    /// The line of the record that starts at byte `start`, remembered for the row when it
    /// differs. The reader's position is where the previous record ended (maybe between the
    /// `\r` and `\n` of a CRLF, before blank lines): the record's line is that of its first
    /// byte, counted in the text itself.
    fn record_line(&mut self, data: &[u8], start: usize, row: usize) -> usize {
        let first = data[start.min(data.len())..]
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .map_or(data.len(), |n| start + n);
        let line = self.lines.line_of(data, first);
        if line != row {
            self.row_lines
                .insert(row, u32::try_from(line).unwrap_or(u32::MAX));
        }
        line
    }

    /// A quote opened at byte `at` (in the record of `row`) and never closed.
    fn open_quote(&mut self, data: &[u8], at: usize, row: usize) {
        let opened = sheet_text::line_of(data, at);
        self.report(
            row,
            None,
            format!(
                "a quote opened on line {opened} is never closed, so every line after it \
                 was read into one cell and no row below it would be uploaded"
            ),
            Some("close the quote, or remove it if it belongs to no cell"),
        );
    }

    /// An empty sheet, or one with a header and no data rows.
    fn require_rows(&mut self, has_header: bool, data_rows: usize) {
        let (empty_hint, rows_hint) = if self.metadata_only {
            (
                "its first row names the columns (`identifier`, then metadata fields); each \
                 further row gives an item's metadata",
                "add one row per item to change",
            )
        } else {
            (
                "its first row names the columns (`identifier`, `file`, then metadata \
                 fields); each further row uploads one file or folder",
                "add one row per file or folder to upload",
            )
        };
        if !has_header {
            self.problems.push(
                Problem::new("the spreadsheet is empty")
                    .with_file(self.path)
                    .with_hint(empty_hint),
            );
        } else if data_rows == 0 {
            self.problems.push(
                Problem::new("the spreadsheet has a header row but no data rows")
                    .with_file(self.path)
                    .with_hint(rows_hint),
            );
        }
    }

    /// A multi-line cell whose later lines look like rows of this sheet: almost surely a quote
    /// left open that swallowed rows until a later quote closed it.
    fn swallowed_rows(
        &mut self,
        header: &Header,
        record: &ByteRecord,
        row: usize,
        line: usize,
        delimiter: u8,
    ) {
        let mut lines_before = 0;
        for (col, raw) in record.iter().enumerate() {
            let Ok(cell) = std::str::from_utf8(raw) else {
                continue;
            };
            let found = sheet_text::row_like_line(cell, delimiter, header.names.len(), header.file);
            if let Some((n, text)) = found {
                let shown: String = text.chars().take(60).collect();
                let name = header.names.get(col).map_or("?", String::as_str).to_owned();
                self.report(
                    row,
                    Some(&name),
                    format!(
                        "the cell spans lines {}-{} and its line {} (`{shown}`) and maybe \
                         others look like rows of this sheet: a quote opened on line {} was \
                         probably not closed where it should be, and the rows inside it \
                         would not be uploaded",
                        line + lines_before,
                        line + lines_before + cell.lines().count().saturating_sub(1),
                        line + lines_before + n,
                        line + lines_before,
                    ),
                    Some(
                        "close the quote where the cell should end; if the cell is meant to \
                         hold those lines, pass --allow-multiline-rows",
                    ),
                );
                return;
            }
            lines_before += cell.matches('\n').count();
        }
    }

    fn header(&mut self, record: &ByteRecord, row: usize) -> Header {
        let mut header = Header::default();
        let mut seen: HashMap<(String, Option<usize>), usize> = HashMap::new();
        for (col, raw) in record.iter().enumerate() {
            self.header_column(&mut header, &mut seen, row, col, raw);
        }
        self.require_columns(&header, row);
        header
    }

    /// One cell of the header row: a special column (`file`, `identifier`, `item`,
    /// `REMOTE_NAME`), an unnamed one, or a metadata field.
    fn header_column(
        &mut self,
        header: &mut Header,
        seen: &mut HashMap<(String, Option<usize>), usize>,
        row: usize,
        col: usize,
        raw: &[u8],
    ) {
        let Ok(name) = std::str::from_utf8(raw) else {
            let label = format!("#{}", col + 1);
            self.report(
                row,
                Some(&label),
                "the column name is not valid UTF-8".to_owned(),
                Some(UTF8_HINT),
            );
            header.names.push(label);
            return;
        };
        let name = name.trim();
        header.names.push(if name.is_empty() {
            format!("#{}", col + 1)
        } else {
            name.to_owned()
        });
        let lower = name.to_ascii_lowercase();
        let special = match lower.as_str() {
            _ if name == "REMOTE_NAME" => Some(Special::RemoteName),
            "file" => Some(Special::File),
            "identifier" => Some(Special::Identifier),
            "item" => Some(Special::Item),
            _ => None,
        };
        if let Some(kind) = special {
            match *header.slot(kind) {
                Some(first) => self.report(
                    row,
                    Some(name),
                    format!(
                        "the column appears twice (columns {} and {})",
                        column_letters(first),
                        column_letters(col)
                    ),
                    Some("keep only one of them"),
                ),
                None => *header.slot(kind) = Some(col),
            }
            return;
        }
        if name.is_empty() {
            header.unnamed.push(col);
            return;
        }
        if lower == "remote_name" {
            self.report(
                row,
                Some(name),
                "the remote-name column must be spelled `REMOTE_NAME`, in upper case (ia \
                 would upload this column as metadata)"
                    .to_owned(),
                Some("rename the column to REMOTE_NAME"),
            );
            return;
        }
        if let Some(column) = self.meta_column(seen, row, col, name, &lower) {
            header.meta.push(column);
        }
    }

    /// A metadata column of the header: a valid field name, not the identifier, not given
    /// twice (the same `base[index]`).
    fn meta_column(
        &mut self,
        seen: &mut HashMap<(String, Option<usize>), usize>,
        row: usize,
        col: usize,
        name: &str,
        lower: &str,
    ) -> Option<MetaColumn> {
        let parsed = validate_field_name(name).and_then(|()| parse_field_name(lower));
        let (base, index) = match parsed {
            Ok(parsed) => parsed,
            Err(why) => {
                self.report(
                    row,
                    Some(name),
                    format!("invalid metadata field name `{name}`: {why}"),
                    Some(FIELD_NAME_HINT),
                );
                return None;
            }
        };
        if meta::is_reserved_field(base) {
            self.report(
                row,
                Some(name),
                "the identifier is not a metadata field".to_owned(),
                Some("name the item in a plain `identifier` column"),
            );
            return None;
        }
        if let Some(&first) = seen.get(&(base.to_owned(), index)) {
            let hint = match index {
                None => format!(
                    "keep one; for several values use `{base}[0]`, `{base}[1]`, ... columns"
                ),
                Some(_) => "give each index once".to_owned(),
            };
            self.report(
                row,
                Some(name),
                format!(
                    "the field appears twice (columns {} and {})",
                    column_letters(first),
                    column_letters(col)
                ),
                Some(&hint),
            );
            return None;
        }
        seen.insert((base.to_owned(), index), col);
        Some(MetaColumn {
            col,
            base: base.to_owned(),
            index,
        })
    }

    /// The `file` column (unless metadata only) and an `identifier` or `item` column must be
    /// there.
    fn require_columns(&mut self, header: &Header, row: usize) {
        let found = header.names.join(", ");
        if header.file.is_none() && !self.metadata_only {
            self.report(
                row,
                None,
                "there is no `file` column".to_owned(),
                Some(&format!(
                    "name a column `file` and put each local file or folder path in it; \
                     the columns are: {found}"
                )),
            );
        }
        if header.identifier.is_none() && header.item.is_none() {
            self.report(
                row,
                None,
                "there is no `identifier` (or `item`) column".to_owned(),
                Some(&format!(
                    "name a column `identifier` and put each item's identifier in it; \
                     the columns are: {found}"
                )),
            );
        }
    }

    fn data_row(&mut self, header: &Header, record: &ByteRecord, row: usize) {
        if record.len() != header.names.len() {
            self.short_row(header, record, row);
            return;
        }
        let cells = self.decode_cells(header, record, row);
        let cell = |col: Option<usize>| col.and_then(|c| cells[c]).filter(|s| !s.is_empty());
        let undecodable = |col: Option<usize>| col.is_some_and(|c| cells[c].is_none());

        // An undecodable identifier names no known item; rows below it are not guessed at.
        let item = if undecodable(header.identifier) || undecodable(header.item) {
            self.current = None;
            self.missing_identifier_reported = true;
            None
        } else {
            self.row_item(header, row, cell(header.identifier), cell(header.item))
        };

        let remote_name = cell(header.remote_name).filter(|_| !self.metadata_only);
        let remote_name = remote_name.filter(|name| self.valid_remote_name(row, name));

        if let Some(file_col) = header.file.filter(|_| !self.metadata_only) {
            match cells[file_col] {
                None => {}
                Some("") => self.report(
                    row,
                    Some(header.name(file_col)),
                    "the cell is empty".to_owned(),
                    Some("every row needs the path of a local file or folder"),
                ),
                Some(given) => self.row_files(header, row, file_col, given, remote_name, item),
            }
        }

        let fields = self.row_fields(header, &cells, row);
        if let Some(i) = item {
            self.items[i].add_fields(fields, self.path, row, &mut self.problems);
        }
    }

    /// A row with more or fewer cells than the header: reported, and its identifier kept as
    /// the current item so rows below that continue it are not also reported.
    fn short_row(&mut self, header: &Header, record: &ByteRecord, row: usize) {
        let width = header.names.len();
        self.report(
            row,
            None,
            format!("the row has {} cells, the header has {width}", record.len()),
            Some(
                "a quote may be unbalanced, or a cell with a comma unquoted; quote cells \
                 that contain commas, quotes or line breaks",
            ),
        );
        let id_col = header.identifier.or(header.item);
        let id = id_col
            .and_then(|c| record.get(c))
            .and_then(|raw| std::str::from_utf8(raw).ok())
            .filter(|id| !id.is_empty());
        if let (Some(id), Some(col)) = (id, id_col) {
            self.current = Some(self.item_for(id, header.name(col), row));
        }
    }

    /// The row's cells as text; `None` (reported) for a cell that is not UTF-8.
    fn decode_cells<'r>(
        &mut self,
        header: &Header,
        record: &'r ByteRecord,
        row: usize,
    ) -> Vec<Option<&'r str>> {
        let mut cells = Vec::with_capacity(record.len());
        for (col, raw) in record.iter().enumerate() {
            match std::str::from_utf8(raw) {
                Ok(cell) => cells.push(Some(cell)),
                Err(e) => {
                    self.report(
                        row,
                        Some(header.name(col)),
                        format!(
                            "the cell is not valid UTF-8 (bad byte after {} valid ones)",
                            e.valid_up_to()
                        ),
                        Some(UTF8_HINT),
                    );
                    cells.push(None);
                }
            }
        }
        cells
    }

    /// A `REMOTE_NAME` cell that is a valid key (a folder's may end in `/`: it is a prefix).
    fn valid_remote_name(&mut self, row: usize, name: &str) -> bool {
        match validate_key(name.trim_end_matches('/')) {
            Ok(()) => true,
            Err(why) => {
                self.report(
                    row,
                    Some("REMOTE_NAME"),
                    format!("invalid remote name `{name}`: {why}"),
                    None,
                );
                false
            }
        }
    }

    /// The metadata cells of a row; a value under a column with no name is reported once per
    /// column.
    fn row_fields(
        &mut self,
        header: &Header,
        cells: &[Option<&str>],
        row: usize,
    ) -> Vec<(String, Vec<String>)> {
        let mut fields = MetaBuilder::default();
        for column in &header.meta {
            if let Some(value) = cells[column.col].filter(|v| !v.is_empty()) {
                match column.index {
                    None => fields.push_plain(&column.base, value, false),
                    // The header has no duplicate index, so nothing can clash here.
                    Some(i) => {
                        let _ = fields.push_indexed(&column.base, i, value);
                    }
                }
            }
        }
        for &col in &header.unnamed {
            if cells[col].is_some_and(|c| !c.is_empty()) && self.unnamed_reported.insert(col) {
                self.report(
                    row,
                    Some(header.name(col)),
                    format!(
                        "the cell has a value, but column {} has no name in the header row",
                        column_letters(col)
                    ),
                    Some("name the column in the header row, or clear the cell"),
                );
            }
        }
        fields.finish()
    }

    /// The item of a row: its identifier (or `item`) cell, else the item of the row above.
    fn row_item(
        &mut self,
        header: &Header,
        row: usize,
        identifier: Option<&str>,
        item: Option<&str>,
    ) -> Option<usize> {
        let named = match (identifier, item, header.identifier, header.item) {
            (Some(a), Some(b), Some(col), _) if a != b => {
                self.report(
                    row,
                    Some(header.name(col)),
                    format!("the identifier is `{a}`, but the `item` cell says `{b}`"),
                    Some("keep one of the two columns, or make them agree"),
                );
                Some((a, col))
            }
            (Some(a), _, Some(col), _) => Some((a, col)),
            (None, Some(b), _, Some(col)) => Some((b, col)),
            _ => None,
        };
        if let Some((id, col)) = named {
            let index = self.item_for(id, header.name(col), row);
            self.current = Some(index);
            return Some(index);
        }
        if self.current.is_none() && !self.missing_identifier_reported {
            if let Some(col) = header.identifier.or(header.item) {
                self.missing_identifier_reported = true;
                self.report(
                    row,
                    Some(header.name(col)),
                    "the first data row has no identifier".to_owned(),
                    Some(
                        "fill in the identifier; a blank identifier continues the item of the \
                         row above",
                    ),
                );
            }
        }
        self.current
    }

    /// The index of the item `id`, created (and its identifier checked) on first sight.
    fn item_for(&mut self, id: &str, column: &str, row: usize) -> usize {
        if let Some(&index) = self.by_identifier.get(id) {
            return index;
        }
        if let Err(why) = validate_identifier(id) {
            self.report(
                row,
                Some(column),
                format!("invalid identifier `{id}`: {why}"),
                Some(IDENTIFIER_RULE),
            );
        }
        self.items.push(ItemBuilder::new(id, Some(row)));
        self.by_identifier
            .insert(id.to_owned(), self.items.len() - 1);
        self.items.len() - 1
    }

    /// Expands a `file` cell and adds its files to the row's item.
    fn row_files(
        &mut self,
        header: &Header,
        row: usize,
        file_col: usize,
        given: &str,
        remote_name: Option<&str>,
        item: Option<usize>,
    ) {
        let column = header.name(file_col);
        let expansion = files::expand(
            Path::new(given),
            self.opts.keep_directories,
            remote_name,
            Origin::Spreadsheet,
            self.opts.uploaded_paths.as_ref(),
        );
        if expansion.gone {
            self.gone.push(PathBuf::from(given));
        }
        if let (Some(false), Some(name)) = (expansion.is_dir, remote_name) {
            if name.ends_with('/') {
                self.report(
                    row,
                    Some("REMOTE_NAME"),
                    format!("the remote name `{name}` ends with `/`, but `{given}` is a file"),
                    Some("give the full remote file name, e.g. `folder/name.pdf`"),
                );
            }
        }
        // A relative path missing here but present beside the sheet: say so.
        let beside_sheet = self
            .path
            .parent()
            .filter(|_| expansion.is_dir.is_none() && Path::new(given).is_relative())
            .map(|dir| dir.join(given))
            .filter(|alt| alt.exists());
        for mut problem in expansion.problems {
            if let Some(alt) = &beside_sheet {
                problem.hint = Some(format!(
                    "`{}` exists, relative to the spreadsheet's folder; paths in the `file` \
                     column are relative to the current directory, as with ia: run iaup from \
                     the spreadsheet's folder, or write the paths from here",
                    alt.display()
                ));
            }
            problem.file = Some(self.path.to_path_buf());
            problem.row = Some(row);
            problem.column = Some(column.to_owned());
            self.problems.push(problem);
        }
        for mut file in expansion.files {
            file.row = Some(row);
            if let Some(i) = item {
                self.items[i].add_file(file, Some(self.path), &mut self.problems);
            }
        }
    }
}
