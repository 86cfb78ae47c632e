//! One attempt at one PUT: the file is reopened, read on a blocking thread that hashes it while
//! it streams (`hash::read_hashing`: bounded channel, so memory stays constant for any size),
//! sent with an exact `Content-Length` by the PUT client (`transport::expect`, which holds a big
//! body back until the server says `100 Continue`), and watched for stalls and a late answer
//! (`transport::watch`). The result says whether the whole body went out, so the caller knows
//! when a failure is ambiguous.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::hash::{self, HashedChunks};
use crate::ias3::{self, Class, RequestSpec, S3Error};
use crate::secret::Credentials;
use crate::transport::expect::PutClient;
use crate::transport::watch::{counted_body, Marks, Watch};
use crate::transport::{self, error_chain, Answer};

/// Bytes of the current attempt accepted by the HTTP stack, readable by the progress display.
pub use crate::events::Progress;

#[derive(Debug)]
pub enum AttemptResult {
    /// 2xx with an ETag equal to the MD5 of what was sent.
    Stored {
        md5: String,
    },
    /// 3xx with a `Location` (IAS3 redirects PUTs to another host): send there instead.
    Redirect {
        location: String,
        status: u16,
    },
    Failed(AttemptError),
}

#[derive(Debug)]
pub struct AttemptError {
    pub class: Class,
    pub reason: String,
    pub retry_after: Option<Duration>,
    /// The MD5 of the whole body when every byte was handed to the connection: the server may
    /// have stored the file even though the answer was lost.
    pub sent_md5: Option<String>,
    /// The server answered success but stored other bytes (ETag mismatch): a damaged copy
    /// stays under that name until a later attempt replaces it.
    pub stored_damaged: bool,
    /// iaup gave up waiting (stall or answer timeout): the server may still be reading or
    /// storing what was sent.
    pub abandoned: bool,
    /// The S3 error code of the answer, if it had one (`NoSuchBucket`, ...).
    pub s3_code: Option<String>,
}

impl AttemptError {
    fn new(class: Class, reason: impl Into<String>) -> AttemptError {
        AttemptError {
            class,
            reason: reason.into(),
            retry_after: None,
            sent_md5: None,
            stored_damaged: false,
            abandoned: false,
            s3_code: None,
        }
    }
}

/// What one attempt sends: `len` bytes of `local` from `offset` (a whole file, or one part of
/// a multipart upload), where `local` must still be `file_size` bytes long; or a part held in
/// memory (stdin streamed in parts).
#[derive(Clone, Debug)]
pub enum Source<'a> {
    File {
        local: &'a Path,
        file_size: u64,
        offset: u64,
        len: u64,
    },
    Memory(bytes::Bytes),
}

impl Source<'_> {
    /// All of a file of `size` bytes.
    pub fn whole(local: &Path, size: u64) -> Source<'_> {
        Source::File {
            local,
            file_size: size,
            offset: 0,
            len: size,
        }
    }

    /// The bytes it sends.
    pub fn bytes(&self) -> u64 {
        match self {
            Source::File { len, .. } => *len,
            Source::Memory(b) => b.len() as u64,
        }
    }

    /// Its chunks and their MD5, read (and hashed) as they are sent.
    async fn chunks(self) -> Result<HashedChunks, AttemptError> {
        match self {
            Source::File {
                local,
                file_size,
                offset,
                len,
            } => {
                let file = open_as_planned(local, file_size, offset).await?;
                Ok(hash::read_hashing(file, len))
            }
            Source::Memory(b) => Ok(hash::memory_hashing(b)),
        }
    }
}

/// Sends one PUT and classifies the outcome. `progress` counts this attempt's bytes.
pub async fn put(
    client: &PutClient,
    creds: &Credentials,
    spec: &RequestSpec,
    source: Source<'_>,
    watch: &Watch,
    progress: Arc<Progress>,
) -> AttemptResult {
    let size = source.bytes();
    let HashedChunks { chunks, md5 } = match source.chunks().await {
        Ok(c) => c,
        Err(e) => return AttemptResult::Failed(e),
    };
    let marks = Marks::new(size);
    let body = counted_body(chunks, size, marks.clone(), move |n| {
        progress.add(n);
    });
    let headers = spec.headers_with_auth(creds);
    let outcome = tokio::select! {
        r = client.put(&spec.url, headers, size, body) => r,
        stalled = watch.watchdog(&marks) => return abandoned(stalled, &marks, md5).await,
    };
    let md5 = if marks.body_done() {
        md5.await.ok()
    } else {
        None
    };
    match outcome {
        Err(e) => {
            let mut err = AttemptError::new(transport::classify_error(&*e), error_chain(&*e));
            err.sent_md5 = md5;
            AttemptResult::Failed(err)
        }
        Ok(answer) => judge(&spec.url, &answer, md5),
    }
}

/// Opens the file at the source's offset, refusing one whose size is not the planned one.
async fn open_as_planned(
    local: &Path,
    size: u64,
    offset: u64,
) -> Result<std::fs::File, AttemptError> {
    use std::io::{Seek, SeekFrom};
    let path = local.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || {
        let mut f = std::fs::File::open(path)?;
        f.seek(SeekFrom::Start(offset))?;
        Ok::<_, std::io::Error>(f)
    });
    let file = match opened.await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            return Err(AttemptError::new(
                Class::Fatal,
                format!("cannot open {}: {e}", local.display()),
            ))
        }
        Err(e) => return Err(AttemptError::new(Class::Fatal, e.to_string())),
    };
    match file.metadata() {
        Ok(m) if m.len() != size => Err(AttemptError::new(
            Class::Fatal,
            format!(
                "{} changed size since the run was planned ({size} -> {} bytes); run again",
                local.display(),
                m.len()
            ),
        )),
        _ => Ok(file),
    }
}

