//! Logging in with an archive.org account's email and password (`iaup configure`): the S3
//! keys and the account's cookies come back.

use serde::Deserialize;

use super::{ApiError, ARCHIVE};
use crate::ias3;
use crate::secret::{Credentials, Secret};
use crate::transport::{self, RetryPolicy};

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
    let answer = transport::send(
        "logging in",
        &RetryPolicy::CHECK,
        &ARCHIVE,
        || client.post(&url).form(&form),
        &super::checks::no_retry_note,
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
