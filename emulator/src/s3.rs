//! The IAS3 face (`s3.us.archive.org`): PUT, DELETE, GET and HEAD of `/{id}/{key}`, PUT of a
//! bucket, `GET /?check_limit=1`, and the S3-level faults (SlowDown of each kind, 500s,
//! fail-first, resets and stalls mid-body). It checks what IAS3 checks, in this order: simulated
//! error, LOW auth, identifier, key (not IA's generated `_meta.xml`/`_files.xml`),
//! Content-Length, Content-MD5 syntax, metadata headers, bucket existence, injected
//! faults; then the body is streamed to disk and its MD5 compared. A refused request's body is
//! still read and discarded (unless the client sent `Expect: 100-continue`), so the client sees
//! the answer rather than a broken pipe.

use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::json;

use crate::body::{self, ReadOutcome, ReadPlan};
use crate::config::SlowDownKind;
use crate::faults::hits;
use crate::meta_headers;
use crate::respond::{self, s3_error, s3_error_with, Body, S3Code};
use crate::server::{Ctx, Reset};
use crate::state::{PutCommit, PutRecord, StateError};

/// IA's per-item and per-key task rations, and the global queue limit, as reported by
/// `check_limit`.
const BUCKET_RATION: usize = 150;
const ACCESSKEY_RATION: usize = 500;
const TOTAL_GLOBAL_LIMIT: u64 = 11_999;

/// Serves one S3 request.
pub(crate) async fn handle(ctx: &mut Ctx, req: Request<Incoming>) -> Result<Response<Body>, Reset> {
    let resource = req.uri().path().to_string();
    let Ok((id, key)) = split_path(&resource) else {
        return Ok(refuse(
            ctx,
            req,
            s3_error(S3Code::InvalidURI, &resource, &ctx.request_id),
        )
        .await);
    };
    let method = req.method().clone();
    match (method, id, key) {
        (Method::GET | Method::HEAD, None, _) => Ok(root(ctx, &req)),
        (Method::PUT, Some(id), key) => put(ctx, req, id, key, resource).await,
        (Method::DELETE, Some(id), key) => delete(ctx, req, id, key, resource).await,
        (Method::GET | Method::HEAD, Some(id), None) => Ok(list_bucket(ctx, &req, &id, &resource)),
        (Method::GET | Method::HEAD, Some(id), Some(key)) => {
            Ok(get_object(ctx, &req, &id, &key, &resource).await)
        }
        _ => {
            let resp = s3_error(S3Code::MethodNotAllowed, &resource, &ctx.request_id);
            Ok(refuse(ctx, req, resp).await)
        }
    }
}

/// `/id/key` -> (id, key), both percent-decoded; the key may contain `/`.
pub(crate) fn split_path(path: &str) -> Result<(Option<String>, Option<String>), ()> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    if rest.is_empty() {
        return Ok((None, None));
    }
    let (id, key) = match rest.split_once('/') {
        Some((id, key)) => (id, Some(key)),
        None => (rest, None),
    };
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ())
    };
    let id = decode(id)?;
    let key = match key {
        Some(k) if !k.is_empty() => Some(decode(k)?),
        _ => None,
    };
    Ok((Some(id), key))
}

