//! S3 multipart uploads on the IAS3 face, as written down in the protocol iaup and the emulator
//! share: create (`POST /{id}/{key}?uploads`), upload part (`PUT ?partNumber=N&uploadId=U`),
//! list parts (`GET ?uploadId=U`), complete (`POST ?uploadId=U`), abort (`DELETE ?uploadId=U`)
//! and list uploads (`GET /{id}?uploads`). Every call passes the shared precheck, then its own
//! header checks, the bucket and upload, then the injected faults (keyed per call, so each part
//! and each Complete fails on its own), and only then reads a body: a part refused with
//! `Expect: 100-continue` costs no body byte. Parts are read to disk like a PUT's body (same
//! faults); Complete concatenates them by streaming copy and commits the file as a PUT of the
//! whole file with the create call's headers would. IA's quirks: a new item's bucket appears
//! only after the task delay, and `xmlns` on the Complete body is refused.

mod xml;

use hyper::body::{Body as _, Incoming};
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri};

use super::precheck::{injected, precheck, slowdown};
use super::put::{answer, body_faults, body_headers, cut_short, Intent};
use super::{key_path, ok_empty, refuse, TempFile};
use crate::body::{self, ReadOutcome};
use crate::config::SlowDownKind;
use crate::ctx::{Ctx, Reset};
use crate::request::{query_pairs, query_param};
use crate::respond::{self, s3_error, s3_error_with, Body, S3Code};
use crate::state::{concatenate, frontier, multipart_etag, StateError, TaskRule, UploadRef};

/// A Complete body longer than this is refused (10,000 parts take about 1 MB).
const MAX_COMPLETE_BODY: usize = 4 << 20;

/// Which multipart call a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Call {
    Create,
    Part,
    ListParts,
    Complete,
    Abort,
    ListUploads,
}

impl Call {
    /// The multipart call of a request, by method and query string; None for any other request.
    pub(super) fn of(method: &Method, uri: &Uri, has_key: bool) -> Option<Call> {
        let pairs = query_pairs(uri);
        let has = |name: &str| pairs.iter().any(|(k, _)| k == name);
        let call = match (method, has_key) {
            (&Method::POST, true) if has("uploadId") => Call::Complete,
            (&Method::POST, true) if has("uploads") => Call::Create,
            (&Method::PUT, true) if has("uploadId") => Call::Part,
            (&Method::GET, true) if has("uploadId") => Call::ListParts,
            (&Method::DELETE, true) if has("uploadId") => Call::Abort,
            (&Method::GET, false) if has("uploads") => Call::ListUploads,
            _ => return None,
        };
        Some(call)
    }

    fn method(self) -> &'static str {
        match self {
            Call::Create | Call::Complete => "POST",
            Call::Part => "PUT",
            Call::ListParts | Call::ListUploads => "GET",
            Call::Abort => "DELETE",
        }
    }

    /// The path fault decisions and attempt counts of this call are keyed by.
    fn fault_path(self, id: &str, key: Option<&str>, part: Option<&str>) -> String {
        let base = key_path(id, key);
        match self {
            Call::Create | Call::ListUploads => format!("{base}?uploads"),
            Call::Part => format!("{base}?partNumber={}", part.unwrap_or("")),
            Call::ListParts => format!("{base}?listParts"),
            Call::Complete => format!("{base}?complete"),
            Call::Abort => format!("{base}?abort"),
        }
    }
}

/// What every call is about.
struct Target {
    call: Call,
    id: String,
    /// Empty for ListUploads.
    key: String,
    upload_id: String,
    /// The fault key, and this request's attempt number on it.
    path: String,
    attempt: u32,
    resource: String,
    rid: String,
    headers: HeaderMap,
}

impl Target {
    fn upload(&self) -> UploadRef<'_> {
        UploadRef {
            id: &self.id,
            key: &self.key,
            upload_id: &self.upload_id,
        }
    }

    fn error(&self, code: S3Code) -> Response<Body> {
        s3_error(code, &self.resource, &self.rid)
    }

    /// The SlowDown and 500 faults of this call.
    fn faults(&self, ctx: &mut Ctx) -> Option<Response<Body>> {
        injected(
            ctx,
            self.call.method(),
            &self.path,
            self.attempt,
            &self.id,
            &self.resource,
        )
    }
}

