//! The archive.org face: metadata read and write, login, whoami, downloads.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn metadata_of_a_missing_item_is_empty() {
    let env = start().await;
    let (status, body) = env.get_json("/metadata/nosuchitem").await;
    assert_eq!((status, body), (200, json!({})));
}

#[tokio::test]
async fn known_collections_exist_from_the_start() {
    let env = start().await;
    let (status, doc) = env.get_json("/metadata/opensource").await;
    assert_eq!(status, 200);
    assert_eq!(doc["metadata"]["mediatype"], json!("collection"));
    let (_, doc) = env.get_json("/metadata/no_such_collection").await;
    assert_eq!(doc, json!({}));
}

#[tokio::test]
async fn metadata_lists_files_like_ia() {
    let env = start().await;
    env.put("/myitem1/a.txt", "hello", &[("x-archive-meta-title", "T")])
        .await;
    let (status, doc) = env.get_json("/metadata/myitem1").await;
    assert_eq!(status, 200);
    for field in [
        "created",
        "d1",
        "dir",
        "files",
        "files_count",
        "item_last_updated",
        "item_size",
        "metadata",
        "server",
        "uniq",
        "workable_servers",
    ] {
        assert!(doc.get(field).is_some(), "{field} missing: {doc}");
    }
    assert!(
        doc.get("tasks").is_none(),
        "no pending tasks without a task delay"
    );
    assert_eq!(doc["metadata"]["title"], json!("T"));
    let files = doc["files"].as_array().expect("files");
    assert_eq!(doc["files_count"], json!(files.len()));
    let by_name = |n: &str| files.iter().find(|f| f["name"] == json!(n)).cloned();
    let a = by_name("a.txt").expect("a.txt");
    assert_eq!(a["source"], json!("original"));
    assert_eq!(a["size"], json!("5"), "size is a string, as IA sends it");
    assert_eq!(a["md5"], json!(md5_hex(b"hello")));
    assert_eq!(a["format"], json!("Text"));
    assert!(a["mtime"].is_string());
    let d = by_name("a_derived.txt").expect("derivative listed");
    assert_eq!(
        (d["source"].clone(), d["original"].clone()),
        (json!("derivative"), json!("a.txt"))
    );
    let meta = by_name("myitem1_meta.xml").expect("meta.xml");
    assert_eq!(meta["source"], json!("metadata"));
    let files_xml = by_name("myitem1_files.xml").expect("files.xml");
    assert_eq!(files_xml["source"], json!("metadata"));

    // Sub-paths answer {"result": ...}.
    let (_, sub) = env.get_json("/metadata/myitem1/metadata").await;
    assert_eq!(sub["result"]["title"], json!("T"));
    let (_, sub) = env.get_json("/metadata/myitem1/metadata/title").await;
    assert_eq!(sub, json!({"result": "T"}));

    // The generated meta.xml is served too.
    let xml = env
        .client
        .get(env.url("/myitem1/myitem1_meta.xml"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("xml");
    assert!(xml.contains("<title>T</title>"), "{xml}");
    // And downloads work on the archive face.
    let body = env
        .client
        .get(env.url("/download/myitem1/a.txt"))
        .send()
        .await
        .expect("GET");
    assert_eq!(body.text().await.expect("text"), "hello");
}

fn patch_form<'a>(patch: &'a str, target: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("-target", target),
        ("-patch", patch),
        ("priority", "-5"),
        ("access", KEY),
        ("secret", SECRET),
    ]
}

