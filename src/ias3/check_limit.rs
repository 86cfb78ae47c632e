//! IAS3's check_limit, and the run-wide [`Gate`] it drives: while IAS3 reports its global task
//! queue full (or an item over its task limit), no new PUT starts; one task polls check_limit
//! until it clears and reopens the gate.

use tokio::sync::watch;

use super::{quote, S3};
use crate::secret::Credentials;
use crate::transport::{self, ApiError, OnRetry, RetryPolicy};

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
        quote(&creds.access),
        quote(bucket)
    );
    let what = "checking the task limit";
    let answer = transport::send(what, policy, &S3, || client.get(&url), on_retry).await?;
    let v: serde_json::Value =
        serde_json::from_str(&answer.body).map_err(|e| ApiError::BadAnswer {
            what: what.into(),
            reason: format!("{}: {e}", transport::Face::describe(&S3, &answer)),
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

/// Open or paused. While paused no new PUT starts; one task polls check_limit to reopen it.
pub struct Gate {
    tx: watch::Sender<bool>,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            tx: watch::Sender::new(false),
        }
    }
}

impl Gate {
    pub async fn wait_open(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|paused| !paused).await;
    }

    /// Pauses; `true` when this call closed an open gate (the caller then owns the polling).
    pub fn pause(&self) -> bool {
        self.tx.send_if_modified(|p| {
            let was_open = !*p;
            *p = true;
            was_open
        })
    }

    pub fn open(&self) {
        self.tx.send_replace(false);
    }

    pub fn is_paused(&self) -> bool {
        *self.tx.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn gate_pauses_and_opens() {
        let g = std::sync::Arc::new(Gate::default());
        assert!(g.pause());
        assert!(!g.pause(), "second pause does not own the polling");
        let g2 = g.clone();
        let waiter = tokio::spawn(async move { g2.wait_open().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        g.open();
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
