//! `iaup upload` without faults: the wire format byte for byte, spreadsheet semantics,
//! validation before sending, dry runs.

use crate::harness::*;

fn meta_headers(r: &ias3_emulator::RequestRecord) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-archive-meta"))
        .cloned()
        .collect()
}

// Golden: the exact headers `ia` 5.12.0 sent for the same arguments, captured through the
// emulator's --log on 2026-11-21 (`ia -i upload` via HTTP_PROXY); IAS3-NOTES §1.
#[test]
fn wire_format_matches_ia_byte_for_byte() {
    let bed = Bed::new();
    let body = content(1, 3000);
    bed.file("sp ace é.txt", &body);
    let o = bed
        .cmd()
        .args(["upload", "test-item-01", "sp ace é.txt", "--no-progress"])
        .args(["-m", "title:Héllo wörld"])
        .args(["-m", "description:line1\nline2\ttab"])
        .args(["-m", "isbn_10:12345"])
        .args(["-m", "subject:SUCHO"])
        .args(["-m", "subject:choir music"])
        .args(["-m", "source_url:http://x.org/a?b=c"])
        .args(["-m", "language:ukr"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_no_secret(&o);
    let puts = bed.puts();
    assert_eq!(puts.len(), 1);
    let r = &puts[0];
    assert_eq!(r.path, "/test-item-01/sp%20ace%20%C3%A9.txt");
    assert_eq!(header(r, "content-length"), Some("3000"));
    assert_eq!(header(r, "x-archive-auto-make-bucket"), Some("1"));
    assert_eq!(header(r, "x-archive-queue-derive"), Some("1"));
    assert_eq!(header(r, "x-archive-size-hint"), Some("3000"));
    assert_eq!(header(r, "x-archive-keep-old-version"), Some("1"));
    assert_eq!(header(r, "transfer-encoding"), None);
    assert!(header(r, "authorization")
        .unwrap()
        .starts_with("LOW test-access-key:"));
    let want: Vec<(String, String)> = [
        ("x-archive-meta00-title", "uri(H%C3%A9llo%20w%C3%B6rld)"),
        ("x-archive-meta00-description", "uri(line1%0Aline2%09tab)"),
        ("x-archive-meta00-isbn--10", "12345"),
        ("x-archive-meta00-subject", "SUCHO"),
        ("x-archive-meta01-subject", "uri(choir%20music)"),
        ("x-archive-meta00-source--url", "http://x.org/a?b=c"),
        ("x-archive-meta00-language", "ukr"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(meta_headers(r), want);
    // The emulator decodes them back as IA does.
    let item = bed.emu.item("test-item-01").unwrap();
    assert_eq!(item.metadata["title"], "Héllo wörld");
    assert_eq!(item.metadata["description"], "line1\nline2\ttab");
    assert_eq!(item.metadata["isbn_10"], "12345");
    assert_eq!(
        item.metadata["subject"],
        serde_json::json!(["SUCHO", "choir music"])
    );
    assert_eq!(
        bed.stored("test-item-01", "sp ace é.txt"),
        Some((md5_hex(&body), 3000))
    );
}

#[test]
fn flags_no_derive_no_backup_size_hint_verify_and_headers() {
    let bed = Bed::new();
    let a = content(2, 100);
    bed.file("a.bin", &a);
    bed.file("b.bin", &content(3, 50));
    let o = bed
        .cmd()
        .args(["upload", "flags-item", "a.bin", "b.bin", "-q"])
        .args([
            "--no-derive",
            "--no-backup",
            "--verify",
            "--size-hint",
            "999",
        ])
        .args(["-H", "x-archive-interactive-priority:1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let puts = bed.puts();
    assert_eq!(puts.len(), 2);
    for r in &puts {
        assert_eq!(header(r, "x-archive-queue-derive"), Some("0"));
        assert_eq!(header(r, "x-archive-keep-old-version"), None);
        assert_eq!(header(r, "x-archive-size-hint"), Some("999"));
        assert_eq!(header(r, "x-archive-interactive-priority"), Some("1"));
        assert_eq!(header(r, "content-md5").map(str::len), Some(32));
    }
    assert_eq!(header(&puts[0], "content-md5"), Some(md5_hex(&a).as_str()));
}

#[test]
fn directories_are_walked_like_ia() {
    let bed = Bed::new();
    bed.file("d/x.txt", b"x");
    bed.file("d/sub/y.txt", b"yy");
    bed.file("e/z.txt", b"zzz");
    bed.cmd()
        .args(["upload", "dirs-item", "d", "e/", "-q"])
        .assert()
        .success();
    let mut keys: Vec<String> = bed
        .emu
        .item("dirs-item")
        .unwrap()
        .files
        .iter()
        .filter(|f| f.source == "original")
        .map(|f| f.name.clone())
        .collect();
    keys.sort();
    assert_eq!(keys, ["d/sub/y.txt", "d/x.txt", "z.txt"]);
}

#[test]
fn remote_name_sets_the_key_of_a_single_file() {
    let bed = Bed::new();
    bed.file("local.pdf", b"pdf");
    bed.cmd()
        .args([
            "upload",
            "rn-item",
            "local.pdf",
            "--remote-name",
            "docs/Отчёт 1.pdf",
            "-q",
        ])
        .assert()
        .success();
    assert!(bed.stored("rn-item", "docs/Отчёт 1.pdf").is_some());
    assert_eq!(
        bed.puts()[0].path,
        "/rn-item/docs/%D0%9E%D1%82%D1%87%D1%91%D1%82%201.pdf"
    );
}

const SHEET: &str = "\u{feff}identifier,file,REMOTE_NAME,title,description,subject[0],subject[1],subject[2],subject[3],source_url,host_institution,language,collection\n\
sucho-id-ArticleFiles_1258,articles/ArticleFiles_1258.pdf,ArticleFiles_1258.pdf,\"Бандуристе орле сизий (обробка дуету \"\"Бандурна розмова\"\") Бандура 2\",\"через http://library.dudaryk.ua/ua/compositions\n\nЖанр:  ансамблевий\nСтоліття:  XIX-XX\",SUCHO,Dudaryk Choir Music Library,composition,choir music,http://library.dudaryk.ua/ua/compositions/~Banduryste,Dudaryk Choir Music Library,ukr,opensource\n\
,articles/extra.txt,,,,,,,,,,,\n\
sucho-id-second,articles/second.pdf,,Second item,plain,SUCHO,,,,,,eng,opensource\n";

#[test]
fn spreadsheet_groups_rows_into_items_with_ia_semantics() {
    let bed = Bed::new();
    let a = content(4, 5000);
    let b = content(5, 700);
    let c = content(6, 1234);
    bed.file("articles/ArticleFiles_1258.pdf", &a);
    bed.file("articles/extra.txt", &b);
    bed.file("articles/second.pdf", &c);
    bed.file("sheet.csv", SHEET.as_bytes());
    let o = bed
        .cmd()
        .args(["upload", "--spreadsheet=sheet.csv", "--no-progress"])
        .args(["-m", "creator:Global Creator", "-m", "language:should-lose"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let puts = bed.puts();
    assert_eq!(puts.len(), 3, "one PUT per file, no metadata GET per row");
    // Besides the PUTs only the checks before the first byte: the S3 endpoint answers at all,
    // the keys (whoami), and the one collection exists (once, not per row).
    let others: Vec<_> = bed
        .requests()
        .into_iter()
        .filter(|r| r.method != "PUT")
        .map(|r| r.path)
        .collect();
    assert_eq!(
        others,
        ["/", "/services/user.php?op=whoami", "/metadata/opensource"]
    );

    let first: Vec<_> = puts
        .iter()
        .filter(|r| r.path.starts_with("/sucho-id-ArticleFiles_1258/"))
        .collect();
    assert_eq!(first.len(), 2);
    // Files of one item go in sheet order; derive only on the last; size hint = item total.
    assert_eq!(
        first[0].path,
        "/sucho-id-ArticleFiles_1258/ArticleFiles_1258.pdf"
    );
    assert_eq!(first[1].path, "/sucho-id-ArticleFiles_1258/extra.txt");
    assert_eq!(header(first[0], "x-archive-queue-derive"), Some("0"));
    assert_eq!(header(first[1], "x-archive-queue-derive"), Some("1"));
    let total = (a.len() + b.len()).to_string();
    assert_eq!(
        header(first[0], "x-archive-size-hint"),
        Some(total.as_str())
    );
    assert_eq!(
        header(first[1], "x-archive-size-hint"),
        Some(total.as_str())
    );
    // Metadata headers on every PUT of the item.
    assert_eq!(meta_headers(first[0]), meta_headers(first[1]));

    let item = bed.emu.item("sucho-id-ArticleFiles_1258").unwrap();
    assert_eq!(
        item.metadata["title"],
        "Бандуристе орле сизий (обробка дуету \"Бандурна розмова\") Бандура 2"
    );
    assert_eq!(
        item.metadata["description"],
        "через http://library.dudaryk.ua/ua/compositions\n\nЖанр:  ансамблевий\nСтоліття:  XIX-XX"
    );
    assert_eq!(
        item.metadata["subject"],
        serde_json::json!([
            "SUCHO",
            "Dudaryk Choir Music Library",
            "composition",
            "choir music"
        ])
    );
    assert_eq!(
        item.metadata["host_institution"],
        "Dudaryk Choir Music Library"
    );
    assert_eq!(
        item.metadata["creator"], "Global Creator",
        "-m applies to every item"
    );
    assert_eq!(item.metadata["language"], "ukr", "a cell wins over -m");
    assert_eq!(
        bed.stored("sucho-id-ArticleFiles_1258", "ArticleFiles_1258.pdf"),
        Some((md5_hex(&a), a.len() as u64))
    );
    assert_eq!(
        bed.stored("sucho-id-ArticleFiles_1258", "extra.txt"),
        Some((md5_hex(&b), b.len() as u64))
    );
    let second = bed.emu.item("sucho-id-second").unwrap();
    assert_eq!(second.metadata["subject"], "SUCHO");
    assert_eq!(second.metadata["language"], "eng");
    assert_eq!(
        bed.stored("sucho-id-second", "second.pdf"),
        Some((md5_hex(&c), c.len() as u64))
    );
}

#[test]
fn every_validation_problem_is_reported_with_row_and_column_and_nothing_is_sent() {
    let bed = Bed::new();
    bed.file("ok.txt", b"ok");
    bed.file(
        "bad.csv",
        "identifier,file,title,bad column!\n\
         ,ok.txt,T,x\n\
         good-item,missing.txt,T,x\n\
         _bad-id,ok.txt,T,x\n\
         good-item,ok.txt,Other title,x\n\
         good-item,ok.txt\n"
            .as_bytes(),
    );
    let o = bed
        .cmd()
        .args(["upload", "--spreadsheet", "bad.csv", "-m", "nocolon"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    for needle in [
        "bad.csv",
        "bad column!", // invalid metadata column name
        "missing.txt", // missing local file
        "_bad-id",     // invalid identifier
        "nocolon",     // -m without ':'
        ":2",          // first row without identifier
        ":6",          // ragged row
    ] {
        assert!(e.contains(needle), "stderr lacks {needle:?}:\n{e}");
    }
    assert!(
        bed.requests().is_empty(),
        "nothing may be sent: {:?}",
        bed.requests()
    );
}

#[test]
fn non_utf8_spreadsheet_is_a_validation_error() {
    let bed = Bed::new();
    bed.file("ok.txt", b"ok");
    let mut sheet = b"identifier,file,title\nlatin-item,ok.txt,caf".to_vec();
    sheet.push(0xe9); // "café" in Latin-1
    sheet.push(b'\n');
    bed.file("latin1.csv", &sheet);
    let o = bed
        .cmd()
        .args(["upload", "--spreadsheet", "latin1.csv"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("title"), "{}", stderr(&o));
    assert!(bed.requests().is_empty());
}

#[test]
fn conflicting_values_for_one_item_name_both_rows() {
    let bed = Bed::new();
    bed.file("a.txt", b"a");
    bed.file("b.txt", b"b");
    bed.file(
        "c.csv",
        b"identifier,file,title\nsame-item,a.txt,One\nsame-item,b.txt,Two\n",
    );
    let o = bed
        .cmd()
        .args(["upload", "--spreadsheet", "c.csv"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains('2') && e.contains('3') && e.contains("title"),
        "{e}"
    );
    assert!(bed.requests().is_empty());
}

#[test]
fn dry_run_prints_requests_sends_nothing_and_masks_the_secret() {
    let bed = Bed::new();
    bed.file("a.txt", b"hello");
    let o = bed
        .cmd()
        .args([
            "upload",
            "dry-item",
            "a.txt",
            "--dry-run",
            "-m",
            "title:A b",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_no_secret(&o);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("PUT {}/dry-item/a.txt", bed.emu.url())),
        "{out}"
    );
    assert!(out.contains("x-archive-meta00-title: uri(A%20b)"), "{out}");
    assert!(
        out.contains("authorization: LOW test-access-key:(redacted)"),
        "{out}"
    );
    assert!(bed.requests().is_empty());
    // -d is ia's spelling.
    let o = bed
        .cmd()
        .args(["upload", "dry-item", "a.txt", "-d"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(bed.requests().is_empty());
    // A sheet can be checked before any keys are configured: placeholders, and a word on it.
    std::fs::remove_file(bed.config_path()).unwrap();
    let o = bed
        .bare()
        .args(["upload", "dry-item", "a.txt", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("authorization: LOW (no keys configured):(redacted)"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("no S3 keys are configured"),
        "{}",
        stderr(&o)
    );
    assert!(bed.requests().is_empty());
}

#[test]
fn missing_credentials_exit_2_before_sending() {
    let bed = Bed::new();
    bed.file("a.txt", b"x");
    let o = bed
        .bare()
        .args(["upload", "nocreds-item", "a.txt"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("iaup configure"), "{}", stderr(&o));
    assert!(bed.requests().is_empty());
}

// IAS3 rejects bad keys only after the whole body: iaup checks them first (whoami).
#[test]
fn wrong_keys_are_caught_before_any_byte_is_sent() {
    let bed = Bed::new();
    bed.write_config(ACCESS, "wrong-secret");
    bed.file("a.txt", b"x");
    let o = bed
        .bare()
        .args(["upload", "denied-item", "a.txt", "--no-progress"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("did not accept the keys") && e.contains("nothing was sent"),
        "{e}"
    );
    assert!(!e.contains("wrong-secret"));
    assert!(bed.puts().is_empty());
}

#[test]
fn a_4xx_fails_each_file_at_once_with_the_server_message_and_exit_1() {
    let bed = Bed::new();
    bed.file("a.txt", b"x");
    bed.file("b.txt", b"y");
    let o = bed
        .cmd()
        .args(["upload", "denied-item", "a.txt", "b.txt", "--no-progress"])
        .args(["-H", "x-archive-simulate-error:AccessDenied"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("403 AccessDenied"), "{e}");
    assert!(
        e.contains("denied-item/a.txt") && e.contains("denied-item/b.txt"),
        "{e}"
    );
    assert!(e.contains("2 failed"), "{e}");
    assert_eq!(
        bed.puts().len(),
        2,
        "a 403 is not retried, and one failure does not stop the other file"
    );
}

#[test]
fn many_items_in_parallel_all_land() {
    let bed = Bed::new();
    let mut sheet = String::from("identifier,file,title\n");
    let mut expect = Vec::new();
    for i in 0..12 {
        for j in 0..3 {
            let data = content((i * 3 + j) as u8, 1000 + i * 10 + j);
            let rel = format!("f/{i}_{j}.bin");
            bed.file(&rel, &data);
            let id = format!("par-item-{i:02}");
            sheet.push_str(&format!("{id},{rel},Item {i}\n"));
            expect.push((id, format!("{i}_{j}.bin"), md5_hex(&data)));
        }
    }
    bed.file("par.csv", sheet.as_bytes());
    let o = bed
        .cmd()
        .args([
            "upload",
            "--spreadsheet",
            "par.csv",
            "--jobs",
            "6",
            "--no-progress",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(bed.puts().len(), 36);
    for (id, key, md5) in expect {
        assert_eq!(bed.stored(&id, &key).map(|s| s.0), Some(md5), "{id}/{key}");
    }
    assert!(stderr(&o).contains("36 uploaded"), "{}", stderr(&o));
}

#[test]
fn shards_split_a_sheet_across_machines_without_overlap() {
    let bed = Bed::new();
    let mut sheet = String::from("identifier,file\n");
    for i in 0..12 {
        bed.file(&format!("s/{i}.txt"), format!("{i}").as_bytes());
        sheet.push_str(&format!("shard-item-{i:02},s/{i}.txt\n"));
    }
    bed.file("s.csv", sheet.as_bytes());
    let mut seen = 0;
    for k in 1..=3 {
        let before = bed.puts().len();
        let o = bed
            .cmd()
            .args([
                "upload",
                "--spreadsheet",
                "s.csv",
                "-q",
                "--shard",
                &format!("{k}/3"),
            ])
            .args(["--journal", &format!("j{k}.sqlite")])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let n = bed.puts().len() - before;
        assert!(n > 0 && n < 12, "shard {k} sent {n}");
        seen += n;
    }
    assert_eq!(seen, 12);
    let mut paths: Vec<String> = bed.puts().into_iter().map(|r| r.path).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 12, "no item in two shards");
    let o = bed
        .cmd()
        .args(["upload", "--spreadsheet", "s.csv", "--shard", "4/3"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--shard"));
}

#[test]
fn a_bad_header_flag_is_refused_before_anything_is_sent() {
    // Checked up front: otherwise every PUT would fail on it, after planning, with exit 1.
    let bed = Bed::new();
    bed.file("a.txt", b"a");
    for bad in ["bad header:1", "x-ok:line\nbreak", "Authorization:LOW a:b"] {
        let o = bed
            .cmd()
            .args(["upload", "hdr-item", "a.txt", "-H", bad])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("--header"), "{}", stderr(&o));
    }
    assert!(bed.requests().is_empty(), "{:?}", bed.requests());
}
