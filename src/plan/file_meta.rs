//! `--file-metadata FILE`, as `ia upload` reads it: JSON records, one object per line (JSONL),
//! or one JSON array of objects, or a single object. Each record names a local path (`name`)
//! and gives per-file metadata fields (a string, or a list of strings), sent with that file as
//! `x-archive-filemeta{NN}-{field}` headers. A folder's record applies to every file in it.
//! Where `ia` crashes (a number value, a record without `name`, a blank line between
//! records), iaup says which line is wrong.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::validate::validate_field_name;
use super::{meta, Metadata, Problem};

/// One record: the local path it names and that path's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMetaRecord {
    pub name: PathBuf,
    pub metadata: Metadata,
}

/// Reads and checks a `--file-metadata` file; every problem names the file and line.
pub fn read(path: &Path) -> Result<Vec<FileMetaRecord>, Vec<Problem>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![Problem::new(format!("cannot read the file metadata: {e}")).with_file(path)]
    })?;
    let text = text.trim_start_matches('\u{feff}');
    // Whole-document forms first (an array, or one object over several lines), then JSONL.
    let records: Vec<(usize, Value)> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(list)) => list.into_iter().map(|v| (1, v)).collect(),
        Ok(v @ Value::Object(_)) => vec![(1, v)],
        _ => {
            let mut out = Vec::new();
            let mut problems = Vec::new();
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(line) {
                    Ok(v) => out.push((n + 1, v)),
                    Err(e) => problems.push(
                        Problem::new(format!("not a JSON object: {e}"))
                            .with_file(path)
                            .with_row(n + 1)
                            .with_hint(
                                "write one JSON object per line, e.g. \
                                 {\"name\": \"scan.tif\", \"title\": \"Page 1\"}",
                            ),
                    ),
                }
            }
            if !problems.is_empty() {
                return Err(problems);
            }
            out
        }
    };
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (line, value) in records {
        match record(&value) {
            Ok(r) => out.push(r),
            Err(why) => problems.push(Problem::new(why).with_file(path).with_row(line)),
        }
    }
    if out.is_empty() && problems.is_empty() {
        problems.push(Problem::new("the file metadata names no file").with_file(path));
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Gives each planned file the metadata of the record whose path it came from (the file
/// itself, or a folder it is in; the longest path wins).
pub fn apply(plan: &mut super::Plan, records: &[FileMetaRecord]) {
    for fp in plan.items.iter_mut().flat_map(|i| i.files.iter_mut()) {
        let best = records
            .iter()
            .filter(|r| fp.local.starts_with(&r.name))
            .max_by_key(|r| r.name.components().count());
        if let Some(r) = best {
            fp.file_metadata = r.metadata.clone();
        }
    }
}

fn record(value: &Value) -> Result<FileMetaRecord, String> {
    let Value::Object(map) = value else {
        return Err("a record must be a JSON object with a `name`".to_owned());
    };
    let name = match map.get("name") {
        Some(Value::String(s)) if !s.is_empty() => PathBuf::from(s),
        _ => return Err("the record has no `name` (the local path of the file)".to_owned()),
    };
    let mut fields = Vec::new();
    for (key, v) in map.iter().filter(|(k, _)| *k != "name") {
        validate_field_name(key).map_err(|why| format!("invalid field name `{key}`: {why}"))?;
        let values = match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(list) => list
                .iter()
                .map(|x| x.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("`{key}`: a list must hold only strings"))?,
            _ => {
                return Err(format!(
                    "`{key}`: the value must be a string or a list of strings"
                ))
            }
        };
        if meta::is_reserved_field(key) {
            return Err(format!("`{key}` is not a file metadata field"));
        }
        fields.push((key.to_ascii_lowercase(), values));
    }
    Ok(FileMetaRecord {
        name,
        metadata: Metadata(fields),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("md.jsonl");
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    #[test]
    fn jsonl_array_and_single_object_are_read() {
        for text in [
            "{\"name\": \"a.tif\", \"title\": \"A\"}\n\n{\"name\": \"b.tif\", \"subject\": [\"x\", \"y\"]}\n",
            "[{\"name\": \"a.tif\", \"title\": \"A\"}, {\"name\": \"b.tif\", \"subject\": [\"x\", \"y\"]}]",
        ] {
            let (_d, p) = write(text);
            let r = read(&p).unwrap();
            assert_eq!(r.len(), 2);
            assert_eq!(r[0].name, PathBuf::from("a.tif"));
            assert_eq!(r[1].metadata.get("subject").unwrap(), ["x", "y"]);
        }
        let (_d, p) = write("{\n \"name\": \"a.tif\",\n \"title\": \"A\"\n}\n");
        assert_eq!(read(&p).unwrap().len(), 1);
    }

    #[test]
    fn bad_records_name_their_line() {
        let (_d, p) = write(
            "{\"name\": \"a\"}\n{\"title\": \"no name\"}\n{\"name\": \"b\", \"n\": 3}\nnope\n",
        );
        let problems = read(&p).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].row, Some(4));
        let (_d, p) =
            write("{\"name\": \"a\"}\n{\"title\": \"no name\"}\n{\"name\": \"b\", \"nn\": 3}\n");
        let problems = read(&p).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].row, Some(2));
        assert!(problems[1].message.contains("string"), "{}", problems[1]);
    }
}
