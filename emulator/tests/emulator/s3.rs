//! The S3 face: uploads, every error IAS3 sends for a bad PUT, reads, deletes, history copies,
//! derives with cascade deletes, and check_limit.

use ias3_emulator::{Config, Emulator};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn put_stores_the_file_and_answers_its_md5_as_etag() {
    let env = start().await;
    let body = b"hello archive".to_vec();
    let resp = env
        .put(
            "/myitem1/hello.txt",
            body.clone(),
            &[("x-archive-queue-derive", "0")],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let etag = resp.headers()["etag"].to_str().expect("etag").to_string();
    assert_eq!(etag, format!("\"{}\"", md5_hex(&body)));

    let item = env.emu.item("myitem1").expect("item created");
    assert_eq!(item.files.len(), 1);
    let f = &item.files[0];
    assert_eq!(
        (f.name.as_str(), f.size, f.source.as_str()),
        ("hello.txt", 13, "original")
    );
    assert_eq!(f.md5, md5_hex(&body));
    assert_eq!(std::fs::read(&f.path).expect("on disk"), body);
    // IA's defaults for a new item.
    let m = &item.metadata;
    assert_eq!(m["identifier"], json!("myitem1"));
    assert_eq!(m["mediatype"], json!("data"));
    assert_eq!(m["collection"], json!("opensource"));
    assert_eq!(m["title"], json!("myitem1"));
    assert_eq!(m["uploader"], json!("user@example.com"));
    let added = m["addeddate"].as_str().expect("addeddate");
    assert_eq!(added.len(), 19, "YYYY-mm-dd hh:mm:ss: {added}");
    assert_eq!(&added[4..5], "-");
    assert_eq!(&added[10..11], " ");
    assert_eq!(m["publicdate"], m["addeddate"]);
}

#[tokio::test]
async fn get_and_head_serve_stored_files() {
    let env = start().await;
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    env.put("/myitem1/dir/data.bin", body.clone(), &[]).await;
    let resp = env
        .client
        .get(env.url("/myitem1/dir/data.bin"))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-length"], "200000");
    assert_eq!(
        resp.headers()["etag"].to_str().expect("etag"),
        format!("\"{}\"", md5_hex(&body))
    );
    assert_eq!(resp.bytes().await.expect("body").to_vec(), body);

    let resp = env
        .client
        .head(env.url("/myitem1/dir/data.bin"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-length"], "200000");

    let resp = env
        .client
        .get(env.url("/myitem1/missing.bin"))
        .send()
        .await
        .expect("GET");
    expect_error(resp, 404, "NoSuchKey").await;
    let resp = env
        .client
        .head(env.url("/myitem1/missing.bin"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(resp.status().as_u16(), 404);
    let resp = env
        .client
        .get(env.url("/nosuchitem/x"))
        .send()
        .await
        .expect("GET");
    expect_error(resp, 404, "NoSuchBucket").await;
}

#[tokio::test]
async fn keys_are_percent_decoded_and_may_contain_slashes() {
    let env = start().await;
    let resp = env
        .put("/myitem1/dir/sp%20ace%23%3F%C3%A9.txt", "x", &[])
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let item = env.emu.item("myitem1").expect("item");
    assert_eq!(item.files[0].name, "dir/sp ace#?é.txt");
}

#[tokio::test]
async fn missing_or_wrong_auth_is_access_denied() {
    let env = start().await;
    let resp = env
        .client
        .put(env.url("/myitem1/a.txt"))
        .body("x")
        .send()
        .await
        .expect("PUT");
    expect_error(resp, 403, "AccessDenied").await;
    let resp = env
        .client
        .put(env.url("/myitem1/a.txt"))
        .header("authorization", format!("LOW {KEY}:wrong"))
        .header("x-archive-auto-make-bucket", "1")
        .body("x")
        .send()
        .await
        .expect("PUT");
    expect_error(resp, 403, "AccessDenied").await;
    let resp = env
        .client
        .delete(env.url("/myitem1/a.txt"))
        .header("authorization", "AWS abc:def")
        .send()
        .await
        .expect("DELETE");
    expect_error(resp, 403, "AccessDenied").await;
    assert!(env.emu.item("myitem1").is_none());
}

#[tokio::test]
async fn new_item_needs_auto_make_bucket() {
    let env = start().await;
    let resp = env
        .client
        .put(env.url("/myitem1/a.txt"))
        .header("authorization", auth())
        .body("x")
        .send()
        .await
        .expect("PUT");
    let body = expect_error(resp, 404, "NoSuchBucket").await;
    assert_eq!(xml_tag(&body, "Resource"), "/myitem1/a.txt");
    assert!(!xml_tag(&body, "RequestId").is_empty());
    // The x-amz- spelling works too, and an existing item needs no header.
    let resp = env
        .client
        .put(env.url("/myitem1/a.txt"))
        .header("authorization", auth())
        .header("x-amz-auto-make-bucket", "1")
        .body("x")
        .send()
        .await
        .expect("PUT");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = env
        .client
        .put(env.url("/myitem1/b.txt"))
        .header("authorization", auth())
        .body("y")
        .send()
        .await
        .expect("PUT");
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn bad_identifiers_are_invalid_bucket_names() {
    let env = start().await;
    for id in [
        "_under",
        "-dash",
        ".dot",
        "ab",
        "has%20space",
        &"a".repeat(101),
    ] {
        let resp = env.put(&format!("/{id}/a.txt"), "x", &[]).await;
        expect_error(resp, 400, "InvalidBucketName").await;
    }
    let resp = env
        .put(&format!("/{}/a.txt", "a".repeat(100)), "x", &[])
        .await;
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn chunked_bodies_are_refused_with_411() {
    let env = start().await;
    let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(bytes::Bytes::from("abc"))]);
    let resp = env
        .put("/myitem1/a.txt", reqwest::Body::wrap_stream(stream), &[])
        .await;
    expect_error(resp, 411, "MissingContentLength").await;
    assert!(env.emu.item("myitem1").is_none());
}

#[tokio::test]
async fn content_md5_is_checked_in_hex_or_base64() {
    use base64::Engine;
    let env = start().await;
    let body = b"checked body";
    let hex = md5_hex(body);
    let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(&hex).expect("hex"));

    let resp = env
        .put("/myitem1/hex.txt", body.to_vec(), &[("content-md5", &hex)])
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let resp = env
        .put("/myitem1/b64.txt", body.to_vec(), &[("content-md5", &b64)])
        .await;
    assert_eq!(resp.status().as_u16(), 200);

    let wrong = md5_hex(b"something else");
    let resp = env
        .put(
            "/myitem1/bad.txt",
            body.to_vec(),
            &[("content-md5", &wrong)],
        )
        .await;
    expect_error(resp, 400, "BadDigest").await;
    let resp = env
        .put(
            "/myitem1/bad.txt",
            body.to_vec(),
            &[("content-md5", "not-a-digest")],
        )
        .await;
    expect_error(resp, 400, "InvalidDigest").await;

    let names: Vec<String> = env
        .emu
        .item("myitem1")
        .expect("item")
        .files
        .into_iter()
        .filter(|f| f.source == "original")
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["hex.txt", "b64.txt"]);
    // Nothing left behind in the temp folder.
    let tmp = env.dir.path().join("data").join("tmp");
    assert_eq!(std::fs::read_dir(tmp).expect("tmp").count(), 0);
}

#[tokio::test]
async fn delete_removes_files_and_refuses_buckets() {
    let env = start().await;
    env.put("/myitem1/a.txt", "a", &[("x-archive-queue-derive", "0")])
        .await;
    let resp = env.delete("/myitem1/a.txt", &[]).await;
    assert_eq!(resp.status().as_u16(), 204);
    assert!(env.emu.item("myitem1").expect("item").files.is_empty());
    expect_error(env.delete("/myitem1/a.txt", &[]).await, 404, "NoSuchKey").await;
    expect_error(
        env.delete("/nosuchitem/a.txt", &[]).await,
        404,
        "NoSuchBucket",
    )
    .await;
    assert!(env.emu.item("myitem1").is_some());
}

/// Seed 003_93bc1cec844ef41c.txt: "IAS3 does not allow DELETE for buckets, only for files.
/// Attempting to DELETE a bucket will result in a _Not Authorized_ error." (and seed
/// 001_91dfe2d31f134b4f.txt: "DELETE is not allowed for items (buckets) in IAS3"). Not
/// Authorized is 403 AccessDenied in the seed's error table ("AccessDenied Access Denied 403
/// Forbidden"), not 405.
#[tokio::test]
async fn delete_of_a_bucket_is_not_authorized() {
    let env = start().await;
    env.put("/myitem1/a.txt", "a", &[("x-archive-queue-derive", "0")])
        .await;
    for path in ["/myitem1", "/myitem1/"] {
        let body = expect_error(env.delete(path, &[]).await, 403, "AccessDenied").await;
        assert!(
            xml_tag(&body, "Message").contains("Not Authorized"),
            "{body}"
        );
        assert_eq!(xml_tag(&body, "Resource"), path);
    }
    // Even an item that does not exist: the method itself is refused.
    expect_error(env.delete("/nosuchitem", &[]).await, 403, "AccessDenied").await;
    let item = env.emu.item("myitem1").expect("the item stays");
    assert_eq!(item.files.len(), 1);
}

#[tokio::test]
async fn keep_old_version_keeps_history_copies() {
    let env = start().await;
    let keep = [
        ("x-archive-keep-old-version", "1"),
        ("x-archive-queue-derive", "0"),
    ];
    env.put("/myitem1/a.txt", "v1", &keep).await;
    env.put("/myitem1/a.txt", "v2", &keep).await;
    env.put("/myitem1/a.txt", "v3", &keep).await;
    let resp = env
        .delete("/myitem1/a.txt", &[("x-archive-keep-old-version", "1")])
        .await;
    assert_eq!(resp.status().as_u16(), 204);
    let item = env.emu.item("myitem1").expect("item");
    let files: Vec<(String, String)> = item
        .files
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                std::fs::read_to_string(&f.path).expect("history body"),
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            ("history/files/a.txt.~1~".to_string(), "v1".to_string()),
            ("history/files/a.txt.~2~".to_string(), "v2".to_string()),
            ("history/files/a.txt.~3~".to_string(), "v3".to_string()),
        ]
    );
    assert!(item.puts.iter().all(|p| p.keep_old_version));
    // Without the header an overwrite keeps nothing.
    env.put("/myitem1/b.txt", "v1", &[("x-archive-queue-derive", "0")])
        .await;
    env.put("/myitem1/b.txt", "v2", &[("x-archive-queue-derive", "0")])
        .await;
    let item = env.emu.item("myitem1").expect("item");
    assert_eq!(
        item.files
            .iter()
            .filter(|f| f.name.contains("b.txt"))
            .count(),
        1
    );
}

#[tokio::test]
async fn derive_makes_derivatives_and_cascade_delete_removes_them() {
    let env = start().await;
    env.put(
        "/myitem1/a.txt",
        "a",
        &[
            ("x-archive-queue-derive", "0"),
            ("x-archive-size-hint", "12345"),
        ],
    )
    .await;
    assert!(env
        .emu
        .item("myitem1")
        .expect("item")
        .files
        .iter()
        .all(|f| f.source == "original"));
    // No header means derive (IA's default), for every original without a derivative.
    env.put("/myitem1/dir/b.tar.gz", "b", &[]).await;
    let item = env.emu.item("myitem1").expect("item");
    let derived: Vec<(String, Option<String>)> = item
        .files
        .iter()
        .filter(|f| f.source == "derivative")
        .map(|f| (f.name.clone(), f.original.clone()))
        .collect();
    assert_eq!(
        derived,
        [
            ("a_derived.txt".to_string(), Some("a.txt".to_string())),
            (
                "dir/b.tar_derived.txt".to_string(),
                Some("dir/b.tar.gz".to_string())
            ),
        ]
    );
    assert_eq!(item.puts.len(), 2);
    assert!(!item.puts[0].queue_derive);
    assert_eq!(item.puts[0].size_hint, Some(12345));
    assert!(item.puts[1].queue_derive);
    // No x-archive-size-hint: the Content-Length (see size_hint_defaults_to_content_length).
    assert_eq!(item.puts[1].size_hint, Some(1));

    // A plain delete leaves the derivative; a cascade delete takes it along.
    env.delete("/myitem1/a.txt", &[]).await;
    let names = |env: &Env| -> Vec<String> {
        env.emu
            .item("myitem1")
            .expect("item")
            .files
            .into_iter()
            .map(|f| f.name)
            .collect()
    };
    assert!(names(&env).contains(&"a_derived.txt".to_string()));
    let resp = env
        .delete(
            "/myitem1/dir/b.tar.gz",
            &[("x-archive-cascade-delete", "1")],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(names(&env), ["a_derived.txt"]);
}

#[tokio::test]
async fn check_limit_reports_rationing() {
    let env = start().await;
    let (status, body) = env
        .get_json(&format!("/?check_limit=1&accesskey={KEY}&bucket=myitem1"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["bucket"], json!("myitem1"));
    assert_eq!(body["accesskey"], json!(KEY));
    assert_eq!(body["over_limit"], json!(0));
    let d = &body["detail"];
    for field in [
        "accesskey_ration",
        "accesskey_tasks_queued",
        "bucket_ration",
        "bucket_tasks_queued",
        "limit_reason",
        "rationing_engaged",
        "rationing_level",
        "total_global_limit",
        "total_tasks_queued",
    ] {
        assert!(d.get(field).is_some(), "detail.{field} missing: {body}");
    }
    assert_eq!(d["limit_reason"], json!(""));
}

#[tokio::test]
async fn put_of_a_bucket_creates_an_empty_item() {
    let env = start().await;
    let resp = env
        .put("/myitem1", "", &[("x-archive-meta-title", "Empty")])
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let item = env.emu.item("myitem1").expect("item");
    assert!(item.files.is_empty());
    assert_eq!(item.metadata["title"], json!("Empty"));
    let resp = env
        .client
        .get(env.url("/myitem1"))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp
        .text()
        .await
        .expect("xml")
        .contains("<ListBucketResult>"));
}

async fn put_on(client: &reqwest::Client, emu: &Emulator, path: &str, body: &str) -> u16 {
    client
        .put(format!("{}{path}", emu.url()))
        .header("authorization", auth())
        .header("x-archive-auto-make-bucket", "1")
        .header("x-archive-queue-derive", "0")
        .body(body.to_string())
        .send()
        .await
        .expect("PUT sent")
        .status()
        .as_u16()
}

/// Issue 10, point 19: an emulator restarted on the same `--data-dir` reused blob numbers and
/// overwrote the bodies an earlier run had stored. Items are not restored, but every stored body
/// must stay as it was.
#[tokio::test]
async fn a_restart_on_the_same_data_dir_keeps_stored_bodies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let client = client();
    let first = Emulator::start(Config::new(&data, KEY, SECRET))
        .await
        .expect("first run");
    assert_eq!(
        put_on(&client, &first, "/myitem1/a.txt", "first run a").await,
        200
    );
    assert_eq!(
        put_on(&client, &first, "/myitem1/b.txt", "first run b").await,
        200
    );
    let old: Vec<std::path::PathBuf> = first
        .item("myitem1")
        .expect("item")
        .files
        .into_iter()
        .map(|f| f.path)
        .collect();
    drop(first);

    let second = Emulator::start(Config::new(&data, KEY, SECRET))
        .await
        .expect("second run");
    assert!(second.item("myitem1").is_none(), "items are not restored");
    for (i, key) in ["x.txt", "y.txt", "z.txt"].iter().enumerate() {
        let path = format!("/myitem{}/{key}", i + 2);
        assert_eq!(put_on(&client, &second, &path, "second run").await, 200);
        let new = &second
            .item(&format!("myitem{}", i + 2))
            .expect("item")
            .files[0]
            .path;
        assert!(!old.contains(new), "{new:?} reused");
    }
    let bodies: Vec<String> = old
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("old body still there"))
        .collect();
    assert_eq!(bodies, ["first run a", "first run b"]);
}

