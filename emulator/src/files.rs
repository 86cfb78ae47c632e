//! Serving stored bytes, for every face that reads a file (S3 `GET /{id}/{key}`, archive.org's
//! `/download/...` and the data-node path): a stored file, IA's generated `_meta.xml` and
//! `_files.xml`, or bytes a handler made (a ZIP member). One place answers `Range`
//! (`206` with `Content-Range`, `416` when unsatisfiable, a malformed or multi-range header
//! ignored as RFC 9110 allows), `HEAD`, `ETag`, `Last-Modified`, `Content-Length`, and injects
//! the GET faults (503, the connection closed half-way, a stall half-way, a flipped first byte, a bandwidth cap),
//! decided per (path, attempt) like the PUT faults.

use std::path::PathBuf;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use http_range_header::RangeUnsatisfiableError;
use hyper::body::{Frame, Incoming};
use hyper::header::{
    HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, LAST_MODIFIED,
    RETRY_AFTER,
};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

use crate::ctx::Ctx;
use crate::faults::hits;
use crate::item_doc;
use crate::request::{header, low_auth_ok};
use crate::respond::{self, s3_error, Body, S3Code};
use crate::state::State;

/// Where the bytes are.
pub(crate) enum Blob {
    /// A file on disk of this size.
    File { path: PathBuf, size: u64 },
    /// Bytes in memory.
    Bytes(Bytes),
}

impl Blob {
    fn size(&self) -> u64 {
        match self {
            Blob::File { size, .. } => *size,
            Blob::Bytes(b) => b.len() as u64,
        }
    }
}

/// Something to serve, with what its headers say.
pub(crate) struct Served {
    pub blob: Blob,
    /// The MD5 (the ETag), lower-case hex.
    pub md5: String,
    /// Unix seconds, for `Last-Modified`.
    pub mtime: u64,
    pub content_type: &'static str,
}

impl Served {
    /// Bytes made by a handler, hashed here.
    pub fn bytes(data: impl Into<Bytes>, mtime: u64, content_type: &'static str) -> Served {
        let data = data.into();
        Served {
            md5: hex::encode(Md5::digest(&data)),
            blob: Blob::Bytes(data),
            mtime,
            content_type,
        }
    }
}

/// What `/{id}/{key}` names.
pub(crate) enum Lookup {
    Found(Served),
    NoItem,
    NoKey,
    /// A private file, and the request is not the owner's.
    Forbidden,
}

/// Resolves `key` in item `id`: a stored file, or IA's generated `_meta.xml`/`_files.xml`.
pub(crate) fn lookup(state: &State, id: &str, key: &str, owner: bool) -> Lookup {
    let Some(item) = state.item(id) else {
        return Lookup::NoItem;
    };
    if key == format!("{id}_meta.xml") {
        let xml = item_doc::meta_xml(item);
        return Lookup::Found(Served::bytes(xml, item.updated, "application/xml"));
    }
    if key == format!("{id}_files.xml") {
        let xml = item_doc::files_xml(item, Instant::now());
        return Lookup::Found(Served::bytes(xml, item.updated, "application/xml"));
    }
    let Some(i) = item.find(key) else {
        return Lookup::NoKey;
    };
    let data = &item.files[i].data;
    if data.private && !owner {
        return Lookup::Forbidden;
    }
    Lookup::Found(Served {
        blob: Blob::File {
            path: data.path.clone(),
            size: data.size,
        },
        md5: data.md5.clone(),
        mtime: data.mtime,
        content_type: content_type_of(key),
    })
}

/// A `Content-Type` from the extension, for the formats harvests fetch most.
pub(crate) fn content_type_of(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "xml" => "application/xml",
        "txt" => "text/plain",
        "json" => "application/json",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}

/// `GET`/`HEAD /{id}/{key}` on the S3 face: the file, or S3's XML errors.
pub(crate) async fn serve_key(
    ctx: &mut Ctx,
    req: &Request<Incoming>,
    id: &str,
    key: &str,
    resource: &str,
) -> Response<Body> {
    let owner = low_auth_ok(ctx, req.headers());
    let found = lookup(&ctx.shared.state(), id, key, owner);
    match found {
        Lookup::Found(served) => {
            let head = req.method() == Method::HEAD;
            serve(ctx, req.headers(), head, &format!("/{id}/{key}"), served).await
        }
        Lookup::NoItem => s3_error(S3Code::NoSuchBucket, resource, &ctx.request_id),
        Lookup::NoKey => s3_error(S3Code::NoSuchKey, resource, &ctx.request_id),
        Lookup::Forbidden => s3_error(S3Code::AccessDenied, resource, &ctx.request_id),
    }
}

