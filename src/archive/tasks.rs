//! The Tasks API (`GET {archive}/services/tasks.php`, `LOW` auth): an item's catalog tasks
//! (queued, running, in error) and its finished history, and the summary counts `ia` reads
//! (`summary=1`), as `ia`'s `catalog.py` asks for them. [`wait_idle`] polls the summary with
//! backoff until no task of the item is queued or running: `iaup tasks --wait` and
//! `iaup upload --wait` both run on it.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use super::ARCHIVE;
use crate::ias3;
use crate::secret::Credentials;
use crate::transport::{self, ApiError, Face, OnRetry, RetryPolicy};

/// An item's task counts by state.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Summary {
    #[serde(default)]
    pub queued: u64,
    #[serde(default)]
    pub running: u64,
    #[serde(default)]
    pub error: u64,
    #[serde(default)]
    pub paused: u64,
}

impl Summary {
    /// Nothing queued or running (a task in error or paused waits for a person, not for time).
    pub fn idle(&self) -> bool {
        self.queued == 0 && self.running == 0
    }
}

/// One task row, as the API gives it (its fields kept for `--json`).
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    pub row: serde_json::Map<String, Value>,
}

impl Task {
    fn text(&self, k: &str) -> Option<String> {
        crate::item_doc::value_text(self.row.get(k)?)
    }
    pub fn task_id(&self) -> Option<String> {
        self.text("task_id")
    }
    pub fn cmd(&self) -> String {
        self.text("cmd").unwrap_or_default()
    }
    pub fn submittime(&self) -> String {
        self.text("submittime").unwrap_or_default()
    }
    /// `queued`, `running`, `error` or `finished` (history rows).
    pub fn state(&self) -> &'static str {
        if self.row.contains_key("finished") || self.text("category").as_deref() == Some("history")
        {
            return "finished";
        }
        match self.text("wait_admin").as_deref() {
            Some("1") => "running",
            Some("2") => "error",
            Some("9") => "paused",
            _ => "queued",
        }
    }
}

/// Where and how to ask.
pub struct TasksApi<'a> {
    pub client: &'a reqwest::Client,
    pub archive_url: &'a str,
    pub creds: &'a Credentials,
    pub policy: &'a RetryPolicy,
}

impl TasksApi<'_> {
    async fn get(
        &self,
        what: &str,
        query: &[(&str, &str)],
        on_retry: OnRetry<'_>,
    ) -> Result<Value, ApiError> {
        let url = ias3::join(self.archive_url, "services/tasks.php");
        let auth = self.creds.authorization();
        let build = || {
            self.client
                .get(&url)
                .query(query)
                .header("authorization", &auth)
        };
        let answer = transport::send(what, self.policy, &ARCHIVE, build, on_retry).await?;
        if answer.status != 200 {
            return Err(ApiError::Refused {
                what: what.to_owned(),
                reason: ARCHIVE.describe(&answer),
            });
        }
        serde_json::from_str(&answer.body).map_err(|e| ApiError::BadAnswer {
            what: what.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The item's task counts.
    pub async fn summary(&self, id: &str, on_retry: OnRetry<'_>) -> Result<Summary, ApiError> {
        let what = format!("reading the tasks of {id}");
        let query = [
            ("identifier", id),
            ("summary", "1"),
            ("history", "0"),
            ("catalog", "0"),
        ];
        let v = self.get(&what, &query, on_retry).await?;
        let summary = v.pointer("/value/summary").cloned().unwrap_or(Value::Null);
        serde_json::from_value(summary).map_err(|e| ApiError::BadAnswer {
            what,
            reason: format!("no task summary in the answer: {e}"),
        })
    }

    /// The item's tasks: catalog (queued, running, in error), then with `history` the
    /// finished ones; newest first.
    pub async fn list(
        &self,
        id: &str,
        history: bool,
        on_retry: OnRetry<'_>,
    ) -> Result<Vec<Task>, ApiError> {
        let what = format!("reading the tasks of {id}");
        let query = [
            ("identifier", id),
            ("catalog", "1"),
            ("history", if history { "1" } else { "0" }),
            ("summary", "0"),
        ];
        let v = self.get(&what, &query, on_retry).await?;
        let mut tasks = Vec::new();
        for part in ["catalog", "history"] {
            let rows = v
                .pointer(&format!("/value/{part}"))
                .and_then(Value::as_array);
            for row in rows.into_iter().flatten() {
                if let Some(row) = row.as_object() {
                    tasks.push(Task { row: row.clone() });
                }
            }
        }
        // Newest first; tasks submitted in the same second by their ids (later ids are newer).
        tasks.sort_by_key(|t| {
            let id = t.task_id().and_then(|n| n.parse::<u64>().ok());
            std::cmp::Reverse((t.submittime(), id))
        });
        Ok(tasks)
    }
}

/// How waiting ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// No task queued or running; with the count of tasks in error.
    Idle { errors: u64 },
    /// Still busy when the time ran out.
    TimedOut(Summary),
}

/// Polls the item's summary (1 s, doubling up to 30 s) until nothing is queued or running,
/// or `timeout` passes. `on_poll` sees each summary (for a progress line).
pub async fn wait_idle(
    api: &TasksApi<'_>,
    id: &str,
    timeout: Duration,
    on_retry: OnRetry<'_>,
    on_poll: &(dyn Fn(&Summary) + Send + Sync),
) -> Result<Waited, ApiError> {
    let start = Instant::now();
    let mut delay = Duration::from_secs(1);
    loop {
        let s = api.summary(id, on_retry).await?;
        on_poll(&s);
        if s.idle() {
            return Ok(Waited::Idle { errors: s.error });
        }
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ok(Waited::TimedOut(s));
        }
        tokio::time::sleep(delay.min(left)).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn task_states_follow_wait_admin_and_history() {
        let t = |v: Value| Task {
            row: v.as_object().unwrap().clone(),
        };
        assert_eq!(t(json!({"wait_admin": 0})).state(), "queued");
        assert_eq!(t(json!({"wait_admin": "1"})).state(), "running");
        assert_eq!(t(json!({"wait_admin": 2})).state(), "error");
        assert_eq!(t(json!({"finished": "x"})).state(), "finished");
        let s: Summary =
            serde_json::from_value(json!({"queued": 0, "running": 0, "error": 2})).unwrap();
        assert!(s.idle());
        assert_eq!(s.error, 2);
    }
}