#[tokio::test]
async fn metadata_write_applies_json_patches() {
    let env = start().await;
    env.put("/myitem1/a.txt", "x", &[("x-archive-meta-title", "Old")])
        .await;
    let patch = r#"[{"op":"replace","path":"/title","value":"New"},{"op":"add","path":"/subject","value":["a","b"]}]"#;
    let (status, body) = env
        .post_form("/metadata/myitem1", &patch_form(patch, "metadata"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], json!(true));
    let task_id = body["task_id"].as_u64().expect("task_id");
    assert!(body["log"]
        .as_str()
        .expect("log")
        .ends_with(&format!("/log/{task_id}")));
    let m = env.emu.item("myitem1").expect("item").metadata;
    assert_eq!(m["title"], json!("New"));
    assert_eq!(m["subject"], json!(["a", "b"]));

    // The same patch again changes nothing.
    let patch = r#"[{"op":"replace","path":"/title","value":"New"}]"#;
    let (status, body) = env
        .post_form("/metadata/myitem1", &patch_form(patch, "metadata"))
        .await;
    assert_eq!(
        (status, body),
        (400, json!({"success": false, "error": "no changes made"}))
    );

    // Broken patches are 400 with an error.
    for bad in [
        "not json",
        r#"[{"op":"remove","path":"/nosuchfield"}]"#,
        r#"[{"op":"frobnicate"}]"#,
    ] {
        let (status, body) = env
            .post_form("/metadata/myitem1", &patch_form(bad, "metadata"))
            .await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["success"], json!(false));
        assert!(body["error"].is_string());
    }
    // The identifier cannot change.
    let patch = r#"[{"op":"replace","path":"/identifier","value":"other"}]"#;
    let (status, _) = env
        .post_form("/metadata/myitem1", &patch_form(patch, "metadata"))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn metadata_write_patches_file_metadata_and_multiple_targets() {
    let env = start().await;
    env.put("/myitem1/a.txt", "x", &[("x-archive-queue-derive", "0")])
        .await;
    let patch = r#"[{"op":"add","path":"/title","value":"File title"}]"#;
    let (status, body) = env
        .post_form("/metadata/myitem1", &patch_form(patch, "files/a.txt"))
        .await;
    assert_eq!(status, 200, "{body}");
    let item = env.emu.item("myitem1").expect("item");
    assert_eq!(item.files[0].metadata["title"], json!("File title"));
    // System fields of a file cannot be patched.
    let patch = r#"[{"op":"replace","path":"/md5","value":"0"}]"#;
    let (status, _) = env
        .post_form("/metadata/myitem1", &patch_form(patch, "files/a.txt"))
        .await;
    assert_eq!(status, 400);

    let changes = r#"[{"target":"metadata","patch":[{"op":"add","path":"/creator","value":"C"}]},{"target":"files/a.txt","patch":[{"op":"add","path":"/rotation","value":"90"}]}]"#;
    let (status, body) = env
        .post_form(
            "/metadata/myitem1",
            &[("-changes", changes), ("access", KEY), ("secret", SECRET)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let item = env.emu.item("myitem1").expect("item");
    assert_eq!(item.metadata["creator"], json!("C"));
    assert_eq!(item.files[0].metadata["rotation"], json!("90"));
}

#[tokio::test]
async fn metadata_write_needs_the_account() {
    let env = start().await;
    env.put("/myitem1/a.txt", "x", &[]).await;
    let patch = r#"[{"op":"add","path":"/creator","value":"C"}]"#;
    let (status, body) = env
        .post_form(
            "/metadata/myitem1",
            &[("-target", "metadata"), ("-patch", patch)],
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["success"], json!(false));
    let (status, body) = env
        .post_form(
            "/metadata/myitem1",
            &[
                ("-target", "metadata"),
                ("-patch", patch),
                ("access", KEY),
                ("secret", "wrong"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["success"], json!(false));
    assert!(env
        .emu
        .item("myitem1")
        .expect("item")
        .metadata
        .get("creator")
        .is_none());

    // LOW authorization works instead of form fields.
    let resp = env
        .client
        .post(env.url("/metadata/myitem1"))
        .header("authorization", auth())
        .form(&[("-target", "metadata"), ("-patch", patch)])
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status().as_u16(), 200);

    let (status, body) = env
        .post_form("/metadata/nosuchitem", &patch_form(patch, "metadata"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["success"], json!(false));
}

#[tokio::test]
async fn metadata_write_records_its_priority_and_refuses_a_non_integer() {
    let env = start_faults(ias3_emulator::Faults {
        task_delay: std::time::Duration::from_secs(60),
        ..Default::default()
    })
    .await;
    env.put("/myitem1/a.txt", "x", &[("x-archive-queue-derive", "0")])
        .await;
    let patch = r#"[{"op":"add","path":"/creator","value":"C"}]"#;
    let mut form = patch_form(patch, "metadata");
    form.retain(|(k, _)| *k != "priority");
    form.push(("priority", "3"));
    let (status, body) = env.post_form("/metadata/myitem1", &form).await;
    assert_eq!(status, 200, "{body}");
    let task_id = body["task_id"].as_u64().expect("task_id");
    // Pending tasks list it with its priority, as archive.org's metadata document does.
    let (_, doc) = env.get_json("/metadata/myitem1").await;
    let task = doc["tasks"]
        .as_array()
        .expect("tasks pending")
        .iter()
        .find(|t| t["task_id"] == json!(task_id))
        .expect("the metadata task is listed")
        .clone();
    assert_eq!(task["cmd"], json!("modify_xml.php"));
    assert_eq!(task["priority"], json!(3));
    let item = env.emu.item("myitem1").expect("item");
    let snap = item.tasks.last().expect("tasks");
    assert_eq!(
        (snap.id, snap.cmd.as_str(), snap.priority),
        (task_id, "modify_xml.php", 3)
    );
    assert_eq!(item.tasks[0].priority, 0, "upload tasks keep the default");

    for bad in ["high", "1.5", ""] {
        let mut form = patch_form(r#"[{"op":"add","path":"/x","value":"1"}]"#, "metadata");
        form.retain(|(k, _)| *k != "priority");
        form.push(("priority", bad));
        let (status, body) = env.post_form("/metadata/myitem1", &form).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(body["success"], json!(false));
        assert!(
            body["error"].as_str().expect("error").contains("priority"),
            "{body}"
        );
    }
    let item = env.emu.item("myitem1").expect("item");
    assert!(
        item.metadata.get("x").is_none(),
        "a refused write changes nothing"
    );
    assert_eq!(item.tasks.len(), 2, "and queues no task");
}

// Form fields are really decoded (`+` is a space, `%2B` a plus, `&` splits fields): a secret
// with form syntax in it authenticates when the client encodes it (iaup), not when it is
// appended raw (`ia`'s bug).
#[tokio::test]
async fn metadata_write_decodes_form_fields() {
    const ODD: &str = "k+e&y=v%2Fa l%ue";
    let env = start_with(|c| c.secret_key = ODD.into()).await;
    let resp = env
        .client
        .put(env.url("/myitem1/a.txt"))
        .header("authorization", format!("LOW {KEY}:{ODD}"))
        .header("x-archive-auto-make-bucket", "1")
        .body("x")
        .send()
        .await
        .expect("PUT");
    assert_eq!(resp.status().as_u16(), 200);
    let patch = r#"[{"op":"add","path":"/creator","value":"C"}]"#;
    let fields =
        serde_urlencoded::to_string([("-target", "metadata"), ("-patch", patch)]).expect("encodes");
    let resp = env
        .client
        .post(env.url("/metadata/myitem1"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{fields}&access={KEY}&secret={ODD}"))
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status().as_u16(), 403, "a raw secret must not match");
    let (status, body) = env
        .post_form(
            "/metadata/myitem1",
            &[
                ("-target", "metadata"),
                ("-patch", patch),
                ("access", KEY),
                ("secret", ODD),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        env.emu.item("myitem1").expect("item").metadata["creator"],
        json!("C")
    );
}

#[tokio::test]
async fn login_answers_like_xauthn() {
    let env = start().await;
    let (status, body) = env
        .post_form(
            "/services/xauthn/?op=login",
            &[("email", "user@example.com"), ("password", "password")],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["version"], json!(1));
    let v = &body["values"];
    assert_eq!(v["s3"], json!({"access": KEY, "secret": SECRET}));
    assert_eq!(v["cookies"]["logged-in-user"], json!("user@example.com"));
    assert!(v["cookies"]["logged-in-sig"].is_string());
    assert_eq!(v["screenname"], json!("tester"));
    assert_eq!(v["email"], json!("user@example.com"));
    assert_eq!(v["itemname"], json!("@tester"));

    let (status, body) = env
        .post_form(
            "/services/xauthn/?op=login",
            &[("email", "who@example.com"), ("password", "password")],
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"success": false, "values": {"reason": "account_not_found"}, "version": 1})
    );
    let (status, body) = env
        .post_form(
            "/services/xauthn/?op=login",
            &[("email", "user@example.com"), ("password", "nope")],
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["values"]["reason"], json!("account_bad_password"));
}

#[tokio::test]
async fn whoami_accepts_keys_or_login_cookies() {
    let env = start().await;
    let resp = env
        .client
        .get(env.url("/services/user.php?op=whoami"))
        .header("authorization", auth())
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        json!({"success": true, "value": {"username": "user@example.com", "screenname": "tester", "itemname": "@tester"}})
    );

    let (_, login) = env
        .post_form(
            "/services/xauthn/?op=login",
            &[("email", "user@example.com"), ("password", "password")],
        )
        .await;
    let sig = login["values"]["cookies"]["logged-in-sig"]
        .as_str()
        .expect("sig");
    let cookie = format!(
        "logged-in-user=user%40example.com; logged-in-sig={}",
        sig.replace(' ', "%20")
    );
    let resp = env
        .client
        .get(env.url("/services/user.php?op=whoami"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status().as_u16(), 200);

    for bad in [Some(format!("LOW {KEY}:wrong")), None] {
        let mut req = env.client.get(env.url("/services/user.php?op=whoami"));
        if let Some(b) = bad {
            req = req.header("authorization", b);
        }
        let resp = req.send().await.expect("GET");
        assert_eq!(resp.status().as_u16(), 401);
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(body["success"], json!(false));
        assert!(body["error"].is_string());
    }
}
