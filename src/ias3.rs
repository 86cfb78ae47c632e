//! The S3 face (IAS3) and its wire format, as `ia` speaks it: URL quoting, `x-archive-meta`
//! header encoding, the upload request builder, S3 XML error parsing and the classification
//! of answers ([`S3`], the [`Face`] the transport is given for S3 requests). IAS3's own
//! check_limit and the run-wide gate it drives are [`check_limit`].
//!
//! Everything in this file is pure: a plan entry goes in, a method, URL and header list come
//! out; a status and body go in, an error class comes out. No I/O, so every byte of the wire
//! format is unit-tested without a server.

pub mod check_limit;
pub mod multipart;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::plan::Metadata;
use crate::secret::Credentials;
pub use crate::transport::Class;
use crate::transport::{Answer, Face};

/// Python's `urllib.parse.quote(s)` (safe `/`): everything but `A-Za-z0-9_.-~/` is escaped.
const PY_QUOTE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a key (or any path part) as `ia` does: UTF-8, `/` kept.
pub fn quote(s: &str) -> String {
    utf8_percent_encode(s, PY_QUOTE).to_string()
}

/// `ia`'s `needs_quote`: any non-ASCII or whitespace. iaup also quotes other control characters,
/// which `ia` would put raw into a header (an invalid request), and any value that begins with
/// `uri(` in any case: IAS3 would percent-decode it (`ia` sends `uri(A%42C)` raw and the item
/// gets `ABC`; an encoded CR/LF becomes a real one).
fn needs_quote(v: &str) -> bool {
    v.chars()
        .any(|c| !c.is_ascii() || c.is_whitespace() || c.is_ascii_control())
        || v.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("uri("))
}

/// A metadata value as a header value: raw, or `uri(<percent-encoded UTF-8>)`.
pub fn encode_value(v: &str) -> String {
    if needs_quote(v) {
        format!("uri({})", quote(v))
    } else {
        v.to_owned()
    }
}

/// `x-archive-meta{NN}-{field}` headers (or `filemeta` with `prefix`). `_` in a field name
/// becomes `--`; NN counts the values of one field from 00; empty values are not sent.
pub fn meta_headers(prefix: &str, metadata: &Metadata) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (field, values) in metadata.iter() {
        let name = field.replace('_', "--");
        for (i, v) in values.iter().filter(|v| !v.is_empty()).enumerate() {
            out.push((format!("x-archive-{prefix}{i:02}-{name}"), encode_value(v)));
        }
    }
    out
}

/// Joins an endpoint base URL (`https://s3.us.archive.org`, possibly with a path) and a path.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// `{s3}/{identifier}/{quoted key}`.
pub fn object_url(s3_base: &str, identifier: &str, key: &str) -> String {
    join(s3_base, &format!("{}/{}", quote(identifier), quote(key)))
}

/// What a PUT of one file needs besides its body.
#[derive(Clone, Debug)]
pub struct PutSpec<'a> {
    pub identifier: &'a str,
    pub key: &'a str,
    pub size: u64,
    pub metadata: &'a Metadata,
    /// Per-file metadata: `x-archive-filemeta{NN}-{field}` headers.
    pub file_metadata: &'a Metadata,
    /// `x-archive-queue-derive: 1` (only the item's last file, unless --no-derive).
    pub derive: bool,
    pub size_hint: Option<u64>,
    pub keep_old_version: bool,
    pub content_md5: Option<&'a str>,
    /// `-H KEY:VALUE`, sent as given.
    pub extra_headers: &'a [(String, String)],
}

/// A request ready to send or print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    pub method: &'static str,
    pub url: String,
    /// In send order. The `authorization` value is filled by [`RequestSpec::authorize`].
    pub headers: Vec<(String, String)>,
}

