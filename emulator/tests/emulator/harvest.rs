//! The harvest side of the archive.org face: seeded items, the scrape API and
//! advancedsearch.php, downloads with Range, the data-node redirect, ZIP members, the Tasks
//! API, and the GET faults.

use std::io::Write;
use std::time::Duration;

use ias3_emulator::{Faults, SeedFile};
use serde_json::{json, Value};

use crate::common::*;

/// `n` items `bio_000`.. in collection `biodiversity`, one a day from 2008-06-01 (the last
/// `oai_updatedate` moves one day per item), and one item outside it.
fn seed_collection(env: &Env, n: usize) {
    for i in 0..n {
        let day = format!("2008-{:02}-{:02}", 6 + i / 30, 1 + i % 30);
        env.emu
            .seed_item(
                &format!("bio_{i:03}"),
                json!({
                    "collection": ["biodiversity", "americana"],
                    "title": format!("Volume {i}"),
                    "oai_updatedate": ["2007-01-01T00:00:00Z", format!("{day}T12:00:00Z")],
                }),
                vec![],
            )
            .expect("seed");
    }
    env.emu
        .seed_item(
            "other_item",
            json!({"collection": "nasa", "oai_updatedate": "2008-06-05T00:00:00Z"}),
            vec![],
        )
        .expect("seed");
}

async fn scrape(env: &Env, params: &[(&str, &str)]) -> (u16, Value) {
    let resp = env
        .client
        .post(env.url("/services/search/v1/scrape"))
        .query(params)
        .send()
        .await
        .expect("scrape sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON"))
}

#[tokio::test]
async fn scrape_pages_with_a_cursor_until_it_is_absent() {
    let env = start().await;
    seed_collection(&env, 250);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let mut params = vec![("q", "collection:biodiversity"), ("count", "100")];
        if let Some(c) = &cursor {
            params.push(("cursor", c));
        }
        let (status, page) = scrape(&env, &params).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], json!(250));
        let items = page["items"].as_array().expect("items");
        assert_eq!(page["count"], json!(items.len()));
        pages.push(items.len());
        for item in items {
            assert_eq!(item.as_object().map(|o| o.len()), Some(1), "{item}");
            seen.push(item["identifier"].as_str().expect("id").to_string());
        }
        match page.get("cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, [100, 100, 50]);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "sorted by identifier, no repeats");
    assert_eq!(seen.len(), 250);

    // IA's minimum page is 100; total_only answers the count alone.
    let (_, page) = scrape(&env, &[("q", "collection:biodiversity"), ("count", "5")]).await;
    assert_eq!(page["count"], json!(100));
    let (_, total) = scrape(&env, &[("q", "*:*"), ("total_only", "true")]).await;
    assert_eq!(total, json!({"total": 251}));
}