/// The watchdog gave up on the attempt: transient, and ambiguous once the whole body went out.
async fn abandoned(reason: String, marks: &Marks, md5: oneshot::Receiver<String>) -> AttemptResult {
    let mut e = AttemptError::new(Class::Transient, reason);
    e.abandoned = true;
    if marks.body_done() {
        e.sent_md5 = md5.await.ok();
    }
    AttemptResult::Failed(e)
}

/// What an answer to a PUT to `url` means, given the MD5 of the body when all of it was sent.
fn judge(url: &str, answer: &Answer, md5: Option<String>) -> AttemptResult {
    let Answer {
        status,
        headers,
        body,
    } = answer;
    let status = *status;
    if matches!(status, 301 | 302 | 303 | 307 | 308) {
        let location = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url::Url::parse(url).ok()?.join(l).ok());
        if let Some(location) = location {
            return AttemptResult::Redirect {
                location: location.to_string(),
                status,
            };
        }
    }
    let s3 = S3Error::parse(body);
    match ias3::classify(status, s3.as_ref()) {
        Class::Success => stored(status, headers, md5),
        class => {
            let mut err = AttemptError::new(class, ias3::describe(status, s3.as_ref(), body));
            err.retry_after = transport::retry_after(headers);
            err.s3_code = s3.as_ref().map(|e| e.code.clone());
            if status >= 500 && s3.as_ref().is_none_or(|e| e.code != "SlowDown") {
                err.sent_md5 = md5;
            }
            AttemptResult::Failed(err)
        }
    }
}

/// A success answer: stored when its ETag is the MD5 of what was sent.
fn stored(status: u16, headers: &reqwest::header::HeaderMap, md5: Option<String>) -> AttemptResult {
    let Some(md5) = md5 else {
        return AttemptResult::Failed(AttemptError::new(
            Class::Transient,
            format!("HTTP {status} before the whole body was sent"),
        ));
    };
    let etag = headers
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(hash::normalize_etag);
    match etag {
        Some(etag) if etag == md5 => AttemptResult::Stored { md5 },
        Some(etag) => {
            let mut e = AttemptError::new(
                Class::Transient,
                format!(
                    "ETag {etag} does not match the MD5 sent ({md5}): the server stored other bytes"
                ),
            );
            e.stored_damaged = true;
            AttemptResult::Failed(e)
        }
        None => {
            // Ask the server (HEAD) before sending it all again.
            let mut e = AttemptError::new(
                Class::Transient,
                format!("HTTP {status} without an ETag: cannot confirm the file arrived intact"),
            );
            e.sent_md5 = Some(md5);
            AttemptResult::Failed(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut h = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, v.parse().unwrap());
        }
        Answer {
            status,
            headers: h,
            body: body.to_owned(),
        }
    }

    // The upload's own rows of the decision table: what a PUT's answer becomes before the
    // transport's table (`ias3` pins the statuses) decides the step.
    #[test]
    fn put_answers_are_judged() {
        let md5 = || Some("abc".to_owned());
        let url = "http://127.0.0.1:9/item/key";
        assert!(matches!(
            judge(url, &answer(200, &[("etag", "\"ABC\"")], ""), md5()),
            AttemptResult::Stored { md5 } if md5 == "abc"
        ));
        let AttemptResult::Failed(mismatch) =
            judge(url, &answer(200, &[("etag", "\"x\"")], ""), md5())
        else {
            panic!("an ETag mismatch is a failure")
        };
        assert_eq!(mismatch.class, Class::Transient);
        assert!(mismatch.stored_damaged && mismatch.sent_md5.is_none());
        let AttemptResult::Failed(no_etag) = judge(url, &answer(200, &[], ""), md5()) else {
            panic!("no ETag is a failure")
        };
        assert_eq!(
            (no_etag.class, no_etag.sent_md5.as_deref()),
            (Class::Transient, Some("abc"))
        );
        let AttemptResult::Failed(early) = judge(url, &answer(200, &[], ""), None) else {
            panic!("an early answer is a failure")
        };
        assert_eq!(early.class, Class::Transient);
        assert!(matches!(
            judge(url, &answer(307, &[("location", "/other/key")], ""), md5()),
            AttemptResult::Redirect { location, status: 307 } if location == "http://127.0.0.1:9/other/key"
        ));
        let digest = "<Error><Code>BadDigest</Code><Message>m</Message></Error>";
        let AttemptResult::Failed(bad) = judge(url, &answer(400, &[], digest), md5()) else {
            panic!("BadDigest is a failure")
        };
        assert_eq!(bad.class, Class::Transient);
        assert!(bad.sent_md5.is_none(), "a 4xx did not store the file");
        let slow = "<Error><Code>SlowDown</Code><Message>m</Message></Error>";
        let AttemptResult::Failed(sd) =
            judge(url, &answer(503, &[("retry-after", "4")], slow), md5())
        else {
            panic!("SlowDown is a failure")
        };
        assert_eq!(sd.class, Class::Overload);
        assert_eq!(sd.retry_after, Some(Duration::from_secs(4)));
        assert!(sd.sent_md5.is_none(), "a SlowDown stored nothing");
        let AttemptResult::Failed(e500) = judge(url, &answer(500, &[], ""), md5()) else {
            panic!("a 500 is a failure")
        };
        assert_eq!(
            e500.sent_md5.as_deref(),
            Some("abc"),
            "a 500 may have stored it"
        );
    }
}
