//! The checks PUT and DELETE share, in IAS3's order: `x-archive-simulate-error`, LOW auth, the
//! identifier, and the key (never IA's generated `_meta.xml`/`_files.xml`) — plus the answers
//! both give for injected faults (SlowDown of each kind, 500) and the Content-MD5 syntax.

use std::time::Instant;

use hyper::header::HeaderValue;
use hyper::{HeaderMap, Response, StatusCode};

use crate::config::SlowDownKind;
use crate::ctx::Ctx;
use crate::faults::hits;
use crate::request::{header, low_auth_ok, valid_identifier};
use crate::respond::{self, s3_error, s3_error_with, Body, S3Code};

/// The first refusal among the checks every S3 write makes, in IAS3's order: a simulated error,
/// then LOW auth, then the identifier, then (when a key is given) a generated file.
pub(super) fn precheck(
    ctx: &mut Ctx,
    headers: &HeaderMap,
    id: &str,
    key: Option<&str>,
    resource: &str,
) -> Option<Response<Body>> {
    if let Some(resp) = simulated(ctx, headers, id, resource) {
        return Some(resp);
    }
    let rid = ctx.request_id.clone();
    if !low_auth_ok(ctx, headers) {
        return Some(s3_error(S3Code::AccessDenied, resource, &rid));
    }
    if !valid_identifier(id) {
        return Some(s3_error(S3Code::InvalidBucketName, resource, &rid));
    }
    key.and_then(|k| generated_file(id, k, resource, &rid))
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
pub(super) fn slowdown(ctx: &Ctx, kind: SlowDownKind, id: &str, resource: &str) -> Response<Body> {
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
pub(super) fn injected(
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

#[cfg(test)]
mod tests {
    use super::*;

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
