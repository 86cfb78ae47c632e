//! Item and file metadata carried in PUT headers, decoded the way IAS3 reads them:
//! `x-archive-meta{NN}-{field}`, `x-archive-meta-{field}` and their alias `x-amz-meta{NN}-` /
//! `x-amz-meta-{field}` (and the `x-archive-filemeta` forms for file metadata). Headers are
//! sorted before use, `x-amz-` first (as the IAS3 reference warns), then by the number NN
//! (unnumbered first), then in arrival order; `--` in a field name becomes `_`; a value
//! `uri(...)` is percent-decoded; every value must be UTF-8, raw or percent-decoded, else the
//! request is refused; a field given once is a string, given several times a list. Only
//! decoding lives here: when the result is applied is the S3 handler's business.

use hyper::HeaderMap;
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

/// A metadata header that could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetaError {
    /// A `uri(...)` value whose percent-decoding is not UTF-8.
    #[error("header {header}: uri() value is not percent-encoded UTF-8")]
    BadUri {
        /// The header's name.
        header: String,
    },
    /// A raw value with bytes that are not UTF-8 (IAS3 reads every value as UTF-8).
    #[error("header {header}: value is not UTF-8 (send other text as uri(percent-encoded UTF-8))")]
    NotUtf8 {
        /// The header's name.
        header: String,
    },
}

/// Item metadata and file metadata found in one request's headers.
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    /// From `x-archive-meta*` / `x-amz-meta-*`.
    pub item: Map<String, Value>,
    /// From `x-archive-filemeta*`.
    pub file: Map<String, Value>,
    /// Whether any item metadata header was present at all.
    pub item_headers_seen: bool,
}

struct Entry {
    rank: u8,
    index: Option<u64>,
    arrival: usize,
    field: String,
    value: String,
}

enum Kind {
    Item,
    File,
}

/// Splits a header name into (kind, rank, index, field), or None if it is not metadata.
/// `x-amz-meta` is an alias of `x-archive-meta`, numbered forms included; it sorts first.
fn classify(name: &str) -> Option<(Kind, u8, Option<u64>, &str)> {
    let (kind, rank, rest) = if let Some(rest) = name.strip_prefix("x-amz-meta") {
        (Kind::Item, 0, rest)
    } else if let Some(rest) = name.strip_prefix("x-archive-filemeta") {
        (Kind::File, 1, rest)
    } else if let Some(rest) = name.strip_prefix("x-archive-meta") {
        (Kind::Item, 1, rest)
    } else {
        return None;
    };
    if let Some(field) = rest.strip_prefix('-') {
        return Some((kind, rank, None, field));
    }
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    if digits == 0 {
        return None;
    }
    let index: u64 = rest[..digits].parse().ok()?;
    let field = rest[digits..].strip_prefix('-')?;
    Some((kind, rank, Some(index), field))
}

/// The field name IA stores: lower case (HTTP folds case), `--` read as `_`.
pub fn field_name(raw: &str) -> String {
    raw.to_ascii_lowercase().replace("--", "_")
}

/// Decodes one header value of the header `name`: `uri(...)` is percent-decoded, anything else
/// taken as it is; either way it must be UTF-8 (never replaced with U+FFFD).
pub fn decode_value(name: &str, raw: &[u8]) -> Result<String, MetaError> {
    let text = std::str::from_utf8(raw).map_err(|_| MetaError::NotUtf8 {
        header: name.to_string(),
    })?;
    let trimmed = text.trim();
    if let Some(inner) = trimmed
        .strip_prefix("uri(")
        .and_then(|v| v.strip_suffix(')'))
    {
        return percent_decode_str(inner)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| MetaError::BadUri {
                header: name.to_string(),
            });
    }
    Ok(trimmed.to_string())
}

fn collect(entries: &mut [Entry]) -> Map<String, Value> {
    entries.sort_by(|a, b| {
        (a.rank, a.index.is_some(), a.index, a.arrival).cmp(&(
            b.rank,
            b.index.is_some(),
            b.index,
            b.arrival,
        ))
    });
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for e in entries.iter() {
        match grouped.iter_mut().find(|(f, _)| *f == e.field) {
            Some((_, values)) => values.push(e.value.clone()),
            None => grouped.push((e.field.clone(), vec![e.value.clone()])),
        }
    }
    let mut map = Map::new();
    for (field, mut values) in grouped {
        let value = if values.len() == 1 {
            Value::String(values.remove(0))
        } else {
            Value::Array(values.into_iter().map(Value::String).collect())
        };
        map.insert(field, value);
    }
    map
}

