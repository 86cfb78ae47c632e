//! Building responses: the body type every handler returns, JSON answers, and IAS3's S3-style
//! XML error bodies with the codes, statuses and messages of the IAS3 reference's error table
//! (and S3's for multipart uploads). Handlers decide which answer to give; this module only knows how each is spelled.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

/// The body of every response: a full buffer or a file stream.
pub type Body = BoxBody<Bytes, std::io::Error>;

/// A complete body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// A response with a body and content type.
pub fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    with_body(status, "application/json", value.to_string())
}

/// An S3 error code of the IAS3 reference's table (the ones the emulator can send).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3Code {
    AccessDenied,
    BadDigest,
    BucketNotEmpty,
    EntityTooSmall,
    IncompleteBody,
    InternalError,
    InvalidArgument,
    InvalidBucketName,
    InvalidDigest,
    InvalidPart,
    InvalidPartOrder,
    InvalidURI,
    KeyTooLong,
    MalformedXML,
    MethodNotAllowed,
    MissingContentLength,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    NotImplemented,
    RequestTimeout,
    ServiceUnavailable,
    SlowDown,
}

impl S3Code {
    /// Every code, for `x-archive-simulate-error`.
    pub const ALL: [S3Code; 23] = [
        S3Code::AccessDenied,
        S3Code::BadDigest,
        S3Code::BucketNotEmpty,
        S3Code::EntityTooSmall,
        S3Code::IncompleteBody,
        S3Code::InternalError,
        S3Code::InvalidArgument,
        S3Code::InvalidBucketName,
        S3Code::InvalidDigest,
        S3Code::InvalidPart,
        S3Code::InvalidPartOrder,
        S3Code::InvalidURI,
        S3Code::KeyTooLong,
        S3Code::MalformedXML,
        S3Code::MethodNotAllowed,
        S3Code::MissingContentLength,
        S3Code::NoSuchBucket,
        S3Code::NoSuchKey,
        S3Code::NoSuchUpload,
        S3Code::NotImplemented,
        S3Code::RequestTimeout,
        S3Code::ServiceUnavailable,
        S3Code::SlowDown,
    ];