/// IA's identifier rule: 3..=100 of letters, digits, `_`, `-`, `.`, not starting with `.`, `_`, `-`.
pub fn valid_identifier(id: &str) -> bool {
    (3..=100).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !id.starts_with(['.', '_', '-'])
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn header_is_one(headers: &HeaderMap, name: &str) -> bool {
    header(headers, name) == Some("1")
}

/// Whether `Authorization: LOW key:secret` names the configured account.
pub(crate) fn low_auth_ok(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let Some(value) = header(headers, "authorization") else {
        return false;
    };
    let Some((scheme, creds)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("LOW") {
        return false;
    }
    let config = &ctx.shared.config;
    creds.trim().split_once(':') == Some((config.access_key.as_str(), config.secret_key.as_str()))
}

/// Reads and discards the body (so the client can read the answer), then answers `resp`.
async fn refuse(ctx: &mut Ctx, req: Request<Incoming>, resp: Response<Body>) -> Response<Body> {
    let expect_continue =
        header(req.headers(), "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if !expect_continue {
        let plan = ReadPlan {
            bandwidth: ctx.faults.bandwidth,
            ..ReadPlan::default()
        };
        ctx.body_size = body::read(req.into_body(), None, &plan).await.size();
    }
    resp
}

/// `x-archive-simulate-error: CODE` (IAS3's own testing hook); `help` lists the codes.
fn simulated(
    ctx: &mut Ctx,
    headers: &HeaderMap,
    id: &str,
    resource: &str,
) -> Option<Response<Body>> {
    let wanted = header(headers, "x-archive-simulate-error")?;
    if wanted.eq_ignore_ascii_case("help") {
        let names: Vec<&str> = S3Code::ALL.iter().map(|c| c.name()).collect();
        return Some(respond::with_body(
            StatusCode::OK,
            "text/plain",
            format!("{}\n", names.join("\n")),
        ));
    }
    let Some(code) = S3Code::from_name(wanted) else {
        return Some(s3_error_with(
            S3Code::InvalidArgument,
            "unknown x-archive-simulate-error value (send 'help' for the list)",
            resource,
            &ctx.request_id,
        ));
    };
    ctx.strike(format!("simulate-error:{}", code.name()));
    Some(if code == S3Code::SlowDown {
        slowdown(ctx, SlowDownKind::Overload, id, resource)
    } else {
        s3_error(code, resource, &ctx.request_id)
    })
}

/// A 503 SlowDown in IA's words. IA keeps `Message` constant and puts the reason for global
/// rationing and spam in `Resource` (`ia` prints them as "Message - Resource").
fn slowdown(ctx: &Ctx, kind: SlowDownKind, id: &str, resource: &str) -> Response<Body> {
    let reason = match kind {
        SlowDownKind::Overload => resource.to_string(),
        SlowDownKind::GlobalLimit => {
            *ctx.shared
                .last_global_limit
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            "total_tasks_queued exceeds global_limit".to_string()
        }
        SlowDownKind::Spam => format!(
            "Your upload of {id} from username {} appears to be spam. If you believe this is a \
             mistake, contact info@archive.org and include this entire message in your email.",
            ctx.shared.config.email
        ),
    };
    let mut resp = s3_error_with(
        S3Code::SlowDown,
        S3Code::SlowDown.message(),
        &reason,
        &ctx.request_id,
    );
    if let Some(secs) = ctx.faults.retry_after {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    resp
}

/// The rate-based faults of PUT and DELETE: SlowDown first, then 500.
fn injected(
    ctx: &mut Ctx,
    method: &str,
    path: &str,
    attempt: u32,
    id: &str,
    resource: &str,
) -> Option<Response<Body>> {
    let seed = ctx.seed();
    if hits(
        ctx.faults.slowdown_rate,
        seed,
        "slowdown",
        method,
        path,
        attempt,
    ) {
        let kind = ctx.faults.slowdown_kind;
        ctx.strike(format!("slowdown:{}", kind.name()));
        return Some(slowdown(ctx, kind, id, resource));
    }
    if hits(ctx.faults.error_rate, seed, "error", method, path, attempt) {
        ctx.strike("error-rate");
        return Some(s3_error(S3Code::InternalError, resource, &ctx.request_id));
    }
    None
}

/// `Content-MD5` as 32 hex digits or base64 of the 16 bytes.
pub(crate) fn parse_content_md5(value: &str) -> Option<[u8; 16]> {
    use base64::Engine;
    let v = value.trim();
    let bytes = if v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(v).ok()?
    } else {
        base64::engine::general_purpose::STANDARD.decode(v).ok()?
    };
    bytes.try_into().ok()
}

fn key_path(id: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("/{id}/{k}"),
        None => format!("/{id}"),
    }
}

async fn put(
    ctx: &mut Ctx,
    req: Request<Incoming>,
    id: String,
    key: Option<String>,
    resource: String,
) -> Result<Response<Body>, Reset> {
    let path = key_path(&id, key.as_deref());
    let attempt = ctx.shared.attempts.next("PUT", &path);
    let headers = req.headers().clone();
    let rid = ctx.request_id.clone();
    if let Some(resp) = simulated(ctx, &headers, &id, &resource) {
        return Ok(refuse(ctx, req, resp).await);
    }
    if !low_auth_ok(ctx, &headers) {
        return Ok(refuse(ctx, req, s3_error(S3Code::AccessDenied, &resource, &rid)).await);
    }
    if !valid_identifier(&id) {
        return Ok(refuse(
            ctx,
            req,
            s3_error(S3Code::InvalidBucketName, &resource, &rid),
        )
        .await);
    }
    if key.as_ref().is_some_and(|k| k.len() > 1024) {
        return Ok(refuse(ctx, req, s3_error(S3Code::KeyTooLong, &resource, &rid)).await);
    }
    if let Some(resp) = key
        .as_deref()
        .and_then(|k| generated_file(&id, k, &resource, &rid))
    {
        return Ok(refuse(ctx, req, resp).await);
    }
    // IAS3 takes no chunked bodies; 411 (not 501) so a client does not mistake it for a
    // transient server error.
    let chunked = headers.get_all("transfer-encoding").iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .to_ascii_lowercase()
            .contains("chunked")
    });
    let length = header(&headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    let length = match (chunked, length) {
        (false, Some(n)) => n,
        // A bucket PUT carries no file: an empty body needs no Content-Length.
        (false, None) if key.is_none() => 0,
        _ => {
            let resp = s3_error(S3Code::MissingContentLength, &resource, &rid);
            return Ok(refuse(ctx, req, resp).await);
        }
    };
    let wanted_md5 = match header(&headers, "content-md5") {
        None => None,
        Some(v) => match parse_content_md5(v) {
            Some(d) => Some(hex::encode(d)),
            None => {
                return Ok(refuse(ctx, req, s3_error(S3Code::InvalidDigest, &resource, &rid)).await)
            }
        },
    };
    let decoded = match meta_headers::decode(&headers) {
        Ok(d) => d,
        Err(e) => {
            let resp = s3_error_with(S3Code::InvalidArgument, &e.to_string(), &resource, &rid);
            return Ok(refuse(ctx, req, resp).await);
        }
    };
    let exists = ctx.shared.state().item(&id).is_some();
    let auto_make = header_is_one(&headers, "x-archive-auto-make-bucket")
        || header_is_one(&headers, "x-amz-auto-make-bucket");
    let replace = header_is_one(&headers, "x-archive-ignore-preexisting-bucket");
    if key.is_some() && !exists && !auto_make {
        return Ok(refuse(ctx, req, s3_error(S3Code::NoSuchBucket, &resource, &rid)).await);
    }
    let redirected = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "redirected=1"));
    if !redirected
        && hits(
            ctx.faults.redirect_rate,
            ctx.seed(),
            "redirect",
            "PUT",
            &path,
            attempt,
        )
    {
        ctx.strike("redirect");
        let location = format!("{}?redirected=1", req.uri().path());
        let mut resp = respond::with_body(
            StatusCode::TEMPORARY_REDIRECT,
            "application/xml",
            respond::s3_error_body(
                "TemporaryRedirect",
                "Please re-send this request to the specified temporary endpoint.",
                &resource,
                &rid,
            ),
        );
        if let Ok(v) = location.parse() {
            resp.headers_mut().insert("location", v);
        }
        return Ok(refuse(ctx, req, resp).await);
    }
    if let Some(resp) = injected(ctx, "PUT", &path, attempt, &id, &resource) {
        return Ok(refuse(ctx, req, resp).await);
    }
    let Some(key) = key else {
        // PUT of the bucket itself: create the item (or replace its metadata).
        ctx.body_size = body::read(req.into_body(), None, &ReadPlan::default())
            .await
            .size();
        let mut state = ctx.shared.state();
        if !exists {
            state.create_item(&id, decoded.item);
        } else if replace {
            state.replace_metadata(&id, decoded.item);
        }
        return Ok(ok_empty(StatusCode::OK));
    };
    if attempt <= ctx.faults.fail_first {
        ctx.strike("fail-first");
        return Ok(refuse(ctx, req, s3_error(S3Code::InternalError, &resource, &rid)).await);
    }
    let seed = ctx.seed();
    let reset = length > 0 && hits(ctx.faults.reset_rate, seed, "reset", "PUT", &path, attempt);
    // A reset cuts the body where a stall would start: never both (and the key's one stall is
    // not spent on a request that resets).
    let stall = ctx.faults.stall.filter(|_| {
        length > 0
            && !reset
            && hits(
                ctx.faults.effective_stall_rate(),
                seed,
                "stall",
                "PUT",
                &path,
                attempt,
            )
            && ctx.shared.attempts.claim_stall(&path)
    });
    let corrupt = length > 0
        && hits(
            ctx.faults.corrupt_rate,
            seed,
            "corrupt",
            "PUT",
            &path,
            attempt,
        );
    // In the order they strike: corruption on the first bytes, then a reset or a stall half-way.
    if corrupt {
        ctx.strike("corrupt");
    }
    if reset {
        ctx.strike("reset");
    }
    if stall.is_some() {
        ctx.strike("stall");
    }
    let plan = ReadPlan {
        expected: Some(length),
        bandwidth: ctx.faults.bandwidth,
        stall,
        reset,
        corrupt,
    };
    let temp = TempFile(ctx.shared.state().temp_path());
    let outcome = body::read(req.into_body(), Some(&temp.0), &plan).await;
    ctx.body_size = outcome.size();
    let (size, md5) = match outcome {
        ReadOutcome::Complete { size, md5 } => (size, md5),
        ReadOutcome::Reset { .. } => {
            ctx.conn.abort();
            return Err(Reset);
        }
        ReadOutcome::Storage { error, .. } => {
            let message = format!("{} (storage: {error})", S3Code::InternalError.message());
            return Ok(s3_error_with(
                S3Code::InternalError,
                &message,
                &resource,
                &rid,
            ));
        }
        ReadOutcome::TimedOut { .. } => {
            return Ok(s3_error(S3Code::RequestTimeout, &resource, &rid));
        }
        ReadOutcome::Incomplete { .. } => {
            return Ok(s3_error(S3Code::IncompleteBody, &resource, &rid));
        }
    };
    ctx.body_md5 = Some(md5.clone());
    if wanted_md5.as_ref().is_some_and(|w| *w != md5) {
        return Ok(s3_error(S3Code::BadDigest, &resource, &rid));
    }
    let record = PutRecord {
        key: key.clone(),
        queue_derive: header(&headers, "x-archive-queue-derive") != Some("0"),
        // The seed: "If this header is not defined IAS3 will attempt to default to the value in
        // the content-length header."
        size_hint: Some(
            header(&headers, "x-archive-size-hint")
                .and_then(|v| v.parse().ok())
                .unwrap_or(length),
        ),
        keep_old_version: header_is_one(&headers, "x-archive-keep-old-version"),
    };
    let commit = PutCommit {
        identifier: id,
        key,
        temp: temp.0.clone(),
        size,
        md5: md5.clone(),
        item_meta: Some(decoded.item),
        replace_meta: replace,
        file_meta: decoded.file,
        record,
    };
    let committed = ctx.shared.state().commit_put(commit, ctx.faults.task_delay);
    if committed.is_err() {
        return Ok(s3_error(S3Code::InternalError, &resource, &rid));
    }
    if hits(
        ctx.faults.lose_answer_rate,
        seed,
        "lose-answer",
        "PUT",
        &path,
        attempt,
    ) {
        // Stored, but the client never hears so: the case a client must check before resending.
        ctx.strike("lose-answer");
        ctx.conn.abort();
        return Err(Reset);
    }
    let mut resp = ok_empty(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&format!("\"{md5}\"")) {
        resp.headers_mut().insert(ETAG, v);
    }
    Ok(resp)
}

