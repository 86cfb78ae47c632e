//! S3 multipart uploads: the whole cycle (create, parts, list, complete) and what it commits,
//! re-sent parts, abort and the list of uploads, every refusal of Complete (`xmlns`, order,
//! unknown or stale parts, small parts), IA's late bucket, `--complete-slowdowns`, faults on a
//! part, and a part refused under `Expect: 100-continue` without a body byte read.

use std::time::Duration;

use ias3_emulator::Faults;
use md5::{Digest, Md5};
use serde_json::json;

use crate::common::*;

/// Creates an upload of `path` (`/id/key`) with auto-make-bucket and `headers`; its id.
async fn create(env: &Env, path: &str, headers: &[(&str, &str)]) -> String {
    let resp = create_call(env, path, headers).await;
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.text().await.expect("body");
    assert!(
        body.contains("<InitiateMultipartUploadResult><Bucket>"),
        "{body}"
    );
    assert!(!body.contains("xmlns"), "{body}");
    let upload = xml_tag(&body, "UploadId");
    assert_eq!(upload.len(), 32, "{body}");
    upload
}

async fn create_call(env: &Env, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = env
        .client
        .post(env.url(&format!("{path}?uploads")))
        .header("authorization", auth());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("create sent")
}

async fn part(env: &Env, path: &str, upload: &str, n: u32, body: &[u8]) -> reqwest::Response {
    env.client
        .put(env.url(&format!("{path}?partNumber={n}&uploadId={upload}")))
        .header("authorization", auth())
        .body(body.to_vec())
        .send()
        .await
        .expect("part sent")
}

/// Sends a part and checks its `200` and ETag.
async fn part_ok(env: &Env, path: &str, upload: &str, n: u32, body: &[u8]) {
    let resp = part(env, path, upload, n, body).await;
    assert_eq!(resp.status().as_u16(), 200, "part {n}");
    assert_eq!(
        resp.headers()["etag"].to_str().expect("etag"),
        format!("\"{}\"", md5_hex(body))
    );
}

/// A Complete body listing `(number, ETag)` without `xmlns`.
fn complete_body(parts: &[(u32, String)]) -> String {
    let parts: String = parts
        .iter()
        .map(|(n, etag)| {
            format!("<Part><PartNumber>{n}</PartNumber><ETag>\"{etag}\"</ETag></Part>")
        })
        .collect();
    format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>")
}

async fn complete(env: &Env, path: &str, upload: &str, body: String) -> reqwest::Response {
    env.client
        .post(env.url(&format!("{path}?uploadId={upload}")))
        .header("authorization", auth())
        .body(body)
        .send()
        .await
        .expect("complete sent")
}

async fn list_parts(env: &Env, path: &str, upload: &str) -> reqwest::Response {
    env.client
        .get(env.url(&format!("{path}?uploadId={upload}")))
        .header("authorization", auth())
        .send()
        .await
        .expect("list parts sent")
}

/// S3's multipart ETag of these parts.
fn s3_etag(parts: &[&[u8]]) -> String {
    let mut joined = Vec::new();
    for p in parts {
        joined.extend_from_slice(&Md5::digest(p));
    }
    format!("{}-{}", md5_hex(&joined), parts.len())
}

fn bytes(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ salt).collect()
}

async fn small_parts() -> Env {
    start_with(|c| c.min_part_size = 1000).await
}

