//! The wire format of IAS3's S3 multipart uploads, pure like the rest of `ias3`: the create call
//! (`POST ?uploads`, carrying every header a whole-file PUT would, since IAS3 reads the item's
//! metadata, size hint, derive and backup flags there), part URLs, the Complete body (without
//! the `xmlns` attribute IA once refused), and the three XML answers iaup reads (create, list
//! parts, complete). The part arithmetic (how many parts, where each starts) lives here too,
//! so `--dry-run` and the engine agree on it.

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::{object_url, PutSpec, RequestSpec};
use crate::secret::Credentials;

/// S3's limit on the number of parts of one upload.
pub const MAX_PARTS: u64 = 10_000;

/// How a file of `size` bytes is cut: parts of `part_size`, the last one shorter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    pub size: u64,
    pub part_size: u64,
}

impl Cut {
    /// `part_size` raised so the file needs at most [`MAX_PARTS`] parts.
    pub fn new(size: u64, part_size: u64) -> Cut {
        let floor = size.div_ceil(MAX_PARTS).max(1);
        Cut {
            size,
            part_size: part_size.max(floor),
        }
    }

    /// How many parts (at least one, even for an empty file).
    pub fn parts(&self) -> u32 {
        self.size.div_ceil(self.part_size).max(1) as u32
    }

    /// Part `number` (1-based): its offset in the file and its length.
    pub fn range(&self, number: u32) -> (u64, u64) {
        let offset = (number as u64 - 1) * self.part_size;
        (offset, self.part_size.min(self.size - offset))
    }
}

/// The default part size for a file of `size` bytes: the larger of 1 GiB and size/200 (IA
/// queues a task per part: few, big parts keep SlowDown away; a public IA script uses parts of
/// at least 1 GB and at most 200 per file).
pub fn default_part_size(size: u64) -> u64 {
    (1u64 << 30).max(size.div_ceil(200))
}

/// `POST {s3}/{id}/{key}?uploads`: the headers of the file's PUT, without the body's own
/// (length, MD5), which belong to the parts.
pub fn create_request(s3_base: &str, creds: &Credentials, spec: &PutSpec<'_>) -> RequestSpec {
    let mut put = super::put_request(s3_base, creds, spec);
    put.headers
        .retain(|(k, _)| k != "content-length" && k != "content-md5");
    RequestSpec {
        method: "POST",
        url: format!("{}?uploads", put.url),
        headers: put.headers,
    }
}

/// The URL of the upload's object (`{s3}/{id}/{key}`) with `query` appended.
fn upload_url(s3_base: &str, identifier: &str, key: &str, query: &str) -> String {
    format!("{}?{query}", object_url(s3_base, identifier, key))
}

/// `PUT ...?partNumber=N&uploadId=U`.
pub fn part_url(s3_base: &str, identifier: &str, key: &str, upload_id: &str, n: u32) -> String {
    upload_url(
        s3_base,
        identifier,
        key,
        &format!("partNumber={n}&uploadId={}", encode(upload_id)),
    )
}

/// `GET` (list parts), `POST` (complete) and `DELETE` (abort) of the upload.
pub fn upload_id_url(s3_base: &str, identifier: &str, key: &str, upload_id: &str) -> String {
    upload_url(
        s3_base,
        identifier,
        key,
        &format!("uploadId={}", encode(upload_id)),
    )
}

fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[derive(Deserialize)]
struct Initiated {
    #[serde(rename = "UploadId")]
    upload_id: String,
}

/// The upload id in a create answer.
pub fn parse_created(body: &str) -> Option<String> {
    let i: Initiated = quick_xml::de::from_str(body.trim_start_matches('\u{feff}')).ok()?;
    let id = i.upload_id.trim().to_owned();
    (!id.is_empty()).then_some(id)
}

/// One part as the server lists it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ListedPart {
    #[serde(rename = "PartNumber")]
    pub number: u32,
    #[serde(rename = "ETag", default)]
    pub etag: String,
    #[serde(rename = "Size", default)]
    pub size: u64,
}