    /// The code as it appears in `<Code>`.
    pub fn name(self) -> &'static str {
        match self {
            S3Code::AccessDenied => "AccessDenied",
            S3Code::BadDigest => "BadDigest",
            S3Code::BucketNotEmpty => "BucketNotEmpty",
            S3Code::EntityTooSmall => "EntityTooSmall",
            S3Code::IncompleteBody => "IncompleteBody",
            S3Code::InternalError => "InternalError",
            S3Code::InvalidArgument => "InvalidArgument",
            S3Code::InvalidBucketName => "InvalidBucketName",
            S3Code::InvalidDigest => "InvalidDigest",
            S3Code::InvalidPart => "InvalidPart",
            S3Code::InvalidPartOrder => "InvalidPartOrder",
            S3Code::InvalidURI => "InvalidURI",
            S3Code::KeyTooLong => "KeyTooLong",
            S3Code::MalformedXML => "MalformedXML",
            S3Code::MethodNotAllowed => "MethodNotAllowed",
            S3Code::MissingContentLength => "MissingContentLength",
            S3Code::NoSuchBucket => "NoSuchBucket",
            S3Code::NoSuchKey => "NoSuchKey",
            S3Code::NoSuchUpload => "NoSuchUpload",
            S3Code::NotImplemented => "NotImplemented",
            S3Code::RequestTimeout => "RequestTimeout",
            S3Code::ServiceUnavailable => "ServiceUnavailable",
            S3Code::SlowDown => "SlowDown",
        }
    }

    /// Looks a code up by name (case-insensitive).
    pub fn from_name(name: &str) -> Option<S3Code> {
        S3Code::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The HTTP status the table gives.
    pub fn status(self) -> StatusCode {
        match self {
            S3Code::AccessDenied => StatusCode::FORBIDDEN,
            S3Code::BucketNotEmpty => StatusCode::CONFLICT,
            S3Code::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            S3Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            S3Code::MissingContentLength => StatusCode::LENGTH_REQUIRED,
            S3Code::NoSuchBucket | S3Code::NoSuchKey | S3Code::NoSuchUpload => {
                StatusCode::NOT_FOUND
            }
            S3Code::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            S3Code::ServiceUnavailable | S3Code::SlowDown => StatusCode::SERVICE_UNAVAILABLE,
            S3Code::BadDigest
            | S3Code::EntityTooSmall
            | S3Code::IncompleteBody
            | S3Code::InvalidArgument
            | S3Code::InvalidBucketName
            | S3Code::InvalidDigest
            | S3Code::InvalidPart
            | S3Code::InvalidPartOrder
            | S3Code::InvalidURI
            | S3Code::KeyTooLong
            | S3Code::MalformedXML
            | S3Code::RequestTimeout => StatusCode::BAD_REQUEST,
        }
    }

    /// The table's message.
    pub fn message(self) -> &'static str {
        match self {
            S3Code::AccessDenied => "Access Denied",
            S3Code::BadDigest => "The Content-MD5 you specified did not match what we received.",
            S3Code::BucketNotEmpty => "The bucket you tried to delete is not empty.",
            S3Code::EntityTooSmall => {
                "Your proposed upload is smaller than the minimum allowed object size."
            }
            S3Code::IncompleteBody => {
                "You did not provide the number of bytes specified by the Content-Length HTTP header"
            }
            S3Code::InternalError => "We encountered an internal error. Please try again.",
            S3Code::InvalidArgument => "Invalid Argument",
            S3Code::InvalidBucketName => "The specified bucket is not valid.",
            S3Code::InvalidDigest => "The Content-MD5 you specified was an invalid.",
            S3Code::InvalidPart => {
                "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag."
            }
            S3Code::InvalidPartOrder => {
                "The list of parts was not in ascending order. The parts list must be specified in order by part number."
            }
            S3Code::InvalidURI => "Couldn't parse the specified URI.",
            S3Code::KeyTooLong => "Your key is too long.",
            S3Code::MalformedXML => {
                "The XML you provided was not well-formed or did not validate against our published schema."
            }
            S3Code::MethodNotAllowed => "The specified method is not allowed against this resource.",
            S3Code::MissingContentLength => "You must provide the Content-Length HTTP header.",
            S3Code::NoSuchBucket => "The specified bucket does not exist.",
            S3Code::NoSuchKey => "The specified key does not exist.",
            S3Code::NoSuchUpload => {
                "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed."
            }
            S3Code::NotImplemented => {
                "A header you provided implies functionality that is not implemented."
            }
            S3Code::RequestTimeout => {
                "Your socket connection to the server was not read from or written to within the timeout period."
            }
            S3Code::ServiceUnavailable => "Please reduce your request rate.",
            S3Code::SlowDown => "Please reduce your request rate.",
        }
    }
}

/// XML text escaping for element content.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// IAS3's error body: `<Error><Code/><Message/><Resource/><RequestId/></Error>`.
pub fn s3_error_body(code: &str, message: &str, resource: &str, request_id: &str) -> String {
    format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId></Error>",
        xml_escape(code),
        xml_escape(message),
        xml_escape(resource),
        xml_escape(request_id)
    )
}

/// An S3 error response with the table's status and message.
pub fn s3_error(code: S3Code, resource: &str, request_id: &str) -> Response<Body> {
    s3_error_with(code, code.message(), resource, request_id)
}

/// An S3 error response with a message of its own.
pub fn s3_error_with(
    code: S3Code,
    message: &str,
    resource: &str,
    request_id: &str,
) -> Response<Body> {
    with_body(
        code.status(),
        "application/xml",
        s3_error_body(code.name(), message, resource, request_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_have_table_statuses() {
        for code in S3Code::ALL {
            assert_eq!(S3Code::from_name(code.name()), Some(code));
        }
        assert_eq!(S3Code::from_name("slowdown"), Some(S3Code::SlowDown));
        assert_eq!(S3Code::SlowDown.status().as_u16(), 503);
        assert_eq!(S3Code::MissingContentLength.status().as_u16(), 411);
        assert_eq!(S3Code::BadDigest.status().as_u16(), 400);
    }

    #[test]
    fn error_body_is_escaped_xml() {
        let body = s3_error_body("SlowDown", "a<b", "/id/k&y", "r1");
        assert!(body.starts_with("<?xml version='1.0' encoding='UTF-8'?>"));
        assert!(body.contains("<Message>a&lt;b</Message>"));
        assert!(body.contains("<Resource>/id/k&amp;y</Resource>"));
    }
}
