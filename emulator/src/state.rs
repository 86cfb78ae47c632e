//! The emulator's memory of items: their metadata, their files (bodies live on disk under the
//! data dir), the PUTs they received and their pending tasks. Operations here are the item-level
//! rules of IA (defaults of new items, history copies, derives, cascade deletes, task delays);
//! HTTP parsing and error answers are the S3 and archive handlers' business. Also the public
//! snapshot types returned by [`crate::Emulator::item`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use crate::clock::{ia_date, unix_now};

/// One item as seen by the inspection API.
#[derive(Clone, Debug)]
pub struct ItemSnapshot {
    /// The item's identifier.
    pub identifier: String,
    /// Its metadata, as the metadata API shows it.
    pub metadata: Map<String, Value>,
    /// Every stored file (originals, derivatives, history copies), including files whose task is
    /// still pending; IA's own `_meta.xml` and `_files.xml` are not listed.
    pub files: Vec<FileSnapshot>,
    /// Every successful PUT of a file, in order.
    pub puts: Vec<PutRecord>,
    /// Every task queued for the item (pending or finished), in order.
    pub tasks: Vec<TaskSnapshot>,
}

/// One catalog task of an item.
#[derive(Clone, Debug)]
pub struct TaskSnapshot {
    /// Its number (the `task_id` a metadata write answers).
    pub id: u64,
    /// `archive.php`, `derive.php` or `modify_xml.php` (metadata writes).
    pub cmd: String,
    /// Its arguments (`file` of an archive task, `target` of a metadata write).
    pub args: Map<String, Value>,
    /// The priority asked for (the `priority` field of a metadata write; 0 otherwise).
    pub priority: i64,
}

/// One stored file.
#[derive(Clone, Debug)]
pub struct FileSnapshot {
    /// Its key in the item.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// MD5, lower-case hex.
    pub md5: String,
    /// `original` or `derivative`.
    pub source: String,
    /// For a derivative, the key it was derived from.
    pub original: Option<String>,
    /// File-level metadata (`x-archive-filemeta-*`, or patched via `-target=files/NAME`).
    pub metadata: Map<String, Value>,
    /// Where its body is on disk.
    pub path: PathBuf,
}

/// What a successful PUT asked for.
#[derive(Clone, Debug)]
pub struct PutRecord {
    /// The key written.
    pub key: String,
    /// `x-archive-queue-derive` (absent means true).
    pub queue_derive: bool,
    /// `x-archive-size-hint` if sent and numeric, else the PUT's Content-Length (IAS3's default).
    pub size_hint: Option<u64>,
    /// `x-archive-keep-old-version: 1` was sent.
    pub keep_old_version: bool,
}

/// A file's content and description.
#[derive(Clone, Debug)]
pub struct FileData {
    pub size: u64,
    pub md5: String,
    pub mtime: u64,
    pub path: PathBuf,
    pub source: String,
    pub original: Option<String>,
    pub metadata: Map<String, Value>,
}

/// A file of an item, with what the metadata API shows until its task has run.
#[derive(Clone, Debug)]
pub struct StoredFile {
    pub name: String,
    pub data: FileData,
    /// When `data` becomes visible in the metadata API.
    pub visible_at: Instant,
    /// What was visible before this version was written (shown until `visible_at`).
    pub shown_before: Option<FileData>,
}

impl StoredFile {
    /// What the metadata API shows at `now`, if anything.
    pub fn view(&self, now: Instant) -> Option<&FileData> {
        if now >= self.visible_at {
            Some(&self.data)
        } else {
            self.shown_before.as_ref()
        }
    }
}

/// A catalog task (archive, derive, metadata change).
#[derive(Clone, Debug)]
pub struct Task {
    pub id: u64,
    pub cmd: &'static str,
    pub args: Map<String, Value>,
    pub priority: i64,
    pub submitted: u64,
    pub due: Instant,
}

