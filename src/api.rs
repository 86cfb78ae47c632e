//! archive.org's own API (not S3) and IAS3's check_limit: login, whoami, item metadata read,
//! task-limit checks. Small replayable requests, sent through [`http::send_with_retry`].

use std::time::Duration;

use serde::Deserialize;

use crate::error::AppError;
use crate::http::{self, HttpError, OnRetry, RetryPolicy};
use crate::ias3;
use crate::secret::{Credentials, Secret};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("{what}: {reason}")]
    Refused { what: String, reason: String },
    #[error("{what}: the answer is not what archive.org sends ({reason})")]
    BadAnswer { what: String, reason: String },
}

fn no_retry_note(_: u32, _: Duration, _: &str) {}

/// What a successful login gives.
#[derive(Debug)]
pub struct Login {
    pub credentials: Credentials,
    pub screenname: Option<String>,
    pub logged_in_user: Option<String>,
    pub logged_in_sig: Option<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("no archive.org account uses that email address")]
    AccountNotFound,
    #[error("wrong password for that archive.org account")]
    BadPassword,
    #[error("login refused: {0}")]
    Other(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

#[derive(Deserialize)]
struct LoginAnswer {
    success: bool,
    #[serde(default)]
    values: serde_json::Value,
}

/// `POST {archive}/services/xauthn/?op=login` with form `email`, `password`.
pub async fn login(
    client: &reqwest::Client,
    archive_url: &str,
    email: &str,
    password: &Secret,
) -> Result<Login, LoginError> {
    let url = ias3::join(archive_url, "services/xauthn/?op=login");
    let form = [("email", email), ("password", password.expose())];
    let policy = RetryPolicy::CHECK;
    let answer = http::send_with_retry(
        "logging in",
        &policy,
        || client.post(&url).form(&form),
        &no_retry_note,
    )
    .await
    .map_err(ApiError::from)?;
    let parsed: LoginAnswer =
        serde_json::from_str(&answer.body).map_err(|e| ApiError::BadAnswer {
            what: "logging in".into(),
            reason: format!("HTTP {}: {e}", answer.status),
        })?;
    let v = &parsed.values;
    if !parsed.success {
        return Err(match v["reason"].as_str() {
            Some("account_not_found") => LoginError::AccountNotFound,
            Some("account_bad_password") => LoginError::BadPassword,
            Some(r) => LoginError::Other(r.to_owned()),
            None => LoginError::Other(format!("HTTP {}", answer.status)),
        });
    }
    let s = |x: &serde_json::Value| x.as_str().map(str::to_owned);
    let (Some(access), Some(secret)) = (s(&v["s3"]["access"]), s(&v["s3"]["secret"])) else {
        return Err(ApiError::BadAnswer {
            what: "logging in".into(),
            reason: "no S3 keys in the answer".into(),
        }
        .into());
    };
    Ok(Login {
        credentials: Credentials {
            access,
            secret: Secret::new(secret),
        },
        screenname: s(&v["screenname"]),
        logged_in_user: s(&v["cookies"]["logged-in-user"]),
        logged_in_sig: s(&v["cookies"]["logged-in-sig"]).map(Secret::new),
    })
}

/// `GET {archive}/services/user.php?op=whoami` with LOW auth: who the keys belong to.
pub async fn whoami(
    client: &reqwest::Client,
    archive_url: &str,
    creds: &Credentials,
) -> Result<String, ApiError> {
    let url = ias3::join(archive_url, "services/user.php?op=whoami");
    let answer = http::send_with_retry(
        "checking the keys",
        &RetryPolicy::CHECK,
        || {
            client
                .get(&url)
                .header("authorization", creds.authorization())
        },
        &no_retry_note,
    )
    .await?;
    let v: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
    if answer.status == 200 && v["success"].as_bool() == Some(true) {
        let val = &v["value"];
        let who = val["username"]
            .as_str()
            .or(val["screenname"].as_str())
            .unwrap_or("(unknown)");
        return Ok(who.to_owned());
    }
    Err(ApiError::Refused {
        what: "archive.org did not accept the keys".into(),
        reason: v["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| answer.describe()),
    })
}

/// The key check before a command's first write (upload, metadata, delete): asks archive.org
/// whose keys these are, so wrong keys are one exit-2 error with a hint, not a 403 for every
/// item or file (IAS3 answers a bad key only after the whole body: users lost multi-GB uploads
/// that way). An endpoint that cannot be reached at all (refused, no such host, TLS) is exit 2
/// at once, not minutes of retries: the S3 one (when the command writes there) gets one
/// request of its own, archive.org's is the whoami. Past this point transient errors keep
/// their retry budget. Only a refusal of the keys stops the run; when the check itself fails
/// otherwise (timeout, 5xx) the run goes on and its requests report what they meet.
pub async fn check_keys_before_writing(
    client: &reqwest::Client,
    archive_url: &str,
    s3_url: Option<&str>,
    creds: &Credentials,
) -> Result<(), AppError> {
    let unreachable = |flag: &str, url: &str, reason: String| {
        AppError::usage(crate::error::msg(format!("cannot reach {url}: {reason}"))).hint(format!(
            "nothing was sent; check {flag} (or its environment variable) and the network"
        ))
    };
    let probe_wait = Duration::from_secs(20);
    if let Some(s3) = s3_url {
        if let Err(reason) = http::probe(client, s3, probe_wait).await {
            return Err(unreachable("--s3-url", s3, reason));
        }
    }
    let check =
        tokio::time::timeout(Duration::from_secs(20), whoami(client, archive_url, creds)).await;
    match check {
        Ok(Err(e @ ApiError::Refused { .. })) => Err(AppError::usage(e).hint(
            "nothing was sent; fix the keys with `iaup configure` (check them with \
             `iaup configure --check`)",
        )),
        // Failed after its retries: unreachable, or only unwell?
        Ok(Err(ApiError::Http(_))) => match http::probe(client, archive_url, probe_wait).await {
            Err(reason) => Err(unreachable("--archive-url", archive_url, reason)),
            Ok(()) => Ok(()),
        },
        _ => Ok(()),
    }
}

/// IAS3 `check_limit` for one bucket: `true` when over its (or the global) task limit.
pub async fn over_limit(
    client: &reqwest::Client,
    s3_url: &str,
    creds: &Credentials,
    bucket: &str,
    policy: &RetryPolicy,
    on_retry: OnRetry<'_>,
) -> Result<bool, ApiError> {
    let url = format!(
        "{}/?check_limit=1&accesskey={}&bucket={}",
        s3_url.trim_end_matches('/'),
        ias3::quote(&creds.access),
        ias3::quote(bucket)
    );
    let answer = http::send_with_retry(
        "checking the task limit",
        policy,
        || client.get(&url),
        on_retry,
    )
    .await?;
    let v: serde_json::Value =
        serde_json::from_str(&answer.body).map_err(|e| ApiError::BadAnswer {
            what: "checking the task limit".into(),
            reason: format!("{}: {e}", answer.describe()),
        })?;
    let over = match &v["over_limit"] {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Number(n) => n.as_i64().unwrap_or(0) != 0,
        _ => false,
    };
    // over_limit speaks for this bucket and key; the global queue is in the details.
    let d = &v["detail"];
    let global_full = match (
        d["total_tasks_queued"].as_i64(),
        d["total_global_limit"].as_i64(),
    ) {
        (Some(q), Some(l)) => l > 0 && q >= l,
        _ => false,
    };
    Ok(over || global_full)
}

/// `GET {archive}/metadata/{id}`: `None` when the item does not exist (`{}`).
pub async fn item_metadata(
    client: &reqwest::Client,
    archive_url: &str,
    identifier: &str,
    policy: &RetryPolicy,
    on_retry: OnRetry<'_>,
) -> Result<Option<serde_json::Value>, ApiError> {
    let url = ias3::join(
        archive_url,
        &format!("metadata/{}", ias3::quote(identifier)),
    );
    let what = format!("reading the metadata of {identifier}");
    let answer = http::send_with_retry(&what, policy, || client.get(&url), on_retry).await?;
    if answer.status == 404 {
        return Ok(None);
    }
    if answer.status != 200 {
        return Err(ApiError::Refused {
            what,
            reason: answer.describe(),
        });
    }
    let v: serde_json::Value =
        serde_json::from_str(&answer.body).map_err(|e| ApiError::BadAnswer {
            what: what.clone(),
            reason: e.to_string(),
        })?;
    Ok(match &v {
        serde_json::Value::Object(m) if m.is_empty() => None,
        _ => Some(v),
    })
}