#[tokio::test]
async fn three_parts_complete_into_one_file_with_the_create_calls_headers() {
    let env = small_parts().await;
    let path = "/bigitem1/dir/video.mkv";
    let upload = create(
        &env,
        path,
        &[
            ("x-archive-auto-make-bucket", "1"),
            ("x-archive-meta-title", "Big video"),
            ("x-archive-filemeta-note", "in parts"),
            ("x-archive-queue-derive", "0"),
        ],
    )
    .await;
    let parts = [bytes(3000, 1), bytes(3000, 2), bytes(1234, 3)];
    // Sent out of order, as parallel part jobs would.
    for n in [2u32, 3, 1] {
        part_ok(&env, path, &upload, n, &parts[n as usize - 1]).await;
    }
    let listed: Vec<(u32, String)> = (1..=3)
        .map(|n| (n, md5_hex(&parts[n as usize - 1])))
        .collect();
    let resp = complete(&env, path, &upload, complete_body(&listed)).await;
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.text().await.expect("body");
    assert!(!body.contains("xmlns"), "{body}");
    assert_eq!(xml_tag(&body, "Bucket"), "bigitem1");
    assert_eq!(xml_tag(&body, "Key"), "dir/video.mkv");
    assert_eq!(xml_tag(&body, "Location"), env.url(path));
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    assert_eq!(xml_tag(&body, "ETag"), format!("\"{}\"", s3_etag(&refs)));

    let whole = parts.concat();
    let got = env.client.get(env.url(path)).send().await.expect("GET");
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.bytes().await.expect("body").to_vec(), whole);
    let (status, doc) = env.get_json("/metadata/bigitem1").await;
    assert_eq!(status, 200);
    assert_eq!(doc["metadata"]["title"], json!("Big video"));
    let file = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["name"] == json!("dir/video.mkv"))
        .expect("file listed")
        .clone();
    assert_eq!(file["md5"], json!(md5_hex(&whole)));
    assert_eq!(file["size"], json!(whole.len().to_string()));
    let item = env.emu.item("bigitem1").expect("item");
    assert_eq!(item.files.len(), 1, "queue-derive 0: no derivative");
    assert_eq!(item.files[0].metadata["note"], json!("in parts"));
    assert_eq!(item.puts.len(), 1);
    assert!(!item.puts[0].queue_derive);
    assert_eq!(item.puts[0].size_hint, Some(whole.len() as u64));

    // Every part body was counted, and nothing is left in the temp folder.
    let part_bytes: u64 = env
        .emu
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.body_size)
        .sum();
    assert_eq!(part_bytes, whole.len() as u64);
    let tmp = env.dir.path().join("data").join("tmp");
    assert_eq!(std::fs::read_dir(tmp).expect("tmp").count(), 0);
    // The upload is forgotten.
    let again = complete(&env, path, &upload, complete_body(&listed)).await;
    expect_error(again, 404, "NoSuchUpload").await;
}

#[tokio::test]
async fn a_part_sent_again_replaces_the_first_and_parts_are_listed_in_order() {
    let env = small_parts().await;
    let path = "/myitem1/a.bin";
    let upload = create(&env, path, &[("x-archive-auto-make-bucket", "1")]).await;
    let first = bytes(2000, 7);
    let second = bytes(1500, 9);
    let old = bytes(2000, 8);
    part_ok(&env, path, &upload, 2, &second).await;
    part_ok(&env, path, &upload, 1, &old).await;
    part_ok(&env, path, &upload, 1, &first).await;
    // A Content-MD5 that does not match is refused and replaces nothing.
    let resp = env
        .client
        .put(env.url(&format!("{path}?partNumber=1&uploadId={upload}")))
        .header("authorization", auth())
        .header("content-md5", md5_hex(b"other"))
        .body(old.clone())
        .send()
        .await
        .expect("sent");
    expect_error(resp, 400, "BadDigest").await;

    let resp = list_parts(&env, path, &upload).await;
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.text().await.expect("body");
    assert!(body.starts_with("<?xml version='1.0' encoding='UTF-8'?>\n<ListPartsResult>"));
    assert_eq!(xml_tag(&body, "UploadId"), upload);
    assert_eq!(xml_tag(&body, "IsTruncated"), "false");
    let listed: Vec<&str> = body.split("<Part>").skip(1).collect();
    assert_eq!(listed.len(), 2, "{body}");
    assert_eq!(xml_tag(listed[0], "PartNumber"), "1");
    assert_eq!(
        xml_tag(listed[0], "ETag"),
        format!("\"{}\"", md5_hex(&first))
    );
    assert_eq!(xml_tag(listed[0], "Size"), "2000");
    assert!(xml_tag(listed[0], "LastModified").ends_with(".000Z"));
    assert_eq!(xml_tag(listed[1], "PartNumber"), "2");
    assert_eq!(xml_tag(listed[1], "Size"), "1500");

    // The replaced part's ETag no longer completes; the new one does.
    let stale = complete_body(&[(1, md5_hex(&old)), (2, md5_hex(&second))]);
    expect_error(
        complete(&env, path, &upload, stale).await,
        400,
        "InvalidPart",
    )
    .await;
    let fresh = complete_body(&[(1, md5_hex(&first)), (2, md5_hex(&second))]);
    assert_eq!(
        complete(&env, path, &upload, fresh).await.status().as_u16(),
        200
    );
    let item = env.emu.item("myitem1").expect("item");
    let file = item.files.iter().find(|f| f.name == "a.bin").expect("file");
    assert_eq!(file.md5, md5_hex(&[first, second].concat()));
}

