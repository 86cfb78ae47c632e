//! The metadata API: `GET /metadata/{id}` (the item document, `{}` for a missing item, a
//! collection's document for a configured collection), `GET /metadata/{id}/{path}`
//! (`{"result": ...}`), and `POST /metadata/{id}` applying JSON Patches (`-patch` with
//! `-target`, or `-changes`) to the item's metadata or a file's, queueing a `modify_xml.php`
//! task. SHA-1 and CRC32 of listed files are computed here, once, when first listed.

use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::{decode_segment, failure, form_get, read_form};
use crate::ctx::Ctx;
use crate::item_doc::{self, SYSTEM_FILE_FIELDS};
use crate::request::low_auth_ok;
use crate::respond::{self, Body};
use crate::state::TaskRule;

/// `GET /metadata/{id}` (the whole document) or `/metadata/{id}/{path}` (`{"result": ...}`).
pub(super) async fn get(ctx: &mut Ctx, rest: &str) -> Response<Body> {
    let mut segments = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment);
    let Some(id) = segments.next() else {
        return respond::json(StatusCode::OK, &json!({}));
    };
    let sub: Vec<String> = segments.collect();
    fill_hashes(ctx, &id).await;
    let doc = {
        let state = ctx.shared.state();
        match state.item(&id) {
            Some(item) => item_doc::metadata_doc(
                item,
                Instant::now(),
                &ctx.shared.config.email,
                &ctx.shared.host,
            ),
            None if ctx.shared.config.collections.contains(&id) => json!({
                "metadata": {"identifier": id, "mediatype": "collection", "title": id},
                "files": [],
                "is_collection": true,
            }),
            None => return respond::json(StatusCode::OK, &json!({})),
        }
    };
    if sub.is_empty() {
        return respond::json(StatusCode::OK, &doc);
    }
    let mut cur = &doc;
    for seg in &sub {
        let next = match cur {
            Value::Object(m) => m.get(seg.as_str()),
            Value::Array(list) => seg.parse::<usize>().ok().and_then(|i| list.get(i)),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => {
                return respond::json(StatusCode::OK, &json!({"error": "Metadata path not found"}))
            }
        }
    }
    respond::json(StatusCode::OK, &json!({"result": cur}))
}

/// One `-target` with its patch.
struct Change {
    target: String,
    patch: json_patch::Patch,
}

fn parse_patch(value: Value) -> Result<json_patch::Patch, String> {
    let value = match value {
        Value::String(s) => {
            serde_json::from_str(&s).map_err(|e| format!("invalid JSON in -patch: {e}"))?
        }
        other => other,
    };
    let value = match value {
        Value::Object(_) => Value::Array(vec![value]),
        other => other,
    };
    serde_json::from_value(value).map_err(|e| format!("invalid JSON Patch: {e}"))
}

fn changes_of(form: &[(String, String)]) -> Result<Vec<Change>, String> {
    if let Some(raw) = form_get(form, "-changes") {
        let list: Vec<Value> =
            serde_json::from_str(raw).map_err(|e| format!("invalid -changes: {e}"))?;
        return list
            .into_iter()
            .map(|c| {
                let target = c
                    .get("target")
                    .and_then(Value::as_str)
                    .unwrap_or("metadata")
                    .to_string();
                let patch = parse_patch(c.get("patch").cloned().unwrap_or(Value::Null))?;
                Ok(Change { target, patch })
            })
            .collect();
    }
    let target = form_get(form, "-target").unwrap_or("metadata").to_string();
    let raw = form_get(form, "-patch").ok_or("missing -patch")?;
    let patch = parse_patch(Value::String(raw.to_string()))?;
    Ok(vec![Change { target, patch }])
}

/// The `priority` form field: an integer (`ia` sends -5), 0 when absent.
fn priority_of(form: &[(String, String)]) -> Result<i64, String> {
    match form_get(form, "priority") {
        None => Ok(0),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|_| format!("invalid priority {raw:?}: must be an integer")),
    }
}