/// Serves one multipart call.
pub(super) async fn handle(
    ctx: &mut Ctx,
    req: Request<Incoming>,
    call: Call,
    id: String,
    key: Option<String>,
    resource: String,
) -> Result<Response<Body>, Reset> {
    let part = query_param(req.uri(), "partNumber");
    let path = call.fault_path(&id, key.as_deref(), part.as_deref());
    let attempt = ctx.shared.attempts.next(call.method(), &path);
    let headers = req.headers().clone();
    if let Some(resp) = precheck(ctx, &headers, &id, key.as_deref(), &resource) {
        return Ok(refuse(ctx, req, resp).await);
    }
    let t = Target {
        call,
        id,
        key: key.unwrap_or_default(),
        upload_id: query_param(req.uri(), "uploadId").unwrap_or_default(),
        path,
        attempt,
        resource,
        rid: ctx.request_id.clone(),
        headers,
    };
    match call {
        Call::Create => Ok(create(ctx, req, &t).await),
        Call::Part => upload_part(ctx, req, &t, part).await,
        Call::ListParts => Ok(list_parts(ctx, req, &t).await),
        Call::Complete => Ok(complete(ctx, req, &t).await),
        Call::Abort => Ok(abort(ctx, req, &t).await),
        Call::ListUploads => Ok(list_uploads(ctx, req, &t).await),
    }
}

/// `POST /{id}/{key}?uploads`: checks the headers as a PUT's, remembers them for Complete, and
/// promises a new item's bucket (it appears after the task delay).
async fn create(ctx: &mut Ctx, req: Request<Incoming>, t: &Target) -> Response<Body> {
    if t.key.len() > 1024 {
        return refuse(ctx, req, t.error(S3Code::KeyTooLong)).await;
    }
    let intent = match Intent::parse(&t.headers) {
        Ok(intent) => intent,
        Err(refusal) => return refuse(ctx, req, refusal.answer(&t.resource, &t.rid)).await,
    };
    let ready = ctx.shared.state().bucket_ready(&t.id);
    if !ready && !intent.auto_make {
        return refuse(ctx, req, t.error(S3Code::NoSuchBucket)).await;
    }
    if let Some(resp) = t.faults(ctx) {
        return refuse(ctx, req, resp).await;
    }
    let delay = ctx.faults.task_delay;
    let plan = intent.plan(t.id.clone(), t.key.clone());
    let upload_id = ctx.shared.state().create_upload(plan, delay);
    if !ready && !delay.is_zero() {
        // The bucket appears on time even if no further multipart call asks for it.
        let shared = ctx.shared.clone();
        let id = t.id.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            shared.state().bucket_ready(&id);
        });
    }
    let body = xml::initiated(&t.id, &t.key, &upload_id);
    refuse(ctx, req, xml_answer(body)).await
}

/// `PUT /{id}/{key}?partNumber=N&uploadId=U`: every check and fault before the body, which is
/// then read to disk as a PUT's is (reset, stall, corrupt, bandwidth), and answered with its
/// MD5 as ETag (unless the answer is lost).
async fn upload_part(
    ctx: &mut Ctx,
    req: Request<Incoming>,
    t: &Target,
    part: Option<String>,
) -> Result<Response<Body>, Reset> {
    let Some(number) = part
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|n| (1..=10_000).contains(n))
    else {
        let message = "Part number must be an integer between 1 and 10000, inclusive";
        let resp = s3_error_with(S3Code::InvalidArgument, message, &t.resource, &t.rid);
        return Ok(refuse(ctx, req, resp).await);
    };
    let (length, wanted_md5) = match body_headers(&t.headers, true) {
        Ok(found) => found,
        Err(refusal) => {
            return Ok(refuse(ctx, req, refusal.answer(&t.resource, &t.rid)).await);
        }
    };
    if let Some(resp) = bucket_and_upload(ctx, t) {
        return Ok(refuse(ctx, req, resp).await);
    }
    if let Some(resp) = t.faults(ctx) {
        return Ok(refuse(ctx, req, resp).await);
    }
    let plan = body_faults(ctx, length, &t.path, t.attempt);
    let temp = TempFile(ctx.shared.state().temp_path());
    let outcome = body::read(req.into_body(), Some(&temp.0), &plan).await;
    ctx.body_size = outcome.size();
    let (size, md5) = match outcome {
        ReadOutcome::Complete { size, md5 } => (size, md5),
        cut => return cut_short(ctx, cut, &t.resource, &t.rid),
    };
    ctx.body_md5 = Some(md5.clone());
    if wanted_md5.is_some_and(|w| w != md5) {
        return Ok(t.error(S3Code::BadDigest));
    }
    let stored = ctx
        .shared
        .state()
        .store_part(t.upload(), number, &temp.0, size, md5.clone());
    match stored {
        Ok(()) => {
            let frontier = ctx
                .shared
                .state()
                .upload_mut(t.upload())
                .map(|u| u.frontier.clone());
            if let Some(frontier) = frontier {
                let (shared, upload_id) = (ctx.shared.clone(), t.upload_id.clone());
                frontier::advance(&frontier, move |n| shared.state().part_of(&upload_id, n));
            }
            answer(ctx, &t.path, t.attempt, &md5)
        }
        // Aborted or completed while the body was arriving.
        Err(StateError::NoSuchUpload) => Ok(t.error(S3Code::NoSuchUpload)),
        Err(_) => Ok(t.error(S3Code::InternalError)),
    }
}

