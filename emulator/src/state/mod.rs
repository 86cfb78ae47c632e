//! The emulator's memory of items: their metadata, their files (bodies live on disk under the
//! data dir), the PUTs they received and their pending tasks. Operations here are the item-level
//! rules of IA (defaults of new items, history copies, derives, cascade deletes, task delays);
//! multipart uploads in progress, and the buckets they promise, live in `uploads`. HTTP parsing
//! and error answers are the S3 and archive handlers' business. Also the public snapshot types
//! returned by [`crate::Emulator::item`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use serde_json::{json, Map, Value};

use crate::clock::{ia_date, unix_now};
use crate::seed::SeedFile;

pub mod frontier;
mod uploads;

pub use uploads::{concatenate, multipart_etag, CommitPlan, Upload, UploadRef, Uploads};

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
    /// The task ended in error (`task_error_rate`, or seeded so): it stays queued for good.
    pub error: bool,
}

/// When new tasks finish and whether they fail: the task delay and the task error rate.
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskRule {
    /// How long a task stays queued or running.
    pub delay: Duration,
    /// Fraction of tasks that end in error (decided from the seed and the task id).
    pub error_rate: f64,
}

impl TaskRule {
    /// The rule the faults in force give.
    pub fn of(faults: &crate::config::Faults) -> TaskRule {
        TaskRule {
            delay: faults.task_delay,
            error_rate: faults.task_error_rate,
        }
    }
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
    /// IA's `format`, when set by whoever stored it (else it follows the extension).
    pub format: Option<String>,
    /// A private file: listed, but served only to the owner (`403` to others).
    pub private: bool,
    /// SHA-1 and CRC32 (lower-case hex), computed when first listed (they are not needed for
    /// uploads, so a PUT's hot path does not pay for them).
    pub sha1: Option<String>,
    pub crc32: Option<String>,
}

impl FileData {
    /// A file of `source` with IA's defaults for everything else.
    pub fn new(path: PathBuf, size: u64, md5: String, source: &str) -> FileData {
        FileData {
            size,
            md5,
            mtime: unix_now(),
            path,
            source: source.to_string(),
            original: None,
            metadata: Map::new(),
            format: None,
            private: false,
            sha1: None,
            crc32: None,
        }
    }
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
    pub cmd: String,
    pub args: Map<String, Value>,
    pub priority: i64,
    pub submitted: u64,
    pub due: Instant,
    /// Ended in error: never finishes (IA leaves a red task for an admin).
    pub error: bool,
}

impl Task {
    /// Finished at `now` (in the item's history rather than its catalog).
    pub fn finished(&self, now: Instant) -> bool {
        !self.error && self.due <= now
    }
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

    /// IA's `wait_admin` of an unfinished task: 2 in error, 1 running (the item's oldest
    /// unfinished task that is not in error: IA runs one task per item at a time), 0 queued.
    pub fn task_status(&self, task: &Task, now: Instant) -> u8 {
        if task.error {
            return 2;
        }
        let running = self.tasks.iter().find(|t| !t.error && !t.finished(now));
        if running.is_some_and(|r| r.id == task.id) {
            1
        } else {
            0
        }
    }

    /// Tasks not yet finished at `now`.
    pub fn pending_tasks(&self, now: Instant) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(move |t| !t.finished(now))
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
                    cmd: t.cmd.clone(),
                    args: t.args.clone(),
                    priority: t.priority,
                    error: t.error,
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
    uploads: Uploads,
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
    /// The multipart upload does not exist (never did, or was completed or aborted).
    #[error("no such upload")]
    NoSuchUpload,
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
            uploads: Uploads::default(),
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

    /// Queues a task for item `id`; whether it fails is decided from the seed and its number.
    pub fn add_task(
        &mut self,
        id: &str,
        cmd: &str,
        args: Map<String, Value>,
        priority: i64,
        rule: TaskRule,
    ) -> u64 {
        let task_id = self.next_task_id();
        let error = crate::faults::hits(
            rule.error_rate,
            self.seed,
            "task-error",
            cmd,
            id,
            task_id as u32,
        );
        if let Some(item) = self.items.get_mut(id) {
            item.tasks.push(Task {
                id: task_id,
                cmd: cmd.to_string(),
                args,
                priority,
                submitted: unix_now(),
                due: Instant::now() + rule.delay,
                error,
            });
        }
        task_id
    }

