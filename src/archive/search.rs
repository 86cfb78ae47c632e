//! archive.org's search APIs, as `ia search` speaks them: the scrape API
//! (`GET {archive}/services/search/v1/scrape`, cursor paging, [`scrape`]) for result sets of
//! any size, its `total_only=true` count ([`total`]), and one page of `advancedsearch.php`
//! ([`advanced`]) when the caller asks for `rows`/`page` as `ia` does.
//!
//! [`scrape`] is a stream of pages: each page is asked for only when the previous one has been
//! taken, so a caller that handles rows as they come (`iaup search`, `iaup download --search`)
//! never holds more than one page. Every page is one request through [`transport::send`], so a
//! page that fails or is cut short is asked for again with the same cursor (the last one the
//! server gave). The `total` a page reports may drift while paging (ia#610): it is passed on,
//! never checked against the rows received. A query the server refuses (400) is
//! [`SearchError::BadQuery`], naming the query.

use std::time::Duration;

use futures::{Stream, TryStreamExt};
use serde_json::{Map, Value};

use super::ARCHIVE;
use crate::ias3;
use crate::secret::Credentials;
use crate::transport::{
    self, classify_status, Answer, ApiError, Class, Face, OnRetry, RetryPolicy,
};

/// One result: the fields the server returned for one item (`identifier` always).
pub type Row = Map<String, Value>;

/// Rows asked for per scrape page unless `-p count:N` says otherwise (what `ia` sends; the
/// server keeps `count` within 100..=10000).
pub const PAGE_COUNT: &str = "10000";

/// Where and how to ask.
pub struct SearchApi<'a> {
    pub client: &'a reqwest::Client,
    pub archive_url: &'a str,
    /// Sent as `Authorization: LOW` when present (an owner's private items then match too);
    /// search works without.
    pub creds: Option<&'a Credentials>,
    pub policy: &'a RetryPolicy,
    /// How long one page may take to arrive in full.
    pub timeout: Duration,
}

/// What to search for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// The query text, sent as written.
    pub q: String,
    /// Fields to return besides `identifier` (none: identifiers only).
    pub fields: Vec<String>,
    /// Sorts, `FIELD` or `FIELD desc`, in order.
    pub sorts: Vec<String>,
    /// Further parameters, sent as given (`-p KEY:VALUE`); a `count` here replaces
    /// [`PAGE_COUNT`].
    pub params: Vec<(String, String)>,
}

impl Query {
    /// `rows` or `page` among the parameters: the caller wants one page of
    /// `advancedsearch.php`, as `ia` then sends.
    pub fn is_one_page(&self) -> bool {
        self.params.iter().any(|(k, _)| k == "rows" || k == "page")
    }

    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The scrape parameters of the page after `cursor` (or of the count alone).
    fn scrape_params(&self, cursor: Option<&str>, total_only: bool) -> Vec<(String, String)> {
        let mut p = vec![("q".to_owned(), self.q.clone())];
        if !self.fields.is_empty() && !total_only {
            let mut fields = vec!["identifier".to_owned()];
            fields.extend(self.fields.iter().filter(|f| *f != "identifier").cloned());
            p.push(("fields".into(), fields.join(",")));
        }
        if !self.sorts.is_empty() && !total_only {
            p.push(("sorts".into(), self.sorts.join(",")));
        }
        if total_only {
            p.push(("total_only".into(), "true".into()));
        } else if self.param("count").is_none() {
            p.push(("count".into(), PAGE_COUNT.into()));
        }
        p.extend(
            self.params
                .iter()
                .filter(|(k, _)| !(total_only && k == "count"))
                .cloned(),
        );
        if let Some(c) = cursor {
            p.push(("cursor".into(), c.to_owned()));
        }
        p
    }

