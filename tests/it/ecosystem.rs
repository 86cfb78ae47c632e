//! `iaup completions SHELL` and `iaup man [DIR]` through the real binary: every shell's script
//! names the commands and flags, bash's parses and completes (bash is required on Unix), one
//! man page per subcommand that groff and man render when installed, and the README's commands
//! work as shown.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use clap::CommandFactory;

use crate::harness::{stderr, stdout};

const SHELLS: &[&str] = &["bash", "zsh", "fish", "powershell", "elvish"];

/// `iaup` with nothing inherited: a fresh HOME, run in `cwd`.
fn iaup(home: &Path, cwd: &Path) -> Command {
    let mut c = Command::cargo_bin("iaup").unwrap();
    c.env_clear()
        .env("HOME", home)
        .current_dir(cwd)
        .timeout(std::time::Duration::from_secs(60));
    c
}

/// Whether `tool` is on PATH (`which`), so the test can use it.
fn have(tool: &str) -> bool {
    std::process::Command::new("which")
        .arg(tool)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The visible subcommands, from the same definition the binary uses.
fn subcommands() -> Vec<String> {
    iaup::cli::Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_owned())
        .collect()
}

#[test]
fn every_shell_gets_a_script_naming_commands_and_flags() {
    let t = tempfile::tempdir().unwrap();
    for shell in SHELLS {
        let o = iaup(t.path(), t.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{shell}");
        let s = stdout(&o);
        assert!(s.len() > 500, "{shell}: {s}");
        for word in ["upload", "metadata", "delete", "status"] {
            assert!(s.contains(word), "{shell} script lacks {word}");
        }
        // fish declares a long flag as `-l NAME`; every other shell spells `--NAME`.
        let flag = if *shell == "fish" {
            "__fish_iaup_using_subcommand upload\" -l spreadsheet"
        } else {
            "--spreadsheet"
        };
        assert!(s.contains(flag), "{shell} script lacks {flag}");
    }
    let o = iaup(t.path(), t.path())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("bash"), "{}", stderr(&o));
}

#[cfg(unix)]
#[test]
fn bash_script_parses_and_completes_subcommands_flags_and_shells() {
    let t = tempfile::tempdir().unwrap();
    let o = iaup(t.path(), t.path())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let script = t.path().join("iaup.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    let n = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(n.status.success(), "bash -n: {}", stderr(&n));

    // Ask the completion function what it offers, as bash would on TAB.
    let probe = format!(
        r#"source '{}'
ask() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=();
  _iaup iaup "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"; echo "${{COMPREPLY[*]}}"; }}
ask iaup up
ask iaup upload --spr
ask iaup completions ''
"#,
        script.display()
    );
    let o = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(lines[0], "upload", "{lines:?}");
    assert_eq!(lines[1], "--spreadsheet", "{lines:?}");
    for shell in SHELLS {
        assert!(lines[2].split(' ').any(|w| w == *shell), "{lines:?}");
    }
}

/// The first request after clap_mangen's `Aq` string definition (`.ie`/`.el`) is `.TH`.
fn assert_roff_title(page: &Path, name: &str) {
    let text = std::fs::read_to_string(page).unwrap();
    let first = text
        .lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el ") && !l.starts_with(".\\\""))
        .unwrap_or_default();
    assert!(
        first.starts_with(&format!(".TH {name} 1 ")),
        "{}: {first}",
        page.display()
    );
    assert!(text.contains(".SH NAME"), "{}", page.display());
    assert!(text.contains(".SH SYNOPSIS"), "{}", page.display());
}

