//! The items a download is about: `ID [FILE...]` (or `ID/FILE`), `--itemlist FILE|-` (one
//! identifier a line), or `--search QUERY` (every hit of the scrape API, cursor by cursor).

use std::io::BufRead;
use std::path::Path;

use serde_json::Value;

use crate::archive::ARCHIVE;
use crate::error::{msg, AppError};
use crate::ias3;
use crate::transport::{self, RetryPolicy};

/// One item and the files named for it (none: the filters decide).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRequest {
    pub identifier: String,
    pub named: Vec<String>,
}

/// `ID FILE...`, where `ID/FILE` names a file too (as `ia download ID/FILE`).
pub fn from_args(identifier: &str, files: &[String]) -> ItemRequest {
    let (id, first) = match identifier.split_once('/') {
        Some((id, rest)) if !rest.is_empty() => (id, Some(rest.to_owned())),
        Some((id, _)) => (id, None),
        None => (identifier, None),
    };
    ItemRequest {
        identifier: id.to_owned(),
        named: first.into_iter().chain(files.iter().cloned()).collect(),
    }
}

/// `--itemlist FILE` (`-`: stdin): one identifier a line; blank lines and `#` comments skipped.
pub fn from_itemlist(path: &Path) -> Result<Vec<ItemRequest>, AppError> {
    let read = |r: &mut dyn BufRead| -> std::io::Result<Vec<String>> { r.lines().collect() };
    let lines = if path.as_os_str() == "-" {
        read(&mut std::io::stdin().lock())
    } else {
        std::fs::File::open(path).and_then(|f| read(&mut std::io::BufReader::new(f)))
    }
    .map_err(|e| {
        AppError::usage(msg(format!(
            "cannot read the item list {}: {e}",
            path.display()
        )))
    })?;
    Ok(lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|id| from_args(id, &[]))
        .collect())
}

/// Identifiers per scrape page: the most the scrape API gives at once.
const SCRAPE_COUNT: &str = "10000";

// TODO(integrator): replace with archive::search (the search helper's scrape client, which
// also retries a cursor that stops early and tolerates a drifting total).
/// Every identifier `query` finds, by the scrape API's cursor paging.
pub async fn search_identifiers(
    client: &reqwest::Client,
    archive_url: &str,
    query: &str,
    policy: &RetryPolicy,
) -> Result<Vec<String>, AppError> {
    let base = ias3::join(archive_url, "services/search/v1/scrape");
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    let noop = |_: u32, _: std::time::Duration, _: &str| {};
    loop {
        let mut url = url::Url::parse(&base).map_err(AppError::usage)?;
        url.query_pairs_mut()
            .append_pair("q", query)
            .append_pair("fields", "identifier")
            .append_pair("count", SCRAPE_COUNT);
        if let Some(c) = &cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        let what = format!("searching for `{query}`");
        let answer = transport::send(&what, policy, &ARCHIVE, || client.get(url.as_str()), &noop)
            .await
            .map_err(AppError::failed)?;
        if answer.status != 200 {
            return Err(AppError::failed(msg(format!(
                "{what}: {}",
                answer.describe_plain()
            ))));
        }
        let page: Value = serde_json::from_str(&answer.body)
            .map_err(|e| AppError::failed(msg(format!("{what}: the answer is not JSON ({e})"))))?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        found.extend(
            items
                .iter()
                .filter_map(|i| i["identifier"].as_str().map(str::to_owned)),
        );
        match page["cursor"].as_str() {
            Some(c) if !items.is_empty() => cursor = Some(c.to_owned()),
            _ => return Ok(found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identifier_may_name_a_file() {
        assert_eq!(
            from_args("it/a/b.jpg", &["c.txt".into()]),
            ItemRequest {
                identifier: "it".into(),
                named: vec!["a/b.jpg".into(), "c.txt".into()]
            }
        );
        assert_eq!(from_args("it/", &[]).named, Vec::<String>::new());
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("ids.txt");
        std::fs::write(&list, "a\n\n# note\n  b  \n").unwrap();
        let ids: Vec<_> = from_itemlist(&list)
            .unwrap()
            .into_iter()
            .map(|r| r.identifier)
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }
}
