//! MD5, the one digest IA keeps per file: the helpers every direction shares (a file's MD5, an
//! ETag in the form compared with it) and the streaming, hashing request body of an upload.
//!
//! A file is read on a blocking thread in `CHUNK`s handed over a bounded channel (`DEPTH`
//! deep), so memory stays constant for any size and the hash costs no second read. The
//! download direction's counterpart is [`PartSink`]: it writes `NAME.part`, hashes while
//! writing, and renames the file into place only once it is complete and synced.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::sync::{mpsc, oneshot};

/// Bytes read and sent at a time.
pub const CHUNK: usize = 256 * 1024;
/// Chunks buffered between the reader thread and the socket: 4 x 256 KiB per file in flight.
pub const DEPTH: usize = 4;

/// Lowercase hex of the MD5 of `data`.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// `"abc"`, `W/"ABC"` -> `abc`: the form compared with our MD5.
pub fn normalize_etag(v: &str) -> String {
    v.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_ascii_lowercase()
}

/// Hashes a whole file (for `--verify`'s Content-MD5, `--checksum`, landed checks), on a
/// blocking thread.
pub async fn md5_file(path: &Path) -> std::io::Result<String> {
    md5_range(path, 0, u64::MAX).await
}

/// Hashes at most `len` bytes of a file from `offset` (a part of a multipart upload), on a
/// blocking thread.
pub async fn md5_range(path: &Path, offset: u64, len: u64) -> std::io::Result<String> {
    md5_range_until(path, offset, len, Arc::default()).await
}

/// [`md5_range`] that gives up (`Interrupted`) once `cancel` is set: a big file's read stops
/// with the transfer it served instead of holding the run's end back.
pub async fn md5_range_until(
    path: &Path,
    offset: u64,
    len: u64,
    cancel: Arc<AtomicBool>,
) -> std::io::Result<String> {
    use std::io::{Seek, SeekFrom};
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(&path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut f = f.take(len);
        let mut h = Md5::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "stopped",
                ));
            }
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(hex::encode(h.finalize()))
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// A file being read for a request body: its chunks, then (once every byte was read) its MD5.
pub struct HashedChunks {
    pub chunks: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    pub md5: oneshot::Receiver<String>,
}

/// Starts the reader thread: it sends exactly `size` bytes of `file` (or an error: a file that
/// shrank is `UnexpectedEof`), then the MD5 of what it sent. Dropping the receiver stops it.
pub fn read_hashing(file: std::fs::File, size: u64) -> HashedChunks {
    let (tx, rx) = mpsc::channel(DEPTH);
    let (md5_tx, md5_rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let mut f = file.take(size);
        let mut h = Md5::new();
        let mut left = size;
        while left > 0 {
            let mut buf = vec![0u8; CHUNK.min(left as usize)];
            let n = match f.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.blocking_send(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("the file shrank while being sent ({left} bytes missing)"),
                    )));
                    return;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            buf.truncate(n);
            h.update(&buf);
            left -= n as u64;
            if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                return; // the attempt was dropped
            }
        }
        let _ = md5_tx.send(hex::encode(h.finalize()));
    });
    HashedChunks {
        chunks: rx,
        md5: md5_rx,
    }
}

/// A part held in memory (stdin streamed in parts) as a request body: its chunks, sliced
/// without copying, then its MD5, hashed on a blocking thread as the chunks go.
pub fn memory_hashing(data: Bytes) -> HashedChunks {
    let (tx, rx) = mpsc::channel(DEPTH);
    let (md5_tx, md5_rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let mut h = Md5::new();
        let mut at = 0;
        while at < data.len() {
            let chunk = data.slice(at..(at + CHUNK).min(data.len()));
            at += chunk.len();
            h.update(&chunk);
            if tx.blocking_send(Ok(chunk)).is_err() {
                return; // the attempt was dropped
            }
        }
        let _ = md5_tx.send(hex::encode(h.finalize()));
    });
    HashedChunks {
        chunks: rx,
        md5: md5_rx,
    }
}

/// Where a download is written: `NAME.part` beside `NAME`, hashed while written. Only
/// [`PartSink::finish`] puts it in place (fsync, then an atomic rename), so `NAME` is either
/// absent, the old file, or the whole new one; never half of it. Dropping an unfinished sink
/// leaves the `.part` file for a resume or a later run to judge.
pub struct PartSink {
    file: std::fs::File,
    part: PathBuf,
    target: PathBuf,
    hash: Md5,
    written: u64,
}

impl PartSink {
    /// Creates (or truncates) `target`'s `.part` file.
    pub fn create(target: &Path) -> std::io::Result<PartSink> {
        let part = Self::part_of(target);
        Ok(PartSink {
            file: std::fs::File::create(&part)?,
            part,
            target: target.to_path_buf(),
            hash: Md5::new(),
            written: 0,
        })
    }