    /// The `advancedsearch.php` parameters: `fl[]` per field (`identifier` alone when none
    /// was asked for), `sort[]` per sort, `output=json`, then the caller's.
    fn advanced_params(&self) -> Vec<(String, String)> {
        let mut p = vec![("q".to_owned(), self.q.clone())];
        if self.fields.is_empty() {
            p.push(("fl[]".into(), "identifier".into()));
        }
        for f in &self.fields {
            p.push(("fl[]".into(), f.clone()));
        }
        for s in &self.sorts {
            p.push(("sort[]".into(), s.clone()));
        }
        p.push(("output".into(), "json".into()));
        p.extend(self.params.iter().cloned());
        p
    }
}

/// One page of results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub rows: Vec<Row>,
    /// The number of hits the server reported with this page (it may change from page to
    /// page while the index is updated).
    pub total: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The server refused the query itself (400): fix the query, nothing else will help.
    #[error("archive.org refused the search `{query}`: {reason}")]
    BadQuery { query: String, reason: String },
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// The search face: the archive face, and a `200` whose body is not whole JSON (a page cut
/// short) is worth asking for again.
struct Pages;

impl Face for Pages {
    fn classify(&self, answer: &Answer) -> Class {
        if answer.status == 200 && !is_json(&answer.body) {
            return Class::Transient;
        }
        classify_status(answer.status)
    }

    fn describe(&self, answer: &Answer) -> String {
        if answer.status == 200 && !is_json(&answer.body) {
            return "the page arrived cut short (not whole JSON)".to_owned();
        }
        ARCHIVE.describe(answer)
    }
}

fn is_json(body: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(body).is_ok()
}

impl SearchApi<'_> {
    /// One GET of `path` with `params`, retried by the transport; the parsed JSON of a `200`.
    async fn get(
        &self,
        query: &Query,
        path: &str,
        params: &[(String, String)],
        first: bool,
        on_retry: OnRetry<'_>,
    ) -> Result<Value, SearchError> {
        let url = ias3::join(self.archive_url, path);
        let what = format!("searching `{}`", query.q);
        let auth = self.creds.map(Credentials::authorization);
        let build = || {
            let b = self.client.get(&url).query(params).timeout(self.timeout);
            match &auth {
                Some(a) => b.header("authorization", a),
                None => b,
            }
        };
        let answer = transport::send(&what, self.policy, &Pages, build, on_retry)
            .await
            .map_err(ApiError::from)?;
        if answer.status == 400 && first {
            return Err(SearchError::BadQuery {
                query: query.q.clone(),
                reason: refusal(&answer),
            });
        }
        if answer.status != 200 {
            return Err(ApiError::Refused {
                what,
                reason: ARCHIVE.describe(&answer),
            }
            .into());
        }
        serde_json::from_str(&answer.body).map_err(|e| {
            ApiError::BadAnswer {
                what,
                reason: e.to_string(),
            }
            .into()
        })
    }
}

/// The server's reason for refusing: its JSON `error` (or `message`), else the body's start.
fn refusal(answer: &Answer) -> String {
    let v: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    ["error", "message"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| answer.describe_plain())
}

/// The number of hits (`total_only=true`).
pub async fn total(
    api: &SearchApi<'_>,
    query: &Query,
    on_retry: OnRetry<'_>,
) -> Result<u64, SearchError> {
    let params = query.scrape_params(None, true);
    let v = api
        .get(query, "services/search/v1/scrape", &params, true, on_retry)
        .await?;
    v.get("total").and_then(Value::as_u64).ok_or_else(|| {
        ApiError::BadAnswer {
            what: format!("counting `{}`", query.q),
            reason: "no `total` in the answer".to_owned(),
        }
        .into()
    })
}

/// Where the paging stands.
enum Cursor {
    First,
    After(String),
}

