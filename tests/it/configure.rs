//! `iaup configure` in every mode, against the emulator's xauthn and whoami, with a clean HOME.

use crate::harness::*;

#[test]
fn configure_with_keys_writes_private_ia_ini_where_ia_looks() {
    let bed = Bed::new();
    let o = bed
        .bare()
        .args(["configure", "--access", ACCESS, "--secret", SECRET])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_no_secret(&o);
    let p = bed.config_path();
    assert!(stderr(&o).contains(&p.display().to_string()));
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains("[s3]"));
    assert!(text.contains(&format!("access = {ACCESS}")));
    assert!(text.contains(&format!("secret = {SECRET}")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir = std::fs::metadata(p.parent().unwrap()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    }
    // --check proves the stored keys work against whoami.
    let o = bed.bare().args(["configure", "--check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("user@example.com") || stderr(&o).contains("tester"));
}

#[test]
fn configure_login_stores_keys_cookies_and_screenname() {
    let bed = Bed::new();
    // A foreign section and key must survive.
    let p = bed.config_path();
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, "[general]\nsecure = true\n\n[mine]\nkeep = me\n").unwrap();
    let o = bed
        .bare()
        .args([
            "configure",
            "--username",
            "user@example.com",
            "--password",
            "correct horse",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_no_secret(&o);
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(&format!("secret = {SECRET}")), "{text}");
    assert!(text.contains("logged-in-user"), "{text}");
    assert!(text.contains("screenname = tester"), "{text}");
    assert!(
        text.contains("secure = true") && text.contains("keep = me"),
        "{text}"
    );
    // --show redacts.
    let o = bed.bare().args(["configure", "--show"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains(ACCESS));
    assert!(stdout(&o).contains("(redacted)"));
    assert_no_secret(&o);
}

#[test]
fn configure_interactive_reads_email_and_password_from_a_pipe() {
    let bed = Bed::new();
    let o = bed
        .bare()
        .arg("configure")
        .write_stdin("user@example.com\ncorrect horse\n")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("Email address:"));
    assert!(!stderr(&o).contains("correct horse"));
    let text = std::fs::read_to_string(bed.config_path()).unwrap();
    assert!(text.contains(&format!("access = {ACCESS}")));
}

#[test]
fn configure_wrong_password_and_unknown_account_fail_clearly() {
    let bed = Bed::new();
    let o = bed
        .bare()
        .args(["configure", "-u", "user@example.com", "-p", "wrong"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("wrong password"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("wrong\n"));
    assert!(!bed.config_path().exists(), "nothing written on failure");
    let o = bed
        .bare()
        .args(["configure", "-u", "nobody@example.com", "-p", "x"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no archive.org account"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn configure_check_with_bad_keys_exits_1() {
    let bed = Bed::new();
    bed.write_config(ACCESS, "not-the-secret");
    let o = bed.bare().args(["configure", "--check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("not-the-secret"));
}

#[test]
fn malformed_ia_ini_names_file_and_line() {
    let bed = Bed::new();
    let p = bed.config_path();
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, "[s3]\naccess = a\n[oops\nsecret = b\n").unwrap();
    let o = bed.bare().args(["configure", "--show"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains(&p.display().to_string()), "{e}");
    assert!(e.contains("line 3"), "{e}");
}

#[test]
fn unreadable_config_names_the_path() {
    let bed = Bed::new();
    // A directory where the file should be cannot be read as a file.
    let p = bed.home.path().join("cfgdir");
    std::fs::create_dir_all(&p).unwrap();
    let o = bed
        .bare()
        .args(["configure", "--show", "--config-file"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&p.display().to_string()),
        "{}",
        stderr(&o)
    );
}

#[test]
fn only_one_env_key_is_an_error() {
    let bed = Bed::new();
    let o = bed
        .bare()
        .env("IA_ACCESS_KEY_ID", "x")
        .args(["--show-settings", "configure"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("IA_SECRET_ACCESS_KEY"),
        "{}",
        stderr(&o)
    );
}

// The reverse of the above: a lone secret must name the missing access key and must not echo
// the secret it was given.
#[test]
fn only_the_secret_env_key_is_an_error_naming_the_access_key() {
    let bed = Bed::new();
    let lone = "env-only-secret-zz9";
    for args in [
        &["--show-settings", "configure"][..],
        &["configure", "--show"][..],
        &["metadata", "some-item", "-m", "title:x"][..],
    ] {
        let o = bed
            .bare()
            .env("IA_SECRET_ACCESS_KEY", lone)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("IA_SECRET_ACCESS_KEY is set but IA_ACCESS_KEY_ID is not"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert_absent(&o, lone);
    }
    assert!(bed.requests().is_empty(), "nothing sent");
}

#[test]
fn settings_precedence_env_over_file_and_flag_config_over_env_config() {
    let bed = Bed::new();
    bed.write_config("file-access", "file-secret");
    let o = bed
        .bare()
        .args(["--show-settings", "configure"])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("access: file-access"), "{}", stdout(&o));
    let o = bed
        .bare()
        .env("IA_ACCESS_KEY_ID", "env-access")
        .env("IA_SECRET_ACCESS_KEY", "env-secret")
        .args(["--show-settings", "configure"])
        .output()
        .unwrap();
    assert!(stdout(&o).contains("access: env-access"), "{}", stdout(&o));
    assert!(!stdout(&o).contains("env-secret"));
    let other = bed.home.path().join("other.ini");
    std::fs::write(&other, "[s3]\naccess = flag-access\nsecret = s\n").unwrap();
    let o = bed
        .bare()
        .env("IA_CONFIG_FILE", bed.config_path())
        .args(["--show-settings", "-c"])
        .arg(&other)
        .arg("configure")
        .output()
        .unwrap();
    assert!(stdout(&o).contains("access: flag-access"), "{}", stdout(&o));
    assert!(stdout(&o).contains(&format!("s3 url: {}", bed.emu.url())));
}

#[test]
fn ia_can_read_what_iaup_writes_python_configparser() {
    // The real `ia` reads ia.ini with Python's configparser: check the file parses there.
    let bed = Bed::new();
    bed.bare()
        .args(["configure", "--access", ACCESS, "--secret", SECRET])
        .assert()
        .success();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import configparser,sys; c=configparser.RawConfigParser(); c.read(sys.argv[1]); print(c['s3']['access'])")
        .arg(bed.config_path())
        .output()
        .expect("python3 is on every machine of this project (see README)");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ACCESS);
}

// The other direction: the file `ia configure` leaves behind, written by configparser itself
// (RawConfigParser: `[s3]`, `[cookies]`, `[general]`, `key = value`, a blank line after each
// section, `%` kept raw in the cookies). iaup must use its keys and never print its secrets.
#[test]
fn iaup_reads_an_ia_ini_written_by_python_configparser() {
    let bed = Bed::new();
    let p = bed.config_path();
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let sig = "1700000000%201700000000%20c0ffee5ig";
    let script = r#"
import configparser, sys
path, access, secret, sig = sys.argv[1:5]
c = configparser.RawConfigParser()
c.read(path)
for section in ("s3", "cookies", "general"):
    if not c.has_section(section):
        c.add_section(section)
c.set("s3", "access", access)
c.set("s3", "secret", secret)
c.set("cookies", "logged-in-user", "user%40example.com")
c.set("cookies", "logged-in-sig", sig)
c.set("general", "screenname", "tester")
with open(path, "w") as fh:
    c.write(fh)
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&p)
        .args([ACCESS, SECRET, sig])
        .output()
        .expect("python3 is on every machine of this project (see README)");
    assert!(out.status.success(), "{}", stderr(&out));
    let written = std::fs::read_to_string(&p).unwrap();
    assert!(
        written.starts_with("[s3]\naccess = ") && written.contains("\n\n[cookies]\n"),
        "not the layout ia writes: {written}"
    );

    let o = bed.bare().args(["configure", "--show"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let shown = stdout(&o);
    assert!(
        shown.contains(&format!("config file: {}", p.display())),
        "{shown}"
    );
    assert!(shown.contains("credentials from: config file"), "{shown}");
    assert!(shown.contains(&format!("access: {ACCESS}\n")), "{shown}");
    assert!(shown.contains("secret: (redacted)\n"), "{shown}");
    assert!(shown.contains("screenname: tester"), "{shown}");
    assert_no_secret(&o);
    assert_absent(&o, "c0ffee5ig");

    // The keys are the ones the emulator accepts: --check authenticates with them.
    let o = bed.bare().args(["configure", "--check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains(ACCESS), "{}", stderr(&o));
    assert_no_secret(&o);
    let checks: Vec<_> = bed
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/services/user.php"))
        .collect();
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].status, 200);
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        written,
        "reading never rewrites"
    );
}
