//! The archive.org face: the metadata read API (`GET /metadata/{id}[/path]`), the metadata
//! write API (`POST /metadata/{id}` with a JSON Patch per target), login
//! (`/services/xauthn/?op=login`), `whoami` (`/services/user.php?op=whoami`) and downloads
//! (`/download/{id}/{key}`, shared with S3 GET). Answers are JSON in IA's shapes. Item rules
//! live in `state`, document rendering in `item_doc`.

use std::time::Instant;

use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::{BodyExt, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, SET_COOKIE};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use md5::{Digest, Md5};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};
use tokio_util::io::ReaderStream;

use crate::faults::hits;
use crate::item_doc::{self, SYSTEM_FILE_FIELDS};
use crate::respond::{self, s3_error, Body, S3Code};
use crate::s3::{file_headers, low_auth_ok};
use crate::server::{Ctx, Reset};

/// Form bodies larger than this are refused.
const FORM_LIMIT: usize = 16 << 20;

/// Serves one archive.org request.
pub(crate) async fn handle(ctx: &mut Ctx, req: Request<Incoming>) -> Result<Response<Body>, Reset> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if let Some(rest) = path.strip_prefix("/metadata/") {
        let attempt = ctx.shared.attempts.next(method.as_str(), &path);
        if hits(
            ctx.faults.metadata_error_rate,
            ctx.seed(),
            "metadata-error",
            method.as_str(),
            &path,
            attempt,
        ) {
            ctx.strike("metadata-error");
            let _ = read_form(ctx, req).await;
            return Ok(respond::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"success": false, "error": "Internal Server Error (injected fault)"}),
            ));
        }
        return Ok(match method {
            Method::GET => metadata_get(ctx, rest),
            Method::POST => metadata_post(ctx, req, rest).await,
            _ => not_allowed(),
        });
    }
    if path.starts_with("/services/xauthn") {
        return Ok(match method {
            Method::POST => login(ctx, req).await,
            _ => not_allowed(),
        });
    }
    if path == "/services/user.php" {
        return Ok(whoami(ctx, req.headers()));
    }
    if let Some(rest) = path.strip_prefix("/download/") {
        if let Ok((Some(id), Some(key))) = crate::s3::split_path(&format!("/{rest}")) {
            let head = method == Method::HEAD;
            return Ok(serve_file(ctx, head, &id, &key, &path).await);
        }
    }
    Ok(respond::json(
        StatusCode::NOT_FOUND,
        &json!({"error": "not found"}),
    ))
}

fn not_allowed() -> Response<Body> {
    respond::json(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"success": false, "error": "method not allowed"}),
    )
}

fn failure(status: StatusCode, error: &str) -> Response<Body> {
    respond::json(status, &json!({"success": false, "error": error}))
}

