//! Checks made before anything is sent, each turning a late failure into exit 2 with nothing
//! sent: request headers that servers would refuse (too long, or owned by iaup), files that
//! must never be uploaded (any ia.ini, the journal), collections that do not exist; and
//! `--status-check` alone. The key and endpoint check is shared with metadata and delete
//! (`archive::check_keys_before_writing`).

use std::time::Duration;

use crate::engine::UploadOptions;
use crate::error::{AppError, ExitStatus};
use crate::ias3;
use crate::plan::{Plan, Problem};
use crate::printer::Printer;
use crate::settings::{Env, Settings};
use crate::transport::{self, RetryPolicy};

/// Headers iaup owns, with what to do instead: a second value would contradict iaup's own
/// (a wrong length, a body framing the server cannot read, another host).
pub(super) const OWNED_HEADERS: &[(&str, &str)] = &[
    (
        "content-length",
        "the length is always the file's exact size",
    ),
    (
        "transfer-encoding",
        "IAS3 needs a Content-Length; iaup always sends one",
    ),
    ("host", "the host comes from --s3-url"),
    ("connection", "iaup manages its connections"),
    ("keep-alive", "iaup manages its connections"),
    ("upgrade", "iaup manages its connections"),
    ("te", "iaup manages its connections"),
    ("trailer", "iaup sends no trailers"),
    ("expect", "iaup decides when to wait for 100 Continue"),
    ("content-md5", "use --verify to send Content-MD5"),
    (
        "x-archive-queue-derive",
        "use --no-derive; iaup derives once per item",
    ),
    ("x-archive-size-hint", "use --size-hint BYTES"),
    (
        "x-archive-keep-old-version",
        "use --no-backup to turn it off",
    ),
    (
        "x-archive-auto-make-bucket",
        "iaup always sends it, so an item's first PUT creates it",
    ),
];

/// The longest header line (name, `: `, value) iaup sends: what common web servers accept by
/// default (Apache's LimitRequestFieldSize; nginx's 8k buffers).
const MAX_HEADER_LINE: usize = 8190;
/// The most header bytes one PUT may carry in all.
const MAX_HEADER_TOTAL: usize = 64 * 1024;

/// Checks that each item's PUT headers fit what servers accept, naming the field that does not.
pub(super) fn header_problems(
    plan: &Plan,
    opts: &UploadOptions,
    sheet: Option<&std::path::Path>,
) -> Vec<Problem> {
    let creds = crate::secret::Credentials {
        access: "x".repeat(20),
        secret: crate::secret::Secret::new("x".repeat(16)),
    };
    let mut problems = Vec::new();
    for item in &plan.items {
        let Some(f) = item.files.first() else {
            continue;
        };
        let spec = ias3::put_request(
            "http://x",
            &creds,
            &opts.put_spec(
                item,
                f,
                false,
                opts.verify.then_some("0123456789abcdef0123456789abcdef"),
            ),
        );
        let line = |(k, v): &(String, String)| k.len() + 2 + v.len() + 2;
        let mut total = 0;
        for h in &spec.headers {
            total += line(h);
            if line(h) > MAX_HEADER_LINE {
                let field =
                    h.0.strip_prefix("x-archive-meta")
                        .and_then(|r| r.split_once('-'))
                        .map_or(h.0.clone(), |(_, name)| name.replace("--", "_"));
                let mut p = Problem::new(format!(
                    "item `{}`: the value of `{field}` makes a {}-byte header; servers accept \
                     {MAX_HEADER_LINE}",
                    item.identifier,
                    line(h)
                ))
                .with_hint(
                    "shorten the value (non-ASCII text takes 3 bytes a byte once encoded), or \
                     set long text later with `iaup metadata`",
                );
                p.file = sheet.map(std::path::Path::to_path_buf);
                problems.push(p);
            }
        }
        if total > MAX_HEADER_TOTAL {
            let mut p = Problem::new(format!(
                "the headers of item `{}` total {total} bytes ({} metadata headers); servers \
                 accept {MAX_HEADER_TOTAL}",
                item.identifier,
                spec.headers
                    .iter()
                    .filter(|(k, _)| k.starts_with("x-archive-meta"))
                    .count()
            ))
            .with_hint("send fewer or shorter fields, or set the rest later with `iaup metadata`");
            p.file = sheet.map(std::path::Path::to_path_buf);
            problems.push(p);
        }
    }
    problems
}

/// Files that must never be uploaded, canonical, with why: every `ia.ini` that exists (the
/// one in use, `$IA_CONFIG_FILE`, ia's other places: they hold the secret key) and the
/// journal's files.
pub(super) fn private_files(
    settings: &Settings,
    env: &Env,
    journal: Option<&std::path::Path>,
) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let configs = settings
        .config_path
        .iter()
        .chain(env.config.ia_config_file.iter())
        .cloned()
        .chain(env.config.candidates());
    for p in configs {
        if let Ok(real) = std::fs::canonicalize(&p) {
            out.push((
                real.display().to_string(),
                "an ia config file (it holds your secret key)",
            ));
        }
    }
    if let Some(j) = journal {
        for suffix in ["", "-wal", "-shm", "-journal", ".lock"] {
            let mut name = j.as_os_str().to_owned();
            name.push(suffix);
            if let Ok(real) = std::fs::canonicalize(std::path::PathBuf::from(name)) {
                out.push((real.display().to_string(), "iaup's resume journal"));
            }
        }
    }
    out
}