#[derive(Deserialize)]
struct PartList {
    #[serde(rename = "Part", default)]
    parts: Vec<ListedPart>,
    #[serde(rename = "IsTruncated", default)]
    truncated: Option<String>,
    #[serde(rename = "NextPartNumberMarker", default)]
    next: Option<u32>,
}

/// A page of a list-parts answer: its parts (ETags normalized) and, when truncated, the
/// marker of the next page.
pub fn parse_parts(body: &str) -> Option<(Vec<ListedPart>, Option<u32>)> {
    let l: PartList = quick_xml::de::from_str(body.trim_start_matches('\u{feff}')).ok()?;
    let truncated = l.truncated.as_deref().map(str::trim) == Some("true");
    let parts = l
        .parts
        .into_iter()
        .map(|p| ListedPart {
            etag: crate::hash::normalize_etag(&p.etag),
            ..p
        })
        .collect();
    Some((parts, if truncated { l.next } else { None }))
}

#[derive(Serialize)]
#[serde(rename = "CompleteMultipartUpload")]
struct CompleteBody<'a> {
    #[serde(rename = "Part")]
    parts: Vec<CompletePart<'a>>,
}

#[derive(Serialize)]
struct CompletePart<'a> {
    #[serde(rename = "PartNumber")]
    number: u32,
    #[serde(rename = "ETag")]
    etag: &'a str,
}

/// The Complete body for `(number, md5)` parts in ascending order; no `xmlns` (IA refused it).
pub fn complete_body(parts: &[(u32, String)]) -> String {
    let quoted: Vec<String> = parts.iter().map(|(_, m)| format!("\"{m}\"")).collect();
    let body = CompleteBody {
        parts: parts
            .iter()
            .zip(&quoted)
            .map(|((n, _), q)| CompletePart {
                number: *n,
                etag: q,
            })
            .collect(),
    };
    let mut out = String::new();
    let mut ser = quick_xml::se::Serializer::new(&mut out);
    // ETags keep their quotes as S3 clients send them (`"md5"`), not `&quot;`.
    ser.set_quote_level(quick_xml::se::QuoteLevel::Minimal);
    body.serialize(ser)
        .expect("a list of numbers and hex strings serializes");
    out
}

#[derive(Deserialize)]
struct Completed {
    #[serde(rename = "ETag", default)]
    etag: String,
}

/// The ETag of a complete answer; `None` when the body is not a CompleteMultipartUploadResult
/// (S3 may answer 200 and put an `<Error>` in the body).
pub fn parse_completed(body: &str) -> Option<String> {
    if body.contains("<Error>") {
        return None;
    }
    let c: Completed = quick_xml::de::from_str(body.trim_start_matches('\u{feff}')).ok()?;
    Some(crate::hash::normalize_etag(&c.etag))
}

/// S3's ETag of a multipart object: the MD5 of the parts' binary MD5s, then `-N`.
pub fn s3_etag(part_md5s: &[&str]) -> String {
    let mut h = Md5::new();
    for m in part_md5s {
        h.update(hex::decode(m).unwrap_or_default());
    }
    format!("{}-{}", hex::encode(h.finalize()), part_md5s.len())
}

