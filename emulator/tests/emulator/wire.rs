//! What only raw bytes can show: absolute-form request lines (what `ia` sends through
//! HTTP_PROXY), keep-alive, Host routing, missing Content-Length, short bodies, and
//! `Expect: 100-continue` refusals that spare the body.

use std::io::{Read, Write};

use ias3_emulator::{Config, Emulator};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::common::*;

#[tokio::test]
async fn absolute_form_requests_on_one_keep_alive_connection() {
    let env = start().await;
    let mut conn = raw_connect(&env).await;
    let put = format!(
        "PUT http://s3.us.archive.org/proxied1/hello.txt HTTP/1.1\r\nHost: s3.us.archive.org\r\nAuthorization: {}\r\nx-archive-auto-make-bucket: 1\r\nx-archive-meta00-title: Via proxy\r\nContent-Length: 5\r\n\r\nhello",
        auth()
    );
    raw_send(&mut conn, put.as_bytes()).await;
    let resp = read_response(&mut conn).await.expect("PUT answer");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        resp.header("etag"),
        Some(format!("\"{}\"", md5_hex(b"hello")).as_str())
    );

    // The archive.org face, by host, on the same connection.
    raw_send(
        &mut conn,
        b"GET http://archive.org/metadata/proxied1 HTTP/1.1\r\nHost: archive.org\r\n\r\n",
    )
    .await;
    let resp = read_response(&mut conn).await.expect("GET answer");
    assert_eq!(resp.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&resp.body).expect("json");
    assert_eq!(doc["metadata"]["title"], json!("Via proxy"));

    // A third request, still the same connection.
    raw_send(
        &mut conn,
        b"GET http://s3.us.archive.org/proxied1/hello.txt HTTP/1.1\r\nHost: s3.us.archive.org\r\n\r\n",
    )
    .await;
    let resp = read_response(&mut conn).await.expect("GET answer");
    assert_eq!(
        (resp.status, resp.body.as_slice()),
        (200, b"hello".as_slice())
    );

    let records = env.emu.requests();
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].path, "/proxied1/hello.txt");
    assert_eq!(records[0].host.as_deref(), Some("s3.us.archive.org"));
    assert_eq!(records[1].host.as_deref(), Some("archive.org"));
}

#[tokio::test]
async fn an_archive_org_host_header_routes_to_the_archive_face() {
    let env = start().await;
    let mut conn = raw_connect(&env).await;
    // An item named "services" would be an S3 path; the Host says archive.org.
    raw_send(
        &mut conn,
        format!(
            "GET /services/user.php?op=whoami HTTP/1.1\r\nHost: archive.org\r\nAuthorization: {}\r\n\r\n",
            auth()
        )
        .as_bytes(),
    )
    .await;
    let resp = read_response(&mut conn).await.expect("answer");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert!(resp.text().contains("\"username\""));
}

#[tokio::test]
async fn missing_content_length_is_411() {
    let env = start().await;
    let mut conn = raw_connect(&env).await;
    raw_send(
        &mut conn,
        format!(
            "PUT /myitem1/a.txt HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\nx-archive-auto-make-bucket: 1\r\n\r\n",
            auth()
        )
        .as_bytes(),
    )
    .await;
    let resp = read_response(&mut conn).await.expect("answer");
    assert_eq!(resp.status, 411);
    assert_eq!(xml_code(&resp.text()), "MissingContentLength");
}

#[tokio::test]
async fn a_short_body_is_incomplete_and_not_stored() {
    let env = start().await;
    let mut conn = raw_connect(&env).await;
    raw_send(
        &mut conn,
        format!(
            "PUT /myitem1/a.txt HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\nx-archive-auto-make-bucket: 1\r\nContent-Length: 100\r\n\r\n{}",
            auth(),
            "x".repeat(50)
        )
        .as_bytes(),
    )
    .await;
    conn.get_mut().shutdown().await.expect("half-close");
    let resp = read_response(&mut conn).await.expect("answer");
    assert_eq!(resp.status, 400);
    assert_eq!(xml_code(&resp.text()), "IncompleteBody");
    assert!(env.emu.item("myitem1").is_none());
    let record = env.emu.requests().pop().expect("recorded");
    assert_eq!((record.status, record.body_size), (400, 50));
}