/// The refusal of a call on an upload whose item has not appeared yet (`404 NoSuchBucket`), or
/// that is unknown (`404 NoSuchUpload`).
fn bucket_and_upload(ctx: &mut Ctx, t: &Target) -> Option<Response<Body>> {
    let mut state = ctx.shared.state();
    if !state.bucket_ready(&t.id) {
        return Some(t.error(S3Code::NoSuchBucket));
    }
    if state.upload_mut(t.upload()).is_none() {
        return Some(t.error(S3Code::NoSuchUpload));
    }
    None
}

/// `GET /{id}/{key}?uploadId=U`: every part, in part-number order.
async fn list_parts(ctx: &mut Ctx, req: Request<Incoming>, t: &Target) -> Response<Body> {
    let listed = ctx
        .shared
        .state()
        .upload_mut(t.upload())
        .map(|u| xml::parts(u));
    let resp = match listed {
        None => t.error(S3Code::NoSuchUpload),
        Some(body) => match t.faults(ctx) {
            Some(resp) => resp,
            None => xml_answer(body),
        },
    };
    refuse(ctx, req, resp).await
}

/// `POST /{id}/{key}?uploadId=U`: `--complete-slowdowns` and the faults, then the body's part
/// list is checked against the stored parts, the listed parts are concatenated on disk and the
/// file committed; the upload is forgotten.
async fn complete(ctx: &mut Ctx, req: Request<Incoming>, t: &Target) -> Response<Body> {
    let calls = ctx.shared.state().upload_mut(t.upload()).map(|u| {
        u.complete_calls += 1;
        u.complete_calls
    });
    let Some(calls) = calls else {
        return refuse(ctx, req, t.error(S3Code::NoSuchUpload)).await;
    };
    if calls <= ctx.faults.complete_slowdowns {
        ctx.strike("complete-slowdown");
        let resp = slowdown(ctx, SlowDownKind::Overload, &t.id, &t.resource);
        return refuse(ctx, req, resp).await;
    }
    if let Some(resp) = t.faults(ctx) {
        return refuse(ctx, req, resp).await;
    }
    let Some(text) = read_small_body(ctx, req.into_body()).await else {
        return t.error(S3Code::IncompleteBody);
    };
    let Ok(listed) = xml::parse_complete(&text) else {
        return t.error(S3Code::MalformedXML);
    };
    assemble(ctx, t, &listed).await
}

