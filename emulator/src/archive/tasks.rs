//! The Tasks API, `/services/tasks.php` (IA-S3 keys required, as at IA):
//! - `GET` with `identifier`, `task_id`, `cmd`, `submitter` filters and the switches
//!   `summary`, `catalog`, `history` (each 1 unless sent as 0) answers
//!   `{"success": true, "value": {"summary": {"queued", "running", "error", "paused"},
//!   "catalog": [...], "history": [...]}}`; with `limit=0` (what `ia tasks` sends) it streams
//!   JSON lines instead (`application/json-l`), one task a line with its `category`
//!   (`catalog`, `history`, or `summary` for the counts line).
//! - `POST` of `{"cmd", "identifier", "args", "priority"}` queues a task.
//!
//! Catalog rows carry `wait_admin`: 0 queued, 1 running (the item's oldest unfinished task),
//! 2 error; history rows carry `finished`. Rows are newest first. Tasks come from uploads,
//! derives and metadata writes (each lasting the task delay), and from `Emulator::seed_task`.

use std::time::Instant;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::{failure, not_allowed, FORM_LIMIT};
use crate::clock::{ia_date, unix_now};
use crate::ctx::Ctx;
use crate::request::{low_auth_ok, query_pairs};
use crate::respond::{self, Body};
use crate::state::{Item, Task, TaskRule};

/// Serves `/services/tasks.php`.
pub(super) async fn handle(ctx: &mut Ctx, req: Request<Incoming>) -> Response<Body> {
    if !low_auth_ok(ctx, req.headers()) {
        return failure(
            StatusCode::UNAUTHORIZED,
            "You must be logged in (Authorization: LOW with IA-S3 keys) to use the Tasks API",
        );
    }
    match *req.method() {
        Method::GET => list(ctx, &req),
        Method::POST => submit(ctx, req).await,
        _ => not_allowed(),
    }
}

/// The filters and switches of a task listing.
struct Listing {
    identifier: Option<String>,
    task_id: Option<u64>,
    cmd: Option<String>,
    submitter: Option<String>,
    summary: bool,
    catalog: bool,
    history: bool,
    stream: bool,
}

impl Listing {
    fn of(params: &[(String, String)]) -> Listing {
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let on = |name: &str| get(name).is_none_or(|v| v != "0" && v != "false");
        Listing {
            identifier: get("identifier"),
            task_id: get("task_id").and_then(|v| v.parse().ok()),
            cmd: get("cmd"),
            submitter: get("submitter"),
            summary: on("summary"),
            catalog: on("catalog"),
            history: on("history"),
            stream: get("limit").as_deref() == Some("0"),
        }
    }

    fn wants(&self, item: &Item, task: &Task, email: &str) -> bool {
        self.identifier
            .as_ref()
            .is_none_or(|id| *id == item.identifier)
            && self.task_id.is_none_or(|n| n == task.id)
            && self.cmd.as_ref().is_none_or(|c| *c == task.cmd)
            && self.submitter.as_ref().is_none_or(|s| s == email)
    }
}

/// One task as the Tasks API lists it.
fn row(item: &Item, task: &Task, now: Instant, email: &str, host: &str) -> Value {
    let mut row = json!({
        "identifier": item.identifier,
        "task_id": task.id,
        "server": host,
        "cmd": task.cmd,
        "args": task.args,
        "submittime": ia_date(task.submitted),
        "submitter": email,
        "priority": task.priority,
    });
    if let Some(obj) = row.as_object_mut() {
        if task.finished(now) {
            let ago = now.saturating_duration_since(task.due).as_secs();
            obj.insert(
                "finished".into(),
                json!(ia_date(unix_now().saturating_sub(ago))),
            );
        } else {
            obj.insert("wait_admin".into(), json!(item.task_status(task, now)));
        }
    }
    row
}

fn list(ctx: &mut Ctx, req: &Request<Incoming>) -> Response<Body> {
    let listing = Listing::of(&query_pairs(req.uri()));
    let now = Instant::now();
    let email = ctx.shared.config.email.clone();
    let host = ctx.shared.host.clone();
    let (mut catalog, mut history) = (Vec::new(), Vec::new());
    let mut counts = [0u64; 3];
    {
        let state = ctx.shared.state();
        for id in state.identifiers() {
            let Some(item) = state.item(&id) else {
                continue;
            };
            for task in item.tasks.iter().filter(|t| listing.wants(item, t, &email)) {
                let row = (task.id, row(item, task, now, &email, &host));
                if task.finished(now) {
                    history.push(row);
                } else {
                    counts[usize::from(item.task_status(task, now))] += 1;
                    catalog.push(row);
                }
            }
        }
    }
    catalog.sort_by_key(|r| std::cmp::Reverse(r.0));
    history.sort_by_key(|r| std::cmp::Reverse(r.0));
    let summary = json!({
        "queued": counts[0], "running": counts[1], "error": counts[2], "paused": 0
    });
    if listing.stream {
        let mut lines = String::new();
        let mut emit = |category: &str, mut v: Value| {
            if let Some(obj) = v.as_object_mut() {
                obj.insert("category".into(), json!(category));
            }
            lines.push_str(&v.to_string());
            lines.push('\n');
        };
        if listing.summary {
            emit("summary", summary);
        }
        if listing.catalog {
            catalog.into_iter().for_each(|(_, r)| emit("catalog", r));
        }
        if listing.history {
            history.into_iter().for_each(|(_, r)| emit("history", r));
        }
        return respond::with_body(StatusCode::OK, "application/json-l", lines);
    }
    let mut value = Map::new();
    if listing.summary {
        value.insert("summary".into(), summary);
    }
    if listing.catalog {
        value.insert(
            "catalog".into(),
            catalog.into_iter().map(|(_, r)| r).collect(),
        );
    }
    if listing.history {
        value.insert(
            "history".into(),
            history.into_iter().map(|(_, r)| r).collect(),
        );
    }
    respond::json(StatusCode::OK, &json!({"success": true, "value": value}))
}

/// `POST`: queues `{"cmd", "identifier", "args", "priority"}` on an existing item.
async fn submit(ctx: &mut Ctx, req: Request<Incoming>) -> Response<Body> {
    let body = match Limited::new(req.into_body(), FORM_LIMIT).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return failure(StatusCode::BAD_REQUEST, &format!("unreadable body: {e}")),
    };
    ctx.body_size = body.len() as u64;
    let Ok(Value::Object(asked)) = serde_json::from_slice::<Value>(&body) else {
        return failure(StatusCode::BAD_REQUEST, "the body must be a JSON object");
    };
    let (Some(cmd), Some(id)) = (
        asked.get("cmd").and_then(Value::as_str),
        asked.get("identifier").and_then(Value::as_str),
    ) else {
        return failure(StatusCode::BAD_REQUEST, "cmd and identifier are required");
    };
    let args = match asked.get("args") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let priority = asked.get("priority").and_then(Value::as_i64).unwrap_or(0);
    let rule = TaskRule::of(&ctx.faults);
    let mut state = ctx.shared.state();
    if state.item(id).is_none() {
        return failure(StatusCode::BAD_REQUEST, &format!("item {id} not found"));
    }
    let task_id = state.add_task(id, cmd, args, priority, rule);
    respond::json(
        StatusCode::OK,
        &json!({
            "success": true,
            "value": {"task_id": task_id, "log": format!("{}/log/{task_id}", ctx.shared.base_url)}
        }),
    )
}