/// Decodes every metadata header of a request.
pub fn decode(headers: &HeaderMap) -> Result<Decoded, MetaError> {
    let mut item = Vec::new();
    let mut file = Vec::new();
    let mut item_headers_seen = false;
    for (arrival, (name, value)) in headers.iter().enumerate() {
        let Some((kind, rank, index, raw_field)) = classify(name.as_str()) else {
            continue;
        };
        if matches!(kind, Kind::Item) {
            item_headers_seen = true;
        }
        let field = field_name(raw_field);
        if field.is_empty() {
            continue;
        }
        let value = decode_value(name.as_str(), value.as_bytes())?;
        if value.is_empty() {
            continue;
        }
        let entry = Entry {
            rank,
            index,
            arrival,
            field,
            value,
        };
        match kind {
            Kind::Item => item.push(entry),
            Kind::File => file.push(entry),
        }
    }
    Ok(Decoded {
        item: collect(&mut item),
        file: collect(&mut file),
        item_headers_seen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderName, HeaderValue};
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn numbered_headers_give_list_order() {
        let d = decode(&headers(&[
            ("x-archive-meta01-subject", "b"),
            ("x-archive-meta00-subject", "a"),
            ("x-archive-meta10-subject", "c"),
            ("x-archive-meta00-title", "T"),
        ]))
        .expect("decode");
        assert_eq!(d.item["subject"], json!(["a", "b", "c"]));
        assert_eq!(d.item["title"], json!("T"));
    }

    #[test]
    fn double_dash_and_uri_values() {
        let d = decode(&headers(&[
            ("x-archive-meta00-isbn--10", "123"),
            ("x-archive-meta-description", "uri(H%C3%A9llo%20world)"),
            ("x-amz-meta-creator", "Me"),
        ]))
        .expect("decode");
        assert_eq!(d.item["isbn_10"], json!("123"));
        assert_eq!(d.item["description"], json!("Héllo world"));
        assert_eq!(d.item["creator"], json!("Me"));
    }

    #[test]
    fn amz_sorts_before_archive() {
        let d = decode(&headers(&[
            ("x-archive-meta-subject", "archive"),
            ("x-amz-meta-subject", "amz"),
        ]))
        .expect("decode");
        assert_eq!(d.item["subject"], json!(["amz", "archive"]));
    }

    #[test]
    fn file_metadata_is_separate() {
        let d = decode(&headers(&[
            ("x-archive-filemeta00-title", "File title"),
            ("x-archive-filemeta-rotation", "90"),
            ("x-archive-meta00-title", "Item title"),
        ]))
        .expect("decode");
        assert_eq!(d.file["title"], json!("File title"));
        assert_eq!(d.file["rotation"], json!("90"));
        assert_eq!(d.item["title"], json!("Item title"));
        assert!(d.item_headers_seen);
    }

    #[test]
    fn numbered_amz_meta_is_an_alias_sorted_first() {
        let d = decode(&headers(&[
            ("x-archive-meta00-subject", "c"),
            ("x-amz-meta01-subject", "b"),
            ("x-amz-meta00-subject", "a"),
            ("x-amz-metadata-directive", "REPLACE"),
        ]))
        .expect("decode");
        assert_eq!(d.item["subject"], json!(["a", "b", "c"]));
        assert_eq!(d.item.len(), 1);
    }

    #[test]
    fn raw_values_must_be_utf8() {
        let mut h = HeaderMap::new();
        h.append(
            HeaderName::from_static("x-archive-meta-title"),
            HeaderValue::from_bytes(b"caf\xe9").expect("obs-text is a valid header value"),
        );
        assert_eq!(
            decode(&h),
            Err(MetaError::NotUtf8 {
                header: "x-archive-meta-title".into()
            })
        );
        assert_eq!(decode_value("h", "é".as_bytes()), Ok("é".to_string()));
    }

    #[test]
    fn bad_uri_is_an_error_and_other_headers_are_ignored() {
        assert!(decode(&headers(&[("x-archive-meta-title", "uri(%FF)")])).is_err());
        let d = decode(&headers(&[
            ("x-archive-metadata-collection", "x"),
            ("x-archive-queue-derive", "0"),
        ]))
        .expect("decode");
        assert!(d.item.is_empty());
        assert!(!d.item_headers_seen);
    }
}
