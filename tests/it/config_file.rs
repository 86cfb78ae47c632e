//! `ia.ini` as a hostile input: malformed, multi-line, duplicated, BOM-prefixed, too open, or
//! next to a planted `ia.ini.tmp`. Every error names the file and line and never a value.

use std::path::Path;

use crate::harness::*;

/// A secret that must never reach the terminal, and a fragment of it.
const LEAK: &str = "S3cr3tLeak9xQ";
const LEAK_PART: &str = "Leak9x";

fn put_config(bed: &Bed, bytes: &[u8]) -> std::path::PathBuf {
    let p = bed.config_path();
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    p
}

/// Runs `args` and checks: exit 2, the file and `line N` named, no trace of [`LEAK`], nothing
/// sent. Returns stderr.
fn refused(bed: &Bed, args: &[&str], p: &Path, line: usize) -> String {
    let before = bed.requests().len();
    let o = bed.bare().args(args).output().unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
    assert_absent(&o, LEAK);
    assert_absent(&o, LEAK_PART);
    assert!(e.contains(&p.display().to_string()), "{args:?}: {e}");
    assert!(e.contains(&format!("line {line}")), "{args:?}: {e}");
    assert_eq!(bed.requests().len(), before, "{args:?}: nothing sent");
    e
}

/// Every command that reads ia.ini; the last one writes it.
const EVERY_READER: &[&[&str]] = &[
    &["upload", "leak-item", "f.txt"],
    &["configure", "--show"],
    &["configure", "--check"],
    &["--show-settings", "configure"],
    &["configure", "--access", ACCESS, "--secret", SECRET],
];