/// The pages of the scrape API, in order, each asked for when the previous one has been
/// taken; ends after the page without a `cursor` (or an empty page). An error ends the stream.
pub fn scrape<'a>(
    api: &'a SearchApi<'a>,
    query: &'a Query,
    on_retry: OnRetry<'a>,
) -> impl Stream<Item = Result<Page, SearchError>> + Send + 'a {
    futures::stream::try_unfold(Some(Cursor::First), move |at| async move {
        let Some(at) = at else { return Ok(None) };
        let cursor = match &at {
            Cursor::First => None,
            Cursor::After(c) => Some(c.as_str()),
        };
        let params = query.scrape_params(cursor, false);
        let v = api
            .get(
                query,
                "services/search/v1/scrape",
                &params,
                cursor.is_none(),
                on_retry,
            )
            .await?;
        let (page, next) = read_scrape_page(v);
        let next = next.filter(|_| !page.rows.is_empty()).map(Cursor::After);
        Ok(Some((page, next)))
    })
}

/// The identifiers of every hit, in order: [`scrape`]'s pages flattened (for `download
/// --search` and anything else that wants items, not fields). `query.fields` is not needed.
pub fn identifiers<'a>(
    api: &'a SearchApi<'a>,
    query: &'a Query,
    on_retry: OnRetry<'a>,
) -> impl Stream<Item = Result<String, SearchError>> + Send + 'a {
    scrape(api, query, on_retry)
        .map_ok(|page| {
            let ids: Vec<Result<String, SearchError>> = page
                .rows
                .iter()
                .filter_map(|r| identifier(r).map(|id| Ok(id.to_owned())))
                .collect();
            futures::stream::iter(ids)
        })
        .try_flatten()
}

