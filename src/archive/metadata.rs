//! archive.org's metadata API: the read (`GET {archive}/metadata/{id}`, [`item_metadata`]) and
//! the Metadata Write API (IAS3-NOTES §3): one `POST {archive}/metadata/{id}` with a form body
//! (`-target`, `-patch`, `priority`, `access`, `secret`), and what its answer means.
//!
//! A write here is one attempt, classified; it is not retried here. A write that failed with
//! a 5xx may still have been applied, so the caller re-reads the metadata and re-computes the
//! patch before each retry (see `commands::metadata`, which runs its attempts through
//! `transport::retry::run`), which a blind resend could not do.

use std::time::Duration;

use serde_json::Value;

use super::{ApiError, ARCHIVE};
use crate::ias3;
use crate::secret::Credentials;
use crate::transport::{self, classify_status, Class, Face, OnRetry, RetryPolicy};

/// `GET {archive}/metadata/{id}`: `None` when the item does not exist (`{}`).
pub async fn item_metadata(
    client: &reqwest::Client,
    archive_url: &str,
    identifier: &str,
    policy: &RetryPolicy,
    on_retry: OnRetry<'_>,
) -> Result<Option<Value>, ApiError> {
    let url = ias3::join(
        archive_url,
        &format!("metadata/{}", ias3::quote(identifier)),
    );
    let what = format!("reading the metadata of {identifier}");
    let answer = transport::send(&what, policy, &ARCHIVE, || client.get(&url), on_retry).await?;
    if answer.status == 404 {
        return Ok(None);
    }
    if answer.status != 200 {
        return Err(ApiError::Refused {
            what,
            reason: ARCHIVE.describe(&answer),
        });
    }
    let v: Value = serde_json::from_str(&answer.body).map_err(|e| ApiError::BadAnswer {
        what: what.clone(),
        reason: e.to_string(),
    })?;
    Ok(match &v {
        Value::Object(m) if m.is_empty() => None,
        _ => Some(v),
    })
}

/// Where and how to read many items' metadata documents at once.
#[derive(Clone)]
pub struct ManyItems {
    pub client: reqwest::Client,
    pub archive_url: String,
    pub policy: RetryPolicy,
    /// Items read at once.
    pub jobs: usize,
    /// Says that a read is retried (the printer's note, or nothing).
    pub printer: crate::printer::Printer,
}

/// One item's document, as [`item_metadata`] gives it.
pub type ItemRead = Result<Option<Value>, ApiError>;

impl ManyItems {
    /// `GET /metadata/ID` of each of `ids`, `jobs` at a time on the shared worker pool; each
    /// answer comes back with its index in `ids` (`None`: never started, after `stop`). Read
    /// them in order with [`crate::run::in_order`].
    pub fn read(
        &self,
        ids: Vec<String>,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::sync::mpsc::Receiver<(usize, Option<ItemRead>)> {
        let me = self.clone();
        crate::run::pool(ids, self.jobs.max(1), stop, move |id: String| {
            let me = me.clone();
            async move {
                let on_retry = me.printer.retry_note("reading an item");
                item_metadata(&me.client, &me.archive_url, &id, &me.policy, &on_retry).await
            }
        })
    }
}

/// `ia`'s default priority for metadata tasks.
pub const DEFAULT_PRIORITY: i32 = -5;

/// The outcome of one POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Posted {
    /// The change was accepted and queued as a task.
    Applied { task_id: Option<u64> },
    /// The server found nothing to change (`{"error":"no changes made"}`): not a failure.
    NoChanges,
    /// The item does not exist (404).
    NoSuchItem,
    /// Refused for good (bad credentials, bad patch...): the same request fails again.
    Refused { reason: String },
    /// Worth another attempt after a backoff (5xx, 429, 408, connection errors); the change
    /// may or may not have been applied.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
        /// A 429 or 503: the server asks for fewer requests.
        overload: bool,
    },
}

/// The part of an item's metadata document a `-target` addresses: `metadata` is the item's
/// metadata, `files/NAME` the entry of file NAME, anything else the document's field of that
/// name (empty when absent). An error when `files/NAME` names no file.
pub fn target_doc(doc: &Value, target: &str) -> Result<Value, String> {
    if let Some(name) = target.strip_prefix("files/") {
        return doc["files"]
            .as_array()
            .and_then(|files| files.iter().find(|f| f["name"].as_str() == Some(name)))
            .cloned()
            .ok_or_else(|| format!("the item has no file named `{name}`"));
    }
    Ok(match doc.get(target) {
        Some(v @ Value::Object(_)) => v.clone(),
        _ => Value::Object(Default::default()),
    })
}

/// The form fields of a write, without the credentials.
pub fn form_fields(
    target: &str,
    patch: &json_patch::Patch,
    priority: i32,
) -> Vec<(&'static str, String)> {
    vec![
        ("-target", target.to_owned()),
        (
            "-patch",
            serde_json::to_string(patch).expect("a JSON Patch always serializes"),
        ),
        ("priority", priority.to_string()),
    ]
}