#[tokio::test]
async fn uploads_are_listed_until_aborted() {
    let env = small_parts().await;
    let a = create(
        &env,
        "/myitem1/a.bin",
        &[("x-archive-auto-make-bucket", "1")],
    )
    .await;
    let b = create(&env, "/myitem1/b.bin", &[]).await;
    part_ok(&env, "/myitem1/a.bin", &a, 1, b"part one").await;
    let list = || async {
        let resp = env
            .client
            .get(env.url("/myitem1?uploads"))
            .header("authorization", auth())
            .send()
            .await
            .expect("list sent");
        assert_eq!(resp.status().as_u16(), 200);
        resp.text().await.expect("body")
    };
    let body = list().await;
    assert!(
        body.contains("<ListMultipartUploadsResult><Bucket>myitem1</Bucket>"),
        "{body}"
    );
    let uploads: Vec<&str> = body.split("<Upload>").skip(1).collect();
    assert_eq!(uploads.len(), 2, "{body}");
    assert_eq!(xml_tag(uploads[0], "Key"), "a.bin");
    assert_eq!(xml_tag(uploads[0], "UploadId"), a);
    assert!(xml_tag(uploads[0], "Initiated").ends_with(".000Z"));
    assert_eq!(xml_tag(uploads[1], "UploadId"), b);

    let resp = env
        .delete(&format!("/myitem1/a.bin?uploadId={a}"), &[])
        .await;
    assert_eq!(resp.status().as_u16(), 204);
    let body = list().await;
    assert!(!body.contains(&a) && body.contains(&b), "{body}");
    let tmp = env.dir.path().join("data").join("tmp");
    assert_eq!(
        std::fs::read_dir(tmp).expect("tmp").count(),
        0,
        "parts removed"
    );

    // An aborted (or never created) upload is unknown to every call.
    let again = env
        .delete(&format!("/myitem1/a.bin?uploadId={a}"), &[])
        .await;
    expect_error(again, 404, "NoSuchUpload").await;
    expect_error(
        part(&env, "/myitem1/a.bin", &a, 2, b"x").await,
        404,
        "NoSuchUpload",
    )
    .await;
    expect_error(
        list_parts(&env, "/myitem1/a.bin", &a).await,
        404,
        "NoSuchUpload",
    )
    .await;
    let body = complete_body(&[(1, md5_hex(b"part one"))]);
    expect_error(
        complete(&env, "/myitem1/a.bin", &a, body).await,
        404,
        "NoSuchUpload",
    )
    .await;
    // An upload id is valid for its own key only.
    expect_error(
        list_parts(&env, "/myitem1/a.bin", &b).await,
        404,
        "NoSuchUpload",
    )
    .await;
    // A bucket nobody made has no uploads list.
    let resp = env
        .client
        .get(env.url("/nothere1?uploads"))
        .header("authorization", auth())
        .send()
        .await
        .expect("sent");
    expect_error(resp, 404, "NoSuchBucket").await;
}