impl RequestSpec {
    /// Returns the headers with the real `Authorization`; the spec itself only ever holds the
    /// masked form, so printing it can never leak.
    pub fn headers_with_auth(&self, creds: &Credentials) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| {
                if k == "authorization" {
                    (k.clone(), creds.authorization())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect()
    }

    /// `METHOD URL` then one `name: value` line per header, for --dry-run.
    pub fn render(&self) -> String {
        let mut s = format!("{} {}\n", self.method, self.url);
        for (k, v) in &self.headers {
            s.push_str(&format!("  {k}: {v}\n"));
        }
        s
    }
}

/// The PUT of one file, byte for byte what `ia` sends (with `ia`'s faults fixed by the caller's
/// choice of `derive` and `size_hint`).
pub fn put_request(s3_base: &str, creds: &Credentials, spec: &PutSpec<'_>) -> RequestSpec {
    let mut headers = vec![
        ("authorization".to_owned(), creds.authorization_masked()),
        ("content-length".to_owned(), spec.size.to_string()),
        ("x-archive-auto-make-bucket".to_owned(), "1".to_owned()),
        (
            "x-archive-queue-derive".to_owned(),
            if spec.derive { "1" } else { "0" }.to_owned(),
        ),
    ];
    if let Some(hint) = spec.size_hint {
        headers.push(("x-archive-size-hint".to_owned(), hint.to_string()));
    }
    if spec.keep_old_version {
        headers.push(("x-archive-keep-old-version".to_owned(), "1".to_owned()));
    }
    if let Some(md5) = spec.content_md5 {
        headers.push(("content-md5".to_owned(), md5.to_owned()));
    }
    headers.extend(meta_headers("meta", spec.metadata));
    headers.extend(meta_headers("filemeta", spec.file_metadata));
    for (k, v) in spec.extra_headers {
        headers.push((k.to_ascii_lowercase(), v.clone()));
    }
    RequestSpec {
        method: "PUT",
        url: object_url(s3_base, spec.identifier, spec.key),
        headers,
    }
}

/// `DELETE {s3}/{id}/{key}`.
pub fn delete_request(
    s3_base: &str,
    creds: &Credentials,
    identifier: &str,
    key: &str,
    cascade: bool,
    keep_old_version: bool,
) -> RequestSpec {
    let mut headers = vec![("authorization".to_owned(), creds.authorization_masked())];
    if cascade {
        headers.push(("x-archive-cascade-delete".to_owned(), "1".to_owned()));
    }
    if keep_old_version {
        headers.push(("x-archive-keep-old-version".to_owned(), "1".to_owned()));
    }
    RequestSpec {
        method: "DELETE",
        url: object_url(s3_base, identifier, key),
        headers,
    }
}

/// An S3 XML error body: `<Error><Code>..</Code><Message>..</Message></Error>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct S3Error {
    #[serde(rename = "Code", default)]
    pub code: String,
    #[serde(rename = "Message", default)]
    pub message: String,
    /// IA puts the reason of a SlowDown here (`total_tasks_queued exceeds global_limit`,
    /// `... appears to be spam ...`); `<Message>` is always the generic text.
    #[serde(rename = "Resource", default)]
    pub resource: String,
}

impl S3Error {
    /// Message and reason, as `ia` prints them: `Message - Resource` when the resource is a
    /// reason rather than the request path.
    pub fn text(&self) -> String {
        let r = self.resource.trim();
        if r.is_empty() || r.starts_with('/') {
            self.message.clone()
        } else if self.message.is_empty() {
            r.to_owned()
        } else {
            format!("{} - {r}", self.message)
        }
    }

    pub fn parse(body: &str) -> Option<S3Error> {
        let e: S3Error = quick_xml::de::from_str(body.trim_start_matches('\u{feff}')).ok()?;
        (!e.code.is_empty()).then_some(e)
    }
}

/// The three kinds of `503 SlowDown`, told apart by IA's message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowDown {
    /// Plain overload: back off, lower concurrency, retry.
    Overload,
    /// `total_tasks_queued exceeds global_limit`: pause every new PUT until check_limit clears.
    GlobalLimit,
    /// `appears to be spam`: retrying never helps; fail the item.
    Spam,
}