/// The refusal of a PUT or DELETE of `{id}_meta.xml` or `{id}_files.xml`, which IA generates
/// itself (seed 001: "Please do not delete or modify this file."): the emulator cannot copy how
/// IA would merge an uploaded one, so it refuses it loudly rather than list a second file of
/// that name or silently apply something else. Metadata goes in headers or the metadata API.
fn generated_file(id: &str, key: &str, resource: &str, rid: &str) -> Option<Response<Body>> {
    if key != format!("{id}_meta.xml") && key != format!("{id}_files.xml") {
        return None;
    }
    let message = format!(
        "{key} is generated by the Archive and cannot be uploaded or deleted; send item metadata \
         as x-archive-meta-* headers (with x-archive-ignore-preexisting-bucket: 1 to replace it) \
         or through the metadata API"
    );
    Some(s3_error_with(
        S3Code::InvalidArgument,
        &message,
        resource,
        rid,
    ))
}

/// An upload's temp file, removed when dropped: after a refusal, and also when hyper drops the
/// handler because the client went away mid-body. Once committed it has been renamed away.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn ok_empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(respond::empty());
    *r.status_mut() = status;
    r
}

async fn delete(
    ctx: &mut Ctx,
    req: Request<Incoming>,
    id: String,
    key: Option<String>,
    resource: String,
) -> Result<Response<Body>, Reset> {
    let path = key_path(&id, key.as_deref());
    let attempt = ctx.shared.attempts.next("DELETE", &path);
    let headers = req.headers().clone();
    let rid = ctx.request_id.clone();
    if let Some(resp) = simulated(ctx, &headers, &id, &resource) {
        return Ok(refuse(ctx, req, resp).await);
    }
    if !low_auth_ok(ctx, &headers) {
        return Ok(refuse(ctx, req, s3_error(S3Code::AccessDenied, &resource, &rid)).await);
    }
    if !valid_identifier(&id) {
        return Ok(refuse(
            ctx,
            req,
            s3_error(S3Code::InvalidBucketName, &resource, &rid),
        )
        .await);
    }
    let Some(key) = key else {
        // Seed 003: "IAS3 does not allow DELETE for buckets, only for files. Attempting to
        // DELETE a bucket will result in a _Not Authorized_ error."
        let message =
            "Not Authorized: IAS3 does not allow DELETE of items (buckets), only of files";
        let resp = s3_error_with(S3Code::AccessDenied, message, &resource, &rid);
        return Ok(refuse(ctx, req, resp).await);
    };
    if let Some(resp) = generated_file(&id, &key, &resource, &rid) {
        return Ok(refuse(ctx, req, resp).await);
    }
    if let Some(resp) = injected(ctx, "DELETE", &path, attempt, &id, &resource) {
        return Ok(refuse(ctx, req, resp).await);
    }
    let cascade = header_is_one(&headers, "x-archive-cascade-delete");
    let keep_old = header_is_one(&headers, "x-archive-keep-old-version");
    let result = ctx.shared.state().delete(&id, &key, cascade, keep_old);
    let resp = match result {
        Ok(()) => ok_empty(StatusCode::NO_CONTENT),
        Err(StateError::NoSuchItem) => s3_error(S3Code::NoSuchBucket, &resource, &rid),
        Err(StateError::NoSuchFile) => s3_error(S3Code::NoSuchKey, &resource, &rid),
        Err(StateError::Io(_)) => s3_error(S3Code::InternalError, &resource, &rid),
    };
    Ok(refuse(ctx, req, resp).await)
}

fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    let q = req.uri().query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(q)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// `GET /`: `?check_limit=1` answers the rationing JSON; otherwise the list of items.
fn root(ctx: &mut Ctx, req: &Request<Incoming>) -> Response<Body> {
    if query_param(req, "check_limit").is_none() {
        let ids = ctx.shared.state().identifiers();
        let buckets: String = ids
            .iter()
            .map(|id| format!("<Bucket><Name>{}</Name></Bucket>", respond::xml_escape(id)))
            .collect();
        return respond::with_body(
            StatusCode::OK,
            "application/xml",
            format!(
                "<?xml version='1.0' encoding='UTF-8'?>\n<ListAllMyBucketsResult><Buckets>{buckets}</Buckets></ListAllMyBucketsResult>"
            ),
        );
    }
    let bucket = query_param(req, "bucket").unwrap_or_default();
    let accesskey = query_param(req, "accesskey").unwrap_or_default();
    let now = Instant::now();
    let (bucket_queued, total_queued) = {
        let state = ctx.shared.state();
        let bucket_queued = state
            .item(&bucket)
            .map_or(0, |item| item.pending_tasks(now).count());
        let total: usize = state
            .identifiers()
            .iter()
            .filter_map(|id| state.item(id))
            .map(|item| item.pending_tasks(now).count())
            .sum();
        (bucket_queued, total)
    };
    let global = ctx
        .shared
        .last_global_limit
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_some_and(|t| now.duration_since(t) < ctx.faults.global_limit_window());
    let reason = if global {
        "global"
    } else if bucket_queued >= BUCKET_RATION {
        "bucket"
    } else if total_queued >= ACCESSKEY_RATION {
        "accesskey"
    } else {
        ""
    };
    let total_tasks = if global {
        TOTAL_GLOBAL_LIMIT + 1 + total_queued as u64
    } else {
        total_queued as u64
    };
    let body = json!({
        "bucket": bucket,
        "accesskey": accesskey,
        "over_limit": i32::from(!reason.is_empty()),
        "detail": {
            "accesskey_ration": ACCESSKEY_RATION,
            "accesskey_tasks_queued": total_queued,
            "bucket_ration": BUCKET_RATION,
            "bucket_tasks_queued": bucket_queued,
            "limit_reason": reason,
            "rationing_engaged": i32::from(global),
            "rationing_level": 0,
            "total_global_limit": TOTAL_GLOBAL_LIMIT,
            "total_tasks_queued": total_tasks,
        }
    });
    respond::json(StatusCode::OK, &body)
}

