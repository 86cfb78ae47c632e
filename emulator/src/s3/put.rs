//! `PUT` of an item (bucket) or a file: after the shared precheck, Content-Length, Content-MD5,
//! metadata headers, bucket existence, the redirect and rate faults; then the body streams to a
//! temp file (with the reset, stall and corruption faults) and is committed to the item. The
//! header checks, body faults and answers are shared with multipart's part PUTs and create call.

use hyper::body::Incoming;
use hyper::header::{HeaderValue, ETAG};
use hyper::{HeaderMap, Request, Response, StatusCode, Uri};

use super::precheck::{injected, parse_content_md5, precheck};
use super::{key_path, ok_empty, refuse, TempFile};
use crate::body::{self, ReadOutcome, ReadPlan};
use crate::ctx::{Ctx, Reset};
use crate::faults::hits;
use crate::meta_headers::{self, Decoded};
use crate::request::{header, header_is_one};
use crate::respond::{self, s3_error, s3_error_with, Body, S3Code};
use crate::state::{CommitPlan, TaskRule};

/// `PUT /{id}` (create the item, or replace its metadata) or `PUT /{id}/{key}` (store a file).
pub(super) async fn put(
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
    if let Some(resp) = precheck(ctx, &headers, &id, key.as_deref(), &resource) {
        return Ok(refuse(ctx, req, resp).await);
    }
    if key.as_ref().is_some_and(|k| k.len() > 1024) {
        return Ok(refuse(ctx, req, s3_error(S3Code::KeyTooLong, &resource, &rid)).await);
    }
    let asked = match Asked::parse(&headers, key.is_some()) {
        Ok(asked) => asked,
        Err(refusal) => {
            let resp = refusal.answer(&resource, &rid);
            return Ok(refuse(ctx, req, resp).await);
        }
    };
    let exists = ctx.shared.state().item(&id).is_some();
    if key.is_some() && !exists && !asked.intent.auto_make {
        return Ok(refuse(ctx, req, s3_error(S3Code::NoSuchBucket, &resource, &rid)).await);
    }
    if let Some(resp) = redirect(ctx, req.uri(), &path, attempt, &resource, &rid) {
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
            state.create_item(&id, asked.intent.decoded.item);
        } else if asked.intent.replace {
            state.replace_metadata(&id, asked.intent.decoded.item);
        }
        return Ok(ok_empty(StatusCode::OK));
    };
    if attempt <= ctx.faults.fail_first {
        ctx.strike("fail-first");
        return Ok(refuse(ctx, req, s3_error(S3Code::InternalError, &resource, &rid)).await);
    }
    let plan = body_faults(ctx, asked.length, &path, attempt);
    let temp = TempFile(ctx.shared.state().temp_path());
    let outcome = body::read(req.into_body(), Some(&temp.0), &plan).await;
    ctx.body_size = outcome.size();
    let (size, md5) = match outcome {
        ReadOutcome::Complete { size, md5 } => (size, md5),
        cut => return cut_short(ctx, cut, &resource, &rid),
    };
    ctx.body_md5 = Some(md5.clone());
    if asked.wanted_md5.as_ref().is_some_and(|w| *w != md5) {
        return Ok(s3_error(S3Code::BadDigest, &resource, &rid));
    }
    let commit = asked
        .intent
        .plan(id, key)
        .commit(temp.0.clone(), size, md5.clone());
    let committed = ctx
        .shared
        .state()
        .commit_put(commit, TaskRule::of(&ctx.faults));
    if committed.is_err() {
        return Ok(s3_error(S3Code::InternalError, &resource, &rid));
    }
    answer(ctx, &path, attempt, &md5)
}

/// What a PUT's headers ask for, once they are found well formed.
struct Asked {
    /// The body's length: Content-Length, or 0 for a bucket PUT without one.
    length: u64,
    /// The MD5 the client says the body has (Content-MD5), in hex.
    wanted_md5: Option<String>,
    intent: Intent,
}

/// What a file's headers ask of its commit: metadata, bucket creation, derive, size hint, old
/// version. A file PUT's, or a multipart create call's (applied at its Complete).
pub(super) struct Intent {
    pub(super) decoded: Decoded,
    /// `x-archive-auto-make-bucket` (or its `x-amz-` twin): a file PUT may create its item.
    pub(super) auto_make: bool,
    /// `x-archive-ignore-preexisting-bucket`: a bucket PUT replaces the item's metadata.
    pub(super) replace: bool,
    queue_derive: bool,
    size_hint: Option<u64>,
    keep_old_version: bool,
}

/// Why a PUT's headers are refused, before any fault or body.
pub(super) enum Refusal {
    Code(S3Code),
    Argument(String),
}

impl Refusal {
    pub(super) fn answer(&self, resource: &str, rid: &str) -> Response<Body> {
        match self {
            Refusal::Code(code) => s3_error(*code, resource, rid),
            Refusal::Argument(message) => {
                s3_error_with(S3Code::InvalidArgument, message, resource, rid)
            }
        }
    }
}

impl Asked {
    /// Content-Length, Content-MD5 and the metadata headers, in the order IAS3 checks them.
    fn parse(headers: &HeaderMap, has_key: bool) -> Result<Asked, Refusal> {
        let (length, wanted_md5) = body_headers(headers, has_key)?;
        Ok(Asked {
            length,
            wanted_md5,
            intent: Intent::parse(headers)?,
        })
    }
}