impl SlowDown {
    pub fn from_message(message: &str) -> SlowDown {
        let m = message.to_ascii_lowercase();
        if m.contains("spam") {
            SlowDown::Spam
        } else if m.contains("global_limit") || m.contains("global limit") {
            SlowDown::GlobalLimit
        } else {
            SlowDown::Overload
        }
    }

    pub fn class(self) -> Class {
        match self {
            SlowDown::Overload => Class::Overload,
            SlowDown::GlobalLimit => Class::Pause,
            SlowDown::Spam => Class::FatalForGroup,
        }
    }
}

/// What an S3 answer means. Every `503` is a SlowDown (plain overload when IA says no more),
/// and only a SlowDown classes as [`Class::Overload`], [`Class::Pause`] or
/// [`Class::FatalForGroup`] (see [`is_slowdown`]).
pub fn classify(status: u16, s3: Option<&S3Error>) -> Class {
    if let Some(e) = s3.filter(|e| e.code == "SlowDown") {
        return SlowDown::from_message(&e.text()).class();
    }
    match status {
        200..=299 => Class::Success,
        503 => Class::Overload,
        408 | 429 | 500..=599 => Class::Transient,
        // IA answers RequestTimeout with 400 when the socket stalled, and BadDigest when the
        // bytes that arrived do not match Content-MD5 (damage in transit, the same damage an
        // ETag mismatch shows): worth retrying.
        400 if s3.is_some_and(|e| matches!(e.code.as_str(), "RequestTimeout" | "BadDigest")) => {
            Class::Transient
        }
        _ => Class::Fatal,
    }
}

/// Whether an S3 answer of this class was a `503 SlowDown` (counted in the summary).
pub fn is_slowdown(class: Class) -> bool {
    matches!(class, Class::Overload | Class::Pause | Class::FatalForGroup)
}

/// A short human reason for a failed answer: `403 AccessDenied: Access Denied`.
pub fn describe(status: u16, s3: Option<&S3Error>, body: &str) -> String {
    match s3 {
        Some(e) if e.text().is_empty() => format!("{status} {}", e.code),
        Some(e) => format!("{status} {}: {}", e.code, e.text()),
        None => Answer {
            status,
            headers: Default::default(),
            body: body.to_owned(),
        }
        .describe_plain(),
    }
}

/// The S3 face: answers read as S3 XML errors.
pub struct S3;

impl Face for S3 {
    fn classify(&self, answer: &Answer) -> Class {
        classify(answer.status, S3Error::parse(&answer.body).as_ref())
    }

