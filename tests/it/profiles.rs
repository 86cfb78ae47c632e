//! iaup's own config.toml: profiles pointing at the emulator, [defaults] metadata on every
//! item, flags over profiles, `configure --show` naming sources, and strict errors that name
//! the file and never print a secret.

use crate::harness::*;

const DEAD: &str = "http://127.0.0.1:9";

fn write_toml(bed: &Bed, text: &str) -> std::path::PathBuf {
    let p = bed.home.path().join(".config/iaup/config.toml");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

/// `cmd()` without the endpoints the harness puts in the environment.
fn no_env_urls(bed: &Bed) -> assert_cmd::Command {
    let mut c = bed.cmd();
    c.env_remove("IAUP_S3_URL").env_remove("IAUP_ARCHIVE_URL");
    c
}

#[test]
fn profile_endpoints_and_defaults_metadata_are_used() {
    let bed = Bed::new();
    let url = bed.emu.url();
    write_toml(
        &bed,
        &format!(
            "[defaults]\ns3_url = \"{DEAD}\"\narchive_url = \"{DEAD}\"\n\
             metadata = {{ contributor = \"Defaults Lab\", subject = [\"a\", \"b\"] }}\n\
             [profiles.staging]\ns3_url = \"{url}\"\narchive_url = \"{url}\"\nretries = 1\n\
             metadata = {{ contributor = \"Staging Lab\" }}\n"
        ),
    );
    let f = bed.file("one.txt", b"hello");
    let o = no_env_urls(&bed)
        .args(["--profile", "staging", "upload", "prof-item-1"])
        .arg(&f)
        .args(["-m", "title:T"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let item = bed.emu.item("prof-item-1").unwrap();
    assert_eq!(item.metadata["contributor"], "Staging Lab");
    assert_eq!(item.metadata["subject"], serde_json::json!(["a", "b"]));
    assert_eq!(item.metadata["title"], "T");
    // IAUP_PROFILE picks it too; a --metadata flag beats the profile's field.
    let o = no_env_urls(&bed)
        .env("IAUP_PROFILE", "staging")
        .args(["upload", "prof-item-2"])
        .arg(&f)
        .args(["-m", "contributor:Flag Lab"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let item = bed.emu.item("prof-item-2").unwrap();
    assert_eq!(item.metadata["contributor"], "Flag Lab");
}

#[test]
fn flags_and_env_beat_the_profile() {
    let bed = Bed::new();
    let url = bed.emu.url();
    write_toml(
        &bed,
        &format!("[profiles.dead]\ns3_url = \"{DEAD}\"\narchive_url = \"{DEAD}\"\n"),
    );
    let f = bed.file("one.txt", b"hello");
    // The harness's IAUP_S3_URL / IAUP_ARCHIVE_URL (the emulator) beat the profile.
    let o = bed
        .cmd()
        .args(["--profile", "dead", "upload", "env-item", "--retries", "0"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Flags beat both the environment and the profile.
    let o = no_env_urls(&bed)
        .env("IAUP_S3_URL", DEAD)
        .args(["--profile", "dead", "--s3-url", &url, "--archive-url", &url])
        .args(["upload", "flag-item"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(bed.stored("flag-item", "one.txt").is_some());
}

#[test]
fn configure_show_names_where_each_value_came_from() {
    let bed = Bed::new();
    let url = bed.emu.url();
    let ini = bed.home.path().join("staging.ini");
    std::fs::write(
        &ini,
        format!("[s3]\naccess = {ACCESS}\nsecret = {SECRET}\n"),
    )
    .unwrap();
    write_toml(
        &bed,
        &format!(
            "[defaults]\njobs = 8\nmetadata = {{ collection = \"opensource\" }}\n\
             [profiles.staging]\ns3_url = \"{url}\"\nconfig_file = \"../../staging.ini\"\n"
        ),
    );
    let o = bed
        .bare()
        .env_remove("IAUP_S3_URL")
        .args(["--profile", "staging", "configure", "--show"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("s3 url: {url} (profile staging)")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "archive url: {url} (environment IAUP_ARCHIVE_URL)"
        )),
        "{out}"
    );
    assert!(
        out.contains("(profile staging)\n") && out.contains("staging.ini"),
        "{out}"
    );
    assert!(out.contains("access: test-access-key"), "{out}");
    assert!(out.contains("upload jobs: 8 ([defaults])"), "{out}");
    assert!(out.contains("upload retries: 10 (built-in)"), "{out}");
    assert!(
        out.contains("upload metadata: collection:opensource ([defaults])"),
        "{out}"
    );
    assert_no_secret(&o);
}

#[test]
fn bad_toml_unknown_keys_secrets_and_profiles_are_exit_2_naming_the_file() {
    let bed = Bed::new();
    let cases = [
        ("[defaults]\njobs = = 3\n", "line 2"),
        ("[defaults]\njobs = 3\nthreads = 4\n", "threads"),
        (
            "[profiles.x]\nsecret = \"toml-secret-zz9\"\n",
            "`secret` does not belong",
        ),
        ("[profiles.x]\naccess = toml-secret-zz9\n", "line 2"),
    ];
    for (text, want) in cases {
        let p = write_toml(&bed, text);
        let o = bed.cmd().args(["configure", "--show"]).output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{text}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(&p.display().to_string()), "{err}");
        assert!(err.contains(want), "{text}: {err}");
        assert_absent(&o, "toml-secret-zz9");
    }
    write_toml(&bed, "[profiles.staging]\n[profiles.ci]\n");
    let o = bed
        .cmd()
        .args(["--profile", "prod", "upload", "x-item", "a.txt"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("\"prod\"") && err.contains("ci, staging"),
        "{err}"
    );
    // IAUP_CONFIG points elsewhere.
    let other = bed.home.path().join("other.toml");
    std::fs::write(&other, "[defaults]\nbogus = 1\n").unwrap();
    let o = bed
        .cmd()
        .env("IAUP_CONFIG", &other)
        .args(["configure", "--show"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("other.toml line 2"), "{}", stderr(&o));
}