#[tokio::test]
async fn complete_refuses_xmlns_bad_order_unknown_parts_and_small_parts() {
    let env = small_parts().await;
    let path = "/myitem1/c.bin";
    let upload = create(&env, path, &[("x-archive-auto-make-bucket", "1")]).await;
    let one = bytes(999, 1);
    let two = bytes(1000, 2);
    let three = bytes(10, 3);
    part_ok(&env, path, &upload, 1, &one).await;
    part_ok(&env, path, &upload, 2, &two).await;
    part_ok(&env, path, &upload, 3, &three).await;
    let (m1, m2, m3) = (md5_hex(&one), md5_hex(&two), md5_hex(&three));

    let with_ns = complete_body(&[(2, m2.clone()), (3, m3.clone())]).replace(
        "<CompleteMultipartUpload>",
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
    );
    expect_error(
        complete(&env, path, &upload, with_ns).await,
        400,
        "MalformedXML",
    )
    .await;
    let garbage = "<CompleteMultipartUpload><Part>".to_string();
    expect_error(
        complete(&env, path, &upload, garbage).await,
        400,
        "MalformedXML",
    )
    .await;
    let reversed = complete_body(&[(3, m3.clone()), (2, m2.clone())]);
    expect_error(
        complete(&env, path, &upload, reversed).await,
        400,
        "InvalidPartOrder",
    )
    .await;
    let missing = complete_body(&[(2, m2.clone()), (4, m3.clone())]);
    expect_error(
        complete(&env, path, &upload, missing).await,
        400,
        "InvalidPart",
    )
    .await;
    let wrong_etag = complete_body(&[(2, m2.clone()), (3, m2.clone())]);
    expect_error(
        complete(&env, path, &upload, wrong_etag).await,
        400,
        "InvalidPart",
    )
    .await;
    // Part 1 (999 bytes) is under the minimum of 1000; the last part may be smaller.
    let small = complete_body(&[(1, m1), (2, m2.clone()), (3, m3.clone())]);
    expect_error(
        complete(&env, path, &upload, small).await,
        400,
        "EntityTooSmall",
    )
    .await;

    // None of the refusals spent the upload: parts 2 and 3 (the small one last) complete it.
    let good = complete_body(&[(2, m2), (3, m3)]);
    assert_eq!(
        complete(&env, path, &upload, good).await.status().as_u16(),
        200
    );
    let item = env.emu.item("myitem1").expect("item");
    let file = item.files.iter().find(|f| f.name == "c.bin").expect("file");
    assert_eq!(file.md5, md5_hex(&[two, three].concat()));
    assert_eq!(
        std::fs::read_dir(env.dir.path().join("data").join("tmp"))
            .expect("tmp")
            .count(),
        0,
        "the unlisted part 1 was removed too"
    );
}

#[tokio::test]
async fn a_new_items_bucket_appears_only_after_the_task_delay() {
    let env = start_with(|c| {
        c.min_part_size = 1;
        c.faults.task_delay = Duration::from_millis(600);
    })
    .await;
    // Without auto-make-bucket a missing item is refused at once.
    expect_error(
        create_call(&env, "/lateitem1/a.bin", &[]).await,
        404,
        "NoSuchBucket",
    )
    .await;
    let path = "/lateitem1/a.bin";
    let upload = create(
        &env,
        path,
        &[
            ("x-archive-auto-make-bucket", "1"),
            ("x-archive-meta-title", "Late"),
        ],
    )
    .await;
    let head = env
        .client
        .head(env.url("/lateitem1"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status().as_u16(), 404);
    let get = env
        .client
        .get(env.url("/lateitem1"))
        .send()
        .await
        .expect("GET");
    expect_error(get, 404, "NoSuchBucket").await;
    expect_error(
        part(&env, path, &upload, 1, b"early").await,
        404,
        "NoSuchBucket",
    )
    .await;
    // The upload is known meanwhile.
    let resp = env
        .client
        .get(env.url("/lateitem1?uploads"))
        .header("authorization", auth())
        .send()
        .await
        .expect("sent");
    assert!(resp.text().await.expect("body").contains(&upload));

    tokio::time::sleep(Duration::from_millis(800)).await;
    let head = env
        .client
        .head(env.url("/lateitem1"))
        .send()
        .await
        .expect("HEAD");
    assert_eq!(head.status().as_u16(), 200, "the bucket appeared by itself");
    assert_eq!(
        env.emu.item("lateitem1").expect("item").metadata["title"],
        json!("Late")
    );
    part_ok(&env, path, &upload, 1, b"on time").await;
    let body = complete_body(&[(1, md5_hex(b"on time"))]);
    assert_eq!(
        complete(&env, path, &upload, body).await.status().as_u16(),
        200
    );
}

#[tokio::test]
async fn complete_slowdowns_refuse_the_first_complete_calls_of_each_upload() {
    let env = start_with(|c| {
        c.min_part_size = 1;
        c.faults.complete_slowdowns = 2;
    })
    .await;
    let path = "/myitem1/s.bin";
    let upload = create(&env, path, &[("x-archive-auto-make-bucket", "1")]).await;
    part_ok(&env, path, &upload, 1, b"slow").await;
    let body = complete_body(&[(1, md5_hex(b"slow"))]);
    for _ in 0..2 {
        let resp = complete(&env, path, &upload, body.clone()).await;
        expect_error(resp, 503, "SlowDown").await;
    }
    assert!(env.emu.item("myitem1").expect("item").files.is_empty());
    assert_eq!(
        complete(&env, path, &upload, body).await.status().as_u16(),
        200
    );
    let faults: Vec<Option<String>> = env
        .emu
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("uploadId="))
        .map(|r| r.fault.clone())
        .collect();
    assert_eq!(
        faults,
        vec![
            Some("complete-slowdown".to_string()),
            Some("complete-slowdown".to_string()),
            None
        ]
    );
}

