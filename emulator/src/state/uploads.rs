//! Multipart uploads in progress: what their create call asked for ([`CommitPlan`]), their parts
//! (files on disk, never in memory), and the buckets a create call promised that appear only
//! after the task delay (IA answers `CreateMultipartUpload` on a new item at once, and parts sent
//! before the item exists get `404 NoSuchBucket`). Assembly concatenates the parts by streaming
//! copy, in constant memory. The S3 answers are `s3::multipart`'s business.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use md5::{Digest, Md5};
use serde_json::{Map, Value};

use super::{PutCommit, PutRecord, State, StateError};
use crate::clock::unix_now;

/// What a file's headers ask its commit to do, known before its body: a PUT's, or a multipart
/// upload's create call (whose headers take effect at Complete, as a PUT of the whole file with
/// them would).
#[derive(Clone, Debug)]
pub struct CommitPlan {
    pub identifier: String,
    pub key: String,
    /// Item metadata from the headers (applied when the item is created, or with
    /// `replace_meta`).
    pub item_meta: Map<String, Value>,
    /// `x-archive-ignore-preexisting-bucket: 1`.
    pub replace_meta: bool,
    pub file_meta: Map<String, Value>,
    /// `x-archive-queue-derive` (absent means true).
    pub queue_derive: bool,
    /// `x-archive-size-hint` if sent and numeric; else the stored size is recorded.
    pub size_hint: Option<u64>,
    /// `x-archive-keep-old-version: 1`.
    pub keep_old_version: bool,
}

impl CommitPlan {
    /// The commit of the complete body `temp` of `size` bytes.
    pub fn commit(self, temp: PathBuf, size: u64, md5: String) -> PutCommit {
        let record = PutRecord {
            key: self.key.clone(),
            queue_derive: self.queue_derive,
            size_hint: Some(self.size_hint.unwrap_or(size)),
            keep_old_version: self.keep_old_version,
        };
        PutCommit {
            identifier: self.identifier,
            key: self.key,
            temp,
            size,
            md5,
            item_meta: Some(self.item_meta),
            replace_meta: self.replace_meta,
            file_meta: self.file_meta,
            record,
        }
    }
}

/// Names an upload as every call does: its item, its key and its id (an id is valid for its own
/// file only).
#[derive(Clone, Copy, Debug)]
pub struct UploadRef<'a> {
    pub id: &'a str,
    pub key: &'a str,
    pub upload_id: &'a str,
}

/// One stored part.
#[derive(Clone, Debug)]
pub struct Part {
    pub path: PathBuf,
    pub size: u64,
    /// MD5 of the part, lower-case hex (its ETag).
    pub md5: String,
    /// Unix seconds of its upload.
    pub modified: u64,
}

/// One multipart upload in progress.
#[derive(Debug)]
pub struct Upload {
    pub upload_id: String,
    pub plan: CommitPlan,
    /// Unix seconds of the create call.
    pub initiated: u64,
    pub parts: BTreeMap<u32, Part>,
    /// Complete calls received so far (for `--complete-slowdowns`).
    pub complete_calls: u32,
    /// The MD5 of its parts in order, advanced as they arrive.
    pub frontier: super::frontier::Shared,
}

impl Upload {
    /// Whether `named` names this upload.
    pub fn is(&self, named: UploadRef) -> bool {
        self.upload_id == named.upload_id
            && self.plan.identifier == named.id
            && self.plan.key == named.key
    }

    /// Removes every part's file.
    fn remove_parts(&self) {
        for part in self.parts.values() {
            let _ = std::fs::remove_file(&part.path);
        }
    }
}

/// The uploads in progress, and the buckets promised by create calls.
#[derive(Debug, Default)]
pub struct Uploads {
    by_id: HashMap<String, Upload>,
    /// Item id -> when it appears, with the metadata of the create call that made it.
    buckets_due: HashMap<String, (Instant, Map<String, Value>)>,
    created: u64,
}