#[tokio::test]
async fn expect_continue_gets_the_refusal_before_the_body() {
    let env = start().await;
    let mut conn = raw_connect(&env).await;
    raw_send(
        &mut conn,
        b"PUT /myitem1/big.bin HTTP/1.1\r\nHost: localhost\r\nAuthorization: LOW nobody:nothing\r\nExpect: 100-continue\r\nContent-Length: 1000000000\r\n\r\n",
    )
    .await;
    // No body sent at all: the answer must still come.
    let resp = read_response(&mut conn).await.expect("answer");
    assert_eq!(resp.status, 403);
    assert_eq!(xml_code(&resp.text()), "AccessDenied");
}

/// A PUT refused before its body (bad auth: 403; a SlowDown fault: 503) under
/// `Expect: 100-continue` is answered without the body, and the log counts 0 body bytes.
#[tokio::test]
async fn refused_expect_continue_puts_cost_no_body_bytes_in_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("requests.jsonl");
    let log_path = log.clone();
    let env = start_with(move |c| c.log = Some(log_path)).await;
    let head = |authorization: &str| {
        format!(
            "PUT /myitem1/big.bin HTTP/1.1\r\nHost: localhost\r\nAuthorization: {authorization}\r\nx-archive-auto-make-bucket: 1\r\nExpect: 100-continue\r\nContent-Length: 1073741824\r\n\r\n"
        )
    };
    let mut conn = raw_connect(&env).await;
    raw_send(&mut conn, head("LOW nobody:nothing").as_bytes()).await;
    let resp = read_response(&mut conn).await.expect("answer");
    assert_eq!(
        (resp.status, xml_code(&resp.text())),
        (403, "AccessDenied".to_string())
    );

    env.emu.set_faults(ias3_emulator::Faults {
        slowdown_rate: 1.0,
        ..ias3_emulator::Faults::default()
    });
    let mut conn = raw_connect(&env).await;
    raw_send(&mut conn, head(&auth()).as_bytes()).await;
    let resp = read_response(&mut conn).await.expect("answer");
    assert_eq!(
        (resp.status, xml_code(&resp.text())),
        (503, "SlowDown".to_string())
    );

    let text = std::fs::read_to_string(&log).expect("log written");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["status"].clone(), lines[0]["body_size"].clone()),
        (json!(403), json!(0))
    );
    assert_eq!(
        (lines[1]["status"].clone(), lines[1]["body_size"].clone()),
        (json!(503), json!(0))
    );
    assert_eq!(lines[1]["fault"], json!("slowdown:overload"));
    assert!(env.emu.item("myitem1").is_none());
}

/// `Emulator::spawn` serves from its own thread, for tests without a runtime, and stops on drop.
#[test]
fn spawned_emulator_serves_sync_tests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = Emulator::spawn(Config::new(dir.path(), KEY, SECRET)).expect("spawn");
    let addr = emu.addr();
    assert!(emu.url().starts_with("http://127.0.0.1:"));
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .write_all(b"GET /metadata/none HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("{}"), "{text}");
    drop(emu);
    // After drop nothing listens any more.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

/// A client that vanishes mid-body leaves neither a file nor a temp file behind.
#[tokio::test]
async fn a_vanished_client_leaves_nothing_behind() {
    let env = start().await;
    let mut conn = raw_connect(&env).await;
    raw_send(
        &mut conn,
        format!(
            "PUT /myitem1/a.bin HTTP/1.1\r\nHost: localhost\r\nAuthorization: {}\r\nx-archive-auto-make-bucket: 1\r\nContent-Length: 1000000\r\n\r\n{}",
            auth(),
            "x".repeat(10_000)
        )
        .as_bytes(),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(conn);
    let tmp = env.dir.path().join("data").join("tmp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read_dir(&tmp).expect("tmp").count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "temp file left behind"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(env.emu.item("myitem1").is_none());
}