/// A planned file that is one of `private` (whatever path or link leads to it) is a problem.
pub(super) fn private_file_problems(
    plan: &Plan,
    private: &[(String, &'static str)],
    sheet: Option<&std::path::Path>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for fp in plan.items.iter().flat_map(|i| &i.files) {
        let what = private
            .iter()
            .find(|(p, _)| *p == fp.identity.canonical)
            .map(|(_, what)| *what)
            .or_else(|| {
                holds_s3_secret(&fp.local, fp.size)
                    .then_some("an ia config file (its [s3] section holds a secret key)")
            });
        if let Some(what) = what {
            let mut p = Problem::new(format!(
                "`{}` is {what}: it is never uploaded",
                fp.local.display()
            ))
            .with_hint("remove it from what you upload");
            match (sheet, fp.row) {
                (Some(sheet), Some(row)) => {
                    p = p.with_file(sheet).with_row(row).with_column("file");
                }
                _ => p = p.with_file(&fp.local),
            }
            problems.push(p);
        }
    }
    problems
}

/// True for a small `*.ini` (or `.ia`) file with a `secret` in an `[s3]` section: any
/// ia.ini, not only the ones iaup knows of (`iaup upload ID a.jpg -c other.ini` reads `-c` as
/// `--checksum`, as `ia` does, and would otherwise upload `other.ini`).
fn holds_s3_secret(path: &std::path::Path, size: u64) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if !(name.ends_with(".ini") || name == ".ia") || size > 1 << 20 {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let text = text.trim_start_matches('\u{feff}');
    let Ok(ini) = ini::Ini::load_from_str_noescape(text) else {
        // Not readable as INI: look at the lines themselves.
        return text.to_ascii_lowercase().contains("[s3]")
            && text
                .lines()
                .any(|l| l.trim_start().to_ascii_lowercase().starts_with("secret"));
    };
    ini.iter().any(|(section, props)| {
        section.is_some_and(|s| s.trim() == "s3")
            && props
                .iter()
                .any(|(k, _)| k.trim().eq_ignore_ascii_case("secret"))
    })
}

/// `iaup upload ID --status-check` without files: only the check, as `ia`.
pub(super) async fn status_check_only(
    settings: &Settings,
    id: &str,
    printer: &Printer,
) -> Result<ExitStatus, AppError> {
    let creds = super::super::credentials(settings)?;
    let client = transport::client(1);
    let policy = RetryPolicy::CHECK;
    let noop = |_: u32, _: Duration, _: &str| {};
    match crate::ias3::check_limit::over_limit(
        &client,
        &settings.s3_url,
        &creds,
        id,
        &policy,
        &noop,
    )
    .await
    {
        Ok(false) => {
            printer.always(&format!("success: {id} is accepting requests."));
            Ok(ExitStatus::Success)
        }
        Ok(true) => {
            printer.always(&format!(
                "warning: {id} is over limit, and not accepting requests. Expect 503 SlowDown \
                 errors."
            ));
            Ok(ExitStatus::Failed)
        }
        Err(e) => Err(AppError::failed(e)),
    }
}

/// Every distinct `collection` of the plan must exist (one metadata GET each), as `ia` checks
/// its first: a typo would otherwise create items outside any collection. A collection that
/// cannot be read (network) is a note, not a stop.
pub(super) async fn check_collections(
    client: &reqwest::Client,
    settings: &Settings,
    plan: &Plan,
    sheet: Option<&std::path::Path>,
    printer: &Printer,
) -> Result<(), AppError> {
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    let policy = RetryPolicy::CHECK;
    let noop = |_: u32, _: Duration, _: &str| {};
    for item in &plan.items {
        for c in item.metadata.get("collection").unwrap_or_default() {
            if !seen.insert(c.clone()) {
                continue;
            }
            match crate::archive::item_metadata(client, &settings.archive_url, c, &policy, &noop)
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => {
                    let mut p = Problem::new(format!(
                        "item `{}`: the collection `{c}` does not exist",
                        item.identifier
                    ))
                    .with_hint(
                        "check the collection's identifier (not its title); new items can go \
                         to `opensource`; --no-collection-check skips this check",
                    );
                    if let (Some(sheet), Some(row)) =
                        (sheet, item.files.first().and_then(|f| f.row))
                    {
                        p = p.with_file(sheet).with_row(row).with_column("collection");
                    }
                    problems.push(p);
                }
                Err(e) => printer.always(&format!("could not check the collection `{c}`: {e}")),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(super::super::problems_error(problems))
    }
}
