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
