//! The listening side: accepts TCP connections, wraps each in [`ConnIo`] (so a handler can
//! abort it with a real reset), serves HTTP/1.1 with keep-alive through hyper, routes each
//! request to the S3 or the archive.org face, and records every request (in memory and, if
//! asked, as JSON lines). The faces themselves live in `s3` and `archive`; what a handler is
//! given lives in `ctx`. Nothing below imports this module but the crate root.

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::ctx::{ConnCtx, Ctx, RequestRecord, Reset, Shared};
use crate::respond::Body;

/// A TCP stream that can be aborted from a request handler.
struct ConnIo {
    inner: TcpStream,
    ctx: Arc<ConnCtx>,
}

fn reset_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection reset by emulator fault",
    )
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.ctx.aborted() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.ctx.aborted() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ctx.aborted() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.ctx.aborted() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.ctx.aborted() {
            // SO_LINGER 0: closing sends RST at once, so the client sees a reset, not a FIN.
            let _ = self.inner.set_zero_linger();
        }
    }
}

/// Accepts connections until `stop` is cancelled.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            a = listener.accept() => a,
        };
        let Ok((stream, _peer)) = accepted else {
            // EMFILE and the like: wait a little rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let delay = shared.faults().connect_delay;
            if !delay.is_zero() {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            let ctx = Arc::new(ConnCtx::default());
            let io = ConnIo {
                inner: stream,
                ctx: ctx.clone(),
            };
            let service = service_fn(move |req| dispatch(shared.clone(), ctx.clone(), req));
            let conn = http1::Builder::new()
                .keep_alive(true)
                .half_close(true)
                .serve_connection(TokioIo::new(io), service);
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = conn => {}
            }
        });
    }
}

/// Which face answers a request.
#[derive(Debug, PartialEq, Eq)]
enum Face {
    S3,
    Archive,
}

fn host_of(req: &Request<Incoming>) -> Option<String> {
    if let Some(authority) = req.uri().authority() {
        return Some(authority.host().to_ascii_lowercase());
    }
    let host = req.headers().get(hyper::header::HOST)?.to_str().ok()?;
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    Some(host.to_ascii_lowercase())
}

fn route(host: Option<&str>, method: &hyper::Method, path: &str) -> Face {
    if let Some(h) = host {
        if h == "archive.org" || h.ends_with(".archive.org") {
            return if h.starts_with("s3.") || h.starts_with("s3-") {
                Face::S3
            } else {
                Face::Archive
            };
        }
    }
    let archive_path = ["/metadata/", "/services/", "/download/"]
        .iter()
        .any(|p| path.starts_with(p))
        || ["/metadata", "/advancedsearch.php", "/view_archive.php"].contains(&path)
        || data_node(path);
    let archive_method = *method == hyper::Method::GET
        || *method == hyper::Method::POST
        || (*method == hyper::Method::HEAD && (path.starts_with("/download/") || data_node(path)));
    if archive_path && archive_method {
        Face::Archive
    } else {
        Face::S3
    }
}

/// A data node's file path, `/{n}/items/...` (a number is not a valid identifier, so no S3
/// path looks like this).
fn data_node(path: &str) -> bool {
    path.strip_prefix('/')
        .and_then(|p| p.split_once("/items/"))
        .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Headers as logged: names lower-case, arrival order, the secret masked.
fn masked_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            let text = match name.as_str() {
                "authorization" => mask_authorization(&text),
                "cookie" => mask_cookie(&text),
                _ => text,
            };
            (name.as_str().to_string(), text)
        })
        .collect()
}

fn mask_authorization(value: &str) -> String {
    match value.split_once(':') {
        Some((before, _secret)) => format!("{before}:***"),
        None => "***".to_string(),
    }
}