#[tokio::test]
async fn a_slowdown_strikes_a_part_and_its_retry_lands() {
    let env = small_parts().await;
    let path = "/myitem1/f.bin";
    let upload = create(&env, path, &[("x-archive-auto-make-bucket", "1")]).await;
    env.emu.set_faults(Faults {
        slowdown_rate: 1.0,
        ..Faults::default()
    });
    expect_error(part(&env, path, &upload, 1, b"data").await, 503, "SlowDown").await;
    env.emu.set_faults(Faults::default());
    part_ok(&env, path, &upload, 1, b"data").await;
    let records = env.emu.requests();
    let parts: Vec<_> = records.iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(parts[0].fault.as_deref(), Some("slowdown:overload"));
    assert_eq!(parts[1].fault, None);

    // At a rate below 1 each part's fate is its own: decided per part number.
    env.emu.set_faults(Faults {
        slowdown_rate: 0.5,
        ..Faults::default()
    });
    let mut struck = Vec::new();
    for n in 1..=12u32 {
        struck.push(part(&env, path, &upload, n, b"p").await.status().as_u16() == 503);
    }
    assert!(
        struck.contains(&true) && struck.contains(&false),
        "{struck:?}"
    );
}

/// A part refused under `Expect: 100-continue` (bad auth, SlowDown, unknown upload) is answered
/// before its body: the log counts 0 body bytes.
#[tokio::test]
async fn a_refused_part_with_expect_continue_reads_no_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("requests.jsonl");
    let log_path = log.clone();
    let env = start_with(move |c| c.log = Some(log_path)).await;
    let upload = create(
        &env,
        "/myitem1/big.bin",
        &[("x-archive-auto-make-bucket", "1")],
    )
    .await;
    let head = |authorization: &str, upload: &str| {
        format!(
            "PUT /myitem1/big.bin?partNumber=1&uploadId={upload} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {authorization}\r\nExpect: 100-continue\r\nContent-Length: 1073741824\r\n\r\n"
        )
    };
    let mut conn = raw_connect(&env).await;
    raw_send(&mut conn, head("LOW nobody:nothing", &upload).as_bytes()).await;
    let resp = read_response(&mut conn).await.expect("answer");
    assert_eq!(
        (resp.status, xml_code(&resp.text())),
        (403, "AccessDenied".into())
    );

    let mut conn = raw_connect(&env).await;
    raw_send(&mut conn, head(&auth(), "unknown").as_bytes()).await;
    let resp = read_response(&mut conn).await.expect("answer");
    assert_eq!(
        (resp.status, xml_code(&resp.text())),
        (404, "NoSuchUpload".into())
    );

    env.emu.set_faults(Faults {
        slowdown_rate: 1.0,
        ..Faults::default()
    });
    let mut conn = raw_connect(&env).await;
    raw_send(&mut conn, head(&auth(), &upload).as_bytes()).await;
    let resp = read_response(&mut conn).await.expect("answer");
    assert_eq!(
        (resp.status, xml_code(&resp.text())),
        (503, "SlowDown".into())
    );

    let text = std::fs::read_to_string(&log).expect("log written");
    let parts: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .filter(|l: &serde_json::Value| l["method"] == json!("PUT"))
        .collect();
    assert_eq!(parts.len(), 3);
    for p in &parts {
        assert_eq!(p["body_size"], json!(0), "{p}");
    }
    assert_eq!(parts[2]["fault"], json!("slowdown:overload"));
}