#[tokio::test]
async fn scrape_answers_the_seed_query_with_fields_and_sorts() {
    let env = start().await;
    seed_collection(&env, 40);
    let q = "collection:biodiversity AND oai_updatedate:[2008-06-01 TO 2008-06-13]";
    let (status, page) = scrape(
        &env,
        &[
            ("q", q),
            ("fields", "title,oai_updatedate"),
            ("sorts", "title desc"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total"], json!(13), "13 days, both ends included");
    let items = page["items"].as_array().expect("items");
    assert_eq!(
        items[0]["title"],
        json!("Volume 9"),
        "text sort, descending"
    );
    assert!(items[0]["oai_updatedate"].is_array());
    assert!(page.get("cursor").is_none());
    let (status, bad) = scrape(&env, &[("q", "collection:(biodiversity")]).await;
    assert_eq!(status, 400);
    assert!(bad["error"]
        .as_str()
        .is_some_and(|e| e.contains("Invalid query")));
    let (status, bad) = scrape(&env, &[("q", "*:*"), ("sorts", "oai_updatedate desc")]).await;
    assert_eq!(status, 400);
    assert_eq!(
        bad["error"],
        json!("sort field 'oai_updatedate' is not a valid search field")
    );
}

#[tokio::test]
async fn advancedsearch_answers_one_page_in_solr_shape() {
    let env = start().await;
    seed_collection(&env, 30);
    let (status, body) = env
        .get_json(
            "/advancedsearch.php?q=collection%3Abiodiversity&fl%5B%5D=identifier&fl%5B%5D=title\
             &sort%5B%5D=identifier+desc&rows=10&page=2&output=json",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["responseHeader"]["status"], json!(0));
    assert_eq!(body["response"]["numFound"], json!(30));
    assert_eq!(body["response"]["start"], json!(10));
    let docs = body["response"]["docs"].as_array().expect("docs");
    assert_eq!(docs.len(), 10);
    assert_eq!(
        docs[0],
        json!({"identifier": "bio_019", "title": "Volume 19"})
    );
}

#[tokio::test]
async fn seeded_items_list_what_downloaders_read() {
    let env = start().await;
    env.emu
        .seed_item(
            "seeded1",
            json!({"title": "Seeded", "collection": "test_collection"}),
            vec![
                SeedFile::original("scan 1.jpg", b"jpeg bytes".to_vec()).mtime(1_200_000_000),
                SeedFile::derivative("scan 1_thumb.jpg", b"thumb".to_vec(), "scan 1.jpg"),
                SeedFile::metadata("seeded1_marc.xml", b"<record/>".to_vec()),
                SeedFile::original("secret.pdf", b"%PDF".to_vec()).private(),
            ],
        )
        .expect("seed");
    let (_, doc) = env.get_json("/metadata/seeded1").await;
    let host = env.emu.addr().to_string();
    assert_eq!(doc["server"], json!(host));
    assert_eq!(doc["workable_servers"], json!([host]));
    assert_eq!(doc["dir"], json!("/0/items/seeded1"));
    assert!(doc.get("tasks").is_none());
    let files = doc["files"].as_array().expect("files");
    assert_eq!(doc["files_count"], json!(6));
    let by_name = |n: &str| files.iter().find(|f| f["name"] == json!(n)).cloned();
    let scan = by_name("scan 1.jpg").expect("scan");
    assert_eq!(
        scan,
        json!({
            "name": "scan 1.jpg", "source": "original", "mtime": "1200000000", "size": "10",
            "md5": md5_hex(b"jpeg bytes"), "crc32": crc32_hex(b"jpeg bytes"),
            "sha1": sha1_hex(b"jpeg bytes"), "format": "JPEG",
        })
    );
    let thumb = by_name("scan 1_thumb.jpg").expect("thumb");
    assert_eq!(thumb["source"], json!("derivative"));
    assert_eq!(thumb["original"], json!("scan 1.jpg"));
    assert_eq!(
        by_name("seeded1_marc.xml").expect("marc")["format"],
        json!("Metadata")
    );
    assert_eq!(
        by_name("secret.pdf").expect("pdf")["private"],
        json!("true")
    );
    let files_xml = by_name("seeded1_files.xml").expect("files.xml");
    assert_eq!(files_xml["summation"], json!("md5"));
    assert!(files_xml.get("size").is_none());

    // Private: 403 to anyone, the bytes to the owner.
    let resp = env
        .client
        .get(env.url("/download/seeded1/secret.pdf"))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 403);
    let resp = env
        .client
        .get(env.url("/download/seeded1/secret.pdf"))
        .header("authorization", auth())
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn uploaded_files_get_sha1_and_crc32_when_listed() {
    let env = start().await;
    env.put("/upl1/a.txt", "hello", &[]).await;
    let (_, doc) = env.get_json("/metadata/upl1").await;
    let files = doc["files"].as_array().expect("files");
    let a = files
        .iter()
        .find(|f| f["name"] == json!("a.txt"))
        .expect("a");
    assert_eq!(a["sha1"], json!(sha1_hex(b"hello")));
    assert_eq!(a["crc32"], json!(crc32_hex(b"hello")));
}

fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(data))
}

fn crc32_hex(data: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(data))
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn body_of(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn downloads_answer_ranges_heads_and_odd_names() {
    let env = start().await;
    let data = body_of(1000);
    let name = "dir/sp ace#?é.bin";
    env.emu
        .seed_item(
            "dl1",
            json!({}),
            vec![SeedFile::original(name, data.clone()).mtime(1_300_000_000)],
        )
        .expect("seed");
    let url = env.url("/download/dl1/dir/sp%20ace%23%3F%C3%A9.bin?cnt=0");
    let get = |range: Option<&str>| {
        let mut req = env.client.get(&url);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        req.send()
    };
    let resp = get(None).await.expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(&resp, "accept-ranges"), "bytes");
    assert_eq!(header(&resp, "etag"), format!("\"{}\"", md5_hex(&data)));
    assert_eq!(
        header(&resp, "last-modified"),
        "Sun, 13 Mar 2011 07:06:40 GMT"
    );
    assert_eq!(header(&resp, "content-length"), "1000");
    assert_eq!(resp.bytes().await.expect("body").to_vec(), data);

    let resp = get(Some("bytes=100-199")).await.expect("GET");
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(header(&resp, "content-range"), "bytes 100-199/1000");
    assert_eq!(header(&resp, "content-length"), "100");
    assert_eq!(resp.bytes().await.expect("body").to_vec(), data[100..200]);

    let resp = get(Some("bytes=900-")).await.expect("GET");
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(header(&resp, "content-range"), "bytes 900-999/1000");
    assert_eq!(resp.bytes().await.expect("body").to_vec(), data[900..]);

    let resp = get(Some("bytes=1000-")).await.expect("GET");
    assert_eq!(resp.status().as_u16(), 416);
    assert_eq!(header(&resp, "content-range"), "bytes */1000");

    let resp = env.client.head(&url).send().await.expect("HEAD");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(header(&resp, "content-length"), "1000");

    let resp = env
        .client
        .get(env.url("/download/dl1/nope.bin"))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 404);
    let resp = env
        .client
        .get(env.url("/download/nosuch/a"))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 404);
}

fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in members {
            zip.start_file(*name, options).expect("member");
            zip.write_all(data).expect("write");
        }
        zip.finish().expect("finish");
    }
    buf.into_inner()
}

#[tokio::test]
async fn zip_members_are_served_directly_or_through_view_archive() {
    for redirect in [false, true] {
        let env = start_with(|c| c.download_redirect = redirect).await;
        let zip = zip_of(&[("pics/1.jpg", b"one"), ("notes.txt", b"notes")]);
        env.emu
            .seed_item(
                "zipped",
                json!({}),
                vec![SeedFile::original("set.zip", zip)],
            )
            .expect("seed");
        let client = no_redirect_client();
        let mut resp = client
            .get(env.url("/download/zipped/set.zip/pics%2F1.jpg"))
            .send()
            .await
            .expect("GET");
        if redirect {
            assert_eq!(resp.status().as_u16(), 302);
            let location = header(&resp, "location");
            assert_eq!(
                location,
                env.url(
                    "/view_archive.php?archive=%2F0%2Fitems%2Fzipped%2Fset.zip&file=pics%2F1.jpg"
                )
            );
            resp = client.get(location).send().await.expect("GET");
        }
        assert_eq!(resp.status().as_u16(), 200, "redirect {redirect}");
        assert_eq!(resp.bytes().await.expect("body").as_ref(), b"one");
        let resp = client
            .get(env.url("/download/zipped/set.zip/pics/1.jpg"))
            .header("range", "bytes=1-")
            .send()
            .await
            .expect("GET");
        if !redirect {
            assert_eq!(resp.status().as_u16(), 206);
            assert_eq!(resp.bytes().await.expect("body").as_ref(), b"ne");
        }
        let resp = env
            .client
            .get(env.url("/download/zipped/set.zip/missing.txt"))
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status().as_u16(), 404);
        let listing = env
            .client
            .get(env.url("/view_archive.php?archive=/0/items/zipped/set.zip"))
            .send()
            .await
            .expect("GET")
            .text()
            .await
            .expect("text");
        assert!(
            listing.contains("/download/zipped/set.zip/pics/1.jpg"),
            "{listing}"
        );
    }
}

#[tokio::test]
async fn download_redirect_points_at_the_data_node_path() {
    let env = start_with(|c| c.download_redirect = true).await;
    env.emu
        .seed_item(
            "red1",
            json!({}),
            vec![SeedFile::original("a b.txt", b"abc".to_vec())],
        )
        .expect("seed");
    let client = no_redirect_client();
    let resp = client
        .get(env.url("/download/red1/a%20b.txt?cnt=0"))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 302);
    let location = header(&resp, "location");
    assert_eq!(location, env.url("/0/items/red1/a%20b.txt"));
    let resp = client
        .get(&location)
        .header("range", "bytes=1-")
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 206);
    assert_eq!(resp.bytes().await.expect("body").as_ref(), b"bc");
    // reqwest follows it by default.
    let body = env
        .client
        .get(env.url("/download/red1/a%20b.txt"))
        .send()
        .await
        .expect("GET");
    assert_eq!(body.bytes().await.expect("body").as_ref(), b"abc");
}

async fn tasks(env: &Env, query: &str) -> (u16, String) {
    let resp = env
        .client
        .get(env.url(&format!("/services/tasks.php?{query}")))
        .header("authorization", auth())
        .send()
        .await
        .expect("GET");
    (resp.status().as_u16(), resp.text().await.expect("text"))
}

