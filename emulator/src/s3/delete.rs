//! `DELETE` of a file (with `x-archive-cascade-delete` and `x-archive-keep-old-version`); a
//! DELETE of an item is refused as IAS3 does.

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use super::precheck::{injected, precheck};
use super::{key_path, ok_empty, refuse};
use crate::ctx::{Ctx, Reset};
use crate::request::header_is_one;
use crate::respond::{s3_error, s3_error_with, Body, S3Code};
use crate::state::StateError;

/// `DELETE /{id}/{key}` (a bucket DELETE is refused, as IAS3 does).
pub(super) async fn delete(
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
    if let Some(resp) = precheck(ctx, &headers, &id, key.as_deref(), &resource) {
        return Ok(refuse(ctx, req, resp).await);
    }
    let Some(key) = key else {
        // Seed 003: "IAS3 does not allow DELETE for buckets, only for files. Attempting to
        // DELETE a bucket will result in a _Not Authorized_ error."
        let message =
            "Not Authorized: IAS3 does not allow DELETE of items (buckets), only of files";
        let resp = s3_error_with(S3Code::AccessDenied, message, &resource, &rid);
        return Ok(refuse(ctx, req, resp).await);
    };
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
        Err(StateError::Io(_) | StateError::NoSuchUpload) => {
            s3_error(S3Code::InternalError, &resource, &rid)
        }
    };
    Ok(refuse(ctx, req, resp).await)
}