    /// Records a metadata change task (for the metadata write API) with its priority.
    pub fn metadata_task(&mut self, id: &str, target: &str, priority: i64, rule: TaskRule) -> u64 {
        let mut args = Map::new();
        args.insert("target".into(), json!(target));
        self.add_task(id, "modify_xml.php", args, priority, rule)
    }

    /// Turns a complete upload into a file of its item (creating the item if asked).
    pub fn commit_put(&mut self, put: PutCommit, rule: TaskRule) -> Result<(), StateError> {
        let task_delay = rule.delay;
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
            mtime,
            metadata: put.file_meta,
            ..FileData::new(blob, put.size, put.md5.clone(), "original")
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
        self.add_task(&put.identifier, "archive.php", args, 0, rule);
        if queue_derive {
            self.derive(&put.identifier, rule)?;
        }
        Ok(())
    }

    /// Stores item `id` with `metadata` (over IA's defaults) and `files`, all visible at once and
    /// with no task queued; an item of that name is replaced.
    pub fn seed_item(
        &mut self,
        id: &str,
        metadata: Map<String, Value>,
        files: Vec<SeedFile>,
    ) -> std::io::Result<()> {
        if let Some(old) = self.items.remove(id) {
            for f in old.files {
                let _ = std::fs::remove_file(&f.data.path);
            }
        }
        self.create_item(id, metadata);
        let now = Instant::now();
        let mut stored = Vec::new();
        for f in files {
            let blob = self.blob_path();
            std::fs::write(&blob, &f.data)?;
            let (sha1, crc32) = crate::seed::hashes_of(&f.data);
            let mut data = FileData::new(
                blob,
                f.data.len() as u64,
                hex::encode(Md5::digest(&f.data)),
                &f.source,
            );
            data.original = f.original;
            data.format = f.format;
            data.private = f.private;
            data.mtime = f.mtime.unwrap_or(data.mtime);
            data.sha1 = Some(sha1);
            data.crc32 = Some(crc32);
            stored.push(StoredFile {
                name: f.name,
                data,
                visible_at: now,
                shown_before: None,
            });
        }
        if let Some(item) = self.items.get_mut(id) {
            item.files = stored;
        }
        Ok(())
    }

    /// Stored files of item `id` visible at `now` whose SHA-1/CRC32 are not known yet.
    pub fn unhashed(&self, id: &str, now: Instant) -> Vec<PathBuf> {
        self.items.get(id).map_or_else(Vec::new, |item| {
            item.files
                .iter()
                .filter_map(|f| f.view(now))
                .filter(|d| d.sha1.is_none())
                .map(|d| d.path.clone())
                .collect()
        })
    }

    /// Records the hashes of the file stored at `path` in item `id`.
    pub fn set_hashes(&mut self, id: &str, path: &Path, sha1: String, crc32: String) {
        let Some(item) = self.items.get_mut(id) else {
            return;
        };
        for f in &mut item.files {
            for d in std::iter::once(&mut f.data).chain(f.shown_before.as_mut()) {
                if d.path == path {
                    d.sha1 = Some(sha1.clone());
                    d.crc32 = Some(crc32.clone());
                }
            }
        }
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
    fn derive(&mut self, id: &str, rule: TaskRule) -> Result<(), StateError> {
        let delay = rule.delay;
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
                    original: Some(original),
                    ..FileData::new(
                        blob,
                        content.len() as u64,
                        hex::encode(Md5::digest(content.as_bytes())),
                        "derivative",
                    )
                },
                visible_at: now + delay,
                shown_before: None,
            });
        }
        if let Some(item) = self.items.get_mut(id) {
            item.files.extend(made);
        }
        self.add_task(id, "derive.php", Map::new(), 0, rule);
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
mod tests;