    fn describe(&self, answer: &Answer) -> String {
        describe(
            answer.status,
            S3Error::parse(&answer.body).as_ref(),
            &answer.body,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn md(pairs: &[(&str, &[&str])]) -> Metadata {
        Metadata(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
        )
    }

    #[test]
    fn quote_matches_python_urllib() {
        assert_eq!(quote("sp ace#?é.txt"), "sp%20ace%23%3F%C3%A9.txt");
        assert_eq!(quote("a/b c/d~_-.x"), "a/b%20c/d~_-.x");
        assert_eq!(quote("100%+&=;"), "100%25%2B%26%3D%3B");
    }

    #[test]
    fn values_quoted_like_ia() {
        assert_eq!(encode_value("plain-ascii_value"), "plain-ascii_value");
        assert_eq!(encode_value("a b"), "uri(a%20b)");
        assert_eq!(encode_value("Héllo"), "uri(H%C3%A9llo)");
        assert_eq!(encode_value("line1\nline2"), "uri(line1%0Aline2)");
        assert_eq!(encode_value("tab\there"), "uri(tab%09here)");
        assert_eq!(encode_value("http://x.org/a?b=c"), "http://x.org/a?b=c");
        // A literal `uri(...)` is encoded, so the server decodes it back to itself.
        assert_eq!(encode_value("uri(A%42C)"), "uri(uri%28A%2542C%29)");
        assert_eq!(encode_value("URI(x)"), "uri(URI%28x%29)");
        assert_eq!(encode_value("a uri(x)"), "uri(a%20uri%28x%29)");
        assert_eq!(
            encode_value("Бандура 2"),
            "uri(%D0%91%D0%B0%D0%BD%D0%B4%D1%83%D1%80%D0%B0%202)"
        );
    }

    #[test]
    fn meta_header_names_and_lists() {
        let h = meta_headers(
            "meta",
            &md(&[
                ("title", &["A title"]),
                ("isbn_10", &["123"]),
                ("subject", &["SUCHO", "choir music", ""]),
                ("host_institution", &["Dudaryk"]),
            ]),
        );
        let want: Vec<(String, String)> = [
            ("x-archive-meta00-title", "uri(A%20title)"),
            ("x-archive-meta00-isbn--10", "123"),
            ("x-archive-meta00-subject", "SUCHO"),
            ("x-archive-meta01-subject", "uri(choir%20music)"),
            ("x-archive-meta00-host--institution", "Dudaryk"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(h, want);
    }

    #[test]
    fn put_request_masks_secret_and_sets_headers() {
        let creds = Credentials {
            access: "AK".into(),
            secret: Secret::new("SEKRET"),
        };
        let meta = md(&[("title", &["T"])]);
        let spec = PutSpec {
            identifier: "my-item",
            key: "dir/a b.txt",
            size: 42,
            metadata: &meta,
            file_metadata: &Metadata::default(),
            derive: false,
            size_hint: Some(1000),
            keep_old_version: true,
            content_md5: None,
            extra_headers: &[("X-Archive-Interactive-Priority".into(), "1".into())],
        };
        let r = put_request("http://127.0.0.1:9/", &creds, &spec);
        assert_eq!(r.url, "http://127.0.0.1:9/my-item/dir/a%20b.txt");
        assert!(!r.render().contains("SEKRET"));
        let auth = r.headers_with_auth(&creds);
        assert!(auth.contains(&("authorization".into(), "LOW AK:SEKRET".into())));
        for h in [
            ("content-length", "42"),
            ("x-archive-queue-derive", "0"),
            ("x-archive-size-hint", "1000"),
            ("x-archive-keep-old-version", "1"),
            ("x-archive-meta00-title", "T"),
            ("x-archive-interactive-priority", "1"),
        ] {
            assert!(
                r.headers.contains(&(h.0.into(), h.1.into())),
                "missing {h:?} in {r:?}"
            );
        }
    }

    #[test]
    fn s3_errors_parse_and_classify() {
        let body = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><Resource>/a/b</Resource></Error>";
        let e = S3Error::parse(body).unwrap();
        assert_eq!(e.code, "SlowDown");
        assert_eq!(classify(503, Some(&e)), Class::Overload);
        let spam = S3Error {
            code: "SlowDown".into(),
            message: "Please reduce your request rate.".into(),
            resource: "Your upload of x from username y appears to be spam.".into(),
        };
        assert_eq!(classify(503, Some(&spam)), Class::FatalForGroup);
        let global = S3Error {
            code: "SlowDown".into(),
            message: "Please reduce your request rate.".into(),
            resource: "total_tasks_queued exceeds global_limit".into(),
        };
        assert_eq!(
            global.text(),
            "Please reduce your request rate. - total_tasks_queued exceeds global_limit"
        );
        assert_eq!(
            e.text(),
            "Please reduce your request rate.",
            "a path is not a reason"
        );
        assert_eq!(classify(503, Some(&global)), Class::Pause);
        assert_eq!(classify(500, None), Class::Transient);
        assert_eq!(classify(429, None), Class::Transient);
        assert_eq!(classify(408, None), Class::Transient);
        assert_eq!(classify(403, None), Class::Fatal);
        let digest = S3Error {
            code: "BadDigest".into(),
            ..S3Error::default()
        };
        assert_eq!(classify(400, Some(&digest)), Class::Transient);
        assert_eq!(classify(400, None), Class::Fatal);
        assert_eq!(classify(200, None), Class::Success);
        assert_eq!(S3Error::parse("not xml"), None);
        assert_eq!(
            describe(
                403,
                Some(&S3Error {
                    code: "AccessDenied".into(),
                    message: "Access Denied".into(),
                    resource: "/a/b".into(),
                }),
                ""
            ),
            "403 AccessDenied: Access Denied"
        );
    }

    // The transient/fatal table of S3 answers, and the step the transport takes for each with
    // budget left and without (the transport errors' half is in `transport::classify`).
    #[test]
    fn the_decision_table_of_s3_answers() {
        use crate::transport::retry::{next_step, Budget, GiveUp, RetryPolicy, Step};
        let err = |code: &str, resource: &str| S3Error {
            code: code.into(),
            message: "m".into(),
            resource: resource.into(),
        };
        let slow = |r: &str| err("SlowDown", r);
        let spam = slow("Your upload appears to be spam.");
        let global = slow("total_tasks_queued exceeds global_limit");
        let plain = slow("/item/key");
        let bad_digest = err("BadDigest", "");
        let other_400 = err("InvalidArgument", "");
        let policy = RetryPolicy {
            retries: 1,
            ..RetryPolicy::default()
        };
        let fresh = Budget::with_pauses(policy, 1);
        let mut spent = fresh.clone();
        spent.spend(&Step::Retry {
            delay: Default::default(),
        });
        spent.spend(&Step::Pause);
        use Class::*;
        #[rustfmt::skip]
        let table: [(u16, Option<&S3Error>, Class, &str, &str); 17] = [
            // status, S3 error, class, step with budget left, step with none
            (200, None, Success, "done", "done"),
            // A 307 with a Location is followed before it is classified; without one, fatal.
            (307, None, Fatal, "fatal", "fatal"),
            (400, Some(&bad_digest), Transient, "retry", "exhausted"),
            (400, Some(&other_400), Fatal, "fatal", "fatal"),
            (400, None, Fatal, "fatal", "fatal"),
            (403, None, Fatal, "fatal", "fatal"),
            (404, None, Fatal, "fatal", "fatal"),
            (408, None, Transient, "retry", "exhausted"),
            (409, None, Fatal, "fatal", "fatal"),
            (429, None, Transient, "retry", "exhausted"),
            (500, None, Transient, "retry", "exhausted"),
            (502, None, Transient, "retry", "exhausted"),
            (503, Some(&plain), Overload, "retry", "exhausted"),
            (503, Some(&global), Pause, "pause", "paused out"),
            (503, Some(&spam), FatalForGroup, "item fatal", "item fatal"),
            (503, None, Overload, "retry", "exhausted"),
            (504, None, Transient, "retry", "exhausted"),
        ];
        let name = |s: Step| match s {
            Step::Done => "done",
            Step::Retry { .. } => "retry",
            Step::Pause => "pause",
            Step::GiveUp(GiveUp::Fatal) => "fatal",
            Step::GiveUp(GiveUp::FatalForGroup) => "item fatal",
            Step::GiveUp(GiveUp::Exhausted) => "exhausted",
            Step::GiveUp(GiveUp::TooManyPauses) => "paused out",
        };
        for (status, s3, class, left, none) in table {
            let got = classify(status, s3);
            assert_eq!(got, class, "{status} {s3:?}");
            assert_eq!(name(next_step(got, &fresh, None)), left, "{status} {s3:?}");
            assert_eq!(name(next_step(got, &spent, None)), none, "{status} {s3:?}");
            assert_eq!(
                is_slowdown(got),
                s3.is_some_and(|e| e.code == "SlowDown") || (status == 503),
                "{status} {s3:?}"
            );
        }
    }
}