/// The part of a file a request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// The whole file (no `Range`, or one that may be ignored).
    All,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// Nothing can be served: `416`.
    Unsatisfiable,
}

/// Reads `Range` against a file of `size` bytes.
pub(crate) fn wanted(range: Option<&str>, size: u64) -> Want {
    let Some(range) = range else {
        return Want::All;
    };
    let checked = http_range_header::parse_range_header(range).and_then(|p| p.validate(size));
    match checked {
        Ok(ranges) if ranges.len() == 1 => Want::Part {
            start: *ranges[0].start(),
            end: *ranges[0].end(),
        },
        Ok(_) => Want::All,
        Err(RangeUnsatisfiableError::Unsatisfiable) => Want::Unsatisfiable,
        Err(_) => Want::All,
    }
}

/// The GET faults that strike one answer.
#[derive(Default)]
struct Strikes {
    corrupt: bool,
    reset_at: Option<u64>,
    stall: Option<(u64, Duration)>,
    bandwidth: Option<u64>,
}

/// Serves `served` (honouring `Range`), or a fault's answer instead.
pub(crate) async fn serve(
    ctx: &mut Ctx,
    headers: &HeaderMap,
    head: bool,
    fault_path: &str,
    served: Served,
) -> Response<Body> {
    let attempt = ctx.shared.attempts.next("GET", fault_path);
    let seed = ctx.seed();
    if hits(
        ctx.faults.get_error_rate,
        seed,
        "get-error",
        "GET",
        fault_path,
        attempt,
    ) {
        ctx.strike("get-error");
        let mut resp = respond::with_body(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "503 Service Unavailable (injected fault)\n",
        );
        if let Some(secs) = ctx.faults.retry_after {
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        return resp;
    }
    let size = served.blob.size();
    let (status, start, len) = match wanted(header(headers, "range"), size) {
        Want::All => (StatusCode::OK, 0, size),
        Want::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Want::Unsatisfiable => {
            let mut resp = respond::with_body(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "text/plain",
                "416 Requested Range Not Satisfiable\n",
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(CONTENT_RANGE, v);
            }
            return resp;
        }
    };
    let strikes = if head {
        Strikes::default()
    } else {
        get_strikes(ctx, fault_path, attempt, len)
    };
    let body = if head {
        respond::empty()
    } else {
        let reader: Box<dyn AsyncRead + Send + Sync + Unpin> = match &served.blob {
            Blob::Bytes(b) => {
                let part = b.slice(start as usize..(start + len) as usize);
                Box::new(std::io::Cursor::new(part))
            }
            Blob::File { path, .. } => match open_at(path, start).await {
                Ok(file) => Box::new(file.take(len)),
                Err(_) => return s3_error(S3Code::InternalError, fault_path, &ctx.request_id),
            },
        };
        stream(reader, strikes)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(CONTENT_TYPE, HeaderValue::from_static(served.content_type));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", served.md5)) {
        h.insert(ETAG, v);
    }
    let modified = UNIX_EPOCH + Duration::from_secs(served.mtime);
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(modified)) {
        h.insert(LAST_MODIFIED, v);
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{}/{size}", start + len - 1);
        if let Ok(v) = HeaderValue::from_str(&range) {
            h.insert(CONTENT_RANGE, v);
        }
    }
    resp
}

async fn open_at(path: &std::path::Path, start: u64) -> std::io::Result<tokio::fs::File> {
    let mut file = tokio::fs::File::open(path).await?;
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start)).await?;
    }
    Ok(file)
}

/// Which GET faults strike an answer of `len` bytes (a reset or a stall half-way, never both).
fn get_strikes(ctx: &mut Ctx, path: &str, attempt: u32, len: u64) -> Strikes {
    let seed = ctx.seed();
    let f = &ctx.faults;
    let corrupt = len > 0
        && hits(
            f.get_corrupt_rate,
            seed,
            "get-corrupt",
            "GET",
            path,
            attempt,
        );
    let reset = len >= 2 && hits(f.get_reset_rate, seed, "get-reset", "GET", path, attempt);
    let stall = f.get_stall.filter(|_| {
        len >= 2
            && !reset
            && hits(
                if f.get_stall_rate == 0.0 {
                    1.0
                } else {
                    f.get_stall_rate
                },
                seed,
                "get-stall",
                "GET",
                path,
                attempt,
            )
            && ctx.shared.attempts.claim_stall(&format!("GET {path}"))
    });
    let bandwidth = f.get_bandwidth;
    if corrupt {
        ctx.strike("get-corrupt");
    }
    if reset {
        ctx.strike("get-reset");
    }
    if stall.is_some() {
        ctx.strike("get-stall");
    }
    Strikes {
        corrupt,
        reset_at: reset.then_some(len / 2),
        stall: stall.map(|d| (len / 2, d)),
        bandwidth,
    }
}

