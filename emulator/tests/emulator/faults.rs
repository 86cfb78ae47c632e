//! Every fault flag: SlowDown of each kind (with and without Retry-After) and check_limit,
//! simulated errors, resets, 500s, fail-first, metadata errors, latency, connect delay,
//! bandwidth, stalls, task delay, determinism under a seed, and the JSON request log.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ias3_emulator::{Faults, SlowDownKind};
use serde_json::json;

use crate::common::*;

fn slowdown(kind: SlowDownKind, retry_after: Option<u64>) -> Faults {
    Faults {
        slowdown_rate: 1.0,
        slowdown_kind: kind,
        retry_after,
        ..Faults::default()
    }
}

#[tokio::test]
async fn slowdown_overload_with_and_without_retry_after() {
    let env = start_faults(slowdown(SlowDownKind::Overload, None)).await;
    let resp = env.put("/myitem1/a.txt", "x", &[]).await;
    assert!(resp.headers().get("retry-after").is_none());
    let body = expect_error(resp, 503, "SlowDown").await;
    assert_eq!(
        xml_tag(&body, "Message"),
        "Please reduce your request rate."
    );
    assert!(env.emu.item("myitem1").is_none());
    assert_eq!(
        env.emu.requests()[0].fault.as_deref(),
        Some("slowdown:overload")
    );

    env.emu
        .set_faults(slowdown(SlowDownKind::Overload, Some(7)));
    let resp = env.put("/myitem1/a.txt", "x", &[]).await;
    assert_eq!(resp.headers()["retry-after"], "7");
    expect_error(resp, 503, "SlowDown").await;
    // DELETE is throttled too.
    let resp = env.delete("/myitem1/a.txt", &[]).await;
    expect_error(resp, 503, "SlowDown").await;
}

#[tokio::test]
async fn slowdown_global_limit_shows_in_check_limit_then_clears() {
    let mut faults = slowdown(SlowDownKind::GlobalLimit, Some(2));
    faults.global_limit_ms = 300;
    let env = start_faults(faults).await;
    let check = format!("/?check_limit=1&accesskey={KEY}&bucket=myitem1");
    let (_, before) = env.get_json(&check).await;
    assert_eq!(before["over_limit"], json!(0));

    let resp = env.put("/myitem1/a.txt", "x", &[]).await;
    assert_eq!(resp.headers()["retry-after"], "2");
    let body = expect_error(resp, 503, "SlowDown").await;
    assert!(
        body.contains("total_tasks_queued exceeds global_limit"),
        "{body}"
    );

    let (_, during) = env.get_json(&check).await;
    assert_eq!(during["over_limit"], json!(1));
    assert_eq!(during["detail"]["limit_reason"], json!("global"));
    assert_eq!(during["detail"]["rationing_engaged"], json!(1));
    let d = &during["detail"];
    assert!(d["total_tasks_queued"].as_u64() > d["total_global_limit"].as_u64());

    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, after) = env.get_json(&check).await;
    assert_eq!(after["over_limit"], json!(0));
}

#[tokio::test]
async fn slowdown_spam_names_the_item_and_user() {
    let env = start_faults(slowdown(SlowDownKind::Spam, None)).await;
    let resp = env.put("/spamitem1/a.txt", "x", &[]).await;
    assert!(resp.headers().get("retry-after").is_none());
    let body = expect_error(resp, 503, "SlowDown").await;
    assert!(body.contains("appears to be spam"), "{body}");
    assert!(
        body.contains("Your upload of spamitem1 from username user@example.com"),
        "{body}"
    );
    assert_eq!(
        env.emu.requests()[0].fault.as_deref(),
        Some("slowdown:spam")
    );
}

#[tokio::test]
async fn simulate_error_header_works_without_faults() {
    let env = start().await;
    let resp = env
        .put(
            "/myitem1/a.txt",
            "x",
            &[("x-archive-simulate-error", "SlowDown")],
        )
        .await;
    let body = expect_error(resp, 503, "SlowDown").await;
    assert_eq!(
        xml_tag(&body, "Message"),
        "Please reduce your request rate."
    );
    let resp = env
        .put(
            "/myitem1/a.txt",
            "x",
            &[("x-archive-simulate-error", "InternalError")],
        )
        .await;
    expect_error(resp, 500, "InternalError").await;
    assert!(env.emu.item("myitem1").is_none());
    assert_eq!(
        env.emu.requests()[0].fault.as_deref(),
        Some("simulate-error:SlowDown")
    );
}