#[test]
fn malformed_ia_ini_never_prints_a_secret() {
    let bed = Bed::new();
    bed.file("f.txt", b"hello");
    // (file, line named, whether `configure` can repair it by storing new keys)
    let shapes: Vec<(Vec<u8>, usize, bool)> = vec![
        (format!("[s3] secret = {LEAK}\n").into_bytes(), 1, false),
        (
            format!("[s3]\naccess = a\n[s3 secret = {LEAK}\n").into_bytes(),
            3,
            false,
        ),
        (
            format!("[s3]\naccess = a\nsecret = abc\n  {LEAK}\n").into_bytes(),
            3,
            true,
        ),
        (
            format!("[s3]\naccess = a\nsecret {LEAK}\n").into_bytes(),
            3,
            false,
        ),
        (format!("secret = {LEAK}\n[s3]\n").into_bytes(), 1, false),
        (
            format!("[s3]\naccess = a\nsecret = {LEAK}\x00\x07\n").into_bytes(),
            3,
            true,
        ),
        (
            format!("[s3]\n\x01\x02{LEAK}\x1b[2J\n").into_bytes(),
            2,
            false,
        ),
        (
            [
                format!("[s3]\naccess = a\nsecret = {LEAK}").as_bytes(),
                b"\xff\xfe\n",
            ]
            .concat(),
            3,
            false,
        ),
        (
            format!("[s3]\nsecret = {LEAK}\nsecret = {LEAK}2\n").into_bytes(),
            3,
            false,
        ),
        (
            format!("[s3]\r\naccess = a\r\nsecret = a\r\n\t{LEAK}\r\n").into_bytes(),
            3,
            true,
        ),
    ];
    for (text, line, repairable) in shapes {
        let p = put_config(&bed, &text);
        let (write, reads) = EVERY_READER.split_last().unwrap();
        for args in reads {
            refused(&bed, args, &p, line);
        }
        assert_eq!(std::fs::read(&p).unwrap(), text, "reading never rewrites");
        if !repairable {
            refused(&bed, write, &p, line);
            assert_eq!(std::fs::read(&p).unwrap(), text, "a refused file is kept");
            continue;
        }
        // A well-formed file with a bad secret: storing the keys again repairs it.
        let o = bed.bare().args(*write).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_absent(&o, LEAK_PART);
        let fixed = std::fs::read_to_string(&p).unwrap();
        assert!(!fixed.contains(LEAK_PART), "{fixed}");
        let o = bed.bare().args(["configure", "--check"]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
}

#[test]
fn multi_line_secret_is_refused_at_load_naming_the_key() {
    let bed = Bed::new();
    bed.file("f.txt", b"hello");
    let p = put_config(
        &bed,
        format!("[s3]\naccess = {ACCESS}\nsecret = {SECRET}\n  {LEAK}\n").as_bytes(),
    );
    let e = refused(&bed, &["upload", "ml-item", "f.txt"], &p, 3);
    assert!(e.contains("[s3] secret"), "{e}");
    assert!(!e.contains(SECRET), "{e}");
    assert!(bed.puts().is_empty());
}

#[test]
fn secret_with_a_control_character_is_refused() {
    let bed = Bed::new();
    for bad in ["a\u{7f}b", "a\u{1}b", "tab\there", "caf\u{e9}"] {
        let p = put_config(
            &bed,
            format!("[s3]\naccess = {ACCESS}\nsecret = {bad}{LEAK}\n").as_bytes(),
        );
        let e = refused(&bed, &["configure", "--check"], &p, 3);
        assert!(e.contains("[s3] secret"), "{e}");
    }
    let p = put_config(
        &bed,
        format!("[s3]\naccess = A\u{0}K\nsecret = {LEAK}\n").as_bytes(),
    );
    let e = refused(&bed, &["configure", "--show"], &p, 2);
    assert!(e.contains("[s3] access"), "{e}");
}

#[test]
fn utf8_bom_is_ignored() {
    let bed = Bed::new();
    put_config(
        &bed,
        format!("\u{feff}[s3]\naccess = {ACCESS}\nsecret = {SECRET}\n").as_bytes(),
    );
    let o = bed.bare().args(["configure", "--check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_no_secret(&o);
}

// ia 5.12 reads ia.ini with a strict RawConfigParser: a repeated section or key (keys compare
// case-insensitively) is DuplicateSectionError / DuplicateOptionError. iaup refuses the same.
#[test]
fn duplicate_sections_and_keys_are_refused_like_ia() {
    let bed = Bed::new();
    bed.file("f.txt", b"hello");
    let cases = [
        (
            format!("[s3]\naccess = {ACCESS}\nsecret = {LEAK}\n[s3]\nsecret = {LEAK}\n"),
            4,
            "[s3]",
        ),
        (
            format!("[s3]\naccess = {ACCESS}\nsecret = {LEAK}\nsecret = {LEAK}1\n"),
            4,
            "secret",
        ),
        (
            format!("[s3]\naccess = {ACCESS}\nsecret = {LEAK}\n\n[x]\n[s3]\nSecret = {LEAK}\n"),
            6,
            "[s3]",
        ),
        (
            format!("[s3]\naccess = {ACCESS}\nsecret = {LEAK}\nSECRET = {LEAK}1\n"),
            4,
            "secret",
        ),
    ];
    for (text, line, name) in cases {
        let p = put_config(&bed, text.as_bytes());
        for args in EVERY_READER {
            let e = refused(&bed, args, &p, line);
            assert!(e.contains(name), "{e}");
        }
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn config_readable_by_others_gets_one_warning() {
    use std::os::unix::fs::PermissionsExt;
    let bed = Bed::new();
    bed.file("f.txt", b"hello");
    let p = put_config(
        &bed,
        format!("[s3]\naccess = {ACCESS}\nsecret = {SECRET}\n").as_bytes(),
    );
    for args in [
        &["upload", "perm-item", "f.txt"][..],
        &["configure", "--show"][..],
    ] {
        let o = bed.bare().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(!stderr(&o).contains("chmod"), "{}", stderr(&o));
    }
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    for args in [
        &["upload", "perm-item2", "f.txt"][..],
        &["configure", "--show"][..],
        &["configure", "--check"][..],
    ] {
        let o = bed.bare().args(args).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let e = stderr(&o);
        assert_eq!(e.matches("chmod 600").count(), 1, "{args:?}: {e}");
        assert!(e.contains(&p.display().to_string()), "{e}");
        assert_no_secret(&o);
    }
    assert_eq!(mode(&p), 0o644, "reading never changes the mode");
}

#[cfg(unix)]
#[test]
fn write_ignores_a_leftover_tmp_file_and_never_follows_a_link() {
    let bed = Bed::new();
    let p = bed.config_path();
    let dir = p.parent().unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join("ia.ini.tmp");

    // A leftover regular file, readable by everyone.
    std::fs::write(&tmp, "leftover").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let o = bed
        .bare()
        .args(["configure", "--access", ACCESS, "--secret", SECRET])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&p).unwrap().contains(SECRET));
    assert_eq!(mode(&p), 0o600);
    assert_eq!(std::fs::read_to_string(&tmp).unwrap(), "leftover");
    std::fs::remove_file(&tmp).unwrap();

    // A planted link: the secret must not go to its target.
    let target = bed.home.path().join("world-readable.txt");
    std::fs::write(&target, "public").unwrap();
    std::os::unix::fs::symlink(&target, &tmp).unwrap();
    let o = bed
        .bare()
        .args(["configure", "--access", ACCESS, "--secret", SECRET])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "public");
    assert!(std::fs::symlink_metadata(&tmp)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&p).unwrap().contains(SECRET));
    assert_eq!(mode(&p), 0o600);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn show_with_a_missing_config_file_says_so() {
    let bed = Bed::new();
    let p = bed.home.path().join("typo.ini");
    let o = bed
        .bare()
        .args(["configure", "--show", "--config-file"])
        .arg(&p)
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains(&p.display().to_string()), "{all}");
    assert!(all.contains("does not exist"), "{all}");
}