/// One item.
#[derive(Clone, Debug)]
pub struct Item {
    pub identifier: String,
    pub metadata: Map<String, Value>,
    pub created: u64,
    pub updated: u64,
    pub files: Vec<StoredFile>,
    pub puts: Vec<PutRecord>,
    pub tasks: Vec<Task>,
    /// A stable number standing for IA's `uniq`.
    pub uniq: u64,
}

impl Item {
    /// Index of the file named `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.files.iter().position(|f| f.name == name)
    }

    /// Tasks not yet finished at `now`.
    pub fn pending_tasks(&self, now: Instant) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(move |t| t.due > now)
    }

    /// The inspection view.
    pub fn snapshot(&self) -> ItemSnapshot {
        ItemSnapshot {
            identifier: self.identifier.clone(),
            metadata: self.metadata.clone(),
            files: self
                .files
                .iter()
                .map(|f| FileSnapshot {
                    name: f.name.clone(),
                    size: f.data.size,
                    md5: f.data.md5.clone(),
                    source: f.data.source.clone(),
                    original: f.data.original.clone(),
                    metadata: f.data.metadata.clone(),
                    path: f.data.path.clone(),
                })
                .collect(),
            puts: self.puts.clone(),
            tasks: self
                .tasks
                .iter()
                .map(|t| TaskSnapshot {
                    id: t.id,
                    cmd: t.cmd.to_string(),
                    args: t.args.clone(),
                    priority: t.priority,
                })
                .collect(),
        }
    }
}

/// A checked PUT whose body is complete, ready to become a file.
pub struct PutCommit {
    pub identifier: String,
    pub key: String,
    /// The complete body, in the data dir's temp folder.
    pub temp: PathBuf,
    pub size: u64,
    pub md5: String,
    pub item_meta: Option<Map<String, Value>>,
    pub replace_meta: bool,
    pub file_meta: Map<String, Value>,
    pub record: PutRecord,
}

/// All items, and the counters that name tasks and blobs.
pub struct State {
    data_dir: PathBuf,
    email: String,
    seed: u64,
    items: HashMap<String, Item>,
    next_task: u64,
    next_blob: u64,
}

/// Why a state change failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The item does not exist.
    #[error("no such item")]
    NoSuchItem,
    /// The file does not exist.
    #[error("no such file")]
    NoSuchFile,
    /// The disk said no.
    #[error("storage error: {0}")]
    Io(#[from] std::io::Error),
}

impl State {
    /// Empty state storing bodies under `data_dir`. What an earlier run stored there is kept:
    /// blob numbers continue past the highest already in `blobs` (and `tmp`), so no body is
    /// ever overwritten by a restart on the same directory.
    pub fn new(data_dir: &Path, email: &str, seed: u64) -> std::io::Result<State> {
        std::fs::create_dir_all(data_dir.join("tmp"))?;
        std::fs::create_dir_all(data_dir.join("blobs"))?;
        let next_blob =
            highest_number(&data_dir.join("blobs"))?.max(highest_number(&data_dir.join("tmp"))?);
        Ok(State {
            data_dir: data_dir.to_path_buf(),
            email: email.to_string(),
            seed,
            items: HashMap::new(),
            next_task: 1000,
            next_blob,
        })
    }

    /// A fresh path for an upload in progress.
    pub fn temp_path(&mut self) -> PathBuf {
        self.next_blob += 1;
        self.data_dir
            .join("tmp")
            .join(format!("upload-{}.part", self.next_blob))
    }

    fn blob_path(&mut self) -> PathBuf {
        self.next_blob += 1;
        self.data_dir
            .join("blobs")
            .join(format!("{:08}", self.next_blob))
    }

