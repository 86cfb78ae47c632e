//! Downloads as archive.org serves them: `GET`/`HEAD /download/{id}/{name}` (the name
//! percent-decoded, `?cnt=0` and other query parameters ignored), members of a stored ZIP as
//! `/download/{id}/{archive.zip}/{member}` (`%2F` or `/` inside the member path), the data-node
//! path `/{n}/items/{id}/{name}` and `/view_archive.php?archive={dir}/{zip}&file={member}`
//! (without `file`, an HTML listing of the members). With `--download-redirect` the `/download/`
//! form answers `302` to the data-node form on the same port, as archive.org redirects to
//! `iaNNNNNN.us.archive.org`. Bytes, `Range` and the GET faults are the `files` module's.

use std::path::PathBuf;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::json;

use crate::ctx::Ctx;
use crate::files::{self, content_type_of, Lookup, Served};
use crate::item_doc::item_dir;
use crate::request::{low_auth_ok, query_param, split_path};
use crate::respond::{self, s3_error, Body, S3Code};

/// What a URL path segment keeps unencoded (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `name` with each `/`-separated segment percent-encoded.
fn encode_path(name: &str) -> String {
    name.split('/')
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// `/download/{rest}`.
pub(super) async fn download(ctx: &mut Ctx, req: &Request<Incoming>, rest: &str) -> Response<Body> {
    let resource = req.uri().path().to_string();
    let Ok((Some(id), Some(key))) = split_path(&format!("/{rest}")) else {
        return respond::json(StatusCode::NOT_FOUND, &json!({"error": "not found"}));
    };
    let head = req.method() == Method::HEAD;
    let owner = low_auth_ok(ctx, req.headers());
    let found = files::lookup(&ctx.shared.state(), &id, &key, owner);
    let redirect = ctx.shared.config.download_redirect;
    match found {
        Lookup::Found(served) => {
            if redirect {
                let target = format!("{}/{}", item_dir(&id), encode_path(&key));
                return found_at(ctx, req, &target);
            }
            files::serve(ctx, req.headers(), head, &format!("/{id}/{key}"), served).await
        }
        Lookup::NoItem => s3_error(S3Code::NoSuchBucket, &resource, &ctx.request_id),
        Lookup::Forbidden => forbidden(ctx, &resource),
        Lookup::NoKey => {
            let Some((archive, member)) = zip_member_of(ctx, &id, &key) else {
                return s3_error(S3Code::NoSuchKey, &resource, &ctx.request_id);
            };
            if redirect {
                let query = serde_urlencoded::to_string([
                    ("archive", format!("{}/{archive}", item_dir(&id))),
                    ("file", member),
                ])
                .unwrap_or_default();
                return found_at(ctx, req, &format!("/view_archive.php?{query}"));
            }
            serve_member(ctx, req, &id, &archive, &member, &resource).await
        }
    }
}

/// `302 Found` to `target` on the host the client asked for.
fn found_at(ctx: &Ctx, req: &Request<Incoming>, target: &str) -> Response<Body> {
    let base = match req.uri().authority() {
        Some(authority) => format!("http://{authority}"),
        None => ctx.shared.base_url.clone(),
    };
    let mut resp = respond::with_body(StatusCode::FOUND, "text/html", "");
    if let Ok(v) = HeaderValue::from_str(&format!("{base}{target}")) {
        resp.headers_mut().insert(LOCATION, v);
    }
    resp
}

fn forbidden(ctx: &Ctx, resource: &str) -> Response<Body> {
    respond::s3_error_with(
        S3Code::AccessDenied,
        "Access Denied: this file is not public (log in as its owner)",
        resource,
        &ctx.request_id,
    )
}

/// `/{n}/items/{id}/{name}` -> `{id}/{name}`.
pub(super) fn data_node_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let (n, rest) = rest.split_once('/')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.strip_prefix("items/")
}

/// The data node's `GET`/`HEAD /{n}/items/{id}/{name}`.
pub(super) async fn data_node(
    ctx: &mut Ctx,
    req: &Request<Incoming>,
    rest: &str,
) -> Response<Body> {
    let resource = req.uri().path().to_string();
    let Ok((Some(id), Some(key))) = split_path(&format!("/{rest}")) else {
        return respond::json(StatusCode::NOT_FOUND, &json!({"error": "not found"}));
    };
    let owner = low_auth_ok(ctx, req.headers());
    let found = files::lookup(&ctx.shared.state(), &id, &key, owner);
    match found {
        Lookup::Found(served) => {
            let head = req.method() == Method::HEAD;
            files::serve(ctx, req.headers(), head, &format!("/{id}/{key}"), served).await
        }
        Lookup::NoItem => s3_error(S3Code::NoSuchBucket, &resource, &ctx.request_id),
        Lookup::NoKey => s3_error(S3Code::NoSuchKey, &resource, &ctx.request_id),
        Lookup::Forbidden => forbidden(ctx, &resource),
    }
}

