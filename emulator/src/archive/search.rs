//! Search over the emulator's items, in the two shapes `ia` reads:
//! - the scrape API, `GET`/`POST /services/search/v1/scrape?q=&fields=&sorts=&count=&cursor=`:
//!   `{"items": [...], "count": N, "total": T, "cursor": "..."}`, `cursor` absent on the last
//!   page; `count` is kept within 100..=10000 (default 5000); `total_only=true` answers
//!   `{"total": T}`; the cursor is base64 of `[{sort values..., "identifier": last}]` and pages
//!   search-after, so items added while paging do not shift pages;
//! - `GET /advancedsearch.php?q=&fl[]=&sort[]=&rows=&page=&output=json`: one page in Solr's
//!   `{"responseHeader": ..., "response": {"numFound", "start", "docs"}}`.
//!
//! Each item's search document is its metadata with `identifier`, `oai_updatedate` (the given
//! one, else its added and last-updated dates), `item_size` and `files_count`; dates are shown as
//! `YYYY-MM-DDThh:mm:ssZ`. Collections that exist only by configuration are not searchable.
//! A query that does not parse answers `400 {"error": "Invalid query: ..."}`.

use std::cmp::Ordering;
use std::time::Instant;

use base64::Engine;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::query::{self, Query};
use crate::clock::ia_date;
use crate::ctx::Ctx;
use crate::request::query_pairs;
use crate::respond::{self, Body};
use crate::state::{Item, State};

/// Sort fields the scrape API refuses (ia#226).
const UNSORTABLE: [&str; 1] = ["oai_updatedate"];

/// Metadata fields holding IA dates (`YYYY-MM-DD hh:mm:ss`), shown in ISO form.
const DATE_FIELDS: [&str; 3] = ["addeddate", "publicdate", "oai_updatedate"];

/// `YYYY-MM-DD hh:mm:ss` -> `YYYY-MM-DDThh:mm:ssZ`; other text unchanged.
fn iso(date: &str) -> String {
    let b = date.as_bytes();
    if b.len() == 19 && b[10] == b' ' && b[4] == b'-' {
        format!("{}T{}Z", &date[..10], &date[11..])
    } else {
        date.to_string()
    }
}

fn iso_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(iso(s)),
        Value::Array(list) => Value::Array(list.iter().map(iso_value).collect()),
        other => other.clone(),
    }
}

/// One item as the search index holds it.
fn search_doc(item: &Item, now: Instant) -> Map<String, Value> {
    let mut doc = item.metadata.clone();
    doc.insert("identifier".into(), json!(item.identifier));
    if !doc.contains_key("oai_updatedate") {
        let mut dates = vec![ia_date(item.created)];
        if item.updated != item.created {
            dates.push(ia_date(item.updated));
        }
        doc.insert("oai_updatedate".into(), json!(dates));
    }
    let visible: Vec<u64> = item
        .files
        .iter()
        .filter_map(|f| f.view(now).map(|d| d.size))
        .collect();
    doc.insert("item_size".into(), json!(visible.iter().sum::<u64>()));
    doc.insert("files_count".into(), json!(visible.len() + 2));
    for field in DATE_FIELDS {
        if let Some(v) = doc.get(field).map(iso_value) {
            doc.insert(field.into(), v);
        }
    }
    doc
}

/// A sort key: the field and whether it is descending.
type Sort = (String, bool);

fn parse_sorts(list: &[String]) -> Result<Vec<Sort>, String> {
    let mut out = Vec::new();
    for spec in list.iter().flat_map(|s| s.split(',')) {
        let mut parts = spec.split_whitespace();
        let Some(field) = parts.next() else { continue };
        let desc = match parts.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(format!("invalid sort direction {other:?}")),
        };
        out.push((field.to_string(), desc));
    }
    Ok(out)
}