/// Whether a Complete's ETag vouches for the file: the whole file's MD5 (what IA's stored file
/// has) or S3's form over the parts sent. What IA answers is not known: either is accepted.
pub fn completed_etag_ok(etag: &str, whole_md5: &str, part_md5s: &[&str]) -> bool {
    let etag = etag.to_ascii_lowercase();
    etag == whole_md5.to_ascii_lowercase() || etag == s3_etag(part_md5s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Metadata;

    #[test]
    fn files_are_cut_into_parts() {
        let c = Cut::new(10, 4);
        assert_eq!(c.parts(), 3);
        assert_eq!(
            [c.range(1), c.range(2), c.range(3)],
            [(0, 4), (4, 4), (8, 2)]
        );
        assert_eq!(Cut::new(8, 4).parts(), 2);
        assert_eq!(Cut::new(0, 4).parts(), 1);
        // Never more than 10,000 parts.
        let big = Cut::new(100_000_000, 1);
        assert_eq!(big.parts(), 10_000);
        assert_eq!(default_part_size(5 << 30), 1 << 30);
        assert_eq!(default_part_size(400 << 30), 2 << 30);
    }

    #[test]
    fn create_carries_the_put_headers_but_not_the_body_ones() {
        let creds = Credentials {
            access: "AK".into(),
            secret: crate::secret::Secret::new("SK"),
        };
        let md = Metadata(vec![("title".to_owned(), vec!["A b".to_owned()])]);
        let none = Metadata::default();
        let spec = PutSpec {
            identifier: "item",
            key: "big file.iso",
            size: 5,
            metadata: &md,
            file_metadata: &none,
            derive: true,
            size_hint: Some(9),
            keep_old_version: true,
            content_md5: Some("00"),
            extra_headers: &[],
        };
        let r = create_request("http://h:1", &creds, &spec);
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, "http://h:1/item/big%20file.iso?uploads");
        let names: Vec<&str> = r.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert!(names.contains(&"x-archive-meta00-title"));
        assert!(names.contains(&"x-archive-size-hint"));
        assert!(names.contains(&"x-archive-queue-derive"));
        assert!(names.contains(&"x-archive-keep-old-version"));
        assert!(!names.contains(&"content-length") && !names.contains(&"content-md5"));
        assert_eq!(
            part_url("http://h:1", "item", "a b", "x/y", 3),
            "http://h:1/item/a%20b?partNumber=3&uploadId=x%2Fy"
        );
    }

    #[test]
    fn answers_are_read_and_complete_has_no_namespace() {
        let created = "<?xml version=\"1.0\"?><InitiateMultipartUploadResult \
            xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>i</Bucket><Key>k</Key>\
            <UploadId>abc123</UploadId></InitiateMultipartUploadResult>";
        assert_eq!(parse_created(created).as_deref(), Some("abc123"));
        assert_eq!(parse_created("<Error><Code>x</Code></Error>"), None);
        let listed = "<ListPartsResult><IsTruncated>true</IsTruncated>\
            <NextPartNumberMarker>2</NextPartNumberMarker>\
            <Part><PartNumber>1</PartNumber><ETag>\"AA\"</ETag><Size>4</Size></Part>\
            <Part><PartNumber>2</PartNumber><ETag>\"bb\"</ETag><Size>4</Size></Part>\
            </ListPartsResult>";
        let (parts, next) = parse_parts(listed).unwrap();
        assert_eq!(next, Some(2));
        assert_eq!(
            parts[0],
            ListedPart {
                number: 1,
                etag: "aa".into(),
                size: 4
            }
        );
        assert_eq!(
            parse_parts("<ListPartsResult></ListPartsResult>").unwrap(),
            (vec![], None)
        );
        let body = complete_body(&[(1, "aa".into()), (2, "bb".into())]);
        assert_eq!(
            body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"aa\"</ETag></Part>\
             <Part><PartNumber>2</PartNumber><ETag>\"bb\"</ETag></Part></CompleteMultipartUpload>"
        );
        assert!(!body.contains("xmlns"));
        let done =
            "<CompleteMultipartUploadResult><ETag>\"E-2\"</ETag></CompleteMultipartUploadResult>";
        assert_eq!(parse_completed(done).as_deref(), Some("e-2"));
        assert_eq!(
            parse_completed("<Error><Code>InternalError</Code></Error>"),
            None
        );
    }

    #[test]
    fn a_complete_etag_is_the_whole_md5_or_s3s_form() {
        let a = "0cc175b9c0f1b6a831c399e269772661";
        let b = "92eb5ffee6ae2fec3ad71c777531578f";
        let s3 = s3_etag(&[a, b]);
        assert!(s3.ends_with("-2") && s3.len() == 34);
        assert!(completed_etag_ok(&s3, "ff", &[a, b]));
        assert!(completed_etag_ok("FF", "ff", &[a, b]));
        assert!(!completed_etag_ok("ee", "ff", &[a, b]));
    }
}
