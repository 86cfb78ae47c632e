//! The stall and answer timeouts of a streamed request: a body that counts what the HTTP
//! stack accepted, and a watchdog that ends the attempt when no byte was accepted for `stall`,
//! or no answer came `answer_timeout` after the last byte.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

/// The two timeouts of a streamed attempt.
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    pub stall: Duration,
    pub answer_timeout: Duration,
}

/// What the watchdog reads: when a byte was last accepted, and whether all of them were.
#[derive(Debug)]
pub struct Marks {
    start: Instant,
    /// Milliseconds since `start` at the last accepted chunk.
    last_progress: AtomicU64,
    body_done: AtomicBool,
}

impl Marks {
    /// Marks for a body of `size` bytes (an empty body is sent at once).
    pub fn new(size: u64) -> Arc<Marks> {
        Arc::new(Marks {
            start: Instant::now(),
            last_progress: AtomicU64::new(0),
            body_done: AtomicBool::new(size == 0),
        })
    }

    /// Whether every byte of the body was handed to the connection.
    pub fn body_done(&self) -> bool {
        self.body_done.load(Ordering::Relaxed)
    }

    fn since_progress(&self) -> Duration {
        self.start.elapsed() - Duration::from_millis(self.last_progress.load(Ordering::Relaxed))
    }
}

/// The chunks of a request body of `size` bytes from `chunks`, that mark each chunk the HTTP
/// stack takes and tell `on_bytes` how many (the progress display).
pub fn counted_body(
    chunks: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    size: u64,
    marks: Arc<Marks>,
    on_bytes: impl Fn(u64) + Send + Sync + 'static,
) -> super::expect::Chunks {
    struct State<F> {
        chunks: mpsc::Receiver<Result<Bytes, std::io::Error>>,
        marks: Arc<Marks>,
        on_bytes: F,
        sent: u64,
    }
    let state = State {
        chunks,
        marks,
        on_bytes,
        sent: 0,
    };
    let stream = futures::stream::unfold(state, move |mut st| async move {
        let item = st.chunks.recv().await?;
        if let Ok(b) = &item {
            st.sent += b.len() as u64;
            (st.on_bytes)(b.len() as u64);
            st.marks.last_progress.store(
                st.marks.start.elapsed().as_millis() as u64,
                Ordering::Relaxed,
            );
            if st.sent >= size {
                st.marks.body_done.store(true, Ordering::Relaxed);
            }
        }
        Some((item, st))
    });
    Box::pin(stream)
}

impl Watch {
    /// Resolves, with the reason, once the body stalled or the answer is late; never otherwise.
    pub async fn watchdog(&self, marks: &Marks) -> String {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let since = marks.since_progress();
            if marks.body_done() {
                if since > self.answer_timeout {
                    return format!(
                        "no answer {}s after the last byte was sent",
                        self.answer_timeout.as_secs_f64()
                    );
                }
            } else if since > self.stall {
                return format!(
                    "stalled: no byte accepted for {}s",
                    self.stall.as_secs_f64()
                );
            }
        }
    }
}