#[test]
fn man_writes_a_valid_page_per_subcommand_into_a_new_directory() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("share/man/man1");
    let o = iaup(t.path(), t.path())
        .arg("man")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let printed: Vec<PathBuf> = stdout(&o).lines().map(PathBuf::from).collect();

    let subs = subcommands();
    for known in [
        "configure",
        "upload",
        "metadata",
        "delete",
        "status",
        "completions",
        "man",
    ] {
        assert!(subs.iter().any(|s| s == known), "{known} not in {subs:?}");
    }
    let mut want: Vec<(String, PathBuf)> = vec![("iaup".into(), dir.join("iaup.1"))];
    want.extend(
        subs.iter()
            .map(|s| (format!("iaup-{s}"), dir.join(format!("iaup-{s}.1")))),
    );
    let want_paths: Vec<PathBuf> = want.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(printed, want_paths);
    let mut on_disk: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    on_disk.sort();
    let mut sorted = want_paths.clone();
    sorted.sort();
    assert_eq!(
        on_disk, sorted,
        "exactly one page per command, no help page"
    );

    let groff = have("groff");
    let man = have("man");
    for (name, page) in &want {
        assert_roff_title(page, name);
        if groff {
            let r = std::process::Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(page)
                .output()
                .unwrap();
            assert!(r.status.success(), "groff {name}: {}", stderr(&r));
            assert_eq!(stderr(&r), "", "groff warnings for {name}");
        }
        if man {
            let r = std::process::Command::new("man")
                .env("MANPAGER", "cat")
                .env("MANWIDTH", "100")
                .arg("-l")
                .arg(page)
                .output()
                .unwrap();
            assert!(r.status.success(), "man -l {name}: {}", stderr(&r));
            let shown = stdout(&r);
            assert!(shown.contains("NAME"), "{shown}");
            assert!(shown.contains(name.as_str()), "{shown}");
        }
    }
    // The upload page carries the upload flags.
    let upload = std::fs::read_to_string(dir.join("iaup-upload.1")).unwrap();
    assert!(upload.contains("spreadsheet"));

    // Again into the same directory: the pages are replaced, nothing else appears.
    let o = iaup(t.path(), t.path())
        .arg("man")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), want.len());
}

#[test]
fn man_defaults_to_the_current_directory_and_reports_unwritable_ones() {
    let t = tempfile::tempdir().unwrap();
    let o = iaup(t.path(), t.path()).arg("man").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(t.path().join("iaup.1").is_file());
    assert!(t.path().join("iaup-upload.1").is_file());
    assert!(stdout(&o).lines().any(|l| l.ends_with("iaup-upload.1")));

    // A file where the directory should be: exit 1, the path named, no panic.
    let blocker = t.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let o = iaup(t.path(), t.path())
        .arg("man")
        .arg(blocker.join("man1"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("not-a-dir"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

/// The commands in README's "Shell completions and man pages" code block, run as shown by bash
/// in a fresh HOME with iaup on PATH (and `~/.local/bin`, which is how man-db finds the pages).
#[cfg(unix)]
#[test]
fn readme_completion_and_man_commands_work_as_shown() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split("\n## Shell completions and man pages\n")
        .nth(1)
        .expect("README has the section");
    let section = section.split("\n## ").next().unwrap();
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh code block");
    let man = have("man");
    let lines: Vec<&str> = block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| man || !l.starts_with("man "))
        .collect();
    assert!(lines.iter().any(|l| l.contains("iaup completions bash")));
    assert!(lines.iter().any(|l| l.starts_with("iaup man ")));

    let home = tempfile::tempdir().unwrap();
    let local_bin = home.path().join(".local/bin");
    std::fs::create_dir_all(&local_bin).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("iaup");
    let path = format!(
        "{}:{}:/usr/local/bin:/usr/bin:/bin",
        bin.parent().unwrap().display(),
        local_bin.display()
    );
    let script = format!("set -e\n{}\ntype _iaup >/dev/null\n", lines.join("\n"));
    let o = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .env_clear()
        .env("HOME", home.path())
        .env("PATH", path)
        .env("MANPAGER", "cat")
        .current_dir(home.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{script}\n{}", stderr(&o));
    let h = home.path();
    for f in [
        ".local/share/bash-completion/completions/iaup",
        ".zfunc/_iaup",
        ".config/fish/completions/iaup.fish",
        ".local/share/man/man1/iaup.1",
        ".local/share/man/man1/iaup-upload.1",
    ] {
        let p = h.join(f);
        assert!(p.is_file() && p.metadata().unwrap().len() > 0, "{f}");
    }
    if man {
        assert!(stdout(&o).contains("iaup-upload - "), "{}", stdout(&o));
    }
}
