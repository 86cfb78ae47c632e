//! `iaup upload --folders DIR`: batch folders in the layout of IA's FTP contribution flow (seed
//! 002): one folder per item with `ID_meta.xml`, `ID_marc.xml`, `ID_files.xml` and the objects.

use std::collections::HashSet;
use std::time::Duration;

use ias3_emulator::Faults;
use serde_json::json;

use crate::harness::*;

const META_1: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata>
  <identifier>msl-2008-001</identifier>
  <title>Звіт про стан бібліотеки</title>
  <subject>libraries</subject>
  <subject>Montana</subject>
  <description>&lt;b&gt;Annual&lt;/b&gt; report &amp; notes</description>
  <language>ukr</language>
  <mediatype>texts</mediatype>
  <subject>state government</subject>
</metadata>
"#;

const META_2: &str = r#"<metadata><title>Second</title><mediatype>texts</mediatype></metadata>"#;

/// The MSL layout: two items, one with a MARC record, a `_files.xml` stub and a subfolder.
fn batch(bed: &Bed) {
    bed.file(
        "batch/msl-2008-001/msl-2008-001_meta.xml",
        META_1.as_bytes(),
    );
    bed.file("batch/msl-2008-001/msl-2008-001_marc.xml", b"<record/>");
    bed.file("batch/msl-2008-001/msl-2008-001_files.xml", b"<files/>");
    bed.file("batch/msl-2008-001/report.pdf", &content(1, 5000));
    bed.file("batch/msl-2008-001/scans/p1.jpg", &content(2, 3000));
    bed.file(
        "batch/msl-2008-002/msl-2008-002_meta.xml",
        META_2.as_bytes(),
    );
    bed.file("batch/msl-2008-002/a.pdf", &content(3, 2000));
}

fn put_keys(bed: &Bed, id: &str) -> Vec<String> {
    bed.puts()
        .iter()
        .filter_map(|r| r.path.strip_prefix(&format!("/{id}/")).map(str::to_owned))
        .collect()
}

#[test]
fn a_batch_tree_uploads_with_its_keys_metadata_and_marc_first() {
    let bed = Bed::new();
    batch(&bed);
    let o = bed
        .cmd()
        .args(["upload", "--folders", "batch", "--no-progress"])
        .args(["-m", "collection:opensource", "-m", "language:eng"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_no_secret(&o);
    // The MARC record goes first; _meta.xml and _files.xml are not uploaded.
    let keys = put_keys(&bed, "msl-2008-001");
    assert_eq!(keys[0], "msl-2008-001_marc.xml", "{keys:?}");
    let set: HashSet<&str> = keys.iter().map(String::as_str).collect();
    assert_eq!(
        set,
        HashSet::from(["msl-2008-001_marc.xml", "report.pdf", "scans/p1.jpg"])
    );
    assert_eq!(put_keys(&bed, "msl-2008-002"), vec!["a.pdf"]);
    assert_eq!(
        bed.stored("msl-2008-001", "scans/p1.jpg").unwrap().0,
        md5_hex(&content(2, 3000))
    );
    // _meta.xml is the item's metadata: lists in document order (repeats not adjacent), text
    // unescaped, and its values win over -m; -m applies to every item.
    let one = bed.emu.item("msl-2008-001").unwrap().metadata;
    assert_eq!(one["title"], json!("Звіт про стан бібліотеки"));
    assert_eq!(
        one["subject"],
        json!(["libraries", "Montana", "state government"])
    );
    assert_eq!(one["description"], json!("<b>Annual</b> report & notes"));
    assert_eq!(one["language"], json!("ukr"));
    assert_eq!(one["collection"], json!("opensource"));
    let two = bed.emu.item("msl-2008-002").unwrap().metadata;
    assert_eq!(two["title"], json!("Second"));
    assert_eq!(two["language"], json!("eng"));
    // Said once each: the _files.xml not sent, the MARC crosswalk over title/description.
    assert!(err.contains("`_files.xml` file is not uploaded"), "{err}");
    assert!(
        err.contains("MARC crosswalk") && err.contains("msl-2008-001 (title, description)"),
        "{err}"
    );
}

#[test]
fn every_folder_problem_is_reported_at_once_with_nothing_sent() {
    let bed = Bed::new();
    batch(&bed);
    bed.file("batch/bad name!/x.pdf", b"x");
    std::fs::create_dir_all(bed.path("batch/empty-item")).unwrap();
    bed.file(
        "batch/other-id/other-id_meta.xml",
        b"<metadata><identifier>someone-else</identifier></metadata>",
    );
    bed.file("batch/other-id/a.pdf", b"a");
    bed.file(
        "batch/broken-xml/broken-xml_meta.xml",
        b"<metadata>\n<title>ok</title>\n<subject>no end</metadata>\n",
    );
    bed.file("batch/broken-xml/a.pdf", b"a");
    bed.file(
        "batch/bad-field/bad-field_meta.xml",
        "<metadata>\n  <Заголовок>x</Заголовок>\n</metadata>".as_bytes(),
    );
    bed.file("batch/bad-field/a.pdf", b"a");
    bed.file("batch/loose.pdf", b"loose");
    let o = bed
        .cmd()
        .args(["upload", "--folders", "batch", "--no-progress"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(bed.puts().is_empty(), "nothing is sent");
    for want in [
        "the folder name `bad name!` is not a valid identifier",
        "the item folder `empty-item` holds no files",
        "the identifier is `someone-else`, but the folder is `other-id`",
        "broken-xml_meta.xml:3: malformed XML",
        "bad-field_meta.xml:2: invalid metadata field name `Заголовок`",
        "files directly in the folder belong to no item: `loose.pdf`",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

#[test]
fn a_batch_killed_mid_run_resumes_without_resending_what_landed() {
    let bed = Bed::with_faults(Faults {
        latency: Duration::from_millis(40),
        bandwidth: Some(512 << 10),
        ..Faults::default()
    });
    let mut want = Vec::new();
    for i in 0..5u8 {
        let id = format!("batch-item-{i}");
        for f in 0..3u8 {
            let body = content(i * 10 + f, 150_000);
            bed.file(&format!("batch/{id}/f{f}.bin"), &body);
            want.push((id.clone(), format!("f{f}.bin"), md5_hex(&body)));
        }
    }
    let journal = bed.home.path().join("j.sqlite");
    let mut child = bed
        .child()
        .args(["upload", "--folders", "batch", "-q", "--sleep", "0.05"])
        .arg("--journal")
        .arg(&journal)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let killed = child.try_wait().unwrap().is_none();
    if killed {
        child.kill().unwrap(); // SIGKILL
    }
    let _ = child.wait();
    assert!(killed, "the kill must land mid-run");
    let o = bed
        .cmd()
        .args(["upload", "--folders", "batch", "-q", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for (id, key, md5) in &want {
        assert_eq!(
            bed.stored(id, key).map(|s| s.0).as_deref(),
            Some(md5.as_str())
        );
    }
    let mut landed = HashSet::new();
    for r in bed.puts() {
        assert!(
            !landed.contains(&r.path),
            "{} sent again after it landed",
            r.path
        );
        if r.status == 200 {
            landed.insert(r.path.clone());
        }
    }
}
