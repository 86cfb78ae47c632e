//! Item and file metadata from PUT headers, decoded as IA does, and when it is applied.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn headers_decode_like_ia() {
    let env = start().await;
    let resp = env
        .put(
            "/myitem1/a.txt",
            "x",
            &[
                ("x-archive-meta01-subject", "second"),
                ("x-archive-meta00-subject", "first"),
                ("x-archive-meta02-subject", "uri(th%C3%AErd%20one)"),
                ("x-archive-meta00-title", "uri(Caf%C3%A9%20au%20lait)"),
                ("x-archive-meta00-isbn--10", "0123456789"),
                ("x-archive-meta-mediatype", "texts"),
                ("x-archive-meta00-collection", "test_collection"),
                ("x-amz-meta-creator", "Someone"),
                ("x-archive-filemeta00-title", "A file title"),
                ("x-archive-filemeta01-tag", "t1"),
                ("x-archive-filemeta02-tag", "t2"),
            ],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let item = env.emu.item("myitem1").expect("item");
    let m = &item.metadata;
    assert_eq!(m["subject"], json!(["first", "second", "thîrd one"]));
    assert_eq!(m["title"], json!("Café au lait"));
    assert_eq!(m["isbn_10"], json!("0123456789"));
    assert_eq!(m["mediatype"], json!("texts"));
    assert_eq!(m["collection"], json!("test_collection"));
    assert_eq!(m["creator"], json!("Someone"));
    assert_eq!(m["identifier"], json!("myitem1"));
    let f = &item.files[0];
    assert_eq!(f.metadata["title"], json!("A file title"));
    assert_eq!(f.metadata["tag"], json!(["t1", "t2"]));
    // File metadata shows in the metadata API's file entry.
    let (_, doc) = env.get_json("/metadata/myitem1").await;
    let entry = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|e| e["name"] == json!("a.txt"))
        .expect("a.txt listed")
        .clone();
    assert_eq!(entry["title"], json!("A file title"));
}

#[tokio::test]
async fn later_puts_ignore_metadata_unless_told_to_replace() {
    let env = start().await;
    env.put(
        "/myitem1/a.txt",
        "x",
        &[
            ("x-archive-meta00-title", "Original"),
            ("x-archive-meta00-subject", "keepme"),
        ],
    )
    .await;
    env.put(
        "/myitem1/b.txt",
        "y",
        &[("x-archive-meta00-title", "Ignored")],
    )
    .await;
    let m = env.emu.item("myitem1").expect("item").metadata;
    assert_eq!(m["title"], json!("Original"));
    assert_eq!(m["subject"], json!("keepme"));

    env.put(
        "/myitem1/c.txt",
        "z",
        &[
            ("x-archive-ignore-preexisting-bucket", "1"),
            ("x-archive-meta00-title", "Replaced"),
            ("x-archive-meta00-creator", "New"),
        ],
    )
    .await;
    let m = env.emu.item("myitem1").expect("item").metadata;
    assert_eq!(m["title"], json!("Replaced"));
    assert_eq!(m["creator"], json!("New"));
    assert!(m.get("subject").is_none(), "replaced, not merged: {m:?}");
    assert_eq!(m["identifier"], json!("myitem1"));
    assert_eq!(m["uploader"], json!("user@example.com"));
}

#[tokio::test]
async fn malformed_uri_value_is_refused() {
    let env = start().await;
    let resp = env
        .put(
            "/myitem1/a.txt",
            "x",
            &[("x-archive-meta-title", "uri(%FF%FE)")],
        )
        .await;
    expect_error(resp, 400, "InvalidArgument").await;
    assert!(env.emu.item("myitem1").is_none());
}

/// Seed 001_91dfe2d31f134b4f.txt: "Alternatively, you may use the Amazon S3 standard
/// x-amz-meta-FIELDNAME:FIELDVALUE header for setting metadata." `x-amz-meta-` is an alias of
/// `x-archive-meta-`, so the numbered form `x-amz-meta01-FIELD` is one of
/// `x-archive-meta01-FIELD` (seed: "--header 'x-archive-meta01-collection:opensource'"), sorted
/// before the `x-archive-` headers ("the fields set with x-amz- will be processed first").
#[tokio::test]
async fn numbered_amz_meta_headers_are_aliases() {
    let env = start().await;
    let resp = env
        .put(
            "/myitem1/a.txt",
            "x",
            &[
                ("x-archive-meta00-subject", "archive"),
                ("x-amz-meta01-subject", "amz second"),
                ("x-amz-meta00-subject", "amz first"),
                ("x-amz-meta00-title", "uri(Caf%C3%A9)"),
                ("x-amz-meta-creator", "Someone"),
                ("x-amz-meta02-isbn--10", "0123456789"),
            ],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let m = env.emu.item("myitem1").expect("item").metadata;
    assert_eq!(m["subject"], json!(["amz first", "amz second", "archive"]));
    assert_eq!(m["title"], json!("Café"));
    assert_eq!(m["creator"], json!("Someone"));
    assert_eq!(m["isbn_10"], json!("0123456789"));
}

/// Seed 001_91dfe2d31f134b4f.txt: "All metadata header values are interpreted as UTF-8 encoded
/// characters." A value that is not UTF-8 is refused with 400 InvalidArgument whether its bad
/// byte comes raw or percent-encoded in `uri(...)`: never stored as U+FFFD.
#[tokio::test]
async fn metadata_values_that_are_not_utf8_are_refused_raw_or_in_uri() {
    let env = start().await;
    let cases: [(&str, &[u8]); 4] = [
        ("x-archive-meta00-title", b"caf\xe9"),
        ("x-archive-meta-title", b"\xff"),
        ("x-amz-meta-creator", b"ok \xc3("),
        ("x-archive-filemeta00-title", b"\xfe"),
    ];
    for (name, value) in cases {
        let mut conn = raw_connect(&env).await;
        let mut request = format!(
            "PUT /myitem1/a.txt HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\nx-archive-auto-make-bucket: 1\r\nContent-Length: 1\r\n{name}: ",
            auth()
        )
        .into_bytes();
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n\r\nx");
        raw_send(&mut conn, &request).await;
        let resp = read_response(&mut conn).await.expect("answer");
        assert_eq!(resp.status, 400, "{name}: {}", resp.text());
        assert_eq!(xml_code(&resp.text()), "InvalidArgument");
        assert!(
            xml_tag(&resp.text(), "Message").contains(name),
            "{}",
            resp.text()
        );
        assert!(
            xml_tag(&resp.text(), "Message").contains("UTF-8"),
            "{}",
            resp.text()
        );
    }
    let resp = env
        .put(
            "/myitem1/a.txt",
            "x",
            &[("x-archive-meta-title", "uri(%FF)")],
        )
        .await;
    let body = expect_error(resp, 400, "InvalidArgument").await;
    assert!(xml_tag(&body, "Message").contains("UTF-8"), "{body}");
    assert!(env.emu.item("myitem1").is_none(), "nothing stored");
}
