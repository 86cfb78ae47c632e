//! An item's metadata document (`GET /metadata/ID`) as the rest of iaup reads it: its files
//! with their size, hashes, format, source and mtime (IA writes numbers as strings), and its
//! metadata fields as lists of text. Shared by verify, list, download and delete so the
//! document is interpreted in one place.

use serde_json::{Map, Value};

/// One file as the metadata document lists it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoteFile {
    pub name: String,
    pub size: Option<u64>,
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub format: Option<String>,
    /// `original`, `derivative` or `metadata`.
    pub source: Option<String>,
    /// Seconds since the Unix epoch.
    pub mtime: Option<i64>,
    /// Every field of the entry, as listed (for `list --all`).
    pub raw: Map<String, Value>,
}

impl RemoteFile {
    /// IA's generated file list, whose `md5` is of a text no one downloads and never matches
    /// the file (ia#487, rclone#6321).
    pub fn is_files_xml(&self, identifier: &str) -> bool {
        self.name == format!("{identifier}_files.xml") || self.raw.contains_key("summation")
    }

    /// An old version kept by IAS3 (`history/files/NAME.~N~`).
    pub fn is_history(&self) -> bool {
        self.name.starts_with("history/")
    }
}

/// The files of a metadata document (`files`).
pub fn remote_files(doc: &Value) -> Vec<RemoteFile> {
    let Some(files) = doc.get("files").and_then(Value::as_array) else {
        return Vec::new();
    };
    files
        .iter()
        .filter_map(|f| {
            let raw = f.as_object()?.clone();
            let text = |k: &str| raw.get(k).and_then(value_text);
            Some(RemoteFile {
                name: text("name")?,
                size: text("size").and_then(|s| s.parse().ok()),
                md5: text("md5"),
                sha1: text("sha1"),
                format: text("format"),
                source: text("source"),
                mtime: text("mtime")
                    .and_then(|s| s.parse::<f64>().ok())
                    .map(|t| t as i64),
                raw,
            })
        })
        .collect()
}

/// A JSON scalar as IA's text (numbers and strings alike).
pub fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A metadata field's values: a string is one value, a list many.
pub fn field_values(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter_map(value_text).collect(),
        other => value_text(other).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn files_read_as_ia_writes_them() {
        let doc = json!({"files": [
            {"name": "a b.pdf", "size": "12", "md5": "m", "sha1": "s", "format": "Text PDF",
             "source": "original", "mtime": "1700000000"},
            {"name": "x_files.xml", "md5": "f", "source": "metadata", "format": "Metadata",
             "summation": "md5"},
            {"size": "1"},
            {"name": "history/files/a.~1~", "size": 3, "source": "original"},
        ]});
        let files = remote_files(&doc);
        assert_eq!(files.len(), 3, "an entry without a name is skipped");
        assert_eq!(files[0].size, Some(12));
        assert_eq!(files[0].mtime, Some(1_700_000_000));
        assert_eq!(files[0].format.as_deref(), Some("Text PDF"));
        assert!(files[1].is_files_xml("x"));
        assert!(!files[0].is_files_xml("x"));
        assert!(files[2].is_history());
        assert_eq!(files[2].size, Some(3), "numbers are read too");
        assert_eq!(field_values(&json!(["a", 2])), ["a", "2"]);
        assert_eq!(field_values(&json!("a")), ["a"]);
    }
}
