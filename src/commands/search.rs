//! `iaup search QUERY`: the items matching a query, streamed page by page from the scrape
//! API (`archive::search`), one identifier a line or, with `-f`, JSON lines of the chosen
//! fields; `-n` prints only the count; `-p rows:N`/`page:N` asks advancedsearch.php for one
//! page as `ia` does.
//!
//! Exit codes: 0 some item matched (or `-n` printed its count), 1 nothing matched or the
//! search failed part-way (what came before the failure was printed), 2 bad input or a query
//! the server refused. A total that changes while paging is noted, never an error (ia#610).

use futures::{pin_mut, TryStreamExt};
use serde_json::Value;

use crate::archive::search::{self, Query, Row, SearchApi, SearchError};
use crate::cli::{GlobalArgs, SearchArgs};
use crate::error::{AppError, ExitStatus};
use crate::plan::parse_key_value;
use crate::printer::Printer;
use crate::settings::{Env, Settings};
use crate::transport;

/// `KEY:VALUE` parameters (`-p`), split at the first `:`; a bad one is exit 2.
pub fn parse_params(given: &[String]) -> Result<Vec<(String, String)>, AppError> {
    let mut problems = Vec::new();
    let params = given
        .iter()
        .filter_map(|p| {
            parse_key_value(p, "-p")
                .map_err(|e| problems.push(e.with_hint("for example -p count:500, or -p rows:50")))
                .ok()
        })
        .collect();
    if problems.is_empty() {
        Ok(params)
    } else {
        Err(super::problems_error(problems))
    }
}

/// Values of a repeatable flag, each also split at commas; blanks dropped.
pub fn split_commas(given: &[String]) -> Vec<String> {
    given
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// How a row is printed: its identifier, or the JSON of its fields.
fn line(row: &Row, json: bool) -> Option<String> {
    if json {
        Some(Value::Object(row.clone()).to_string())
    } else {
        search::identifier(row).map(str::to_owned)
    }
}

pub async fn run(
    global: &GlobalArgs,
    args: &SearchArgs,
    env: &Env,
) -> Result<ExitStatus, AppError> {
    let settings = Settings::resolve(global, env)?;
    let transfer = settings.transfer(&args.transfer)?;
    let query = Query {
        q: args.query.clone(),
        fields: split_commas(&args.field),
        sorts: split_commas(&args.sort),
        params: parse_params(&args.parameters)?,
    };
    let printer = Printer::new(transfer.quiet, true);
    let client = transport::client(1);
    let api = SearchApi {
        client: &client,
        archive_url: &settings.archive_url,
        creds: settings.credentials.as_ref(),
        policy: &transfer.policy,
        timeout: transfer.answer_timeout,
    };
    let on_retry = printer.retry_note("searching");
    let failed = |e: SearchError| match e {
        SearchError::BadQuery { .. } => AppError::usage(e).hint(
            "check the query's syntax (field:value, AND/OR/NOT, ranges as field:[A TO B]) and \
             the --sort fields",
        ),
        SearchError::Api(_) => AppError::failed(e),
    };
    let json = !query.fields.is_empty() && !args.itemlist;

    if query.is_one_page() {
        let page = search::advanced(&api, &query, &on_retry)
            .await
            .map_err(failed)?;
        if args.num_found {
            printer.data(&page.total.unwrap_or(0).to_string());
            return Ok(ExitStatus::Success);
        }
        let mut shown = 0;
        for l in page.rows.iter().filter_map(|r| line(r, json)) {
            printer.data(&l);
            shown += 1;
        }
        return Ok(nothing_matched(&printer, &query, shown));
    }
    if args.num_found {
        let total = search::total(&api, &query, &on_retry)
            .await
            .map_err(failed)?;
        printer.data(&total.to_string());
        return Ok(ExitStatus::Success);
    }

    let pages = search::scrape(&api, &query, &on_retry);
    pin_mut!(pages);
    let mut shown: u64 = 0;
    let mut totals: Vec<u64> = Vec::new();
    loop {
        let page = match pages.try_next().await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(e) if shown > 0 => {
                printer.always(&format!(
                    "{shown} result{} printed before the search failed; the rest are missing",
                    plural(shown)
                ));
                return Err(failed(e));
            }
            Err(e) => return Err(failed(e)),
        };
        if let Some(t) = page.total {
            if totals.last() != Some(&t) {
                totals.push(t);
            }
        }
        for row in &page.rows {
            if let Some(l) = line(row, json) {
                printer.data(&l);
                shown += 1;
            }
        }
    }
    if let Some(note) = drift_note(&totals, shown) {
        printer.note(&note);
    }
    Ok(nothing_matched(&printer, &query, shown as usize))
}

/// Exit 1, with a note, when nothing was printed; else 0.
fn nothing_matched(printer: &Printer, query: &Query, shown: usize) -> ExitStatus {
    if shown > 0 {
        return ExitStatus::Success;
    }
    printer.always(&format!("no item matches `{}`", query.q));
    ExitStatus::Failed
}

/// A note when the totals the pages reported changed, or differ from the rows received: the
/// index changed while paging (ia#610), which is not an error.
fn drift_note(totals: &[u64], received: u64) -> Option<String> {
    let last = *totals.last()?;
    if totals.len() == 1 && last == received {
        return None;
    }
    let said: Vec<String> = totals.iter().map(u64::to_string).collect();
    Some(format!(
        "note: archive.org said {} matches while paging and {received} arrived: the index \
         changed during the search (not an error)",
        said.join(", then "),
    ))
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_and_comma_lists_parse() {
        assert_eq!(
            parse_params(&["rows:50".into(), "q2:a:b".into()]).unwrap(),
            [("rows".into(), "50".into()), ("q2".into(), "a:b".into())]
        );
        let e = parse_params(&["rows".into()]).unwrap_err();
        assert_eq!(e.status, crate::error::ExitStatus::Usage);
        assert!(e.render().contains("`-p rows`"), "{}", e.render());
        assert!(parse_params(&[":x".into()]).is_err());
        assert_eq!(
            split_commas(&["a, b desc".into(), "c".into(), ",".into()]),
            ["a", "b desc", "c"]
        );
    }

    #[test]
    fn rows_print_as_identifiers_or_json() {
        let row = json!({"identifier": "x", "oai_updatedate": ["2008-06-02", "2009-01-01"]});
        let row = row.as_object().unwrap();
        assert_eq!(line(row, false).as_deref(), Some("x"));
        assert_eq!(
            line(row, true).as_deref(),
            Some(r#"{"identifier":"x","oai_updatedate":["2008-06-02","2009-01-01"]}"#)
        );
        assert_eq!(line(&Row::new(), false), None);
    }

    #[test]
    fn a_drifting_total_is_a_note() {
        assert_eq!(drift_note(&[], 0), None);
        assert_eq!(drift_note(&[250], 250), None);
        let n = drift_note(&[250, 251], 251).unwrap();
        assert!(
            n.contains("250, then 251") && n.contains("not an error"),
            "{n}"
        );
        let n = drift_note(&[250], 249).unwrap();
        assert!(
            n.contains("said 250 matches while paging and 249 arrived"),
            "{n}"
        );
    }
}
