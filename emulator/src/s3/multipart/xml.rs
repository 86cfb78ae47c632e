//! The XML of the multipart calls: reading a `CompleteMultipartUpload` body (refusing the
//! `xmlns` attribute IA once refused) and spelling the answers, in IA's style (no `xmlns`).

use quick_xml::events::Event;
use quick_xml::Reader;
use serde::Deserialize;

use crate::clock::s3_date;
use crate::respond::xml_escape;
use crate::state::Upload;

/// The declaration every IAS3 XML answer starts with.
const DECLARATION: &str = "<?xml version='1.0' encoding='UTF-8'?>\n";

/// One `<Part>` of a Complete body: its number and the ETag the client holds for it.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub(super) struct PartRef {
    #[serde(rename = "PartNumber")]
    pub number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
}

impl PartRef {
    /// The ETag as bare lower-case hex (quotes dropped).
    pub fn md5(&self) -> String {
        self.etag.trim().trim_matches('"').to_ascii_lowercase()
    }
}

#[derive(Deserialize)]
struct CompleteBody {
    #[serde(rename = "Part", default)]
    parts: Vec<PartRef>,
}

/// Why a Complete body was refused (always `400 MalformedXML`).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Malformed;

/// The parts listed by a `<CompleteMultipartUpload>` body, in the order given. Refused: text
/// that is not XML, another root element, an `xmlns` (or `xmlns:*`) attribute on the root (IA
/// refused it), and a list without parts.
pub(super) fn parse_complete(text: &str) -> Result<Vec<PartRef>, Malformed> {
    let mut reader = Reader::from_str(text);
    loop {
        match reader.read_event().map_err(|_| Malformed)? {
            Event::Start(root) | Event::Empty(root) => {
                let namespaced = root.attributes().any(|a| {
                    a.map_or(true, |a| {
                        let k = a.key.as_ref();
                        k == "xmlns" || k.starts_with("xmlns:")
                    })
                });
                if root.name().as_ref() != "CompleteMultipartUpload" || namespaced {
                    return Err(Malformed);
                }
                break;
            }
            Event::Eof => return Err(Malformed),
            _ => {}
        }
    }
    let body: CompleteBody = quick_xml::de::from_str(text).map_err(|_| Malformed)?;
    if body.parts.is_empty() {
        return Err(Malformed);
    }
    Ok(body.parts)
}

/// `<InitiateMultipartUploadResult>`.
pub(super) fn initiated(id: &str, key: &str, upload_id: &str) -> String {
    format!(
        "{DECLARATION}<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>",
        xml_escape(id),
        xml_escape(key),
        xml_escape(upload_id)
    )
}

/// `<ListPartsResult>` of every part, in part-number order.
pub(super) fn parts(upload: &Upload) -> String {
    let parts: String = upload
        .parts
        .iter()
        .map(|(n, p)| {
            format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>\"{}\"</ETag><Size>{}</Size><LastModified>{}</LastModified></Part>",
                p.md5,
                p.size,
                s3_date(p.modified)
            )
        })
        .collect();
    format!(
        "{DECLARATION}<ListPartsResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId><IsTruncated>false</IsTruncated>{parts}</ListPartsResult>",
        xml_escape(&upload.plan.identifier),
        xml_escape(&upload.plan.key),
        xml_escape(&upload.upload_id)
    )
}

/// `<CompleteMultipartUploadResult>`.
pub(super) fn completed(location: &str, id: &str, key: &str, etag: &str) -> String {
    format!(
        "{DECLARATION}<CompleteMultipartUploadResult><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>\"{}\"</ETag></CompleteMultipartUploadResult>",
        xml_escape(location),
        xml_escape(id),
        xml_escape(key),
        xml_escape(etag)
    )
}

/// `<ListMultipartUploadsResult>` of item `id`.
pub(super) fn uploads(id: &str, uploads: &[&Upload]) -> String {
    let list: String = uploads
        .iter()
        .map(|u| {
            format!(
                "<Upload><Key>{}</Key><UploadId>{}</UploadId><Initiated>{}</Initiated></Upload>",
                xml_escape(&u.plan.key),
                xml_escape(&u.upload_id),
                s3_date(u.initiated)
            )
        })
        .collect();
    format!(
        "{DECLARATION}<ListMultipartUploadsResult><Bucket>{}</Bucket>{list}</ListMultipartUploadsResult>",
        xml_escape(id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_bodies_list_their_parts() {
        let parts = parse_complete(
            "<?xml version=\"1.0\"?>\n<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"AB\"</ETag></Part><Part><ETag>cd</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>",
        )
        .expect("parsed");
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].number, parts[0].md5()), (1, "ab".to_string()));
        assert_eq!((parts[1].number, parts[1].md5()), (2, "cd".to_string()));
    }

    #[test]
    fn xmlns_and_garbage_are_malformed() {
        let part = "<Part><PartNumber>1</PartNumber><ETag>ab</ETag></Part>";
        let with_ns = format!(
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{part}</CompleteMultipartUpload>"
        );
        assert_eq!(parse_complete(&with_ns), Err(Malformed));
        assert_eq!(parse_complete("not xml <"), Err(Malformed));
        assert_eq!(parse_complete(""), Err(Malformed));
        assert_eq!(
            parse_complete(&format!("<Other>{part}</Other>")),
            Err(Malformed)
        );
        assert_eq!(
            parse_complete("<CompleteMultipartUpload></CompleteMultipartUpload>"),
            Err(Malformed)
        );
        assert_eq!(
            parse_complete(
                "<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>ab</ETag></Part></CompleteMultipartUpload>"
            ),
            Err(Malformed)
        );
    }
}