    /// The item, if it exists.
    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.get(id)
    }

    /// The item for changing, if it exists.
    pub fn item_mut(&mut self, id: &str) -> Option<&mut Item> {
        self.items.get_mut(id)
    }

    /// Every item identifier, sorted.
    pub fn identifiers(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.items.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// A new task id.
    pub fn next_task_id(&mut self) -> u64 {
        self.next_task += 1;
        self.next_task
    }

    /// IA's defaults for a new item.
    fn defaults(&self, id: &str, now: u64) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("identifier".into(), json!(id));
        m.insert("mediatype".into(), json!("data"));
        m.insert("collection".into(), json!("opensource"));
        m.insert("title".into(), json!(id));
        m.insert("uploader".into(), json!(self.email));
        m.insert("addeddate".into(), json!(ia_date(now)));
        m.insert("publicdate".into(), json!(ia_date(now)));
        m
    }

    /// Creates the item with IA's defaults under the given metadata.
    pub fn create_item(&mut self, id: &str, meta: Map<String, Value>) {
        let now = unix_now();
        let mut metadata = self.defaults(id, now);
        for (k, v) in meta {
            if k != "identifier" {
                metadata.insert(k, v);
            }
        }
        let uniq = u64::from_le_bytes(
            Md5::new()
                .chain_update(self.seed.to_le_bytes())
                .chain_update(id.as_bytes())
                .finalize()[..8]
                .try_into()
                .unwrap_or([0; 8]),
        ) % 10_000_000_000;
        self.items.insert(
            id.to_string(),
            Item {
                identifier: id.to_string(),
                metadata,
                created: now,
                updated: now,
                files: Vec::new(),
                puts: Vec::new(),
                tasks: Vec::new(),
                uniq,
            },
        );
    }

    /// `x-archive-ignore-preexisting-bucket: 1`: the headers' metadata replaces the item's,
    /// keeping only what IA sets itself (identifier, uploader, dates).
    pub fn replace_metadata(&mut self, id: &str, meta: Map<String, Value>) {
        let now = unix_now();
        let mut fresh = self.defaults(id, now);
        let Some(item) = self.items.get_mut(id) else {
            return;
        };
        for keep in ["uploader", "addeddate", "publicdate"] {
            if let Some(v) = item.metadata.get(keep) {
                fresh.insert(keep.to_string(), v.clone());
            }
        }
        for (k, v) in meta {
            if k != "identifier" {
                fresh.insert(k, v);
            }
        }
        item.metadata = fresh;
        item.updated = now;
    }

    fn add_task(
        &mut self,
        id: &str,
        cmd: &'static str,
        args: Map<String, Value>,
        priority: i64,
        delay: Duration,
    ) -> u64 {
        let task_id = self.next_task_id();
        if let Some(item) = self.items.get_mut(id) {
            item.tasks.push(Task {
                id: task_id,
                cmd,
                args,
                priority,
                submitted: unix_now(),
                due: Instant::now() + delay,
            });
        }
        task_id
    }

    /// Records a metadata change task (for the metadata write API) with its priority.
    pub fn metadata_task(&mut self, id: &str, target: &str, priority: i64, delay: Duration) -> u64 {
        let mut args = Map::new();
        args.insert("target".into(), json!(target));
        self.add_task(id, "modify_xml.php", args, priority, delay)
    }

    /// Turns a complete upload into a file of its item (creating the item if asked).
    pub fn commit_put(&mut self, put: PutCommit, task_delay: Duration) -> Result<(), StateError> {
        if !self.items.contains_key(&put.identifier) {
            self.create_item(&put.identifier, put.item_meta.clone().unwrap_or_default());
        } else if put.replace_meta {
            self.replace_metadata(&put.identifier, put.item_meta.clone().unwrap_or_default());
        }
        let blob = self.blob_path();
        std::fs::rename(&put.temp, &blob)?;
        let now = Instant::now();
        let mtime = unix_now();
        let data = FileData {
            size: put.size,
            md5: put.md5.clone(),
            mtime,
            path: blob,
            source: "original".into(),
            original: None,
            metadata: put.file_meta,
        };
        let history = if put.record.keep_old_version {
            Some(self.history_name(&put.identifier, &put.key))
        } else {
            None
        };
        let item = self
            .items
            .get_mut(&put.identifier)
            .ok_or(StateError::NoSuchItem)?;
        let visible_at = now + task_delay;
        match item.find(&put.key) {
            Some(i) => {
                let old = item.files[i].clone();
                let shown_before = old.view(now).cloned();
                match history {
                    Some(h) => item.files.push(StoredFile {
                        name: h,
                        data: old.data.clone(),
                        visible_at,
                        shown_before: None,
                    }),
                    None => {
                        let _ = std::fs::remove_file(&old.data.path);
                    }
                }
                item.files[i] = StoredFile {
                    name: put.key.clone(),
                    data,
                    visible_at,
                    shown_before,
                };
            }
            None => item.files.push(StoredFile {
                name: put.key.clone(),
                data,
                visible_at,
                shown_before: None,
            }),
        }
        item.updated = mtime;
        let queue_derive = put.record.queue_derive;
        item.puts.push(put.record);
        let mut args = Map::new();
        args.insert("file".into(), json!(put.key));
        self.add_task(&put.identifier, "archive.php", args, 0, task_delay);
        if queue_derive {
            self.derive(&put.identifier, task_delay)?;
        }
        Ok(())
    }

    /// `history/files/{key}.~N~` with the first unused N.
    fn history_name(&self, id: &str, key: &str) -> String {
        let taken = |name: &str| {
            self.items
                .get(id)
                .is_some_and(|item| item.find(name).is_some())
        };
        (1u32..)
            .map(|n| format!("history/files/{key}.~{n}~"))
            .find(|name| !taken(name))
            .unwrap_or_else(|| format!("history/files/{key}.~0~"))
    }

    /// A derive: each original without a derivative gets `{stem}_derived.txt`.
    fn derive(&mut self, id: &str, delay: Duration) -> Result<(), StateError> {
        let Some(item) = self.items.get(id) else {
            return Err(StateError::NoSuchItem);
        };
        let todo: Vec<(String, String)> = item
            .files
            .iter()
            .filter(|f| f.data.source == "original" && !f.name.starts_with("history/"))
            .filter(|f| {
                !item
                    .files
                    .iter()
                    .any(|d| d.data.original.as_deref() == Some(f.name.as_str()))
            })
            .map(|f| (f.name.clone(), derived_name(&f.name)))
            .filter(|(_, d)| item.find(d).is_none())
            .collect();
        let now = Instant::now();
        let mut made = Vec::new();
        for (original, name) in todo {
            let content = format!("derived from {original}\n");
            let blob = self.blob_path();
            std::fs::write(&blob, content.as_bytes())?;
            made.push(StoredFile {
                name,
                data: FileData {
                    size: content.len() as u64,
                    md5: hex::encode(Md5::digest(content.as_bytes())),
                    mtime: unix_now(),
                    path: blob,
                    source: "derivative".into(),
                    original: Some(original),
                    metadata: Map::new(),
                },
                visible_at: now + delay,
                shown_before: None,
            });
        }
        if let Some(item) = self.items.get_mut(id) {
            item.files.extend(made);
        }
        self.add_task(id, "derive.php", Map::new(), 0, delay);
        Ok(())
    }

    /// Deletes a file; with `cascade` its derivatives too; with `keep_old` a history copy stays.
    pub fn delete(
        &mut self,
        id: &str,
        key: &str,
        cascade: bool,
        keep_old: bool,
    ) -> Result<(), StateError> {
        let history = if keep_old {
            Some(self.history_name(id, key))
        } else {
            None
        };
        let item = self.items.get_mut(id).ok_or(StateError::NoSuchItem)?;
        let i = item.find(key).ok_or(StateError::NoSuchFile)?;
        let removed = item.files.remove(i);
        match history {
            Some(h) => item.files.push(StoredFile {
                name: h,
                data: removed.data,
                visible_at: Instant::now(),
                shown_before: None,
            }),
            None => {
                let _ = std::fs::remove_file(&removed.data.path);
            }
        }
        if cascade {
            item.files.retain(|f| {
                let derived =
                    f.data.source == "derivative" && f.data.original.as_deref() == Some(key);
                if derived {
                    let _ = std::fs::remove_file(&f.data.path);
                }
                !derived
            });
        }
        item.updated = unix_now();
        Ok(())
    }
}

