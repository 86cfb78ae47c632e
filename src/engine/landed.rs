//! Did it land? The checks made before a file is sent again: after an attempt iaup abandoned
//! (its body may still be in the network's buffers, or being stored), after an answer was lost,
//! and on resume for files an earlier run sent without a confirmation. Each asks the server
//! (`HEAD`: size and ETag) and polls for a while before saying no, so a body that lands late
//! is not sent twice. And, first of all, does another run sharing the journal have it?

use std::time::Duration;

use super::{Engine, Event, FileRef};
use crate::ias3;
use crate::journal::Claim;
use crate::plan::ItemPlan;

/// How long after an attempt was abandoned (or its run killed) its body may still land: the
/// landed-check polls the server this long before a resend. Bodies in kernel buffers drain in
/// seconds; a server that stalls mid-body may store it much later.
pub(super) const LANDING_WINDOW: Duration = Duration::from_secs(30);

impl Engine {
    /// Claims the file for this run in the journal. While another live run holds it, waits for
    /// that run's last word on it: `false` when that run (or any) confirmed this very source
    /// meanwhile, `true` when this run is to send it (after the other failed, or died).
    pub(super) async fn claim(&self, item: &ItemPlan, file: FileRef) -> bool {
        let Some(claims) = self.claims.clone() else {
            return true;
        };
        let mut told = false;
        let claim = loop {
            let (claims, identifier, fp) = (
                claims.clone(),
                item.identifier.clone(),
                item.files[file.file].clone(),
            );
            let claim = tokio::task::spawn_blocking(move || claims.claim(&identifier, &fp)).await;
            let Ok(Ok(Claim::Busy(run))) = claim else {
                break claim;
            };
            if !told {
                told = true;
                self.emit(Event::Notice(format!(
                    "{}/{}: run {run} on the same journal is sending it; waiting for its result",
                    item.identifier, item.files[file.file].key
                )))
                .await;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.stop.cancelled() => {
                    self.emit(Event::NotStarted { file }).await;
                    return false;
                }
            }
        };
        match claim {
            Ok(Ok(Claim::Mine)) => true,
            Ok(Ok(Claim::Confirmed(md5))) => {
                self.emit(Event::Skipped {
                    file,
                    reason: "uploaded by another run on the same journal meanwhile".into(),
                    md5: md5.unwrap_or_default(),
                })
                .await;
                self.delete_local(item, file.file).await;
                false
            }
            Ok(Ok(Claim::Busy(_))) => unreachable!("waited for above"),
            Ok(Err(e)) => {
                self.emit(Event::Notice(format!(
                    "{}/{}: could not claim it in the journal ({e}); sending it",
                    item.identifier, item.files[file.file].key
                )))
                .await;
                true
            }
            Err(_) => true,
        }
    }

    /// A file an earlier run sent without a confirmation: if the server has it with the local
    /// file's size and MD5, it is confirmed now instead of sent again.
    pub(super) async fn landed_before(
        &self,
        item: &ItemPlan,
        file: FileRef,
        unanswered_since: Option<i64>,
    ) -> bool {
        let fp = &item.files[file.file];
        let window = match unanswered_since {
            Some(since) => {
                let stopped = std::time::UNIX_EPOCH + Duration::from_secs(since.max(0) as u64);
                let waited = std::time::SystemTime::now()
                    .duration_since(stopped)
                    .unwrap_or_default();
                LANDING_WINDOW.saturating_sub(waited)
            }
            None => Duration::ZERO,
        };
        let Ok(md5) = crate::hash::md5_file(&fp.local).await else {
            return false;
        };
        if !self
            .landed(&item.identifier, &fp.key, &md5, Some(fp.size), window)
            .await
        {
            return false;
        }
        self.emit(Event::Notice(format!(
            "{}/{}: sent by an interrupted run and already on the server with the same MD5; \
             not sent again",
            item.identifier, fp.key
        )))
        .await;
        self.emit(Event::Confirmed {
            file,
            md5,
            attempts: 0,
        })
        .await;
        self.delete_local(item, file.file).await;
        true
    }

    /// `HEAD` the key until the server has it with `md5` (and `size`, when given) or `window`
    /// has passed, polling after 1, 2, 4... seconds: a body sent before an attempt was
    /// abandoned (or its run killed) may still be in the network's buffers, or being stored,
    /// and an older version of the file may be there meanwhile.
    pub(super) async fn landed(
        &self,
        identifier: &str,
        key: &str,
        md5: &str,
        size: Option<u64>,
        window: Duration,
    ) -> bool {
        let start = tokio::time::Instant::now();
        let mut wait = Duration::from_secs(1);
        loop {
            if let Some((found_size, etag)) = self.head(identifier, key).await {
                if etag == md5.to_ascii_lowercase() && (size.is_none() || found_size == size) {
                    return true;
                }
            }
            let left = window.saturating_sub(start.elapsed());
            if left.is_zero() || self.stop.is_cancelled() {
                return false;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait.min(left)) => {}
                _ = self.stop.cancelled() => return false,
            }
            wait *= 2;
        }
    }

    /// `HEAD` the key: its size and normalized ETag when the server has it.
    async fn head(&self, identifier: &str, key: &str) -> Option<(Option<u64>, String)> {
        let url = ias3::object_url(&self.s3_url, identifier, key);
        let r = self
            .client
            .head(&url)
            .header("authorization", self.creds.authorization())
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())?;
        let etag = r
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(crate::hash::normalize_etag)?;
        let size = r
            .headers()
            .get(reqwest::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Some((size, etag))
    }
}
