//! The archive.org face. This file routes each request to its handler and holds the helpers
//! they share (JSON failures, form bodies, path segments):
//! - `metadata`: the metadata read API (`GET /metadata/{id}[/path]`) and write API
//!   (`POST /metadata/{id}` with a JSON Patch per target);
//! - `account`: login (`/services/xauthn/?op=login`) and `whoami` (`/services/user.php`);
//! - `download`: `/download/{id}/{name}` (and ZIP members), the data-node path
//!   `/{n}/items/{id}/{name}` and `/view_archive.php`;
//! - `search` (with `query`, the Lucene-like subset): `/services/search/v1/scrape` and
//!   `/advancedsearch.php`;
//! - `tasks`: `/services/tasks.php`.
//!
//! Answers are JSON in IA's shapes. Item rules live in `state`, document rendering in
//! `item_doc`, byte serving in `files`.

mod account;
mod download;
mod metadata;
mod query;
mod search;
mod tasks;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::json;

use crate::ctx::{Ctx, Reset};
use crate::faults::hits;
use crate::respond::{self, Body};

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
            Method::GET => metadata::get(ctx, rest).await,
            Method::POST => metadata::post(ctx, req, rest).await,
            _ => not_allowed(),
        });
    }
    if path.starts_with("/services/xauthn") {
        return Ok(match method {
            Method::POST => account::login(ctx, req).await,
            _ => not_allowed(),
        });
    }
    match path.as_str() {
        "/services/user.php" => return Ok(account::whoami(ctx, req.headers())),
        "/services/search/v1/scrape" => return Ok(search::scrape(ctx, &req)),
        "/advancedsearch.php" => return Ok(search::advanced(ctx, &req)),
        "/services/tasks.php" => return Ok(tasks::handle(ctx, req).await),
        "/view_archive.php" => return Ok(download::view_archive(ctx, &req).await),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/download/") {
        return Ok(download::download(ctx, &req, rest).await);
    }
    if let Some(rest) = download::data_node_path(&path) {
        return Ok(download::data_node(ctx, &req, rest).await);
    }
    Ok(respond::json(
        StatusCode::NOT_FOUND,
        &json!({"error": "not found"}),
    ))
}

/// `405` in the JSON shape of the write APIs.
pub(super) fn not_allowed() -> Response<Body> {
    respond::json(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"success": false, "error": "method not allowed"}),
    )
}

/// `{"success": false, "error": ...}` with `status`.
pub(super) fn failure(status: StatusCode, error: &str) -> Response<Body> {
    respond::json(status, &json!({"success": false, "error": error}))
}

/// A percent-decoded path segment (lossy: bad UTF-8 becomes U+FFFD).
pub(super) fn decode_segment(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Reads a form body (also used to drain one).
pub(super) async fn read_form(
    ctx: &mut Ctx,
    req: Request<Incoming>,
) -> Result<Vec<(String, String)>, String> {
    let collected = Limited::new(req.into_body(), FORM_LIMIT)
        .collect()
        .await
        .map_err(|e| format!("could not read the request body: {e}"))?;
    let bytes: Bytes = collected.to_bytes();
    ctx.body_size = bytes.len() as u64;
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .map_err(|e| format!("invalid form body: {e}"))
}

/// The first value of form field `name`.
pub(super) fn form_get<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
