//! `ias3-emulator`: a local stand-in for the Internet Archive's IAS3 (`s3.us.archive.org`) and
//! archive.org metadata API, on one port, with deterministic fault injection. Tests start it
//! in-process ([`Emulator::start`] on the current tokio runtime, [`Emulator::spawn`] on a thread
//! of its own), point a client at [`Emulator::url`], and inspect what arrived with
//! [`Emulator::requests`] and [`Emulator::item`]. The binary (`src/main.rs`) serves the same
//! for people and CI, and [`Emulator::seed_item`] sets up items for harvest tests without
//! uploading. This file owns the public handle; protocol code lives in `s3` and `archive` (one
//! module per face, routed by `server`), byte serving in `files`, item rules in `state`, fault
//! decisions in `faults`.

mod archive;
mod body;
mod clock;
mod config;
mod ctx;
mod faults;
mod files;
mod item_doc;
mod meta_headers;
mod request;
mod respond;
mod s3;
mod seed;
mod server;
mod state;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};

use tokio_util::sync::CancellationToken;

pub use config::{
    parse_bytes, parse_rate, parse_seconds, Config, Faults, ParseError, SlowDownKind,
    DEFAULT_MIN_PART_SIZE,
};
pub use ctx::RequestRecord;
pub use seed::SeedFile;
pub use state::{FileSnapshot, ItemSnapshot, PutRecord, TaskSnapshot};

use ctx::Shared;
use state::State;

/// A running emulator. Dropping it stops the server.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Emulator {
    /// Binds `config.addr` and serves on the current tokio runtime.
    pub async fn start(config: Config) -> std::io::Result<Emulator> {
        let (addr, shared, stop) = launch(config).await?;
        Ok(Emulator {
            addr,
            shared,
            stop,
            thread: None,
        })
    }

    /// Starts the emulator on a thread of its own with a multi-thread runtime (for tests
    /// without a runtime). Dropping the handle stops it and joins the thread.
    pub fn spawn(config: Config) -> std::io::Result<Emulator> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ias3-emulator".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match launch(config).await {
                        Ok(parts) => {
                            let stop = parts.2.clone();
                            if tx.send(Ok(parts)).is_ok() {
                                stop.cancelled().await;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })?;
        let (addr, shared, stop) = rx
            .recv()
            .map_err(|_| std::io::Error::other("emulator thread died while starting"))??;
        Ok(Emulator {
            addr,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, usable as both the S3 and the archive.org base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the faults for requests from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self
            .shared
            .faults
            .write()
            .unwrap_or_else(|e| e.into_inner()) = faults;
    }

    /// Every request answered (or reset) so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        let mut records = self
            .shared
            .records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        records.sort_by_key(|(n, _)| *n);
        records.into_iter().map(|(_, r)| r).collect()
    }

    /// The item's current state, if it exists.
    pub fn item(&self, id: &str) -> Option<ItemSnapshot> {
        self.shared.state().item(id).map(state::Item::snapshot)
    }

    /// Creates item `id` as if it had been uploaded and processed long ago: `metadata` (a JSON
    /// object; IA's defaults fill in `mediatype`, `collection`, `title`, `uploader`,
    /// `addeddate`, `publicdate`) and `files`, all listed at once with their MD5, SHA-1 and
    /// CRC32, with no task queued and no derive run. IA's `{id}_meta.xml` and `{id}_files.xml`
    /// are generated as for any item (listed with `source: metadata`). An item of that name is
    /// replaced. Search fields such as `oai_updatedate` may be given in `metadata` (a string or
    /// a list of dates).
    pub fn seed_item(
        &self,
        id: &str,
        metadata: serde_json::Value,
        files: Vec<SeedFile>,
    ) -> std::io::Result<()> {
        let metadata = match metadata {
            serde_json::Value::Object(m) => m,
            serde_json::Value::Null => serde_json::Map::new(),
            other => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("seed metadata must be a JSON object, not {other}"),
                ))
            }
        };
        self.shared.state().seed_item(id, metadata, files)
    }

    /// Queues a catalog task `cmd` (`derive.php`, `book_op.php`, ...) with `args` on an existing
    /// item: it stays queued or running for `run_for`, or, with `error`, stays in error for good
    /// (`wait_admin: 2`). Returns its task id, or None when the item does not exist.
    pub fn seed_task(
        &self,
        id: &str,
        cmd: &str,
        args: serde_json::Value,
        run_for: std::time::Duration,
        error: bool,
    ) -> Option<u64> {
        let mut state = self.shared.state();
        state.item(id)?;
        let args = match args {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        let rule = state::TaskRule {
            delay: run_for,
            error_rate: if error { 1.0 } else { 0.0 },
        };
        Some(state.add_task(id, cmd, args, 0, rule))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds, builds the shared state and spawns the accept loop on the current runtime.
async fn launch(config: Config) -> std::io::Result<(SocketAddr, Arc<Shared>, CancellationToken)> {
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let shared = Arc::new(new_shared(config, addr)?);
    let stop = CancellationToken::new();
    tokio::spawn(server::serve(listener, shared.clone(), stop.clone()));
    Ok((addr, shared, stop))
}

fn new_shared(config: Config, addr: SocketAddr) -> std::io::Result<Shared> {
    let state = State::new(&config.data_dir, &config.email, config.seed)?;
    let log = match &config.log {
        Some(path) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        )),
        None => None,
    };
    Ok(Shared {
        faults: RwLock::new(config.faults.clone()),
        state: Mutex::new(state),
        attempts: faults::Attempts::default(),
        records: Mutex::new(Vec::new()),
        log,
        last_global_limit: Mutex::new(None),
        base_url: format!("http://{addr}"),
        host: addr.to_string(),
        request_counter: AtomicU64::new(0),
        config,
    })
}