/// Seed 001_91dfe2d31f134b4f.txt: "If this header is not defined IAS3 will attempt to default
/// to the value in the content-length header." (x-archive-size-hint).
#[tokio::test]
async fn size_hint_defaults_to_content_length() {
    let env = start().await;
    let derive0 = ("x-archive-queue-derive", "0");
    env.put("/myitem1/a.bin", vec![0u8; 1234], &[derive0]).await;
    env.put(
        "/myitem1/b.bin",
        vec![0u8; 10],
        &[derive0, ("x-archive-size-hint", "999999")],
    )
    .await;
    // A hint that is not a number counts as none.
    env.put(
        "/myitem1/c.bin",
        vec![0u8; 7],
        &[derive0, ("x-archive-size-hint", "lots")],
    )
    .await;
    let hints: Vec<Option<u64>> = env
        .emu
        .item("myitem1")
        .expect("item")
        .puts
        .iter()
        .map(|p| p.size_hint)
        .collect();
    assert_eq!(hints, [Some(1234), Some(999_999), Some(7)]);
}

/// Seed 001_91dfe2d31f134b4f.txt: "IDENTIFIER_meta.xml is the definitive metadata file for the
/// item. It is automatically generated at item creation time using the metadata provided
/// either via headers or via files." and "Please do not delete or modify this file. If you must
/// modify the item's metadata, please either use the "Edit Item!" link at the top of its detail
/// page or submit updated metadata via the IAS3 API." The emulator refuses a PUT (or DELETE) of
/// the generated `{id}_meta.xml` / `{id}_files.xml` with 400 InvalidArgument, so the item keeps
/// exactly one entry of each name, and GET keeps answering the generated file.
#[tokio::test]
async fn generated_meta_and_files_xml_cannot_be_uploaded_or_deleted() {
    let env = start().await;
    env.put(
        "/myitem1/a.txt",
        "a",
        &[
            ("x-archive-queue-derive", "0"),
            ("x-archive-meta-title", "Kept"),
        ],
    )
    .await;
    let own_xml = "<metadata><title>Replaced</title></metadata>";
    for name in ["myitem1_meta.xml", "myitem1_files.xml"] {
        let path = format!("/myitem1/{name}");
        let body = expect_error(env.put(&path, own_xml, &[]).await, 400, "InvalidArgument").await;
        assert!(xml_tag(&body, "Message").contains(name), "{body}");
        let body = expect_error(env.delete(&path, &[]).await, 400, "InvalidArgument").await;
        assert!(xml_tag(&body, "Message").contains(name), "{body}");
    }
    // A new item cannot be created by one either.
    expect_error(
        env.put("/myitem2/myitem2_meta.xml", own_xml, &[]).await,
        400,
        "InvalidArgument",
    )
    .await;
    assert!(env.emu.item("myitem2").is_none());
    // Another item's name is an ordinary file.
    let resp = env.put("/myitem1/other_meta.xml", own_xml, &[]).await;
    assert_eq!(resp.status().as_u16(), 200);

    let item = env.emu.item("myitem1").expect("item");
    assert_eq!(item.metadata["title"], json!("Kept"));
    let (_, doc) = env.get_json("/metadata/myitem1").await;
    let files = doc["files"].as_array().expect("files");
    for name in ["myitem1_meta.xml", "myitem1_files.xml"] {
        let entries: Vec<&serde_json::Value> =
            files.iter().filter(|f| f["name"] == json!(name)).collect();
        assert_eq!(entries.len(), 1, "{name}: {files:?}");
        assert_eq!(entries[0]["source"], json!("metadata"));
    }
    let listing = env
        .client
        .get(env.url("/myitem1"))
        .send()
        .await
        .expect("GET sent")
        .text()
        .await
        .expect("body");
    assert!(
        !listing.contains("<Key>myitem1_meta.xml</Key>"),
        "{listing}"
    );
    let resp = env
        .client
        .get(env.url("/myitem1/myitem1_meta.xml"))
        .send()
        .await
        .expect("GET sent");
    let etag = resp.headers()["etag"].to_str().expect("etag").to_owned();
    let xml = resp.text().await.expect("body");
    assert!(xml.contains("<title>Kept</title>"), "{xml}");
    assert_eq!(etag, format!("\"{}\"", md5_hex(xml.as_bytes())));
    let meta_entry = files
        .iter()
        .find(|f| f["name"] == json!("myitem1_meta.xml"))
        .expect("listed");
    assert_eq!(meta_entry["md5"], json!(md5_hex(xml.as_bytes())));
}