/// Content-Length (required when `has_key`) and the Content-MD5 (as hex) of a body.
pub(super) fn body_headers(
    headers: &HeaderMap,
    has_key: bool,
) -> Result<(u64, Option<String>), Refusal> {
    // IAS3 takes no chunked bodies; 411 (not 501) so a client does not mistake it for a
    // transient server error.
    let chunked = headers.get_all("transfer-encoding").iter().any(|v| {
        String::from_utf8_lossy(v.as_bytes())
            .to_ascii_lowercase()
            .contains("chunked")
    });
    let length = header(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    let length = match (chunked, length) {
        (false, Some(n)) => n,
        // A bucket PUT carries no file: an empty body needs no Content-Length.
        (false, None) if !has_key => 0,
        _ => return Err(Refusal::Code(S3Code::MissingContentLength)),
    };
    let wanted_md5 = match header(headers, "content-md5") {
        None => None,
        Some(v) => match parse_content_md5(v) {
            Some(d) => Some(hex::encode(d)),
            None => return Err(Refusal::Code(S3Code::InvalidDigest)),
        },
    };
    Ok((length, wanted_md5))
}

impl Intent {
    /// The metadata headers (refused when malformed) and the commit flags.
    pub(super) fn parse(headers: &HeaderMap) -> Result<Intent, Refusal> {
        let decoded =
            meta_headers::decode(headers).map_err(|e| Refusal::Argument(e.to_string()))?;
        Ok(Intent {
            decoded,
            auto_make: header_is_one(headers, "x-archive-auto-make-bucket")
                || header_is_one(headers, "x-amz-auto-make-bucket"),
            replace: header_is_one(headers, "x-archive-ignore-preexisting-bucket"),
            queue_derive: header(headers, "x-archive-queue-derive") != Some("0"),
            // The seed: "If this header is not defined IAS3 will attempt to default to the
            // value in the content-length header." (the stored size, see `CommitPlan`).
            size_hint: header(headers, "x-archive-size-hint").and_then(|v| v.parse().ok()),
            keep_old_version: header_is_one(headers, "x-archive-keep-old-version"),
        })
    }

    /// What committing file `key` of item `id` with these headers does.
    pub(super) fn plan(self, id: String, key: String) -> CommitPlan {
        CommitPlan {
            identifier: id,
            key,
            item_meta: self.decoded.item,
            replace_meta: self.replace,
            file_meta: self.decoded.file,
            queue_derive: self.queue_derive,
            size_hint: self.size_hint,
            keep_old_version: self.keep_old_version,
        }
    }
}

/// The redirect fault: a 307 to the same path with `?redirected=1`, which is never redirected
/// again.
fn redirect(
    ctx: &mut Ctx,
    uri: &Uri,
    path: &str,
    attempt: u32,
    resource: &str,
    rid: &str,
) -> Option<Response<Body>> {
    let redirected = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "redirected=1"));
    if redirected
        || !hits(
            ctx.faults.redirect_rate,
            ctx.seed(),
            "redirect",
            "PUT",
            path,
            attempt,
        )
    {
        return None;
    }
    ctx.strike("redirect");
    let location = format!("{}?redirected=1", uri.path());
    let mut resp = respond::with_body(
        StatusCode::TEMPORARY_REDIRECT,
        "application/xml",
        respond::s3_error_body(
            "TemporaryRedirect",
            "Please re-send this request to the specified temporary endpoint.",
            resource,
            rid,
        ),
    );
    if let Ok(v) = location.parse() {
        resp.headers_mut().insert("location", v);
    }
    Some(resp)
}

/// The faults that strike a file's body of `length` bytes while it is read: corruption, a
/// reset or a stall, with the bandwidth cap.
pub(super) fn body_faults(ctx: &mut Ctx, length: u64, path: &str, attempt: u32) -> ReadPlan {
    let seed = ctx.seed();
    let reset = length > 0 && hits(ctx.faults.reset_rate, seed, "reset", "PUT", path, attempt);
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
                path,
                attempt,
            )
            && ctx.shared.attempts.claim_stall(path)
    });
    let corrupt = length > 0
        && hits(
            ctx.faults.corrupt_rate,
            seed,
            "corrupt",
            "PUT",
            path,
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
    ReadPlan {
        expected: Some(length),
        bandwidth: ctx.faults.bandwidth,
        stall,
        reset,
        corrupt,
    }
}

/// The answer to a body that did not arrive whole: a reset, or the S3 error for its cause.
pub(super) fn cut_short(
    ctx: &mut Ctx,
    outcome: ReadOutcome,
    resource: &str,
    rid: &str,
) -> Result<Response<Body>, Reset> {
    match outcome {
        ReadOutcome::Reset { .. } => {
            ctx.conn.abort();
            Err(Reset)
        }
        ReadOutcome::Storage { error, .. } => {
            let message = format!("{} (storage: {error})", S3Code::InternalError.message());
            Ok(s3_error_with(
                S3Code::InternalError,
                &message,
                resource,
                rid,
            ))
        }
        ReadOutcome::TimedOut { .. } => Ok(s3_error(S3Code::RequestTimeout, resource, rid)),
        ReadOutcome::Incomplete { .. } => Ok(s3_error(S3Code::IncompleteBody, resource, rid)),
        ReadOutcome::Complete { .. } => unreachable!("a complete body is not cut short"),
    }
}

/// The answer to a stored file: 200 with its ETag, unless the lose-answer fault resets it.
pub(super) fn answer(
    ctx: &mut Ctx,
    path: &str,
    attempt: u32,
    md5: &str,
) -> Result<Response<Body>, Reset> {
    if hits(
        ctx.faults.lose_answer_rate,
        ctx.seed(),
        "lose-answer",
        "PUT",
        path,
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