/// `POST /metadata/{id}`: applies JSON Patches to the item's metadata or a file's.
pub(super) async fn post(ctx: &mut Ctx, req: Request<Incoming>, rest: &str) -> Response<Body> {
    let id = decode_segment(rest.trim_end_matches('/'));
    let header_auth = req.headers().contains_key("authorization");
    let header_ok = low_auth_ok(ctx, req.headers());
    let form = match read_form(ctx, req).await {
        Ok(f) => f,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e),
    };
    let config = &ctx.shared.config;
    let form_creds = (form_get(&form, "access"), form_get(&form, "secret"));
    let form_ok = form_creds
        == (
            Some(config.access_key.as_str()),
            Some(config.secret_key.as_str()),
        );
    if !(header_ok || form_ok) {
        let given = header_auth || form_creds.0.is_some() || form_creds.1.is_some();
        return if given {
            failure(
                StatusCode::FORBIDDEN,
                "Invalid credentials: access key and secret do not match",
            )
        } else {
            failure(
                StatusCode::UNAUTHORIZED,
                "You must be logged in (access and secret, or LOW authorization) to change metadata",
            )
        };
    }
    let changes = match changes_of(&form) {
        Ok(c) => c,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e),
    };
    let priority = match priority_of(&form) {
        Ok(p) => p,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e),
    };
    let rule = TaskRule::of(&ctx.faults);
    let mut state = ctx.shared.state();
    let Some(item) = state.item(&id) else {
        return failure(StatusCode::NOT_FOUND, &format!("item {id} not found"));
    };
    let mut item = item.clone();
    let mut changed = false;
    for change in &changes {
        match apply_change(&mut item, change) {
            Ok(c) => changed |= c,
            Err(e) => return failure(StatusCode::BAD_REQUEST, &e),
        }
    }
    if !changed {
        return failure(StatusCode::BAD_REQUEST, "no changes made");
    }
    item.updated = crate::clock::unix_now();
    if let Some(stored) = state.item_mut(&id) {
        *stored = item;
    }
    let target = changes
        .first()
        .map_or("metadata", |c| c.target.as_str())
        .to_string();
    let task_id = state.metadata_task(&id, &target, priority, rule);
    respond::json(
        StatusCode::OK,
        &json!({
            "success": true,
            "task_id": task_id,
            "log": format!("{}/log/{task_id}", ctx.shared.base_url),
        }),
    )
}

/// Applies one change to `item`; true if anything changed.
fn apply_change(item: &mut crate::state::Item, change: &Change) -> Result<bool, String> {
    if change.target == "metadata" {
        let before = Value::Object(item.metadata.clone());
        let mut doc = before.clone();
        json_patch::patch(&mut doc, &change.patch)
            .map_err(|e| format!("error applying patch: {e}"))?;
        let Value::Object(after) = doc else {
            return Err("metadata must stay a JSON object".into());
        };
        if after.get("identifier") != item.metadata.get("identifier") {
            return Err("the identifier cannot be changed".into());
        }
        let changed = Value::Object(after.clone()) != before;
        item.metadata = after;
        return Ok(changed);
    }
    let Some(name) = change.target.strip_prefix("files/") else {
        return Err(format!(
            "unsupported -target {:?} (use metadata or files/NAME)",
            change.target
        ));
    };
    let i = item
        .find(name)
        .ok_or_else(|| format!("file {name} not found in item"))?;
    let file = &mut item.files[i];
    let before = item_doc::file_entry(&file.name, &file.data);
    let mut doc = before.clone();
    json_patch::patch(&mut doc, &change.patch).map_err(|e| format!("error applying patch: {e}"))?;
    let Value::Object(after) = doc else {
        return Err("a file entry must stay a JSON object".into());
    };
    for field in SYSTEM_FILE_FIELDS {
        if after.get(field) != before.get(field) {
            return Err(format!("file field {field} cannot be changed"));
        }
    }
    let custom: Map<String, Value> = after
        .into_iter()
        .filter(|(k, _)| !SYSTEM_FILE_FIELDS.contains(&k.as_str()))
        .collect();
    let changed = custom != file.data.metadata;
    file.data.metadata = custom;
    Ok(changed)
}

/// Computes the SHA-1 and CRC32 of the item's visible files that have none yet (on a blocking
/// thread, outside the state lock) and records them.
async fn fill_hashes(ctx: &Ctx, id: &str) {
    let todo = ctx.shared.state().unhashed(id, Instant::now());
    if todo.is_empty() {
        return;
    }
    let hashed = tokio::task::spawn_blocking(move || {
        todo.into_iter()
            .filter_map(|path| {
                crate::seed::hash_file(&path)
                    .ok()
                    .map(|(sha1, crc32)| (path, sha1, crc32))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let mut state = ctx.shared.state();
    for (path, sha1, crc32) in hashed {
        state.set_hashes(id, &path, sha1, crc32);
    }
}
