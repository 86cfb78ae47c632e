//! Setting up items without uploading them, for tests and benchmarks of the harvest side:
//! [`SeedFile`] describes one file (an original, a derivative of another, a metadata file, a
//! private one) and [`crate::Emulator::seed_item`] stores an item made of them at once, with no
//! task queued. Also the SHA-1/CRC32 hashing that the metadata API lists.

use std::io::Read;
use std::path::Path;

use sha1::{Digest, Sha1};

/// One file of a seeded item.
#[derive(Clone, Debug)]
pub struct SeedFile {
    /// Its name (key) in the item; may contain `/`.
    pub name: String,
    /// Its bytes.
    pub data: Vec<u8>,
    /// `original`, `derivative` or `metadata`.
    pub source: String,
    /// For a derivative, the original it was made from.
    pub original: Option<String>,
    /// IA's `format` (default: from the extension, `Metadata` for source `metadata`).
    pub format: Option<String>,
    /// Its `mtime`, unix seconds (default: now).
    pub mtime: Option<u64>,
    /// Listed, but served only to the owner (403 to anyone else).
    pub private: bool,
}

impl SeedFile {
    /// An original file.
    pub fn original(name: impl Into<String>, data: impl Into<Vec<u8>>) -> SeedFile {
        SeedFile {
            name: name.into(),
            data: data.into(),
            source: "original".into(),
            original: None,
            format: None,
            mtime: None,
            private: false,
        }
    }

    /// A derivative of `original` (listed with `source: derivative` and `original`).
    pub fn derivative(
        name: impl Into<String>,
        data: impl Into<Vec<u8>>,
        original: impl Into<String>,
    ) -> SeedFile {
        SeedFile {
            source: "derivative".into(),
            original: Some(original.into()),
            ..SeedFile::original(name, data)
        }
    }

    /// A metadata file such as `ID_marc.xml` (listed with `source: metadata`).
    pub fn metadata(name: impl Into<String>, data: impl Into<Vec<u8>>) -> SeedFile {
        SeedFile {
            source: "metadata".into(),
            ..SeedFile::original(name, data)
        }
    }

    /// Sets IA's `format`.
    pub fn format(mut self, format: impl Into<String>) -> SeedFile {
        self.format = Some(format.into());
        self
    }

    /// Sets the `mtime` (unix seconds).
    pub fn mtime(mut self, mtime: u64) -> SeedFile {
        self.mtime = Some(mtime);
        self
    }

    /// Makes the file private (403 to anyone but the owner).
    pub fn private(mut self) -> SeedFile {
        self.private = true;
        self
    }
}

/// SHA-1 and CRC32 of `data`, lower-case hex as IA lists them.
pub fn hashes_of(data: &[u8]) -> (String, String) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    (
        hex::encode(Sha1::digest(data)),
        format!("{:08x}", crc.finalize()),
    )
}

/// SHA-1 and CRC32 of the file at `path`, read in 1 MiB pieces.
pub fn hash_file(path: &Path) -> std::io::Result<(String, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut sha = Sha1::new();
    let mut crc = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        crc.update(&buf[..n]);
    }
    Ok((
        hex::encode(sha.finalize()),
        format!("{:08x}", crc.finalize()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_known_values() {
        let (sha1, crc32) = hashes_of(b"hello");
        assert_eq!(sha1, "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
        assert_eq!(crc32, "3610a686");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello").expect("write");
        assert_eq!(hash_file(&path).expect("hash"), (sha1, crc32));
    }
}
