//! The items a download is about: `ID [FILE...]` (or `ID/FILE`), `--itemlist FILE|-` (one
//! identifier a line), or `--search QUERY` (every hit of the scrape API, cursor by cursor).

use std::io::BufRead;
use std::path::Path;

use futures::TryStreamExt;

use crate::archive::search::{self, Query, SearchApi, SearchError};
use crate::error::{msg, AppError};
use crate::transport::RetryPolicy;

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

/// Every identifier `query` finds: `archive::search`'s scrape paging (cursor by cursor, a
/// page that fails retried from its cursor, a drifting total tolerated). A query archive.org
/// refuses is bad input (exit 2); a search that fails part-way is a failure (exit 1).
pub async fn search_identifiers(
    client: &reqwest::Client,
    archive_url: &str,
    query: &str,
    policy: &RetryPolicy,
) -> Result<Vec<String>, AppError> {
    let api = SearchApi {
        client,
        archive_url,
        creds: None,
        policy,
        timeout: std::time::Duration::from_secs(300),
    };
    let query = Query {
        q: query.to_owned(),
        ..Query::default()
    };
    let noop = |_: u32, _: std::time::Duration, _: &str| {};
    search::identifiers(&api, &query, &noop)
        .try_collect()
        .await
        .map_err(|e| match e {
            e @ SearchError::BadQuery { .. } => AppError::usage(e),
            e => AppError::failed(e),
        })
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
