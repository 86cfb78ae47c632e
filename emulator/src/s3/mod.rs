//! The IAS3 face (`s3.us.archive.org`): PUT, DELETE, GET and HEAD of `/{id}/{key}`, PUT of a
//! bucket, `GET /?check_limit=1`, S3 multipart uploads (told apart by their query string), and
//! the S3-level faults (SlowDown of each kind, 500s, fail-first, resets and stalls mid-body). It
//! checks what IAS3 checks, in this order: simulated error, LOW auth, identifier, key (not IA's
//! generated `_meta.xml`/`_files.xml`) — the shared [`precheck`] of PUT, DELETE and the
//! multipart calls — then Content-Length, Content-MD5 syntax, metadata headers, bucket
//! existence, injected faults; then the body is streamed to disk and its MD5 compared. A
//! refused request's body is still read and discarded (unless the client sent
//! `Expect: 100-continue`), so the client sees the answer rather than a broken pipe. This file
//! routes; `precheck`, `put`, `delete`, `list` and `multipart` hold the handlers. GETs of a
//! file are served by the shared `files` module, as archive.org's downloads are.

mod delete;
mod list;
mod multipart;
mod precheck;
mod put;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};

use crate::body::{self, ReadPlan};
use crate::ctx::{Ctx, Reset};
use crate::request::{header, split_path};
use crate::respond::{self, s3_error, Body, S3Code};

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
    if let (Some(id), Some(call)) = (&id, multipart::Call::of(&method, req.uri(), key.is_some())) {
        let id = id.clone();
        return multipart::handle(ctx, req, call, id, key, resource).await;
    }
    match (method, id, key) {
        (Method::GET | Method::HEAD, None, _) => Ok(list::root(ctx, &req)),
        (Method::PUT, Some(id), key) => put::put(ctx, req, id, key, resource).await,
        (Method::DELETE, Some(id), key) => delete::delete(ctx, req, id, key, resource).await,
        (Method::GET | Method::HEAD, Some(id), None) => {
            Ok(list::list_bucket(ctx, &req, &id, &resource))
        }
        (Method::GET | Method::HEAD, Some(id), Some(key)) => {
            Ok(crate::files::serve_key(ctx, &req, &id, &key, &resource).await)
        }
        _ => {
            let resp = s3_error(S3Code::MethodNotAllowed, &resource, &ctx.request_id);
            Ok(refuse(ctx, req, resp).await)
        }
    }
}

/// Reads and discards the body (so the client can read the answer), then answers `resp`.
pub(super) async fn refuse(
    ctx: &mut Ctx,
    req: Request<Incoming>,
    resp: Response<Body>,
) -> Response<Body> {
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

/// `/{id}/{key}` or `/{id}`: the path fault decisions and attempt counts are keyed by.
pub(super) fn key_path(id: &str, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("/{id}/{k}"),
        None => format!("/{id}"),
    }
}

/// An upload's temp file, removed when dropped: after a refusal, and also when hyper drops the
/// handler because the client went away mid-body. Once committed it has been renamed away.
pub(super) struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An answer with no body.
pub(super) fn ok_empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(respond::empty());
    *r.status_mut() = status;
    r
}