/// The value a document sorts by in `field`: its first value, as text.
fn sort_value(doc: &Map<String, Value>, field: &str) -> Value {
    match doc.get(field) {
        Some(Value::Array(list)) => list.first().cloned().unwrap_or(Value::Null),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

/// The sort tuple of a document: the sort fields, then the identifier (a total order).
fn key_of(doc: &Map<String, Value>, sorts: &[Sort]) -> Vec<Value> {
    let mut key: Vec<Value> = sorts.iter().map(|(f, _)| sort_value(doc, f)).collect();
    key.push(sort_value(doc, "identifier"));
    key
}

fn cmp_keys(a: &[Value], b: &[Value], sorts: &[Sort]) -> Ordering {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let desc = sorts.get(i).is_some_and(|s| s.1);
        let o = cmp_values(x, y);
        let o = if desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Every document matching `query`, sorted.
fn run(state: &State, query: &Query, sorts: &[Sort]) -> Vec<Map<String, Value>> {
    let now = Instant::now();
    let mut docs: Vec<Map<String, Value>> = state
        .identifiers()
        .iter()
        .filter_map(|id| state.item(id))
        .map(|item| search_doc(item, now))
        .filter(|doc| query.matches(doc))
        .collect();
    docs.sort_by(|a, b| cmp_keys(&key_of(a, sorts), &key_of(b, sorts), sorts));
    docs
}

/// `doc` cut down to `fields` (always with `identifier`).
fn project(doc: &Map<String, Value>, fields: &[String]) -> Value {
    let mut out = Map::new();
    out.insert(
        "identifier".into(),
        doc.get("identifier").cloned().unwrap_or(Value::Null),
    );
    for f in fields {
        if let Some(v) = doc.get(f) {
            out.insert(f.clone(), v.clone());
        }
    }
    Value::Object(out)
}

fn error(message: &str) -> Response<Body> {
    respond::json(StatusCode::BAD_REQUEST, &json!({ "error": message }))
}

fn encode_cursor(doc: &Map<String, Value>, sorts: &[Sort]) -> String {
    let mut key = Map::new();
    for (field, _) in sorts {
        key.insert(field.clone(), sort_value(doc, field));
    }
    key.insert("identifier".into(), sort_value(doc, "identifier"));
    let text = Value::Array(vec![Value::Object(key)]).to_string();
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn decode_cursor(cursor: &str, sorts: &[Sort]) -> Option<Vec<Value>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor.trim())
        .ok()?;
    let list: Vec<Map<String, Value>> = serde_json::from_slice(&bytes).ok()?;
    let key = list.first()?;
    let mut out: Vec<Value> = sorts
        .iter()
        .map(|(f, _)| key.get(f).cloned().unwrap_or(Value::Null))
        .collect();
    out.push(key.get("identifier")?.clone());
    Some(out)
}

/// The scrape API.
pub(super) fn scrape(ctx: &mut Ctx, req: &Request<Incoming>) -> Response<Body> {
    let params = query_pairs(req.uri());
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let query = match query::parse(get("q").unwrap_or("")) {
        Ok(q) => q,
        Err(e) => return error(&e.to_string()),
    };
    let fields: Vec<String> = get("fields")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    let sorts = match parse_sorts(&[get("sorts").unwrap_or("").to_string()]) {
        Ok(s) => s,
        Err(e) => return error(&e),
    };
    if let Some((bad, _)) = sorts.iter().find(|(f, _)| UNSORTABLE.contains(&f.as_str())) {
        return error(&format!("sort field '{bad}' is not a valid search field"));
    }
    let count = match get("count").map(str::parse::<usize>) {
        None => 5000,
        Some(Ok(n)) => n.clamp(100, 10_000),
        Some(Err(_)) => return error("count must be a number"),
    };
    let docs = run(&ctx.shared.state(), &query, &sorts);
    let total = docs.len();
    if get("total_only") == Some("true") {
        return respond::json(StatusCode::OK, &json!({ "total": total }));
    }
    let start = match get("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => match decode_cursor(c, &sorts) {
            Some(after) => docs
                .iter()
                .position(|d| cmp_keys(&key_of(d, &sorts), &after, &sorts) == Ordering::Greater)
                .unwrap_or(docs.len()),
            None => return error("invalid cursor"),
        },
    };
    let page: Vec<&Map<String, Value>> = docs.iter().skip(start).take(count).collect();
    let items: Vec<Value> = page.iter().map(|d| project(d, &fields)).collect();
    let mut body = json!({ "items": items, "count": page.len(), "total": total });
    if start + page.len() < total {
        if let (Some(last), Some(obj)) = (page.last(), body.as_object_mut()) {
            obj.insert("cursor".into(), json!(encode_cursor(last, &sorts)));
        }
    }
    respond::json(StatusCode::OK, &body)
}

/// Values of a PHP array parameter: `name[]=a&name[]=b` or `name[0]=a&name[1]=b`, in order.
fn php_array(params: &[(String, String)], name: &str) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix(name)
                .and_then(|r| r.strip_prefix('['))
                .and_then(|r| r.strip_suffix(']'))
                .is_some_and(|i| i.is_empty() || i.bytes().all(|b| b.is_ascii_digit()))
        })
        .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
        .filter(|v| !v.is_empty())
        .collect()
}