/// The POST request, credentials included as form fields, `headers` (`--header`) added.
/// `reqwest` form-encodes every value, so a secret with `+`, `&` or `=` arrives intact (`ia`
/// appends them raw, a bug).
pub fn write_request(
    client: &reqwest::Client,
    archive_url: &str,
    creds: &Credentials,
    identifier: &str,
    fields: &[(&'static str, String)],
    headers: &[(String, String)],
) -> reqwest::RequestBuilder {
    let url = ias3::join(
        archive_url,
        &format!("metadata/{}", ias3::quote(identifier)),
    );
    let mut form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    form.push(("access", &creds.access));
    form.push(("secret", creds.secret.expose()));
    headers
        .iter()
        .fold(client.post(url), |b, (k, v)| b.header(k, v))
        .form(&form)
}

/// Sends one write (a [`write_request`]) and classifies the answer.
pub async fn post_patch(request: reqwest::RequestBuilder) -> Posted {
    let resp = match request.send().await {
        Ok(resp) => resp,
        Err(e) => return transport_failure(&e),
    };
    let status = resp.status().as_u16();
    let retry_after = transport::retry_after(resp.headers());
    match resp.text().await {
        Ok(body) => classify(status, &body, retry_after),
        Err(e) => transport_failure(&e),
    }
}

/// A write that got no (whole) answer: transient or refused, as the transport classes it.
fn transport_failure(e: &reqwest::Error) -> Posted {
    let reason = transport::error_chain(e);
    match transport::classify_error(e) {
        Class::Fatal => Posted::Refused { reason },
        _ => Posted::Transient {
            reason,
            retry_after: None,
            overload: false,
        },
    }
}

/// What an answer of the write API means.
pub fn classify(status: u16, body: &str, retry_after: Option<Duration>) -> Posted {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let error = v["error"].as_str().map(str::to_owned);
    let is_no_changes = |e: &Option<String>| {
        e.as_deref()
            .is_some_and(|e| e.to_ascii_lowercase().contains("no changes"))
    };
    if is_no_changes(&error) {
        return Posted::NoChanges;
    }
    let reason = || match &error {
        Some(e) => format!("HTTP {status}: {e}"),
        None => plain(status, body),
    };
    match classify_status(status) {
        Class::Success if v["success"].as_bool() == Some(true) => Posted::Applied {
            task_id: v["task_id"].as_u64(),
        },
        Class::Success => Posted::Refused {
            reason: match error {
                Some(e) => e,
                None => format!("unexpected answer: {}", plain(status, body)),
            },
        },
        class @ (Class::Transient | Class::Overload | Class::Pause) => Posted::Transient {
            reason: reason(),
            retry_after,
            overload: class == Class::Overload,
        },
        Class::Fatal | Class::FatalForGroup if status == 404 => Posted::NoSuchItem,
        Class::Fatal | Class::FatalForGroup => Posted::Refused { reason: reason() },
    }
}

fn plain(status: u16, body: &str) -> String {
    ARCHIVE.describe(&transport::Answer {
        status,
        headers: Default::default(),
        body: body.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use serde_json::json;

    #[test]
    fn answers_are_classified() {
        assert_eq!(
            classify(200, r#"{"success":true,"task_id":42,"log":"x"}"#, None),
            Posted::Applied { task_id: Some(42) }
        );
        assert_eq!(
            classify(400, r#"{"success":false,"error":"no changes made"}"#, None),
            Posted::NoChanges
        );
        assert_eq!(
            classify(404, r#"{"success":false,"error":"item x not found"}"#, None),
            Posted::NoSuchItem
        );
        assert_eq!(
            classify(
                403,
                r#"{"success":false,"error":"Invalid credentials"}"#,
                None
            ),
            Posted::Refused {
                reason: "HTTP 403: Invalid credentials".into()
            }
        );
        assert!(matches!(
            classify(500, "oops", Some(Duration::from_secs(3))),
            Posted::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert!(matches!(classify(429, "", None), Posted::Transient { .. }));
        assert!(matches!(classify(503, "", None), Posted::Transient { .. }));
        assert_eq!(
            classify(200, r#"{"success":false,"error":"bad"}"#, None),
            Posted::Refused {
                reason: "bad".into()
            }
        );
    }

    #[test]
    fn targets_address_parts_of_the_document() {
        let doc = json!({
            "metadata": {"title": "T"},
            "files": [{"name": "a.txt", "source": "original"}],
        });
        assert_eq!(target_doc(&doc, "metadata"), Ok(json!({"title": "T"})));
        assert_eq!(
            target_doc(&doc, "files/a.txt"),
            Ok(json!({"name": "a.txt", "source": "original"}))
        );
        assert!(target_doc(&doc, "files/b.txt").is_err());
        assert_eq!(target_doc(&doc, "extra"), Ok(json!({})));
    }

    // ia appends access and secret to the body unencoded; a secret with `&` or `+` then
    // arrives broken. Pin that iaup encodes them.
    #[test]
    fn credentials_are_form_encoded() {
        let creds = Credentials {
            access: "AK 1".into(),
            secret: Secret::new("s+e&c=r%t"),
        };
        let patch: json_patch::Patch =
            serde_json::from_value(json!([{"op": "add", "path": "/title", "value": "Б&"}]))
                .unwrap();
        let fields = form_fields("metadata", &patch, -5);
        let req = write_request(
            &reqwest::Client::new(),
            "http://127.0.0.1:9/",
            &creds,
            "my-item",
            &fields,
            &[("x-archive-note".to_owned(), "n".to_owned())],
        )
        .build()
        .unwrap();
        assert_eq!(req.url().as_str(), "http://127.0.0.1:9/metadata/my-item");
        assert_eq!(req.headers()["x-archive-note"], "n");
        let body = std::str::from_utf8(req.body().unwrap().as_bytes().unwrap()).unwrap();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("-target"), Some("metadata"));
        assert_eq!(
            get("-patch"),
            Some(r#"[{"op":"add","path":"/title","value":"Б&"}]"#)
        );
        assert_eq!(get("priority"), Some("-5"));
        assert_eq!(get("access"), Some("AK 1"));
        assert_eq!(get("secret"), Some("s+e&c=r%t"));
        assert!(body.contains("secret=s%2Be%26c%3Dr%25t"), "{body}");
    }
}
