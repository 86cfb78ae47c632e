//! `iaup` as a drop-in for `ia`: remote names of directories and files in every shape `ia 5.12`
//! was observed to handle, positional and in a spreadsheet, and the shapes where `ia`'s result
//! is broken (absolute paths, `..`, `a//b`), where iaup decides on purpose.

use crate::harness::*;

/// The tree every shape test uploads from.
fn kyiv(bed: &Bed) {
    bed.file("kyiv/scans/page-001.tif", b"page one");
    bed.file("kyiv/scans/sub/page-002.tif", b"page two");
    bed.file("kyiv/top.txt", b"top");
}

/// The keys of the item's original files, sorted.
fn keys(bed: &Bed, id: &str) -> Vec<String> {
    let mut keys: Vec<String> = bed
        .emu
        .item(id)
        .map(|i| {
            i.files
                .iter()
                .filter(|f| f.source == "original")
                .map(|f| f.name.clone())
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

/// Uploads `arg` positionally (from `cwd` under the work dir) and returns the keys.
fn positional(bed: &Bed, id: &str, cwd: &str, args: &[&str]) -> Vec<String> {
    let o = bed
        .cmd()
        .current_dir(bed.path(cwd))
        .args(["upload", id, "-q", "--no-journal"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    keys(bed, id)
}

/// Uploads `cell` as the `file` cell of a one-row sheet and returns the keys.
fn in_sheet(bed: &Bed, id: &str, cell: &str) -> Vec<String> {
    let sheet = format!("identifier,file,title\n{id},{cell},T\n");
    bed.file(&format!("{id}.csv"), sheet.as_bytes());
    let o = bed
        .cmd()
        .args([
            "upload",
            "--spreadsheet",
            &format!("{id}.csv"),
            "-q",
            "--no-journal",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{cell}: {}", stderr(&o));
    keys(bed, id)
}

const SCANS: [&str; 2] = ["kyiv/scans/page-001.tif", "kyiv/scans/sub/page-002.tif"];

// What `ia 5.12` stores, observed on the wire: a directory without a trailing slash keeps the
// path as given (`./` dropped); with a trailing slash, its contents.
#[test]
fn directory_keys_match_ia_positionally() {
    let bed = Bed::new();
    kyiv(&bed);
    assert_eq!(positional(&bed, "dk-a", ".", &["kyiv/scans"]), SCANS);
    assert_eq!(positional(&bed, "dk-b", ".", &["./kyiv/scans"]), SCANS);
    assert_eq!(
        positional(&bed, "dk-c", ".", &["kyiv"]),
        [SCANS[0], SCANS[1], "kyiv/top.txt"]
    );
    assert_eq!(
        positional(&bed, "dk-d", ".", &["kyiv/scans/"]),
        ["page-001.tif", "sub/page-002.tif"]
    );
    // A plain file: its name, or the path as given with --keep-directories.
    assert_eq!(
        positional(&bed, "dk-e", ".", &["kyiv/top.txt"]),
        ["top.txt"]
    );
    assert_eq!(
        positional(&bed, "dk-f", ".", &["./kyiv/top.txt", "--keep-directories"]),
        ["kyiv/top.txt"]
    );
}

#[test]
fn directory_keys_match_ia_in_a_spreadsheet() {
    let bed = Bed::new();
    kyiv(&bed);
    assert_eq!(in_sheet(&bed, "ds-a", "kyiv/scans"), SCANS);
    assert_eq!(in_sheet(&bed, "ds-b", "./kyiv/scans"), SCANS);
    assert_eq!(
        in_sheet(&bed, "ds-c", "kyiv/scans/"),
        ["page-001.tif", "sub/page-002.tif"]
    );
    assert_eq!(in_sheet(&bed, "ds-d", "kyiv/top.txt"), ["top.txt"]);
}

// Where `ia`'s result is broken, iaup decides: `ia` sends an absolute folder's whole local path
// as the key (`/home/me/kyiv/scans/...`); iaup keeps the folder's own name. `ia` keeps `//` in
// keys; iaup collapses it. `ia` lets `..` climb out of the item's URL; iaup refuses a path with
// `..` (exit 2, nothing sent) and never sends a key with `..` or an empty segment.
#[test]
fn broken_ia_shapes_are_decided_and_never_send_dot_dot_or_empty_segments() {
    let bed = Bed::new();
    kyiv(&bed);
    let abs = bed.path("kyiv/scans").display().to_string();
    assert_eq!(
        positional(&bed, "db-a", ".", &[&abs]),
        ["scans/page-001.tif", "scans/sub/page-002.tif"]
    );
    assert_eq!(
        positional(&bed, "db-b", ".", &[&format!("{abs}/")]),
        ["page-001.tif", "sub/page-002.tif"]
    );
    assert_eq!(positional(&bed, "db-c", ".", &["kyiv//scans"]), SCANS);
    for (cwd, arg) in [("kyiv/scans", "../scans"), (".", "kyiv/../kyiv/scans")] {
        let o = bed
            .cmd()
            .current_dir(bed.path(cwd))
            .args(["upload", "db-d", "-q", "--no-journal", arg])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{arg}: {}", stderr(&o));
        assert!(stderr(&o).contains("`..`"), "{}", stderr(&o));
    }
    assert!(bed
        .puts()
        .iter()
        .all(|r| !r.path.contains("/../") && !r.path.contains("//")));
    assert!(bed.emu.item("db-d").is_none());
}

// Short flags mean what they mean in `ia`'s subcommands; `-c FILE` (the config) goes before the
// command, as in `ia -c FILE upload`. `iaup upload ID -c file` read the file as a config.
#[test]
fn short_flags_and_aliases_match_ia() {
    let bed = Bed::new();
    bed.file("a.txt", b"short flags");
    let o = bed
        .cmd()
        .args([
            "up",
            "flags-item",
            "a.txt",
            "-q",
            "-n",
            "-v",
            "-R",
            "2",
            "-s",
            "0.1",
        ])
        .args(["-r", "named.txt"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let put = &bed.puts()[0];
    assert_eq!(put.path, "/flags-item/named.txt");
    assert_eq!(header(put, "x-archive-queue-derive"), Some("0"));
    assert!(header(put, "content-md5").is_some());
    // `-c` after the command is --checksum: the file is already there, so nothing is sent.
    let o = bed
        .cmd()
        .args([
            "upload",
            "flags-item",
            "a.txt",
            "-c",
            "-r",
            "named.txt",
            "--no-journal",
        ])
        .args(["--no-progress"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.puts().len(), 1, "{}", stderr(&o));
    // `-c FILE` before the command is the config file.
    let other = bed.home.path().join("other.ini");
    std::fs::write(
        &other,
        format!("[s3]\naccess = {ACCESS}\nsecret = {SECRET}\n"),
    )
    .unwrap();
    let o = bed
        .bare()
        .arg("-c")
        .arg(&other)
        .args(["upload", "flags-item", "a.txt", "-q", "--no-journal"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.puts().len(), 2);
    // The long form is accepted anywhere.
    let o = bed
        .bare()
        .args(["configure", "--show", "--config-file"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(stdout(&o).contains(ACCESS), "{}", stdout(&o));
    // Aliases.
    for alias in ["md", "rm", "co", "up"] {
        let o = bed.bare().args([alias, "--help"]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{alias}: {}", stderr(&o));
    }
    let o = bed.bare().args(["md", "flags-item"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("named.txt"), "{}", stdout(&o));
    // Global options sit in their own help section.
    let help = stdout(&bed.bare().args(["upload", "--help"]).output().unwrap());
    let global = help.find("Global options:").expect("a global section");
    assert!(help[global..].contains("--s3-url"));
    assert!(!help[..global].contains("--s3-url"));
}

// Issue 11: a mistyped endpoint retried one 7-byte file for 3 min 13 s. Unreachable at the key
// check: exit 2 at once, with the URL and the reason.
#[test]
fn an_unreachable_endpoint_fails_fast_naming_the_url() {
    let bed = Bed::new();
    bed.file("a.txt", b"7 bytes");
    // A port nothing listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    for flag in ["--s3-url", "--archive-url"] {
        let start = std::time::Instant::now();
        let o = bed
            .cmd()
            .args(["upload", "fast-item", "a.txt", "--no-progress", flag, &dead])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", stderr(&o));
        assert!(stderr(&o).contains(&dead), "{}", stderr(&o));
        assert!(
            stderr(&o).to_lowercase().contains("refused"),
            "{}",
            stderr(&o)
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(10));
    }
    assert!(bed.puts().is_empty());
}

// Issue 11: 500 missing files printed 500 problems, each with the same hint. The first 20 of
// each kind, a count of the rest, the hint once; the total is the last line.
#[test]
fn many_problems_of_one_kind_are_summarised() {
    let bed = Bed::new();
    let mut sheet = String::from("identifier,file\n");
    for i in 0..30 {
        sheet.push_str(&format!("many-item,missing-{i}.txt\n"));
    }
    sheet.push_str("b@d,missing-x.txt\n");
    bed.file("s.csv", sheet.as_bytes());
    let o = bed
        .cmd()
        .args(["upload", "--spreadsheet", "s.csv", "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.matches("does not exist").count(), 20, "{err}");
    assert!(err.contains("and 11 more like this"), "{err}");
    assert_eq!(
        err.matches("relative to the current directory").count(),
        1,
        "{err}"
    );
    assert!(err.contains("invalid identifier `b@d`"), "{err}");
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.contains("32 problems found; nothing was sent"),
        "{last}"
    );
}

// Issue 11: `iaup upload ID - --remote-name NAME` reads stdin, as `ia` does (IAS3 needs a
// length: it is spooled to a temporary file first, sent with an exact Content-Length).
#[test]
fn stdin_is_uploaded_under_the_remote_name() {
    let bed = Bed::new();
    let data = content(5, 300_000);
    let o = bed
        .cmd()
        .args([
            "upload",
            "stdin-item",
            "-",
            "--remote-name",
            "piped.bin",
            "--no-progress",
        ])
        .write_stdin(data.clone())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        bed.stored("stdin-item", "piped.bin"),
        Some((md5_hex(&data), data.len() as u64))
    );
    let put = &bed.puts()[0];
    assert_eq!(header(put, "content-length"), Some("300000"));
    // The spool file is gone afterwards.
    let state = bed.home.path().join(".local/state/iaup");
    let left: Vec<_> = std::fs::read_dir(&state)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("stdin"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    // Without a remote name: exit 2, as ia, nothing read or sent.
    let o = bed
        .cmd()
        .args(["upload", "stdin-item", "-", "-q"])
        .write_stdin("x")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--remote-name"), "{}", stderr(&o));
    assert_eq!(bed.puts().len(), 1);
}

// Issue 11: `--file-metadata FILE`, ia's JSON lines of per-file metadata.
#[test]
fn file_metadata_is_sent_as_filemeta_headers() {
    let bed = Bed::new();
    bed.file("scans/p1.tif", b"one");
    bed.file("scans/p2.tif", b"two");
    bed.file("notes.txt", b"notes");
    bed.file(
        "md.jsonl",
        "{\"name\": \"scans\", \"source\": \"scan\"}\n\
         {\"name\": \"notes.txt\", \"title\": \"Заметки\", \"subject\": [\"a\", \"b\"]}\n"
            .as_bytes(),
    );
    let o = bed
        .cmd()
        .args(["upload", "fm-item", "--file-metadata", "md.jsonl", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let puts = bed.puts();
    assert_eq!(puts.len(), 3);
    let notes = puts
        .iter()
        .find(|r| r.path == "/fm-item/notes.txt")
        .unwrap();
    assert_eq!(
        header(notes, "x-archive-filemeta00-title"),
        Some("uri(%D0%97%D0%B0%D0%BC%D0%B5%D1%82%D0%BA%D0%B8)")
    );
    assert_eq!(header(notes, "x-archive-filemeta01-subject"), Some("b"));
    let scan = puts
        .iter()
        .find(|r| r.path == "/fm-item/scans/p1.tif")
        .unwrap();
    assert_eq!(header(scan, "x-archive-filemeta00-source"), Some("scan"));
    assert_eq!(header(scan, "x-archive-filemeta00-title"), None);
    // A record ia would crash on is a problem naming its line.
    bed.file("bad.jsonl", b"{\"name\": \"notes.txt\", \"pages\": 3}\n");
    let o = bed
        .cmd()
        .args(["upload", "fm-item", "--file-metadata", "bad.jsonl", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.jsonl:1"), "{}", stderr(&o));
}

// Issue 11: a collection that does not exist is caught before sending (one metadata GET per
// distinct collection), exit 2; --no-collection-check skips it, as ia's flag says.
#[test]
fn a_collection_that_does_not_exist_is_caught_before_sending() {
    let bed = Bed::new();
    bed.file("a.txt", b"a");
    bed.file(
        "s.csv",
        b"identifier,file,collection\ncoll-one,a.txt,opensource\ncoll-two,a.txt,opensourse\ncoll-three,a.txt,opensourse\n",
    );
    let o = bed
        .cmd()
        .args(["upload", "--spreadsheet", "s.csv", "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`opensourse` does not exist"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("s.csv:3"), "{}", stderr(&o));
    assert!(bed.puts().is_empty());
    let gets: Vec<_> = bed
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/metadata/"))
        .map(|r| r.path)
        .collect();
    assert_eq!(gets.len(), 2, "one GET per distinct collection: {gets:?}");
    let o = bed
        .cmd()
        .args([
            "upload",
            "--spreadsheet",
            "s.csv",
            "-q",
            "--no-collection-check",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // -m collection: the same check.
    let o = bed
        .cmd()
        .args([
            "upload",
            "coll-four",
            "a.txt",
            "-q",
            "-m",
            "collection:nope_nope",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

// Issue 11: `--status-check` without files only checks, as `ia`: exit 0 when the item accepts
// uploads, 1 when it is over its limit.
#[test]
fn status_check_without_files_only_checks() {
    let bed = Bed::new();
    let o = bed
        .cmd()
        .args(["upload", "check-item", "--status-check"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("check-item is accepting requests"),
        "{}",
        stderr(&o)
    );
    assert!(bed.puts().is_empty());
    assert!(bed
        .requests()
        .iter()
        .any(|r| r.path.contains("check_limit=1")));
}
