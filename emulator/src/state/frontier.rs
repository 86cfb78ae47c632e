//! The running MD5 of a multipart upload's parts in order, advanced in the background as parts
//! arrive (part 1, then 2 once it is there, ...), so Complete only hashes what is left instead
//! of the whole file: a client's time is not spent waiting for the emulator to read gigabytes
//! again. A part replaced after it was hashed, or a list at Complete that differs, falls back
//! to hashing the listed parts from the start.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use md5::{Digest, Md5};

/// What the background hasher has covered.
#[derive(Clone, Default)]
pub struct Frontier {
    /// MD5 state over the parts hashed so far, in order.
    md5: Md5,
    /// `(number, md5)` of those parts: 1, 2, ... with no gap.
    hashed: Vec<(u32, String)>,
    /// A hasher is running.
    busy: bool,
    /// A part arrived while the hasher ran: it looks once more before it stops.
    again: bool,
    /// A part could not be read: the frontier is of no use.
    broken: bool,
}

impl std::fmt::Debug for Frontier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontier")
            .field("hashed", &self.hashed.len())
            .field("busy", &self.busy)
            .field("broken", &self.broken)
            .finish()
    }
}

/// A frontier shared between an upload, its hasher and its Complete.
pub type Shared = Arc<Mutex<Frontier>>;

fn lock(f: &Shared) -> MutexGuard<'_, Frontier> {
    f.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hashes the next parts in order while `part(n)` (path and MD5 of part `n`, if stored) has
/// them, on a blocking thread; returns at once when a hasher already runs.
pub fn advance<F>(frontier: &Shared, part: F)
where
    F: Fn(u32) -> Option<(PathBuf, String)> + Send + 'static,
{
    {
        let mut f = lock(frontier);
        if f.busy {
            f.again = true;
            return;
        }
        if f.broken {
            return;
        }
        f.busy = true;
    }
    let frontier = frontier.clone();
    tokio::task::spawn_blocking(move || loop {
        let (next, mut md5) = {
            let f = lock(&frontier);
            (f.hashed.len() as u32 + 1, f.md5.clone())
        };
        let Some((path, part_md5)) = part(next) else {
            let mut f = lock(&frontier);
            if std::mem::take(&mut f.again) {
                continue;
            }
            f.busy = false;
            return;
        };
        let hashed = hash_into(&path, &mut md5);
        let mut f = lock(&frontier);
        if hashed.is_err() {
            f.broken = true;
            f.busy = false;
            return;
        }
        f.md5 = md5;
        f.hashed.push((next, part_md5));
    });
}

/// The MD5 of `listed` parts (`(number, md5, path)`, in order) once the hasher has stopped:
/// the frontier's state carried on over the parts it has not covered, or every part hashed
/// again when the frontier does not match the list. Blocking.
pub fn finish(frontier: &Shared, listed: &[(u32, String, PathBuf)]) -> std::io::Result<String> {
    let f = loop {
        let f = lock(frontier);
        if !f.busy {
            break f.clone();
        }
        drop(f);
        std::thread::sleep(Duration::from_millis(10));
    };
    let prefix = !f.broken
        && f.hashed.len() <= listed.len()
        && f.hashed
            .iter()
            .zip(listed)
            .all(|((n, m), (ln, lm, _))| n == ln && m == lm);
    let (mut md5, from) = if prefix {
        (f.md5, f.hashed.len())
    } else {
        (Md5::new(), 0)
    };
    for (_, _, path) in &listed[from..] {
        hash_into(path, &mut md5)?;
    }
    Ok(hex::encode(md5.finalize()))
}

fn hash_into(path: &Path, md5: &mut Md5) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        md5.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_frontier_hashes_parts_in_order_and_complete_finishes_it() {
        let dir = tempfile::tempdir().unwrap();
        let parts: Vec<(u32, String, PathBuf)> = [b"hello ".as_slice(), b"big ", b"world"]
            .iter()
            .enumerate()
            .map(|(i, data)| {
                let p = dir.path().join(format!("p{i}"));
                std::fs::write(&p, data).unwrap();
                (i as u32 + 1, hex::encode(Md5::digest(data)), p)
            })
            .collect();
        let whole = hex::encode(Md5::digest(b"hello big world"));
        // Parts 1 and 3 stored: the frontier covers part 1 only.
        let frontier = Shared::default();
        let stored = [parts[0].clone(), parts[2].clone()];
        advance(&frontier, move |n| {
            stored
                .iter()
                .find(|p| p.0 == n)
                .map(|p| (p.2.clone(), p.1.clone()))
        });
        assert_eq!(finish(&frontier, &parts).unwrap(), whole);
        assert_eq!(lock(&frontier).hashed.len(), 1);
        // A list that differs from what was hashed starts over.
        let other = vec![parts[1].clone(), parts[2].clone()];
        assert_eq!(
            finish(&frontier, &other).unwrap(),
            hex::encode(Md5::digest(b"big world"))
        );
    }
}