    /// Opens `target`'s `.part` file to continue it: what it holds is hashed first (the MD5
    /// of the kept prefix), and writes append. A missing `.part` is created empty.
    pub fn resume(target: &Path) -> std::io::Result<PartSink> {
        let part = Self::part_of(target);
        let mut file = std::fs::File::options()
            .read(true)
            .append(true)
            .create(true)
            .open(&part)?;
        let mut hash = Md5::new();
        let mut buf = vec![0u8; CHUNK];
        let mut written = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            written += n as u64;
        }
        Ok(PartSink {
            file,
            part,
            target: target.to_path_buf(),
            hash,
            written,
        })
    }

    /// Empties the `.part` file to start over from byte 0.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.hash = Md5::new();
        self.written = 0;
        Ok(())
    }

    /// Removes the `.part` file: what it holds is known to be wrong.
    pub fn discard(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.part);
    }

    /// Sets the modification time the file will have once in place; its access time is left
    /// as it is.
    pub fn set_modified(&self, when: std::time::SystemTime) -> std::io::Result<()> {
        self.file
            .set_times(std::fs::FileTimes::new().set_modified(when))
    }

    fn part_of(target: &Path) -> PathBuf {
        let mut name = target.file_name().unwrap_or_default().to_os_string();
        name.push(".part");
        target.with_file_name(name)
    }

    pub fn part_path(&self) -> &Path {
        &self.part
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all(data)?;
        self.hash.update(data);
        self.written += data.len() as u64;
        Ok(())
    }

    /// Syncs the file, and when its MD5 is `expected` (any case; `None` takes any), renames it
    /// to the target and syncs the directory. Returns the MD5. On a mismatch the `.part` file
    /// is removed and the error says both digests.
    pub fn finish(self, expected: Option<&str>) -> std::io::Result<String> {
        self.file.sync_all()?;
        drop(self.file);
        let md5 = hex::encode(self.hash.finalize());
        if let Some(want) = expected.filter(|w| !w.eq_ignore_ascii_case(&md5)) {
            let _ = std::fs::remove_file(&self.part);
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("MD5 {md5} of what arrived is not the expected {want}"),
            ));
        }
        std::fs::rename(&self.part, &self.target)?;
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Make the rename itself durable; not every platform can open a directory.
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(md5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_normalized() {
        assert_eq!(normalize_etag(" W/\"ABC\" "), "abc");
        assert_eq!(normalize_etag("\"d41d8cd9\""), "d41d8cd9");
    }

    #[tokio::test]
    async fn the_streamed_body_and_its_md5_match_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..CHUNK * 2 + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let mut body = read_hashing(std::fs::File::open(&p).unwrap(), data.len() as u64);
        let mut got = Vec::new();
        while let Some(chunk) = body.chunks.recv().await {
            got.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(got, data);
        assert_eq!(body.md5.await.unwrap(), md5_hex(&data));
        assert_eq!(md5_file(&p).await.unwrap(), md5_hex(&data));
        // Asked for more than the file holds: an UnexpectedEof, and no MD5.
        let mut short = read_hashing(std::fs::File::open(&p).unwrap(), data.len() as u64 + 1);
        let mut last = None;
        while let Some(c) = short.chunks.recv().await {
            last = Some(c);
        }
        let err = last.unwrap().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(short.md5.await.is_err());
    }

    #[test]
    fn a_part_file_is_renamed_into_place_only_when_whole_and_right() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.bin");
        std::fs::write(&target, b"old").unwrap();
        let mut sink = PartSink::create(&target).unwrap();
        assert_eq!(sink.part_path(), dir.path().join("a.bin.part"));
        sink.write(b"hello ").unwrap();
        sink.write(b"world").unwrap();
        assert_eq!(sink.written(), 11);
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"old",
            "untouched until finished"
        );
        let want = md5_hex(b"hello world");
        assert_eq!(sink.finish(Some(&want.to_uppercase())).unwrap(), want);
        assert_eq!(std::fs::read(&target).unwrap(), b"hello world");
        assert!(!dir.path().join("a.bin.part").exists());

        let mut bad = PartSink::create(&target).unwrap();
        bad.write(b"damaged").unwrap();
        let err = bad.finish(Some(&want)).unwrap_err();
        assert!(err.to_string().contains(&want), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"hello world", "kept");
        assert!(!dir.path().join("a.bin.part").exists(), "damage removed");
    }

    #[test]
    fn a_resumed_part_file_hashes_its_prefix_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("r.bin");
        let mut first = PartSink::create(&target).unwrap();
        first.write(b"hello ").unwrap();
        drop(first); // a kill: the .part stays
        let mut sink = PartSink::resume(&target).unwrap();
        assert_eq!(sink.written(), 6, "the kept prefix counts");
        sink.write(b"world").unwrap();
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_200_000_000);
        sink.set_modified(when).unwrap();
        let want = md5_hex(b"hello world");
        assert_eq!(sink.finish(Some(&want)).unwrap(), want);
        assert_eq!(std::fs::read(&target).unwrap(), b"hello world");
        assert_eq!(
            std::fs::metadata(&target).unwrap().modified().unwrap(),
            when
        );

        let mut again = PartSink::resume(&target).unwrap();
        assert_eq!(again.written(), 0, "no .part: a new one");
        again.write(b"junk").unwrap();
        again.restart().unwrap();
        again.write(b"x").unwrap();
        assert_eq!(again.finish(None).unwrap(), md5_hex(b"x"));
        let gone = PartSink::resume(&dir.path().join("g")).unwrap();
        gone.discard();
        assert!(!dir.path().join("g.part").exists());
    }
}