fn decode_segment(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `GET /metadata/{id}` (the whole document) or `/metadata/{id}/{path}` (`{"result": ...}`).
fn metadata_get(ctx: &mut Ctx, rest: &str) -> Response<Body> {
    let mut segments = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment);
    let Some(id) = segments.next() else {
        return respond::json(StatusCode::OK, &json!({}));
    };
    let sub: Vec<String> = segments.collect();
    let doc = {
        let state = ctx.shared.state();
        match state.item(&id) {
            Some(item) => item_doc::metadata_doc(item, Instant::now(), &ctx.shared.config.email),
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

/// Reads a form body (also used to drain one).
async fn read_form(ctx: &mut Ctx, req: Request<Incoming>) -> Result<Vec<(String, String)>, String> {
    let collected = Limited::new(req.into_body(), FORM_LIMIT)
        .collect()
        .await
        .map_err(|e| format!("could not read the request body: {e}"))?;
    let bytes: Bytes = collected.to_bytes();
    ctx.body_size = bytes.len() as u64;
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .map_err(|e| format!("invalid form body: {e}"))
}

fn form_get<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
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
async fn metadata_post(ctx: &mut Ctx, req: Request<Incoming>, rest: &str) -> Response<Body> {
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
    let delay = ctx.faults.task_delay;
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
    let task_id = state.metadata_task(&id, &target, priority, delay);
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

/// The `logged-in-sig` cookie of the configured account.
fn login_sig(ctx: &Ctx) -> String {
    let c = &ctx.shared.config;
    let d = Md5::new()
        .chain_update(c.seed.to_le_bytes())
        .chain_update(c.email.as_bytes())
        .chain_update(c.secret_key.as_bytes())
        .finalize();
    format!("1700000000 1700000000 {}", hex::encode(d))
}

fn itemname(ctx: &Ctx) -> String {
    format!("@{}", ctx.shared.config.screenname.to_lowercase())
}

/// `POST /services/xauthn/?op=login` with form `email`, `password`.
async fn login(ctx: &mut Ctx, req: Request<Incoming>) -> Response<Body> {
    let form = match read_form(ctx, req).await {
        Ok(f) => f,
        Err(e) => return failure(StatusCode::BAD_REQUEST, &e),
    };
    let c = &ctx.shared.config;
    let reason = if form_get(&form, "email") != Some(c.email.as_str()) {
        Some("account_not_found")
    } else if form_get(&form, "password") != Some(c.password.as_str()) {
        Some("account_bad_password")
    } else {
        None
    };
    if let Some(reason) = reason {
        return respond::json(
            StatusCode::UNAUTHORIZED,
            &json!({"success": false, "values": {"reason": reason}, "version": 1}),
        );
    }
    let sig = login_sig(ctx);
    let c = &ctx.shared.config;
    let mut resp = respond::json(
        StatusCode::OK,
        &json!({
            "success": true,
            "values": {
                "s3": {"access": c.access_key, "secret": c.secret_key},
                "cookies": {"logged-in-user": c.email, "logged-in-sig": sig},
                "screenname": c.screenname,
                "email": c.email,
                "itemname": itemname(ctx),
            },
            "version": 1
        }),
    );
    let user = percent_encoding::utf8_percent_encode(&c.email, percent_encoding::NON_ALPHANUMERIC);
    let sig_enc = percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC);
    for cookie in [
        format!("logged-in-user={user}; Path=/"),
        format!("logged-in-sig={sig_enc}; Path=/"),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }
    resp
}

fn cookie_auth_ok(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let mut user = None;
    let mut sig = None;
    for value in headers.get_all("cookie") {
        let text = String::from_utf8_lossy(value.as_bytes());
        for part in text.split(';') {
            if let Some((k, v)) = part.split_once('=') {
                let v = decode_segment(v.trim());
                match k.trim() {
                    "logged-in-user" => user = Some(v),
                    "logged-in-sig" => sig = Some(v),
                    _ => {}
                }
            }
        }
    }
    user.as_deref() == Some(ctx.shared.config.email.as_str()) && sig == Some(login_sig(ctx))
}

/// `GET /services/user.php?op=whoami`.
fn whoami(ctx: &mut Ctx, headers: &HeaderMap) -> Response<Body> {
    if !(low_auth_ok(ctx, headers) || cookie_auth_ok(ctx, headers)) {
        return failure(
            StatusCode::UNAUTHORIZED,
            "not logged in (bad or missing credentials)",
        );
    }
    let c = &ctx.shared.config;
    respond::json(
        StatusCode::OK,
        &json!({
            "success": true,
            "value": {"username": c.email, "screenname": c.screenname, "itemname": itemname(ctx)}
        }),
    )
}

/// A stored file (or generated `_meta.xml` / `_files.xml`), streamed from disk.
pub(crate) async fn serve_file(
    ctx: &mut Ctx,
    head: bool,
    id: &str,
    key: &str,
    resource: &str,
) -> Response<Body> {
    let found = {
        let state = ctx.shared.state();
        let Some(item) = state.item(id) else {
            return s3_error(S3Code::NoSuchBucket, resource, &ctx.request_id);
        };
        if key == format!("{id}_meta.xml") {
            Err(item_doc::meta_xml(item))
        } else if key == format!("{id}_files.xml") {
            Err(item_doc::files_xml(item, Instant::now()))
        } else {
            match item.find(key) {
                Some(i) => Ok(item.files[i].data.clone()),
                None => return s3_error(S3Code::NoSuchKey, resource, &ctx.request_id),
            }
        }
    };
    let data = match found {
        Ok(data) => data,
        Err(xml) => {
            let md5 = hex::encode(Md5::digest(xml.as_bytes()));
            let size = xml.len() as u64;
            let mut resp = Response::new(if head {
                respond::empty()
            } else {
                respond::full(xml)
            });
            file_headers(&mut resp, size, &md5, "application/xml");
            return resp;
        }
    };
    let body = if head {
        respond::empty()
    } else {
        match tokio::fs::File::open(&data.path).await {
            Ok(file) => {
                let stream = ReaderStream::with_capacity(file, 64 * 1024).map_ok(Frame::data);
                StreamBody::new(stream).boxed()
            }
            Err(_) => return s3_error(S3Code::InternalError, resource, &ctx.request_id),
        }
    };
    let mut resp = Response::new(body);
    file_headers(&mut resp, data.size, &data.md5, "application/octet-stream");
    resp
}
