//! Test bed: an emulator on 127.0.0.1:0, a temporary HOME and working directory, and an
//! `iaup` command wired to both with nothing inherited from the developer's environment.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ias3_emulator::{Config, Emulator, Faults, RequestRecord};

pub const ACCESS: &str = "test-access-key";
pub const SECRET: &str = "test-SECRET-7f3a9";

pub struct Bed {
    pub emu: Emulator,
    /// The secret key the emulator accepts ([`SECRET`] unless the bed was built with another).
    pub secret: String,
    pub home: tempfile::TempDir,
    pub work: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl Bed {
    pub fn new() -> Bed {
        Bed::with_faults(Faults::default())
    }

    pub fn with_faults(faults: Faults) -> Bed {
        Bed::build(SECRET, faults)
    }

    /// An emulator that accepts `secret` instead of [`SECRET`]; `cmd()` writes it to ia.ini.
    pub fn with_secret(secret: &str) -> Bed {
        Bed::build(secret, Faults::default())
    }

    /// A bed whose emulator configuration `tune` adjusts (e.g. `download_redirect`).
    #[allow(dead_code)]
    pub fn with_config(faults: Faults, tune: impl FnOnce(&mut Config)) -> Bed {
        Bed::build_with(SECRET, faults, tune)
    }

    fn build(secret: &str, faults: Faults) -> Bed {
        Bed::build_with(secret, faults, |_| {})
    }

    fn build_with(secret: &str, faults: Faults, tune: impl FnOnce(&mut Config)) -> Bed {
        let data = tempfile::tempdir().unwrap();
        let mut cfg = Config::new(data.path(), ACCESS, secret);
        cfg.faults = faults;
        tune(&mut cfg);
        cfg.email = "user@example.com".into();
        cfg.password = "correct horse".into();
        cfg.screenname = "tester".into();
        let emu = Emulator::spawn(cfg).unwrap();
        Bed {
            emu,
            secret: secret.to_owned(),
            home: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
            _data: data,
        }
    }

    /// `iaup` with a clean environment pointed at the emulator; no config written.
    pub fn bare(&self) -> Command {
        let mut c = Command::cargo_bin("iaup").unwrap();
        c.env_clear()
            .env("HOME", self.home.path())
            .env("IAUP_S3_URL", self.emu.url())
            .env("IAUP_ARCHIVE_URL", self.emu.url())
            .current_dir(self.work.path())
            .timeout(std::time::Duration::from_secs(120));
        c
    }

    /// `iaup` with the emulator's keys in ~/.config/internetarchive/ia.ini.
    pub fn cmd(&self) -> Command {
        self.write_config(ACCESS, &self.secret);
        self.bare()
    }

    /// A plain `std` command for `iaup` with `cmd()`'s environment, to spawn in the background
    /// (and kill).
    #[allow(dead_code)]
    pub fn child(&self) -> std::process::Command {
        self.write_config(ACCESS, &self.secret);
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("iaup"));
        c.env_clear()
            .env("HOME", self.home.path())
            .env("IAUP_S3_URL", self.emu.url())
            .env("IAUP_ARCHIVE_URL", self.emu.url())
            .current_dir(self.work.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    }

    pub fn config_path(&self) -> PathBuf {
        self.home.path().join(".config/internetarchive/ia.ini")
    }

    pub fn write_config(&self, access: &str, secret: &str) {
        let p = self.config_path();
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("[s3]\naccess = {access}\nsecret = {secret}\n")).unwrap();
        // 0600 as `ia configure` leaves it: a file others can read draws a warning.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    /// Writes a file under the working directory and returns its relative path.
    pub fn file(&self, rel: &str, contents: &[u8]) -> PathBuf {
        let p = self.work.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, contents).unwrap();
        PathBuf::from(rel)
    }

    #[allow(dead_code)]
    pub fn path(&self, rel: &str) -> PathBuf {
        self.work.path().join(rel)
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.emu.requests()
    }

    pub fn puts(&self) -> Vec<RequestRecord> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "PUT")
            .collect()
    }

    /// The MD5 and size of a stored file, if the item has it.
    pub fn stored(&self, id: &str, key: &str) -> Option<(String, u64)> {
        let item = self.emu.item(id)?;
        item.files
            .iter()
            .find(|f| f.name == key)
            .map(|f| (f.md5.clone(), f.size))
    }
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

pub fn header<'a>(r: &'a RequestRecord, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Deterministic pseudo-random content of `n` bytes.
pub fn content(seed: u8, n: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts that no output stream contains the secret.
pub fn assert_no_secret(o: &std::process::Output) {
    assert_absent(o, SECRET);
}

/// Asserts that neither stdout nor stderr contains `secret`.
pub fn assert_absent(o: &std::process::Output, secret: &str) {
    assert!(
        !stdout(o).contains(secret),
        "secret on stdout: {}",
        stdout(o)
    );
    assert!(
        !stderr(o).contains(secret),
        "secret on stderr: {}",
        stderr(o)
    );
}

#[allow(dead_code)]
pub fn exists(p: &Path) -> bool {
    p.exists()
}
