//! What the Archive holds against what was planned: one item's files (present, same size and
//! MD5) and metadata fields (equal, lists in order), from the item's metadata document
//! (`GET /metadata/ID`). Pure: no I/O; `iaup verify`, `upload --wait` and the rerun check of
//! sheet metadata all read their verdicts here.

use serde_json::Value;

pub use crate::item_doc::{field_values, remote_files, RemoteFile};
use crate::plan::{ItemPlan, Metadata};

/// The verdict on one planned file, or one remote file the plan does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileVerdict {
    Ok,
    /// Not listed, and the item has no task that could still add it.
    Missing,
    /// Not listed yet, but the item has queued or running tasks.
    Pending,
    /// Listed with another size or MD5: (what, local, remote).
    Different {
        what: &'static str,
        local: String,
        remote: String,
    },
    /// A remote original file the plan does not have (`--extra`).
    Extra,
}

/// One planned or remote file and its verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCheck {
    pub key: String,
    pub verdict: FileVerdict,
}

/// A metadata field whose stored values differ from the planned ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDiff {
    pub field: String,
    pub local: Vec<String>,
    /// Empty when the item does not have the field.
    pub remote: Vec<String>,
}

/// Compares each planned file with the remote listing. `local_md5` gives the MD5 of planned
/// file `i` (hashed or known); `pending` says the item still has queued or running tasks.
pub fn check_files(
    item: &ItemPlan,
    local_md5: &[String],
    remote: &[RemoteFile],
    pending: bool,
    extra: bool,
) -> Vec<FileCheck> {
    let mut out = Vec::with_capacity(item.files.len());
    for (file, md5) in item.files.iter().zip(local_md5) {
        let verdict = match remote.iter().find(|r| r.name == file.key) {
            None if pending => FileVerdict::Pending,
            None => FileVerdict::Missing,
            Some(r) => match (r.size, r.md5.as_deref()) {
                (Some(size), _) if size != file.size => FileVerdict::Different {
                    what: "size",
                    local: file.size.to_string(),
                    remote: size.to_string(),
                },
                (_, Some(m)) if !m.eq_ignore_ascii_case(md5) => FileVerdict::Different {
                    what: "md5",
                    local: md5.clone(),
                    remote: m.to_owned(),
                },
                (_, None) if pending => FileVerdict::Pending,
                (_, None) => FileVerdict::Different {
                    what: "md5",
                    local: md5.clone(),
                    remote: "(none listed)".to_owned(),
                },
                _ => FileVerdict::Ok,
            },
        };
        out.push(FileCheck {
            key: file.key.clone(),
            verdict,
        });
    }
    if extra {
        for r in remote {
            let original = r.source.as_deref() == Some("original");
            if original && !item.files.iter().any(|f| f.key == r.name) {
                out.push(FileCheck {
                    key: r.name.clone(),
                    verdict: FileVerdict::Extra,
                });
            }
        }
    }
    out
}

/// The planned metadata fields whose stored values differ (lists compared in order). Field
/// names compare without case, as IA stores them in lower case.
pub fn check_metadata(planned: &Metadata, doc: &Value) -> Vec<FieldDiff> {
    let stored = doc.get("metadata").and_then(Value::as_object);
    let mut out = Vec::new();
    for (field, values) in planned.iter() {
        let remote = stored
            .and_then(|m| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(field))
                    .map(|(_, v)| field_values(v))
            })
            .unwrap_or_default();
        let trimmed: Vec<String> = values.iter().map(|v| v.trim().to_owned()).collect();
        let remote_trimmed: Vec<String> = remote.iter().map(|v| v.trim().to_owned()).collect();
        if trimmed != remote_trimmed {
            out.push(FieldDiff {
                field: field.to_owned(),
                local: values.to_vec(),
                remote,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FileIdentity, FilePlan};
    use serde_json::json;

    fn item(files: &[(&str, u64)], meta: &[(&str, &[&str])]) -> ItemPlan {
        ItemPlan {
            identifier: "x".into(),
            metadata: Metadata(
                meta.iter()
                    .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                    .collect(),
            ),
            files: files
                .iter()
                .map(|(k, size)| FilePlan {
                    local: k.into(),
                    key: k.to_string(),
                    size: *size,
                    mtime_ns: 0,
                    row: None,
                    identity: FileIdentity::default(),
                    file_metadata: Metadata::default(),
                })
                .collect(),
            total_bytes: 0,
        }
    }

    #[test]
    fn files_are_ok_missing_pending_different_or_extra() {
        let doc = json!({"files": [
            {"name": "a", "size": "3", "md5": "AAA", "source": "original"},
            {"name": "b", "size": "4", "md5": "bbb", "source": "original"},
            {"name": "c", "size": "5", "md5": "ccc", "source": "original"},
            {"name": "x_files.xml", "md5": "fff", "source": "metadata"},
            {"name": "z", "size": "1", "md5": "zzz", "source": "original"},
            {"name": "a.txt", "size": "1", "md5": "ddd", "source": "derivative"},
        ]});
        let remote = remote_files(&doc);
        let plan = item(&[("a", 3), ("b", 4), ("c", 6), ("d", 1)], &[]);
        let md5 = ["aaa", "b0b", "ccc", "ddd"].map(String::from);
        let got = check_files(&plan, &md5, &remote, false, true);
        let verdicts: Vec<_> = got.iter().map(|c| (c.key.as_str(), &c.verdict)).collect();
        assert_eq!(
            verdicts[0],
            ("a", &FileVerdict::Ok),
            "MD5 case does not matter"
        );
        assert!(matches!(
            verdicts[1].1,
            FileVerdict::Different { what: "md5", .. }
        ));
        assert!(matches!(
            verdicts[2].1,
            FileVerdict::Different { what: "size", .. }
        ));
        assert_eq!(verdicts[3], ("d", &FileVerdict::Missing));
        assert_eq!(verdicts[4], ("z", &FileVerdict::Extra));
        assert_eq!(got.len(), 5, "derivatives and metadata files are not extra");
        let pending = check_files(&plan, &md5, &remote, true, false);
        assert_eq!(pending[3].verdict, FileVerdict::Pending);
    }

    #[test]
    fn metadata_lists_compare_in_order_and_strings_are_one_value() {
        let doc = json!({"metadata": {
            "title": "T", "subject": ["a", "b"], "year": 2004, "Language": "eng"
        }});
        let plan = item(
            &[],
            &[
                ("title", &["T"]),
                ("subject", &["b", "a"]),
                ("year", &["2004"]),
                ("language", &["eng"]),
                ("creator", &["C"]),
            ],
        );
        let diffs = check_metadata(&plan.metadata, &doc);
        let fields: Vec<_> = diffs.iter().map(|d| d.field.as_str()).collect();
        assert_eq!(fields, ["subject", "creator"]);
        assert_eq!(diffs[0].remote, ["a", "b"]);
        assert!(diffs[1].remote.is_empty());
    }
}
