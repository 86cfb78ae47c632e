//! Reading a request, for every face: headers, the query string, `/{id}/{key}` paths (both
//! percent-decoded), IA's identifier rule, and the `Authorization: LOW key:secret` check.
//! Pure functions of the request; no answers are built here.

use hyper::{HeaderMap, Uri};
use percent_encoding::percent_decode_str;

use crate::ctx::Ctx;

/// `/id/key` -> (id, key), both percent-decoded; the key may contain `/`.
pub(crate) fn split_path(path: &str) -> Result<(Option<String>, Option<String>), ()> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    if rest.is_empty() {
        return Ok((None, None));
    }
    let (id, key) = match rest.split_once('/') {
        Some((id, key)) => (id, Some(key)),
        None => (rest, None),
    };
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| ())
    };
    let id = decode(id)?;
    let key = match key {
        Some(k) if !k.is_empty() => Some(decode(k)?),
        _ => None,
    };
    Ok((Some(id), key))
}

/// IA's identifier rule: 3..=100 of letters, digits, `_`, `-`, `.`, not starting with `.`, `_`, `-`.
pub fn valid_identifier(id: &str) -> bool {
    (3..=100).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !id.starts_with(['.', '_', '-'])
}

pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

pub(crate) fn header_is_one(headers: &HeaderMap, name: &str) -> bool {
    header(headers, name) == Some("1")
}

/// Whether `Authorization: LOW key:secret` names the configured account.
pub(crate) fn low_auth_ok(ctx: &Ctx, headers: &HeaderMap) -> bool {
    let Some(value) = header(headers, "authorization") else {
        return false;
    };
    let Some((scheme, creds)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("LOW") {
        return false;
    }
    let config = &ctx.shared.config;
    creds.trim().split_once(':') == Some((config.access_key.as_str(), config.secret_key.as_str()))
}

/// Every `name=value` pair of the query string, percent-decoded, in order.
pub(crate) fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
}

/// The first value of query parameter `name`.
pub(crate) fn query_param(uri: &Uri, name: &str) -> Option<String> {
    query_pairs(uri)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_follow_ia_rules() {
        assert!(valid_identifier("abc"));
        assert!(valid_identifier("my_item-2.0"));
        assert!(!valid_identifier("ab"));
        assert!(!valid_identifier(&"a".repeat(101)));
        assert!(valid_identifier(&"a".repeat(100)));
        assert!(!valid_identifier("_abc"));
        assert!(!valid_identifier("-abc"));
        assert!(!valid_identifier(".abc"));
        assert!(!valid_identifier("ab c"));
        assert!(!valid_identifier("abé"));
    }

    #[test]
    fn paths_split_into_id_and_decoded_key() {
        assert_eq!(split_path("/"), Ok((None, None)));
        assert_eq!(split_path("/item"), Ok((Some("item".into()), None)));
        assert_eq!(split_path("/item/"), Ok((Some("item".into()), None)));
        assert_eq!(
            split_path("/item/dir/sp%20ace%23%3F%C3%A9.txt"),
            Ok((Some("item".into()), Some("dir/sp ace#?é.txt".into())))
        );
        assert!(split_path("/item/%FF").is_err());
    }
}
