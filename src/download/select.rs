//! Which files of an item a download takes, and what each is checked against: the files named
//! on the command line (a name the item lacks is a failure, never dropped), or every file the
//! [`FileFilter`] picks (its criteria combine with AND; history copies only with `--history`),
//! plus `--on-the-fly` files as `ia` adds them. A name `ARCHIVE.zip/MEMBER` whose archive the
//! item lists is a ZIP member, fetched from `/download/ID/ARCHIVE.zip/MEMBER`.
//!
//! Pure: the item's listing in, [`Wanted`] files out; no I/O.

use crate::ias3;
use crate::item_doc::RemoteFile;
use crate::select::FileFilter;

/// What to take from each item.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub filter: FileFilter,
    pub on_the_fly: bool,
}

/// One file to fetch.
#[derive(Clone, Debug, PartialEq)]
pub struct Wanted {
    /// Its name in the item (the local path under the item's folder).
    pub name: String,
    /// The size the item lists, when it lists one.
    pub size: Option<u64>,
    /// The MD5 the bytes must hash to; `None` when the item publishes none that can match
    /// (`_files.xml`, a ZIP member, a file made on the fly): such a file is "unverified".
    pub md5: Option<String>,
    /// The MD5 the item lists for it, whatever it is of (the `_files.xml` summation too): a
    /// rerun compares it with the journal's to see whether the file changed.
    pub listed_md5: Option<String>,
    /// Seconds since the epoch, as the item lists it.
    pub mtime: Option<i64>,
    /// The path under the archive URL: `download/ID/NAME`, quoted.
    pub path: String,
}

/// ia's `--on-the-fly` files (`item.py:719`).
fn on_the_fly_names(identifier: &str) -> [String; 4] {
    [
        format!("{identifier}.epub"),
        format!("{identifier}.mobi"),
        format!("{identifier}_daisy.zip"),
        format!("{identifier}_archive_marc.xml"),
    ]
}

use crate::archive::download_path;

fn listed(identifier: &str, f: &RemoteFile) -> Wanted {
    Wanted {
        name: f.name.clone(),
        size: f.size,
        md5: f.md5.clone().filter(|_| !f.is_files_xml(identifier)),
        listed_md5: f.md5.clone(),
        mtime: f.mtime,
        path: download_path(identifier, &f.name),
    }
}

/// A file with nothing published to check it by but its name.
fn unlisted(name: &str, path: String) -> Wanted {
    Wanted {
        name: name.to_owned(),
        size: None,
        md5: None,
        listed_md5: None,
        mtime: None,
        path,
    }
}

/// The files of `identifier` to fetch: the `named` ones (with the names the item lacks as the
/// second list), or without names every file `sel` picks.
pub fn select(
    identifier: &str,
    files: &[RemoteFile],
    named: &[String],
    sel: &Selection,
) -> (Vec<Wanted>, Vec<String>) {
    if !named.is_empty() {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for name in named {
            match resolve(identifier, files, name) {
                Some(w) => found.push(w),
                None => missing.push(name.clone()),
            }
        }
        return (found, missing);
    }
    let mut out: Vec<Wanted> = files
        .iter()
        .filter(|f| sel.filter.picks(f))
        .map(|f| listed(identifier, f))
        .collect();
    if sel.on_the_fly {
        for name in on_the_fly_names(identifier) {
            if !out.iter().any(|w| w.name == name) {
                out.push(unlisted(&name, download_path(identifier, &name)));
            }
        }
    }
    (out, Vec::new())
}

/// A named file: listed by the item, or a member of a ZIP archive it lists.
fn resolve(identifier: &str, files: &[RemoteFile], name: &str) -> Option<Wanted> {
    if let Some(f) = files.iter().find(|f| f.name == name) {
        return Some(listed(identifier, f));
    }
    let archive = files.iter().find(|f| {
        f.name.to_ascii_lowercase().ends_with(".zip")
            && name.len() > f.name.len() + 1
            && name.starts_with(&f.name)
            && name.as_bytes()[f.name.len()] == b'/'
    })?;
    let member = &name[archive.name.len() + 1..];
    // IA's own links send a `/` inside the member as %2F (ia#761).
    let path = format!(
        "{}/{}",
        download_path(identifier, &archive.name),
        ias3::quote(member).replace('/', "%2F")
    );
    Some(unlisted(name, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::Patterns;

    fn file(name: &str, format: &str, md5: &str) -> RemoteFile {
        RemoteFile {
            name: name.into(),
            size: Some(3),
            md5: Some(md5.into()),
            format: Some(format.into()),
            source: Some("original".into()),
            ..RemoteFile::default()
        }
    }

    fn listing() -> Vec<RemoteFile> {
        let mut files_xml = file("it_files.xml", "Metadata", "sum");
        files_xml.raw.insert("summation".into(), "md5".into());
        vec![
            file("a b.jpg", "JPEG", "m1"),
            file("c.jpg", "JPEG Thumb", "m2"),
            file("pages.zip", "ZIP", "m3"),
            files_xml,
        ]
    }

    #[test]
    fn named_files_members_and_missing_names() {
        let (found, missing) = select(
            "it",
            &listing(),
            &[
                "a b.jpg".into(),
                "pages.zip/dir/p 1.jpg".into(),
                "nope.txt".into(),
                "pages.zip/".into(),
            ],
            &Selection::default(),
        );
        assert_eq!(missing, ["nope.txt", "pages.zip/"]);
        assert_eq!(found[0].path, "download/it/a%20b.jpg");
        assert_eq!(found[0].md5.as_deref(), Some("m1"));
        assert_eq!(found[1].name, "pages.zip/dir/p 1.jpg");
        assert_eq!(found[1].path, "download/it/pages.zip/dir%2Fp%201.jpg");
        assert_eq!((found[1].md5.as_ref(), found[1].size), (None, None));
    }

    #[test]
    fn filters_combine_and_files_xml_is_unverified() {
        let mut problems = Vec::new();
        let sel = Selection {
            filter: FileFilter {
                globs: Patterns::compile("--glob", &["*.jpg|*.xml".into()], &mut problems),
                formats: vec!["JPEG".into(), "Metadata".into()],
                ..FileFilter::default()
            },
            on_the_fly: true,
        };
        let (found, _) = select("it", &listing(), &[], &sel);
        let names: Vec<_> = found.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "a b.jpg",
                "it_files.xml",
                "it.epub",
                "it.mobi",
                "it_daisy.zip",
                "it_archive_marc.xml"
            ]
        );
        assert_eq!(found[1].md5, None, "its md5 is a summation");
        assert_eq!(found[1].listed_md5.as_deref(), Some("sum"));
    }
}
