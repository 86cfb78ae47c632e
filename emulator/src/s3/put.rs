//! `PUT` of an item (bucket) or a file: after the shared precheck, Content-Length, Content-MD5,
//! metadata headers, bucket existence, the redirect and rate faults; then the body streams to a
//! temp file (with the reset, stall and corruption faults) and is committed to the item.

use hyper::body::Incoming;
use hyper::header::{HeaderValue, ETAG};
use hyper::{Request, Response, StatusCode};

use super::precheck::{injected, parse_content_md5, precheck};
use super::{key_path, ok_empty, refuse, TempFile};
use crate::body::{self, ReadOutcome, ReadPlan};
use crate::ctx::{Ctx, Reset};
use crate::faults::hits;
use crate::meta_headers;
use crate::request::{header, header_is_one};
use crate::respond::{self, s3_error, s3_error_with, Body, S3Code};
use crate::state::{PutCommit, PutRecord, TaskRule};

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
    let committed = ctx
        .shared
        .state()
        .commit_put(commit, TaskRule::of(&ctx.faults));
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