/// Where a body stream is.
struct Flow {
    reader: Box<dyn AsyncRead + Send + Sync + Unpin>,
    strikes: Strikes,
    sent: u64,
    started: Instant,
    stalled: bool,
    done: bool,
}

/// The response body: `reader`'s bytes in 64 KiB frames, with the strikes applied.
fn stream(reader: Box<dyn AsyncRead + Send + Sync + Unpin>, strikes: Strikes) -> Body {
    let flow = Flow {
        reader,
        strikes,
        sent: 0,
        started: Instant::now(),
        stalled: false,
        done: false,
    };
    let frames = futures::stream::unfold(flow, |mut flow| async move {
        if flow.done {
            return None;
        }
        let item = next_frame(&mut flow).await;
        match item {
            Ok(Some(bytes)) => Some((Ok(Frame::data(bytes)), flow)),
            Ok(None) => None,
            Err(e) => {
                flow.done = true;
                Some((Err(e), flow))
            }
        }
    });
    StreamBody::new(frames).boxed()
}

/// The next frame: at most 64 KiB, cut at the reset or stall point.
async fn next_frame(flow: &mut Flow) -> std::io::Result<Option<Bytes>> {
    if let Some(at) = flow.strikes.reset_at {
        if flow.sent >= at {
            // The body ends in an error, so hyper closes the connection with what was sent
            // delivered first (a FIN, not an RST, which could discard bytes the client has not
            // read yet): the client sees a short body, as after a reset mid-download. The pause
            // lets hyper flush the frames already yielded before the error closes the connection.
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset by emulator fault",
            ));
        }
    }
    if let Some((at, pause)) = flow.strikes.stall {
        if flow.sent >= at && !flow.stalled {
            flow.stalled = true;
            tokio::time::sleep(pause).await;
        }
    }
    let mut limit: u64 = 64 * 1024;
    for point in [
        flow.strikes.reset_at,
        flow.strikes.stall.filter(|_| !flow.stalled).map(|s| s.0),
    ]
    .into_iter()
    .flatten()
    {
        if point > flow.sent {
            limit = limit.min(point - flow.sent);
        }
    }
    let mut buf = vec![0u8; limit as usize];
    let n = flow.reader.read(&mut buf).await?;
    if n == 0 {
        return Ok(None);
    }
    buf.truncate(n);
    if flow.strikes.corrupt && flow.sent == 0 {
        buf[0] ^= 0xff;
    }
    flow.sent += n as u64;
    if let Some(rate) = flow.strikes.bandwidth.filter(|r| *r > 0) {
        let due = Duration::from_secs_f64(flow.sent as f64 / rate as f64);
        let elapsed = flow.started.elapsed();
        if due > elapsed {
            tokio::time::sleep(due - elapsed).await;
        }
    }
    Ok(Some(Bytes::from(buf)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(wanted(None, 10), Want::All);
        assert_eq!(
            wanted(Some("bytes=2-5"), 10),
            Want::Part { start: 2, end: 5 }
        );
        assert_eq!(
            wanted(Some("bytes=4-"), 10),
            Want::Part { start: 4, end: 9 }
        );
        assert_eq!(
            wanted(Some("bytes=-3"), 10),
            Want::Part { start: 7, end: 9 }
        );
        assert_eq!(
            wanted(Some("bytes=5-100"), 10),
            Want::Part { start: 5, end: 9 }
        );
        assert_eq!(wanted(Some("bytes=10-"), 10), Want::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=0-1,4-5"), 10), Want::All);
        assert_eq!(wanted(Some("lines=1-2"), 10), Want::All);
    }

    #[test]
    fn content_types_from_extensions() {
        assert_eq!(content_type_of("a/b_meta.XML"), "application/xml");
        assert_eq!(content_type_of("x.jpg"), "image/jpeg");
        assert_eq!(content_type_of("noext"), "application/octet-stream");
    }
}