fn mask_cookie(value: &str) -> String {
    value
        .split(';')
        .map(|part| match part.split_once('=') {
            Some((name, _)) if name.trim() == "logged-in-sig" => format!("{name}=***"),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn request_id(seed: u64, n: u64) -> String {
    let d = Md5::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(n.to_le_bytes())
        .finalize();
    let h = hex::encode(d);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

async fn dispatch(
    shared: Arc<Shared>,
    conn: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Reset> {
    let started = Instant::now();
    let n = shared.request_counter.fetch_add(1, Ordering::SeqCst);
    let faults = shared.faults();
    let method = req.method().to_string();
    let path = req.uri().path_and_query().map_or_else(
        || req.uri().path().to_string(),
        |pq| pq.as_str().to_string(),
    );
    let host = host_of(&req);
    let headers = masked_headers(req.headers());
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    let face = route(host.as_deref(), req.method(), req.uri().path());
    let mut ctx = Ctx {
        shared: shared.clone(),
        faults,
        conn,
        request_id: request_id(shared.config.seed, n),
        fault_labels: Vec::new(),
        body_size: 0,
        body_md5: None,
    };
    let result = match face {
        Face::S3 => crate::s3::handle(&mut ctx, req).await,
        Face::Archive => crate::archive::handle(&mut ctx, req).await,
    };
    let status = match &result {
        Ok(r) => r.status().as_u16(),
        Err(Reset) => 0,
    };
    let record = RequestRecord {
        method,
        path,
        host,
        status,
        headers,
        body_size: ctx.body_size,
        body_md5: ctx.body_md5.take(),
        fault: (!ctx.fault_labels.is_empty()).then(|| ctx.fault_labels.join(",")),
        faults: std::mem::take(&mut ctx.fault_labels),
    };
    write_log(&shared, &record, started);
    shared
        .records
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((n, record));
    result
}

fn write_log(shared: &Shared, record: &RequestRecord, started: Instant) {
    let Some(log) = &shared.log else {
        return;
    };
    let line = serde_json::json!({
        "time": crate::clock::ia_date(crate::clock::unix_now()),
        "method": record.method,
        "path": record.path,
        "host": record.host,
        "status": record.status,
        "headers": record.headers,
        "body_size": record.body_size,
        "body_md5": record.body_md5,
        "fault": record.fault,
        "faults": record.faults,
        "duration_ms": started.elapsed().as_millis() as u64,
    });
    let mut file = log.lock().unwrap_or_else(|e| e.into_inner());
    let _ = std::io::Write::write_all(&mut *file, format!("{line}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Method;

    #[test]
    fn routes_by_host_then_path() {
        assert_eq!(
            route(Some("s3.us.archive.org"), &Method::GET, "/metadata/x"),
            Face::S3
        );
        assert_eq!(
            route(Some("archive.org"), &Method::GET, "/x/y"),
            Face::Archive
        );
        assert_eq!(
            route(Some("127.0.0.1"), &Method::GET, "/metadata/x"),
            Face::Archive
        );
        assert_eq!(
            route(None, &Method::POST, "/services/xauthn/"),
            Face::Archive
        );
        assert_eq!(route(None, &Method::PUT, "/metadata/x"), Face::S3);
        assert_eq!(route(None, &Method::GET, "/item/key"), Face::S3);
        assert_eq!(route(None, &Method::HEAD, "/download/i/k"), Face::Archive);
        assert_eq!(route(None, &Method::HEAD, "/item/key"), Face::S3);
        assert_eq!(route(None, &Method::GET, "/0/items/i/k"), Face::Archive);
        assert_eq!(
            route(None, &Method::GET, "/advancedsearch.php"),
            Face::Archive
        );
        assert_eq!(route(None, &Method::PUT, "/0/items/k"), Face::S3);
    }

    #[test]
    fn secrets_are_masked() {
        assert_eq!(mask_authorization("LOW key:secret"), "LOW key:***");
        assert_eq!(
            mask_cookie("logged-in-user=a%40b; logged-in-sig=xyz"),
            "logged-in-user=a%40b; logged-in-sig=***"
        );
    }

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id(1, 2);
        assert_eq!(id.len(), 36);
        assert_eq!(id, request_id(1, 2));
    }
}