/// `advancedsearch.php` (`output=json` only).
pub(super) fn advanced(ctx: &mut Ctx, req: &Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let params = query_pairs(req.uri());
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if get("output").as_deref() != Some("json") {
        return error("only output=json is served by the emulator");
    }
    let q = get("q").unwrap_or_default();
    let query = match query::parse(&q) {
        Ok(q) => q,
        Err(e) => return error(&e.to_string()),
    };
    let fields = php_array(&params, "fl");
    let sorts = match parse_sorts(&php_array(&params, "sort")) {
        Ok(s) => s,
        Err(e) => return error(&e),
    };
    let rows: usize = get("rows").and_then(|r| r.parse().ok()).unwrap_or(50);
    let page: usize = get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let docs = run(&ctx.shared.state(), &query, &sorts);
    let start = rows * (page - 1);
    let shown: Vec<Value> = docs
        .iter()
        .skip(start)
        .take(rows)
        .map(|d| {
            if fields.is_empty() {
                Value::Object(d.clone())
            } else {
                project(d, &fields)
            }
        })
        .collect();
    respond::json(
        StatusCode::OK,
        &json!({
            "responseHeader": {
                "status": 0,
                "QTime": started.elapsed().as_millis() as u64,
                "params": {
                    "query": q,
                    "qin": q,
                    "fields": fields.join(","),
                    "wt": "json",
                    "rows": rows.to_string(),
                    "start": start,
                }
            },
            "response": {"numFound": docs.len(), "start": start, "docs": shown}
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_show_in_iso_form() {
        assert_eq!(iso("2008-06-01 12:30:00"), "2008-06-01T12:30:00Z");
        assert_eq!(iso("2008-06-01"), "2008-06-01");
    }

    #[test]
    fn sorts_and_php_arrays_parse() {
        assert_eq!(
            parse_sorts(&["downloads desc, identifier".into()]),
            Ok(vec![
                ("downloads".into(), true),
                ("identifier".into(), false)
            ])
        );
        assert!(parse_sorts(&["x sideways".into()]).is_err());
        let params = vec![
            ("fl[]".to_string(), "title".to_string()),
            ("fl[1]".to_string(), "date".to_string()),
            ("flx".to_string(), "no".to_string()),
        ];
        assert_eq!(php_array(&params, "fl"), vec!["title", "date"]);
    }

    #[test]
    fn cursors_round_trip() {
        let doc = match json!({"identifier": "b", "downloads": 3}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let sorts = vec![("downloads".to_string(), true)];
        let cursor = encode_cursor(&doc, &sorts);
        assert_eq!(
            decode_cursor(&cursor, &sorts),
            Some(vec![json!(3), json!("b")])
        );
        let plain = encode_cursor(&doc, &[]);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(plain)
            .expect("base64");
        assert_eq!(decoded, br#"[{"identifier":"b"}]"#);
        assert_eq!(decode_cursor("not base64!", &[]), None);
    }
}