/// A scrape answer: its rows and total, and the cursor of the next page if there is one.
fn read_scrape_page(mut v: Value) -> (Page, Option<String>) {
    let rows = objects(v.get_mut("items").map(Value::take));
    let next = v
        .get("cursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let total = v.get("total").and_then(Value::as_u64);
    (Page { rows, total }, next)
}

/// The objects of a JSON list (anything else in it is skipped).
fn objects(list: Option<Value>) -> Vec<Row> {
    match list {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|i| match i {
                Value::Object(row) => Some(row),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One page of `advancedsearch.php` (the caller's `rows` and `page`), as `ia search -p
/// rows:N -p page:M` asks for it.
pub async fn advanced(
    api: &SearchApi<'_>,
    query: &Query,
    on_retry: OnRetry<'_>,
) -> Result<Page, SearchError> {
    let params = query.advanced_params();
    let mut v = api
        .get(query, "advancedsearch.php", &params, true, on_retry)
        .await?;
    let total = v.pointer("/response/numFound").and_then(Value::as_u64);
    let rows = objects(v.pointer_mut("/response/docs").map(Value::take));
    Ok(Page { rows, total })
}

/// A row's identifier.
pub fn identifier(row: &Row) -> Option<&str> {
    row.get("identifier").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query() -> Query {
        Query {
            q: "collection:x".into(),
            fields: vec!["title".into(), "identifier".into()],
            sorts: vec!["downloads desc".into(), "date".into()],
            params: vec![("scope".into(), "all".into())],
        }
    }

    fn pairs(p: &[(String, String)]) -> Vec<(&str, &str)> {
        p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn scrape_parameters_are_what_ia_sends() {
        let q = query();
        assert_eq!(
            pairs(&q.scrape_params(None, false)),
            [
                ("q", "collection:x"),
                ("fields", "identifier,title"),
                ("sorts", "downloads desc,date"),
                ("count", "10000"),
                ("scope", "all"),
            ]
        );
        assert_eq!(
            pairs(&q.scrape_params(Some("C1"), false)).last(),
            Some(&("cursor", "C1"))
        );
        let counted = Query {
            params: vec![("count".into(), "100".into())],
            ..Query::default()
        };
        assert_eq!(
            pairs(&counted.scrape_params(None, false)),
            [("q", ""), ("count", "100")],
            "the caller's count replaces the default"
        );
        assert_eq!(
            pairs(&counted.scrape_params(None, true)),
            [("q", ""), ("total_only", "true")]
        );
        assert!(!q.is_one_page());
    }

    #[test]
    fn rows_or_page_mean_one_advancedsearch_page() {
        let q = Query {
            q: "a".into(),
            params: vec![("rows".into(), "50".into()), ("page".into(), "2".into())],
            ..Query::default()
        };
        assert!(q.is_one_page());
        assert_eq!(
            pairs(&q.advanced_params()),
            [
                ("q", "a"),
                ("fl[]", "identifier"),
                ("output", "json"),
                ("rows", "50"),
                ("page", "2"),
            ]
        );
        let fields = Query {
            fields: vec!["title".into()],
            sorts: vec!["date desc".into()],
            ..q
        };
        let p = fields.advanced_params();
        assert!(pairs(&p).contains(&("fl[]", "title")));
        assert!(pairs(&p).contains(&("sort[]", "date desc")));
        assert!(!pairs(&p).contains(&("fl[]", "identifier")));
    }

    #[test]
    fn scrape_pages_are_read_with_their_cursor() {
        let (page, next) = read_scrape_page(json!({
            "items": [{"identifier": "a", "oai_updatedate": ["2008-06-02", "2009-01-01"]}, 3],
            "count": 2, "total": 7, "cursor": "W3t9XQ=="
        }));
        assert_eq!(page.rows.len(), 1, "a row that is not an object is skipped");
        assert_eq!(identifier(&page.rows[0]), Some("a"));
        assert_eq!(page.total, Some(7));
        assert_eq!(next.as_deref(), Some("W3t9XQ=="));
        let (last, next) = read_scrape_page(json!({"items": [], "count": 0, "total": 7}));
        assert!(last.rows.is_empty());
        assert_eq!(next, None);
    }

    // The stream against the emulator: more hits than one page holds, every one once, and
    // the count of requests is one per page.
    #[tokio::test]
    async fn identifiers_stream_every_page() {
        let data = tempfile::tempdir().unwrap();
        let emu = ias3_emulator::Emulator::start(ias3_emulator::Config::new(data.path(), "K", "S"))
            .await
            .unwrap();
        for n in 0..150 {
            emu.seed_item(&format!("s_{n:03}"), json!({"collection": "c"}), vec![])
                .unwrap();
        }
        let client = transport::client(1);
        let url = emu.url();
        let api = SearchApi {
            client: &client,
            archive_url: &url,
            creds: None,
            policy: &RetryPolicy::CHECK,
            timeout: Duration::from_secs(30),
        };
        let query = Query {
            q: "collection:c".into(),
            params: vec![("count".into(), "100".into())],
            ..Query::default()
        };
        let ids: Vec<String> = identifiers(&api, &query, &|_, _, _| {})
            .try_collect()
            .await
            .unwrap();
        let want: Vec<String> = (0..150).map(|n| format!("s_{n:03}")).collect();
        assert_eq!(ids, want);
        assert_eq!(total(&api, &query, &|_, _, _| {}).await.unwrap(), 150);
        let pages = emu
            .requests()
            .iter()
            .filter(|r| r.path.contains("/scrape?") && !r.path.contains("total_only"))
            .count();
        assert_eq!(pages, 2);
        let bad = Query {
            q: "collection:(c".into(),
            ..Query::default()
        };
        let e = identifiers(&api, &bad, &|_, _, _| {})
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        assert!(
            matches!(&e, SearchError::BadQuery { query, .. } if query == "collection:(c"),
            "{e}"
        );
    }

    #[test]
    fn a_cut_short_page_is_retried_and_a_refusal_names_its_reason() {
        let answer = |status: u16, body: &str| Answer {
            status,
            headers: Default::default(),
            body: body.into(),
        };
        assert_eq!(
            Pages.classify(&answer(200, r#"{"items":[{"id"#)),
            Class::Transient
        );
        assert_eq!(
            Pages.classify(&answer(200, r#"{"items":[]}"#)),
            Class::Success
        );
        assert_eq!(Pages.classify(&answer(400, "{}")), Class::Fatal);
        assert_eq!(Pages.classify(&answer(503, "")), Class::Overload);
        assert_eq!(
            refusal(&answer(400, r#"{"error":"Invalid query: x"}"#)),
            "Invalid query: x"
        );
        assert_eq!(refusal(&answer(400, "nope")), "HTTP 400: nope");
    }
}