/// `GET /{id}`: an S3 ListBucketResult of the item's files.
fn list_bucket(ctx: &mut Ctx, req: &Request<Incoming>, id: &str, resource: &str) -> Response<Body> {
    let state = ctx.shared.state();
    let Some(item) = state.item(id) else {
        return s3_error(S3Code::NoSuchBucket, resource, &ctx.request_id);
    };
    if req.method() == Method::HEAD {
        return ok_empty(StatusCode::OK);
    }
    let contents: String = item
        .files
        .iter()
        .map(|f| {
            format!(
                "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>\"{}\"</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                respond::xml_escape(&f.name),
                crate::clock::ia_date(f.data.mtime).replace(' ', "T") + ".000Z",
                f.data.md5,
                f.data.size
            )
        })
        .collect();
    respond::with_body(
        StatusCode::OK,
        "application/xml",
        format!(
            "<?xml version='1.0' encoding='UTF-8'?>\n<ListBucketResult><Name>{}</Name><Prefix></Prefix><Marker></Marker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{contents}</ListBucketResult>",
            respond::xml_escape(id)
        ),
    )
}

/// `GET`/`HEAD /{id}/{key}`: the stored file (or IA's generated `_meta.xml`/`_files.xml`).
async fn get_object(
    ctx: &mut Ctx,
    req: &Request<Incoming>,
    id: &str,
    key: &str,
    resource: &str,
) -> Response<Body> {
    crate::archive::serve_file(ctx, req.method() == Method::HEAD, id, key, resource).await
}