#[tokio::test]
async fn reset_aborts_the_connection_mid_body() {
    let env = start_faults(Faults {
        reset_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let body = vec![7u8; 4 << 20];
    let result = env.try_put("/myitem1/big.bin", body.clone()).await;
    let err = result.expect_err("a reset, not an answer");
    assert!(!err.is_status() && !err.is_timeout(), "{err:?}");
    assert!(env.emu.item("myitem1").is_none());
    let record = env.emu.requests().pop().expect("recorded");
    assert_eq!(record.status, 0);
    assert_eq!(record.fault.as_deref(), Some("reset"));
    assert!(
        record.body_size >= 2 << 20 && record.body_size < 4 << 20,
        "{}",
        record.body_size
    );

    env.emu.set_faults(Faults::default());
    let resp = env.put("/myitem1/big.bin", body, &[]).await;
    assert_eq!(resp.status().as_u16(), 200);
}

#[tokio::test]
async fn corrupt_rate_stores_damaged_bytes_under_their_own_etag() {
    let env = start_faults(Faults {
        corrupt_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let body = b"sent intact".to_vec();
    let resp = env.put("/myitem1/c.txt", body.clone(), &[]).await;
    assert_eq!(resp.status().as_u16(), 200, "a silent fault: answered 200");
    let etag = resp.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_owned();
    let mut damaged = body.clone();
    damaged[0] ^= 0xff;
    assert_eq!(etag, md5_hex(&damaged), "the ETag tells what was stored");
    assert_ne!(etag, md5_hex(&body));
    let item = env.emu.item("myitem1").unwrap();
    let stored = item.files.iter().find(|f| f.name == "c.txt").unwrap();
    assert_eq!(stored.md5, md5_hex(&damaged));
    assert_eq!(
        env.emu.requests().pop().unwrap().fault.as_deref(),
        Some("corrupt")
    );
    // With Content-MD5 the damage is refused instead of stored.
    let resp = env
        .put(
            "/myitem1/d.txt",
            body.clone(),
            &[("content-md5", &md5_hex(&body))],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn lose_answer_stores_the_file_then_resets() {
    let env = start_faults(Faults {
        lose_answer_rate: 1.0,
        ..Faults::default()
    })
    .await;
    let body = b"landed, unheard".to_vec();
    let result = env.try_put("/myitem1/l.txt", body.clone()).await;
    assert!(result.is_err(), "no answer: {result:?}");
    let item = env.emu.item("myitem1").expect("the file landed");
    let stored = item.files.iter().find(|f| f.name == "l.txt").unwrap();
    assert_eq!(stored.md5, md5_hex(&body));
    let record = env.emu.requests().pop().unwrap();
    assert_eq!(record.status, 0);
    assert_eq!(record.fault.as_deref(), Some("lose-answer"));
}

/// Issue 10, point 19: a request hit by several faults must name all of them, in the order they
/// struck (corruption on the first bytes, the stall half-way, then the lost answer), in the
/// record and the log.
#[tokio::test]
async fn a_request_hit_by_several_faults_names_them_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("requests.jsonl");
    let log_path = log.clone();
    let env = start_with(move |c| {
        c.log = Some(log_path);
        c.faults = Faults {
            stall: Some(Duration::from_millis(50)),
            corrupt_rate: 1.0,
            lose_answer_rate: 1.0,
            ..Faults::default()
        };
    })
    .await;
    let result = env.try_put("/myitem1/m.txt", vec![1u8; 1000]).await;
    assert!(result.is_err(), "no answer: {result:?}");
    let record = env.emu.requests().pop().expect("recorded");
    assert_eq!(record.faults, ["corrupt", "stall", "lose-answer"]);
    assert_eq!(record.fault.as_deref(), Some("corrupt,stall,lose-answer"));
    let text = std::fs::read_to_string(&log).expect("log written");
    let line: serde_json::Value =
        serde_json::from_str(text.lines().last().expect("a line")).expect("JSON line");
    assert_eq!(line["fault"], json!("corrupt,stall,lose-answer"));
    assert_eq!(line["faults"], json!(["corrupt", "stall", "lose-answer"]));

    // A reset cuts the body before any stall could happen: only what struck is named.
    env.emu.set_faults(Faults {
        reset_rate: 1.0,
        stall: Some(Duration::from_millis(50)),
        corrupt_rate: 1.0,
        ..Faults::default()
    });
    let result = env.try_put("/myitem1/n.txt", vec![1u8; 1000]).await;
    assert!(result.is_err(), "no answer: {result:?}");
    let record = env.emu.requests().pop().expect("recorded");
    assert_eq!(record.faults, ["corrupt", "reset"]);
    // The stall was not spent on that request: the key's one stall is still to come.
    env.emu.set_faults(Faults {
        stall: Some(Duration::from_millis(50)),
        ..Faults::default()
    });
    let resp = env.put("/myitem1/n.txt", vec![1u8; 1000], &[]).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        env.emu.requests().pop().expect("recorded").faults,
        ["stall"]
    );
    // No fault, no label.
    env.emu.set_faults(Faults::default());
    env.put("/myitem1/o.txt", "x", &[]).await;
    let record = env.emu.requests().pop().expect("recorded");
    assert!(record.faults.is_empty() && record.fault.is_none());
}

#[tokio::test]
async fn error_rate_answers_500() {
    let env = start_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    })
    .await;
    expect_error(
        env.put("/myitem1/a.txt", "x", &[]).await,
        500,
        "InternalError",
    )
    .await;
    expect_error(
        env.delete("/myitem1/a.txt", &[]).await,
        500,
        "InternalError",
    )
    .await;
    assert_eq!(env.emu.requests()[0].fault.as_deref(), Some("error-rate"));
}

#[tokio::test]
async fn fail_first_fails_each_key_n_times() {
    let env = start_faults(Faults {
        fail_first: 2,
        ..Faults::default()
    })
    .await;
    let mut statuses = Vec::new();
    for key in ["a.txt", "a.txt", "b.txt", "a.txt", "b.txt", "b.txt"] {
        statuses.push(
            env.put(&format!("/myitem1/{key}"), "x", &[])
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [500, 500, 500, 200, 500, 200]);
    let faults: Vec<Option<String>> = env.emu.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(faults[0].as_deref(), Some("fail-first"));
    assert_eq!(faults[3], None);
}

#[tokio::test]
async fn metadata_error_rate_fails_metadata_calls() {
    let env = start().await;
    env.put("/myitem1/a.txt", "x", &[]).await;
    env.emu.set_faults(Faults {
        metadata_error_rate: 1.0,
        ..Faults::default()
    });
    let (status, _) = env.get_json("/metadata/myitem1").await;
    assert_eq!(status, 500);
    let patch = r#"[{"op":"add","path":"/creator","value":"C"}]"#;
    let (status, _) = env
        .post_form(
            "/metadata/myitem1",
            &[("-patch", patch), ("access", KEY), ("secret", SECRET)],
        )
        .await;
    assert_eq!(status, 500);
    assert!(env
        .emu
        .item("myitem1")
        .expect("item")
        .metadata
        .get("creator")
        .is_none());
    // S3 is unaffected.
    assert_eq!(
        env.put("/myitem1/b.txt", "x", &[]).await.status().as_u16(),
        200
    );
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let env = start_faults(Faults {
        latency: Duration::from_millis(300),
        ..Faults::default()
    })
    .await;
    let t = Instant::now();
    env.get_json("/metadata/none").await;
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn connect_delay_costs_once_per_connection() {
    let env = start_faults(Faults {
        connect_delay: Duration::from_millis(400),
        ..Faults::default()
    })
    .await;
    let t = Instant::now();
    env.get_json("/metadata/none").await;
    let first = t.elapsed();
    let t = Instant::now();
    env.get_json("/metadata/none").await;
    let second = t.elapsed();
    assert!(first >= Duration::from_millis(400), "first {first:?}");
    assert!(
        second < Duration::from_millis(300),
        "kept-alive second {second:?}"
    );
}

#[tokio::test]
async fn bandwidth_caps_body_reading() {
    let env = start_faults(Faults {
        bandwidth: Some(256 * 1024),
        ..Faults::default()
    })
    .await;
    let t = Instant::now();
    let resp = env.put("/myitem1/a.bin", vec![1u8; 192 * 1024], &[]).await;
    assert_eq!(resp.status().as_u16(), 200);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(650),
        "192 KiB at 256 KiB/s took {took:?}"
    );
}

#[tokio::test]
async fn stall_pauses_a_key_once() {
    let env = start_faults(Faults {
        stall: Some(Duration::from_millis(600)),
        ..Faults::default()
    })
    .await;
    let t = Instant::now();
    assert_eq!(
        env.put("/myitem1/a.bin", vec![1u8; 100_000], &[])
            .await
            .status()
            .as_u16(),
        200
    );
    let first = t.elapsed();
    let t = Instant::now();
    assert_eq!(
        env.put("/myitem1/a.bin", vec![1u8; 100_000], &[])
            .await
            .status()
            .as_u16(),
        200
    );
    let second = t.elapsed();
    assert!(first >= Duration::from_millis(600), "first {first:?}");
    assert!(second < Duration::from_millis(500), "second {second:?}");
    let faults: Vec<Option<String>> = env.emu.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(faults, [Some("stall".to_string()), None]);
}

#[tokio::test]
async fn task_delay_hides_files_until_their_task_ran() {
    let env = start_faults(Faults {
        task_delay: Duration::from_millis(500),
        ..Faults::default()
    })
    .await;
    env.put("/myitem1/a.txt", "x", &[]).await;
    let (_, doc) = env.get_json("/metadata/myitem1").await;
    let names: Vec<&str> = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(!names.contains(&"a.txt"), "{names:?}");
    let cmds: BTreeSet<&str> = doc["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["cmd"].as_str())
        .collect();
    assert_eq!(cmds, BTreeSet::from(["archive.php", "derive.php"]));
    let (_, limit) = env
        .get_json("/?check_limit=1&bucket=myitem1&accesskey=x")
        .await;
    assert_eq!(limit["detail"]["bucket_tasks_queued"], json!(2));

    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, doc) = env.get_json("/metadata/myitem1").await;
    let names: Vec<&str> = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(
        names.contains(&"a.txt") && names.contains(&"a_derived.txt"),
        "{names:?}"
    );
    assert!(doc.get("tasks").is_none());
}

/// Which of 16 concurrent PUTs fail depends only on the seed, not on their interleaving.
async fn failing_keys(seed: u64) -> BTreeSet<String> {
    let env = start_with(|c| {
        c.seed = seed;
        c.faults.error_rate = 0.5;
    })
    .await;
    let puts = (0..16).map(|i| {
        let env = &env;
        async move {
            let status = env
                .put(&format!("/myitem1/k{i}"), "x", &[])
                .await
                .status()
                .as_u16();
            (i, status)
        }
    });
    futures::future::join_all(puts)
        .await
        .into_iter()
        .filter(|(_, s)| *s == 500)
        .map(|(i, _)| format!("k{i}"))
        .collect()
}

#[tokio::test]
async fn faults_are_deterministic_under_a_seed() {
    let a = failing_keys(42).await;
    let b = failing_keys(42).await;
    assert_eq!(a, b);
    assert!(!a.is_empty() && a.len() < 16, "{a:?}");
    let c = failing_keys(43).await;
    assert_ne!(a, c, "another seed, another pattern");
}

#[tokio::test]
async fn log_writes_json_lines_with_the_secret_masked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("requests.jsonl");
    let log_path = log.clone();
    let env = start_with(move |c| {
        c.log = Some(log_path);
        c.faults.fail_first = 1;
    })
    .await;
    env.put("/myitem1/a.txt", "hello", &[]).await;
    env.put("/myitem1/a.txt", "hello", &[]).await;
    env.get_json("/metadata/myitem1").await;
    let text = std::fs::read_to_string(&log).expect("log written");
    assert!(!text.contains(SECRET), "secret leaked into the log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 3);
    let put = &lines[1];
    assert_eq!(put["method"], json!("PUT"));
    assert_eq!(put["path"], json!("/myitem1/a.txt"));
    assert_eq!(put["status"], json!(200));
    assert_eq!(put["body_size"], json!(5));
    assert_eq!(put["body_md5"], json!(md5_hex(b"hello")));
    assert!(put["duration_ms"].is_u64());
    assert!(put["host"].is_string());
    let headers = put["headers"].as_array().expect("headers");
    assert!(
        headers.contains(&json!(["authorization", format!("LOW {KEY}:***")])),
        "{headers:?}"
    );
    assert_eq!(lines[0]["fault"], json!("fail-first"));
    assert_eq!(lines[0]["status"], json!(500));
    // The in-memory records are masked the same way.
    let record = &env.emu.requests()[1];
    assert!(record
        .headers
        .contains(&("authorization".to_string(), format!("LOW {KEY}:***"))));
}

#[tokio::test]
async fn requests_are_listed_in_arrival_order() {
    let env = start_faults(Faults {
        stall: Some(Duration::from_millis(400)),
        ..Faults::default()
    })
    .await;
    let slow = env.put("/myitem1/a.bin", vec![1u8; 10_000], &[]);
    let fast = async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        env.get_json("/metadata/none").await
    };
    let (resp, _) = tokio::join!(slow, fast);
    assert_eq!(resp.status().as_u16(), 200);
    let methods: Vec<String> = env.emu.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["PUT", "GET"]);
}

#[tokio::test]
async fn redirect_rate_answers_307_once_per_request() {
    let env = start_faults(Faults {
        redirect_rate: 1.0,
        ..Faults::default()
    })
    .await;
    // The test client follows the 307 (its body is replayable); the emulator saw both legs.
    let resp = env.put("/myitem1/a b.txt", "x", &[]).await;
    assert_eq!(resp.status().as_u16(), 200);
    let reqs = env.emu.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].status, 307);
    assert_eq!(reqs[0].fault.as_deref(), Some("redirect"));
    assert_eq!(reqs[1].status, 200);
    assert!(reqs[1].path.ends_with("?redirected=1"), "{}", reqs[1].path);
    let item = env.emu.item("myitem1").unwrap();
    assert!(item.files.iter().any(|f| f.name == "a b.txt"));
}
