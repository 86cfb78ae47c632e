//! What every request handler is given: [`RequestRecord`] (one request as recorded), [`Shared`] (the emulator's state, faults, counters and
//! request log, one per emulator), [`Ctx`] (one request: its faults snapshot, connection, request
//! id and what was injected), [`ConnCtx`] (lets a handler reset its connection) and [`Reset`]
//! (the error that makes the server drop the connection). The server builds them; the faces use
//! them. No HTTP routing or protocol logic lives here.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::config::{Config, Faults};
use crate::faults::Attempts;
use crate::state::State;

/// One request as the emulator saw it.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    /// `PUT`, `GET`, ...
    pub method: String,
    /// Path and query as sent, without scheme and host.
    pub path: String,
    /// The host of an absolute-form request line, else the `Host` header.
    pub host: Option<String>,
    /// The status answered; 0 if the connection was reset instead.
    pub status: u16,
    /// Request headers, names lower-case, secrets masked.
    pub headers: Vec<(String, String)>,
    /// Body bytes read.
    pub body_size: u64,
    /// MD5 of a PUT body read to its end.
    pub body_md5: Option<String>,
    /// The faults injected, if any, joined by `,` in the order they struck (`slowdown:overload`,
    /// `reset`, `corrupt,stall`, ...).
    pub fault: Option<String>,
    /// Every fault injected, in the order they struck (empty for none).
    pub faults: Vec<String>,
}

/// State shared by every connection of one emulator.
pub(crate) struct Shared {
    pub config: Config,
    pub faults: RwLock<Faults>,
    pub state: Mutex<State>,
    pub attempts: Attempts,
    /// Answered requests with their arrival number.
    pub records: Mutex<Vec<(u64, RequestRecord)>>,
    pub log: Option<Mutex<std::fs::File>>,
    /// When the last global-limit SlowDown was sent.
    pub last_global_limit: Mutex<Option<Instant>>,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    /// `127.0.0.1:PORT`: the emulator's stand-in for IA's data nodes.
    pub host: String,
    pub request_counter: AtomicU64,
}

impl Shared {
    pub fn faults(&self) -> Faults {
        self.faults
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Per-connection flags a handler can set.
#[derive(Default)]
pub(crate) struct ConnCtx {
    abort: AtomicBool,
}

impl ConnCtx {
    /// Makes the connection fail: every further read or write errors, and it closes with RST.
    pub fn abort(&self) {
        self.abort.store(true, Ordering::SeqCst);
    }

    pub(crate) fn aborted(&self) -> bool {
        self.abort.load(Ordering::SeqCst)
    }
}

/// The error a handler returns to make hyper drop the connection.
#[derive(Debug, thiserror::Error)]
#[error("connection reset by emulator fault")]
pub(crate) struct Reset;

/// Per-request context handed to the faces.
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub faults: Faults,
    pub conn: Arc<ConnCtx>,
    pub request_id: String,
    /// Labels of the faults a handler injected, in the order they struck.
    pub fault_labels: Vec<String>,
    pub body_size: u64,
    pub body_md5: Option<String>,
}

impl Ctx {
    /// Records that a fault struck this request (every one is logged, not only the last).
    pub fn strike(&mut self, label: impl Into<String>) {
        self.fault_labels.push(label.into());
    }

    pub fn seed(&self) -> u64 {
        self.shared.config.seed
    }
}