#[tokio::test]
async fn tasks_list_queued_running_failed_and_finished_tasks() {
    let env = start_faults(Faults {
        task_delay: Duration::from_secs(30),
        ..Faults::default()
    })
    .await;
    env.put("/tk1/a.txt", "a", &[("x-archive-queue-derive", "0")])
        .await;
    env.put("/tk1/b.txt", "b", &[("x-archive-queue-derive", "0")])
        .await;
    let failed = env
        .emu
        .seed_task(
            "tk1",
            "book_op.php",
            json!({"op": "x"}),
            Duration::ZERO,
            true,
        )
        .expect("task");
    let done = env
        .emu
        .seed_task("tk1", "derive.php", json!({}), Duration::ZERO, false)
        .expect("task");
    let (status, text) = tasks(&env, "identifier=tk1&summary=1&catalog=1&history=1").await;
    assert_eq!(status, 200, "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["success"], json!(true));
    let value = &body["value"];
    assert_eq!(
        value["summary"],
        json!({"queued": 1, "running": 1, "error": 1, "paused": 0})
    );
    let catalog = value["catalog"].as_array().expect("catalog");
    let waits: Vec<(Value, Value)> = catalog
        .iter()
        .map(|t| (t["cmd"].clone(), t["wait_admin"].clone()))
        .collect();
    assert_eq!(
        waits,
        [
            (json!("book_op.php"), json!(2)),
            (json!("archive.php"), json!(0)),
            (json!("archive.php"), json!(1)),
        ],
        "newest first"
    );
    let first = &catalog[0];
    assert_eq!(first["task_id"], json!(failed));
    assert_eq!(first["identifier"], json!("tk1"));
    assert_eq!(first["submitter"], json!("user@example.com"));
    assert_eq!(first["args"], json!({"op": "x"}));
    assert!(first["submittime"].as_str().is_some_and(|s| s.len() == 19));
    let history = value["history"].as_array().expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["task_id"], json!(done));
    assert!(history[0].get("finished").is_some());

    // What `ia tasks ID` asks for: JSON lines, each with its category.
    let (_, lines) = tasks(&env, "identifier=tk1&catalog=1&history=1&limit=0&summary=0").await;
    let rows: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("line"))
        .collect();
    let categories: Vec<&str> = rows.iter().filter_map(|r| r["category"].as_str()).collect();
    assert_eq!(categories, ["catalog", "catalog", "catalog", "history"]);

    let (_, summary) = tasks(&env, "identifier=tk1&summary=1&catalog=0&history=0").await;
    let summary: Value = serde_json::from_str(&summary).expect("JSON");
    assert!(summary["value"].get("catalog").is_none());
    assert_eq!(summary["value"]["summary"]["error"], json!(1));

    let resp = env
        .client
        .get(env.url("/services/tasks.php?identifier=tk1"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        resp.status().as_u16(),
        401,
        "the Tasks API needs IA-S3 keys"
    );
}

#[tokio::test]
async fn task_error_rate_fails_the_tasks_of_an_upload() {
    let env = start_faults(Faults {
        task_error_rate: 1.0,
        ..Faults::default()
    })
    .await;
    env.put("/tkerr/a.txt", "a", &[]).await;
    let (_, text) = tasks(&env, "identifier=tkerr&catalog=1&history=0").await;
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        body["value"]["summary"]["error"],
        json!(2),
        "archive and derive"
    );
    let item = env.emu.item("tkerr").expect("item");
    assert!(item.tasks.iter().all(|t| t.error));
}

#[tokio::test]
async fn get_faults_reset_corrupt_and_refuse() {
    let data = body_of(64 * 1024);
    let seed = |env: &Env| {
        env.emu
            .seed_item(
                "gf1",
                json!({}),
                vec![SeedFile::original("big.bin", data.clone())],
            )
            .expect("seed")
    };
    // Every GET resets half-way through what it sends: resuming with Range gets there.
    let env = start_faults(Faults {
        get_reset_rate: 1.0,
        ..Faults::default()
    })
    .await;
    seed(&env);
    let mut got: Vec<u8> = Vec::new();
    let mut attempts = 0;
    while got.len() < data.len() && attempts < 40 {
        attempts += 1;
        let resp = env
            .client
            .get(env.url("/download/gf1/big.bin"))
            .header("range", format!("bytes={}-", got.len()))
            .send()
            .await;
        let Ok(mut resp) = resp else { continue };
        while let Ok(Some(chunk)) = resp.chunk().await {
            got.extend_from_slice(&chunk);
        }
    }
    assert_eq!(got, data, "resumed to the end in {attempts} attempts");
    assert!(attempts > 2);
    let records = env.emu.requests();
    assert!(records
        .iter()
        .any(|r| r.faults.contains(&"get-reset".to_string())));

    let env = start_faults(Faults {
        get_corrupt_rate: 1.0,
        ..Faults::default()
    })
    .await;
    seed(&env);
    let resp = env
        .client
        .get(env.url("/download/gf1/big.bin"))
        .send()
        .await
        .expect("GET");
    let etag = header(&resp, "etag");
    let body = resp.bytes().await.expect("body");
    assert_eq!(body.len(), data.len());
    assert_eq!(
        etag,
        format!("\"{}\"", md5_hex(&data)),
        "the ETag is the true file's"
    );
    assert_ne!(md5_hex(&body), md5_hex(&data), "the bytes are not");

    let env = start_faults(Faults {
        get_error_rate: 1.0,
        retry_after: Some(3),
        ..Faults::default()
    })
    .await;
    seed(&env);
    let resp = env
        .client
        .get(env.url("/download/gf1/big.bin"))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(header(&resp, "retry-after"), "3");
}