impl State {
    /// Registers a new upload and returns its id. When the item does not exist it is promised:
    /// created (with the plan's item metadata) once `appear_after` has passed, at once for 0.
    pub fn create_upload(&mut self, plan: CommitPlan, appear_after: Duration) -> String {
        let id = plan.identifier.clone();
        if self.item(&id).is_none() {
            if appear_after.is_zero() {
                self.create_item(&id, plan.item_meta.clone());
            } else {
                self.uploads
                    .buckets_due
                    .entry(id)
                    .or_insert((Instant::now() + appear_after, plan.item_meta.clone()));
            }
        }
        self.uploads.created += 1;
        let upload_id = hex::encode(
            Md5::new()
                .chain_update(self.seed.to_le_bytes())
                .chain_update(self.uploads.created.to_le_bytes())
                .chain_update(
                    SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos())
                        .to_le_bytes(),
                )
                .finalize(),
        );
        self.uploads.by_id.insert(
            upload_id.clone(),
            Upload {
                upload_id: upload_id.clone(),
                plan,
                initiated: unix_now(),
                parts: BTreeMap::new(),
                complete_calls: 0,
                frontier: Default::default(),
            },
        );
        upload_id
    }

    /// Whether item `id` exists, creating it first if a create call promised it and its time
    /// has come.
    pub fn bucket_ready(&mut self, id: &str) -> bool {
        if self.item(id).is_some() {
            self.uploads.buckets_due.remove(id);
            return true;
        }
        match self.uploads.buckets_due.get(id) {
            Some((due, _)) if *due <= Instant::now() => {
                if let Some((_, meta)) = self.uploads.buckets_due.remove(id) {
                    self.create_item(id, meta);
                }
                true
            }
            _ => false,
        }
    }

    /// Whether a create call promised item `id` (appeared or not).
    pub fn bucket_promised(&self, id: &str) -> bool {
        self.uploads.buckets_due.contains_key(id)
    }

    /// The upload `named`, if it is in progress.
    pub fn upload_mut(&mut self, named: UploadRef) -> Option<&mut Upload> {
        self.uploads
            .by_id
            .get_mut(named.upload_id)
            .filter(|u| u.is(named))
    }

    /// The uploads in progress into item `id`, by key then by age.
    pub fn uploads_of(&self, id: &str) -> Vec<&Upload> {
        let mut list: Vec<&Upload> = self
            .uploads
            .by_id
            .values()
            .filter(|u| u.plan.identifier == id)
            .collect();
        list.sort_by(|a, b| {
            (&a.plan.key, a.initiated, &a.upload_id).cmp(&(&b.plan.key, b.initiated, &b.upload_id))
        });
        list
    }

    /// Path and MD5 of part `number` of upload `upload_id`, if stored.
    pub fn part_of(&self, upload_id: &str, number: u32) -> Option<(PathBuf, String)> {
        let part = self.uploads.by_id.get(upload_id)?.parts.get(&number)?;
        Some((part.path.clone(), part.md5.clone()))
    }

    /// Keeps the complete body `temp` as part `number` of the upload, replacing an earlier one.
    pub fn store_part(
        &mut self,
        named: UploadRef,
        number: u32,
        temp: &Path,
        size: u64,
        md5: String,
    ) -> Result<(), StateError> {
        if self.upload_mut(named).is_none() {
            return Err(StateError::NoSuchUpload);
        }
        let path = self.temp_path();
        std::fs::rename(temp, &path)?;
        let part = Part {
            path,
            size,
            md5,
            modified: unix_now(),
        };
        let upload = self.upload_mut(named).ok_or(StateError::NoSuchUpload)?;
        if let Some(old) = upload.parts.insert(number, part) {
            let _ = std::fs::remove_file(&old.path);
        }
        Ok(())
    }

    /// Forgets the upload and removes its parts; false if there is none.
    pub fn abort_upload(&mut self, named: UploadRef) -> bool {
        match self.take_upload(named) {
            Some(upload) => {
                upload.remove_parts();
                true
            }
            None => false,
        }
    }

    /// Takes the upload out (to assemble it outside the lock).
    pub fn take_upload(&mut self, named: UploadRef) -> Option<Upload> {
        self.upload_mut(named)?;
        self.uploads.by_id.remove(named.upload_id)
    }

    /// Puts back an upload whose assembly failed.
    pub fn restore_upload(&mut self, upload: Upload) {
        self.uploads.by_id.insert(upload.upload_id.clone(), upload);
    }

    /// Commits an assembled upload (`temp` holds the concatenation) and removes its parts.
    pub fn commit_upload(
        &mut self,
        upload: Upload,
        temp: PathBuf,
        size: u64,
        md5: String,
        rule: super::TaskRule,
    ) -> Result<(), StateError> {
        upload.remove_parts();
        self.commit_put(upload.plan.commit(temp, size, md5), rule)
    }
}

/// Concatenates `parts` into a new file `dest`, returning its size. `std::io::copy` between
/// files lets the kernel copy (`copy_file_range`), in constant memory; the MD5 comes from the
/// upload's frontier. Blocking: run it off the async threads.
pub fn concatenate(parts: &[PathBuf], dest: &Path) -> std::io::Result<u64> {
    let mut out = std::fs::File::create(dest)?;
    let mut size = 0u64;
    for path in parts {
        size += std::io::copy(&mut std::fs::File::open(path)?, &mut out)?;
    }
    out.flush()?;
    Ok(size)
}

/// S3's ETag of a completed multipart upload: the MD5 of the parts' binary MD5s, `-N`.
pub fn multipart_etag(part_md5s: &[&str]) -> String {
    let mut hasher = Md5::new();
    for md5 in part_md5s {
        hasher.update(hex::decode(md5).unwrap_or_default());
    }
    format!("{}-{}", hex::encode(hasher.finalize()), part_md5s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenation_streams_every_part_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"hello ").expect("write");
        std::fs::write(&b, b"world").expect("write");
        let dest = dir.path().join("out");
        let size = concatenate(&[a, b], &dest).expect("concatenated");
        assert_eq!(size, 11);
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello world");
        assert_eq!(std::fs::read(&dest).expect("read"), b"hello world");
    }

    #[test]
    fn multipart_etag_is_the_md5_of_binary_md5s() {
        let one = hex::encode(Md5::digest(b"a"));
        let two = hex::encode(Md5::digest(b"b"));
        let mut joined = Md5::digest(b"a").to_vec();
        joined.extend_from_slice(&Md5::digest(b"b"));
        assert_eq!(
            multipart_etag(&[&one, &two]),
            format!("{}-2", hex::encode(Md5::digest(&joined)))
        );
    }

    #[test]
    fn a_promised_bucket_appears_after_its_delay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut state = State::new(dir.path(), "a@b", 0).expect("state");
        let plan = CommitPlan {
            identifier: "item1".into(),
            key: "k".into(),
            item_meta: Map::new(),
            replace_meta: false,
            file_meta: Map::new(),
            queue_derive: false,
            size_hint: None,
            keep_old_version: false,
        };
        let upload = state.create_upload(plan, Duration::from_millis(50));
        assert_eq!(upload.len(), 32);
        assert!(!state.bucket_ready("item1"));
        assert!(state.item("item1").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(state.bucket_ready("item1"));
        assert!(state.item("item1").is_some());
    }
}
