//! The account answers: login (`POST /services/xauthn/?op=login`, answering the S3 keys and
//! the `logged-in-*` cookies) and `whoami` (`GET /services/user.php?op=whoami`, by LOW auth or
//! by those cookies).

use hyper::body::Incoming;
use hyper::header::{HeaderValue, SET_COOKIE};
use hyper::{HeaderMap, Request, Response, StatusCode};
use md5::{Digest, Md5};
use serde_json::json;

use super::{decode_segment, failure, form_get, read_form};
use crate::ctx::Ctx;
use crate::request::low_auth_ok;
use crate::respond::{self, Body};

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
pub(super) async fn login(ctx: &mut Ctx, req: Request<Incoming>) -> Response<Body> {
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

/// Whether the `logged-in-user`/`logged-in-sig` cookies are the configured account's.
pub(super) fn cookie_auth_ok(ctx: &Ctx, headers: &HeaderMap) -> bool {
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
pub(super) fn whoami(ctx: &mut Ctx, headers: &HeaderMap) -> Response<Body> {
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
