//! The read-only S3 answers: `GET /` (the rationing JSON of `?check_limit=1`, else the list of
//! items) and `GET /{id}` (a ListBucketResult of the item's files).

use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::ok_empty;
use crate::ctx::Ctx;
use crate::request::query_param;
use crate::respond::{self, s3_error, Body, S3Code};

/// IA's per-item and per-key task rations, and the global queue limit, as reported by
/// `check_limit`.
const BUCKET_RATION: usize = 150;
const ACCESSKEY_RATION: usize = 500;
const TOTAL_GLOBAL_LIMIT: u64 = 11_999;

/// `GET /`: `?check_limit=1` answers the rationing JSON; otherwise the list of items.
pub(super) fn root(ctx: &mut Ctx, req: &Request<Incoming>) -> Response<Body> {
    if query_param(req.uri(), "check_limit").is_none() {
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
    let bucket = query_param(req.uri(), "bucket").unwrap_or_default();
    let accesskey = query_param(req.uri(), "accesskey").unwrap_or_default();
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
pub(super) fn list_bucket(
    ctx: &mut Ctx,
    req: &Request<Incoming>,
    id: &str,
    resource: &str,
) -> Response<Body> {
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
                crate::clock::s3_date(f.data.mtime),
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