/// Sets `Content-Length` and `ETag` on a file response.
pub(crate) fn file_headers(
    resp: &mut Response<Body>,
    size: u64,
    md5: &str,
    content_type: &'static str,
) {
    let h = resp.headers_mut();
    h.insert(CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{md5}\"")) {
        h.insert(ETAG, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_ia_rules() {
        assert!(valid_identifier("abc"));
        assert!(valid_identifier("my_item-2.0"));
        assert!(!valid_identifier("ab"));
        assert!(!valid_identifier(&"a".repeat(101)));
        assert!(valid_identifier(&"a".repeat(100)));
        assert!(!valid_identifier("_abc"));
        assert!(!valid_identifier("-abc"));
        assert!(!valid_identifier(".abc"));
        assert!(!valid_identifier("ab c"));
        assert!(!valid_identifier("abé"));
    }

    #[test]
    fn paths_split_into_id_and_decoded_key() {
        assert_eq!(split_path("/"), Ok((None, None)));
        assert_eq!(split_path("/item"), Ok((Some("item".into()), None)));
        assert_eq!(split_path("/item/"), Ok((Some("item".into()), None)));
        assert_eq!(
            split_path("/item/dir/sp%20ace%23%3F%C3%A9.txt"),
            Ok((Some("item".into()), Some("dir/sp ace#?é.txt".into())))
        );
        assert!(split_path("/item/%FF").is_err());
    }

    #[test]
    fn content_md5_accepts_hex_and_base64() {
        let hex = "9e107d9d372bb6826bd81d3542a419d6";
        let b64 = "nhB9nTcrtoJr2B01QqQZ1g==";
        assert_eq!(parse_content_md5(hex), parse_content_md5(b64));
        assert!(parse_content_md5(hex).is_some());
        assert!(parse_content_md5("nothex").is_none());
        assert!(parse_content_md5("AAAA").is_none());
    }
}