/// `/view_archive.php?archive=/0/items/{id}/{zip}&file={member}`.
pub(super) async fn view_archive(ctx: &mut Ctx, req: &Request<Incoming>) -> Response<Body> {
    let resource = req.uri().path().to_string();
    let archive = query_param(req.uri(), "archive").unwrap_or_default();
    let Some((id, zip)) = data_node_path(&archive).and_then(|r| r.split_once('/')) else {
        return respond::json(
            StatusCode::NOT_FOUND,
            &json!({"error": "archive must be /{n}/items/{id}/{file}"}),
        );
    };
    let (id, zip) = (id.to_string(), zip.to_string());
    match query_param(req.uri(), "file") {
        Some(member) => serve_member(ctx, req, &id, &zip, &member, &resource).await,
        None => list_members(ctx, &id, &zip, &resource).await,
    }
}

/// The stored ZIP file `archive` of item `id`, if the request may read it.
fn zip_path(ctx: &Ctx, id: &str, archive: &str, owner: bool) -> Result<(PathBuf, u64), S3Code> {
    let state = ctx.shared.state();
    let item = state.item(id).ok_or(S3Code::NoSuchBucket)?;
    let i = item.find(archive).ok_or(S3Code::NoSuchKey)?;
    let data = &item.files[i].data;
    if data.private && !owner {
        return Err(S3Code::AccessDenied);
    }
    Ok((data.path.clone(), data.mtime))
}

/// Splits `key` into a stored `.zip` file of the item and the member path after it.
fn zip_member_of(ctx: &Ctx, id: &str, key: &str) -> Option<(String, String)> {
    let state = ctx.shared.state();
    let item = state.item(id)?;
    key.match_indices('/').find_map(|(i, _)| {
        let (archive, member) = (&key[..i], &key[i + 1..]);
        let is_zip = archive.to_ascii_lowercase().ends_with(".zip");
        (is_zip && !member.is_empty() && item.find(archive).is_some())
            .then(|| (archive.to_string(), member.to_string()))
    })
}

/// Serves one member of a stored ZIP (read with the `zip` crate on a blocking thread).
async fn serve_member(
    ctx: &mut Ctx,
    req: &Request<Incoming>,
    id: &str,
    archive: &str,
    member: &str,
    resource: &str,
) -> Response<Body> {
    let owner = low_auth_ok(ctx, req.headers());
    let (path, mtime) = match zip_path(ctx, id, archive, owner) {
        Ok(found) => found,
        Err(S3Code::AccessDenied) => return forbidden(ctx, resource),
        Err(code) => return s3_error(code, resource, &ctx.request_id),
    };
    let wanted = member.to_string();
    let read = tokio::task::spawn_blocking(move || read_member(&path, &wanted)).await;
    let Ok(Some(bytes)) = read else {
        return s3_error(S3Code::NoSuchKey, resource, &ctx.request_id);
    };
    let served = Served::bytes(bytes, mtime, content_type_of(member));
    let head = req.method() == Method::HEAD;
    let fault_path = format!("/{id}/{archive}/{member}");
    files::serve(ctx, req.headers(), head, &fault_path, served).await
}

/// The bytes of `member` in the ZIP at `path`; None if it is not a ZIP or has no such member.
pub(crate) fn read_member(path: &std::path::Path, member: &str) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut zip = zip::ZipArchive::new(file).ok()?;
    let mut entry = zip.by_name(member).ok()?;
    if entry.is_dir() {
        return None;
    }
    let mut out = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut out).ok()?;
    Some(out)
}

/// The names and sizes of a ZIP's members (directories left out).
fn member_list(path: &std::path::Path) -> Option<Vec<(String, u64)>> {
    let file = std::fs::File::open(path).ok()?;
    let mut zip = zip::ZipArchive::new(file).ok()?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let entry = zip.by_index(i).ok()?;
        if !entry.is_dir() {
            out.push((entry.name().ok()?.to_string(), entry.size()));
        }
    }
    Some(out)
}

/// `view_archive.php` without `file`: an HTML table of the members, one row each, linking to
/// `/download/{id}/{zip}/{member}` as IA's listing does.
async fn list_members(ctx: &mut Ctx, id: &str, zip: &str, resource: &str) -> Response<Body> {
    let (path, _) = match zip_path(ctx, id, zip, true) {
        Ok(found) => found,
        Err(code) => return s3_error(code, resource, &ctx.request_id),
    };
    let listed = tokio::task::spawn_blocking(move || member_list(&path)).await;
    let Ok(Some(members)) = listed else {
        return s3_error(S3Code::NoSuchKey, resource, &ctx.request_id);
    };
    let rows: String = members
        .iter()
        .map(|(name, size)| {
            format!(
                "<tr><td><a href=\"/download/{}/{}/{}\">{}</a></td><td>{size}</td></tr>\n",
                encode_path(id),
                encode_path(zip),
                encode_path(name),
                respond::xml_escape(name)
            )
        })
        .collect();
    respond::with_body(
        StatusCode::OK,
        "text/html",
        format!("<html><body><table>\n{rows}</table></body></html>\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_node_paths_have_a_number_then_items() {
        assert_eq!(data_node_path("/0/items/id/a.txt"), Some("id/a.txt"));
        assert_eq!(data_node_path("/27/items/id/d/a b"), Some("id/d/a b"));
        assert_eq!(data_node_path("/x/items/id/a"), None);
        assert_eq!(data_node_path("/0/other/id/a"), None);
        assert_eq!(data_node_path("/download/id/a"), None);
    }

    #[test]
    fn names_are_encoded_per_segment() {
        assert_eq!(encode_path("d/a b#?é.txt"), "d/a%20b%23%3F%C3%A9.txt");
    }
}
