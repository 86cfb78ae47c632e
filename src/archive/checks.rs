//! Whose keys are these? `whoami`, and the key check every command makes before its first
//! write, so wrong keys are one clear error and not a refusal per item or file.

use std::time::Duration;

use super::{ApiError, ARCHIVE};
use crate::error::AppError;
use crate::ias3;
use crate::secret::Credentials;
use crate::transport::{self, Face, RetryPolicy};

pub(super) fn no_retry_note(_: u32, _: Duration, _: &str) {}

/// `GET {archive}/services/user.php?op=whoami` with LOW auth: who the keys belong to.
pub async fn whoami(
    client: &reqwest::Client,
    archive_url: &str,
    creds: &Credentials,
) -> Result<String, ApiError> {
    let url = ias3::join(archive_url, "services/user.php?op=whoami");
    let answer = transport::send(
        "checking the keys",
        &RetryPolicy::CHECK,
        &ARCHIVE,
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
            .unwrap_or_else(|| ARCHIVE.describe(&answer)),
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
        if let Err(reason) = transport::probe(client, s3, probe_wait).await {
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
        Ok(Err(ApiError::Http(_))) => {
            match transport::probe(client, archive_url, probe_wait).await {
                Err(reason) => Err(unreachable("--archive-url", archive_url, reason)),
                Ok(()) => Ok(()),
            }
        }
        _ => Ok(()),
    }
}