/// The highest number among the names in `dir` (`00000042`, `upload-42.part`), 0 if none.
fn highest_number(dir: &Path) -> std::io::Result<u64> {
    let mut highest = 0;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        let digits = name.trim_start_matches("upload-").trim_end_matches(".part");
        if let Ok(n) = digits.parse::<u64>() {
            highest = highest.max(n);
        }
    }
    Ok(highest)
}

/// `dir/name.ext` -> `dir/name_derived.txt`.
pub fn derived_name(key: &str) -> String {
    let base_start = key.rfind('/').map_or(0, |i| i + 1);
    let stem = match key[base_start..].rfind('.') {
        Some(dot) if dot > 0 => &key[..base_start + dot],
        _ => key,
    };
    format!("{stem}_derived.txt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_drop_the_last_extension_only() {
        assert_eq!(derived_name("a.txt"), "a_derived.txt");
        assert_eq!(derived_name("dir.v2/a.tar.gz"), "dir.v2/a.tar_derived.txt");
        assert_eq!(derived_name("dir.v2/README"), "dir.v2/README_derived.txt");
        assert_eq!(derived_name(".hidden"), ".hidden_derived.txt");
    }

    fn commit(state: &mut State, dir: &Path, key: &str, body: &[u8], keep: bool, derive: bool) {
        let temp = state.temp_path();
        std::fs::write(&temp, body).expect("write temp");
        let _ = dir;
        state
            .commit_put(
                PutCommit {
                    identifier: "item1".into(),
                    key: key.into(),
                    temp,
                    size: body.len() as u64,
                    md5: hex::encode(Md5::digest(body)),
                    item_meta: None,
                    replace_meta: false,
                    file_meta: Map::new(),
                    record: PutRecord {
                        key: key.into(),
                        queue_derive: derive,
                        size_hint: None,
                        keep_old_version: keep,
                    },
                },
                Duration::ZERO,
            )
            .expect("commit");
    }

    #[test]
    fn blob_numbers_continue_past_an_earlier_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("blobs")).expect("blobs");
        std::fs::create_dir_all(dir.path().join("tmp")).expect("tmp");
        std::fs::write(dir.path().join("blobs/00000007"), b"kept").expect("blob");
        std::fs::write(dir.path().join("tmp/upload-9.part"), b"half").expect("temp");
        std::fs::write(dir.path().join("blobs/notes.txt"), b"x").expect("other");
        let mut state = State::new(dir.path(), "me@example.com", 1).expect("state");
        assert_eq!(state.blob_path(), dir.path().join("blobs/00000010"));
        assert!(state.temp_path().ends_with("tmp/upload-11.part"));
    }

    #[test]
    fn history_copies_and_cascade_deletes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut state = State::new(dir.path(), "me@example.com", 1).expect("state");
        commit(&mut state, dir.path(), "a.txt", b"one", false, false);
        commit(&mut state, dir.path(), "a.txt", b"two", true, false);
        commit(&mut state, dir.path(), "a.txt", b"three", true, true);
        let item = state.item("item1").expect("item");
        let names: Vec<&str> = item.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "a.txt",
                "history/files/a.txt.~1~",
                "history/files/a.txt.~2~",
                "a_derived.txt"
            ]
        );
        assert_eq!(item.metadata["uploader"], json!("me@example.com"));
        state
            .delete("item1", "a.txt", false, false)
            .expect("delete");
        assert!(state
            .item("item1")
            .expect("item")
            .find("a_derived.txt")
            .is_some());
        commit(&mut state, dir.path(), "b.txt", b"b", false, true);
        state.delete("item1", "b.txt", true, false).expect("delete");
        assert!(state
            .item("item1")
            .expect("item")
            .find("b_derived.txt")
            .is_none());
    }
}
