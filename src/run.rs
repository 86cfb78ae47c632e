//! What every command that sends requests in bulk shares around its transfers: the interrupt
//! handling (the first Ctrl-C stops starting work and lets what is in flight finish for a
//! grace period, the second aborts it) and the worker pool that runs the work `width` at a
//! time on tokio tasks. Upload, delete and metadata run on these; download will too.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::ExitStatus;
use crate::journal;
use crate::output;
use crate::printer::Printer;
use crate::reporter::Reporter;

/// How long work in flight may finish after the first Ctrl-C.
pub const GRACE: Duration = Duration::from_secs(10);

/// A run's stop signals.
#[derive(Clone, Debug, Default)]
pub struct Interrupt {
    /// Set by the first Ctrl-C: start nothing new.
    pub stop: CancellationToken,
    /// Set after the grace period or by a second Ctrl-C: abort what is in flight.
    pub abort: CancellationToken,
}

impl Interrupt {
    /// Signals that Ctrl-C sets, with a note through `printer` each time. `what` names the
    /// work in flight ("files", "deletes"...).
    pub fn install(printer: Printer, what: &'static str) -> Interrupt {
        let me = Interrupt::default();
        let (stop, abort) = (me.stop.clone(), me.abort.clone());
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            stop.cancel();
            printer.note(&format!(
                "interrupted: letting {what} in flight finish (up to {}s); press Ctrl-C again \
                 to quit now",
                GRACE.as_secs()
            ));
            let grace = abort.clone();
            tokio::spawn(async move {
                tokio::time::sleep(GRACE).await;
                grace.cancel();
            });
            if tokio::signal::ctrl_c().await.is_ok() {
                // Abort what is in flight now, but let the journal record what the server
                // already confirmed; quit hard only if that takes long.
                abort.cancel();
                printer.note("stopping now");
                tokio::time::sleep(Duration::from_secs(5)).await;
                std::process::exit(i32::from(ExitStatus::Interrupted.code()));
            }
        });
        me
    }

    pub fn interrupted(&self) -> bool {
        self.stop.is_cancelled()
    }
}

/// Ends a transfer run: the journal's run closed with its outcome, the `--report` file
/// written, the summary printed, and the exit status: interrupted (130), anything failed or
/// not done or a report that could not be written (1), else 0.
pub async fn finish(
    reporter: &mut Reporter,
    writer: Option<journal::Writer>,
    interrupt: &Interrupt,
    archive_url: &str,
) -> ExitStatus {
    let interrupted = interrupt.interrupted();
    if let Some(w) = writer {
        let outcome = if interrupted {
            "interrupted"
        } else if reporter.record().failed() > 0 {
            "partial"
        } else {
            "complete"
        };
        if let Err(e) = tokio::task::spawn_blocking(move || w.finish(outcome))
            .await
            .unwrap_or(Ok(()))
        {
            output::note(&format!("warning: the journal could not be completed: {e}"));
        }
    }
    let report_failed = reporter.finish(interrupted, archive_url);
    let record = reporter.record();
    if interrupted {
        ExitStatus::Interrupted
    } else {
        ExitStatus::failed_if(record.failed() > 0 || record.not_done() > 0 || report_failed)
    }
}

/// Runs `f` over `work` on `width` tokio tasks, each taking the next piece when it is done.
/// Once `stop` is cancelled no piece starts. Every piece comes back on the receiver with its
/// index in `work`: `Some(result)` when it ran, `None` when it was never started.
pub fn pool<T, R, F, Fut>(
    work: Vec<T>,
    width: usize,
    stop: CancellationToken,
    f: F,
) -> mpsc::Receiver<(usize, Option<R>)>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send,
{
    let queue = Arc::new(Mutex::new(work.into_iter().enumerate()));
    let (tx, rx) = mpsc::channel(width.max(1) * 2);
    let f = Arc::new(f);
    for _ in 0..width.max(1) {
        let (queue, tx, f, stop) = (queue.clone(), tx.clone(), f.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some((i, piece)) = next else { break };
                let result = if stop.is_cancelled() {
                    None
                } else {
                    Some(f(piece).await)
                };
                if tx.send((i, result)).await.is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// Hands the results of [`pool`] to `each` in the order of the work (each as soon as all
/// before it are done), so a command's output does not depend on which request came back first.
pub async fn in_order<R>(
    mut rx: mpsc::Receiver<(usize, Option<R>)>,
    mut each: impl FnMut(usize, Option<R>),
) {
    let mut next = 0;
    let mut waiting = std::collections::BTreeMap::new();
    while let Some((i, r)) = rx.recv().await {
        waiting.insert(i, r);
        while let Some(r) = waiting.remove(&next) {
            each(next, r);
            next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn runs_every_piece_at_most_width_at_once() {
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (n, m) = (now.clone(), most.clone());
        let mut rx = pool(
            (0..20).collect(),
            3,
            CancellationToken::new(),
            move |x: u32| {
                let (n, m) = (n.clone(), m.clone());
                async move {
                    let in_flight = n.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(in_flight, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    n.fetch_sub(1, Ordering::SeqCst);
                    x * 2
                }
            },
        );
        let mut got = Vec::new();
        while let Some((i, r)) = rx.recv().await {
            assert_eq!(r, Some(i as u32 * 2));
            got.push(i);
        }
        got.sort();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 3);
    }

    #[tokio::test]
    async fn nothing_starts_after_stop() {
        let stop = CancellationToken::new();
        let s = stop.clone();
        let mut rx = pool((0..10).collect(), 1, stop, move |x: u32| {
            let s = s.clone();
            async move {
                if x == 2 {
                    s.cancel();
                }
                x
            }
        });
        let mut ran = 0;
        let mut skipped = 0;
        while let Some((_, r)) = rx.recv().await {
            match r {
                Some(_) => ran += 1,
                None => skipped += 1,
            }
        }
        assert_eq!((ran, skipped), (3, 7));
    }

    #[tokio::test]
    async fn results_come_back_in_work_order() {
        let rx = pool(
            (0..12u64).collect(),
            4,
            CancellationToken::new(),
            |x: u64| async move {
                tokio::time::sleep(Duration::from_millis(12 - x)).await;
                x
            },
        );
        let mut seen = Vec::new();
        in_order(rx, |i, r| seen.push((i, r))).await;
        assert_eq!(
            seen,
            (0..12).map(|i| (i as usize, Some(i))).collect::<Vec<_>>()
        );
    }
}