/// Checks the listed parts against the upload, concatenates them and commits the file.
async fn assemble(ctx: &mut Ctx, t: &Target, listed: &[xml::PartRef]) -> Response<Body> {
    if listed.windows(2).any(|w| w[0].number >= w[1].number) {
        return t.error(S3Code::InvalidPartOrder);
    }
    let min_part = ctx.shared.config.min_part_size;
    let (upload, temp) = {
        let mut state = ctx.shared.state();
        let Some(upload) = state.upload_mut(t.upload()) else {
            return t.error(S3Code::NoSuchUpload);
        };
        let found: Option<Vec<_>> = listed
            .iter()
            .map(|l| upload.parts.get(&l.number).filter(|p| p.md5 == l.md5()))
            .collect();
        let Some(found) = found else {
            return t.error(S3Code::InvalidPart);
        };
        let last = found.len() - 1;
        if found[..last].iter().any(|p| p.size < min_part) {
            return t.error(S3Code::EntityTooSmall);
        }
        let Some(upload) = state.take_upload(t.upload()) else {
            return t.error(S3Code::NoSuchUpload);
        };
        (upload, TempFile(state.temp_path()))
    };
    let parts: Vec<(u32, String, std::path::PathBuf)> = listed
        .iter()
        .map(|l| {
            let p = &upload.parts[&l.number];
            (l.number, p.md5.clone(), p.path.clone())
        })
        .collect();
    let md5s: Vec<&str> = parts.iter().map(|p| p.1.as_str()).collect();
    let etag = multipart_etag(&md5s);
    let dest = temp.0.clone();
    let frontier = upload.frontier.clone();
    // The copy and the hash of what the frontier has not covered run side by side.
    let joined = tokio::task::spawn_blocking(move || {
        let paths: Vec<_> = parts.iter().map(|p| p.2.clone()).collect();
        std::thread::scope(|scope| {
            let md5 = scope.spawn(|| frontier::finish(&frontier, &parts));
            let size = concatenate(&paths, &dest)?;
            let md5 = md5
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("hash panicked")))?;
            Ok::<_, std::io::Error>((size, md5))
        })
    })
    .await;
    let (size, md5) = match joined {
        Ok(Ok(done)) => done,
        _ => {
            ctx.shared.state().restore_upload(upload);
            return t.error(S3Code::InternalError);
        }
    };
    let committed = ctx.shared.state().commit_upload(
        upload,
        temp.0.clone(),
        size,
        md5,
        TaskRule::of(&ctx.faults),
    );
    if committed.is_err() {
        return t.error(S3Code::InternalError);
    }
    let location = format!("{}{}", ctx.shared.base_url, t.resource);
    xml_answer(xml::completed(&location, &t.id, &t.key, &etag))
}

/// Reads a small body (a Complete's part list), counting every byte read; None if it broke off
/// or is not text. A body over [`MAX_COMPLETE_BODY`] is read to its end but kept empty, so it
/// is refused as malformed.
async fn read_small_body(ctx: &mut Ctx, mut body: Incoming) -> Option<String> {
    use http_body_util::BodyExt;
    let mut kept = Vec::new();
    let mut too_big = body.size_hint().lower() > MAX_COMPLETE_BODY as u64;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.ok()?.into_data() else {
            continue;
        };
        ctx.body_size += data.len() as u64;
        too_big |= kept.len() + data.len() > MAX_COMPLETE_BODY;
        if !too_big {
            kept.extend_from_slice(&data);
        }
    }
    if too_big {
        kept.clear();
    }
    String::from_utf8(kept).ok()
}

/// `DELETE /{id}/{key}?uploadId=U`: `204`, the parts removed.
async fn abort(ctx: &mut Ctx, req: Request<Incoming>, t: &Target) -> Response<Body> {
    let known = ctx.shared.state().upload_mut(t.upload()).is_some();
    let resp = if !known {
        t.error(S3Code::NoSuchUpload)
    } else if let Some(resp) = t.faults(ctx) {
        resp
    } else if ctx.shared.state().abort_upload(t.upload()) {
        ok_empty(StatusCode::NO_CONTENT)
    } else {
        t.error(S3Code::NoSuchUpload)
    };
    refuse(ctx, req, resp).await
}

/// `GET /{id}?uploads`: the item's uploads in progress (also while its bucket is promised).
async fn list_uploads(ctx: &mut Ctx, req: Request<Incoming>, t: &Target) -> Response<Body> {
    let listed = {
        let mut state = ctx.shared.state();
        let known = state.bucket_ready(&t.id) || state.bucket_promised(&t.id);
        known.then(|| xml::uploads(&t.id, &state.uploads_of(&t.id)))
    };
    let resp = match listed {
        None => t.error(S3Code::NoSuchBucket),
        Some(body) => match t.faults(ctx) {
            Some(resp) => resp,
            None => xml_answer(body),
        },
    };
    refuse(ctx, req, resp).await
}

/// A `200` XML answer.
fn xml_answer(body: String) -> Response<Body> {
    respond::with_body(StatusCode::OK, "application/xml", body)
}
