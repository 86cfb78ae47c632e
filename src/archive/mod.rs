//! The archive face: archive.org's own APIs beside S3 (`ias3`): the metadata API, read and
//! written ([`metadata`]), login ([`login`]), and the key checks before a command writes
//! ([`checks`]). Answers are JSON; what they mean is [`ARCHIVE`], the [`Face`] the transport
//! is given for these requests. The Tasks API ([`tasks`]) and the search APIs ([`search`])
//! too, and the public download URL of a file ([`download_url`]).

pub mod checks;
pub mod login;
pub mod metadata;
pub mod search;
pub mod tasks;

pub use crate::transport::ApiError;
use crate::transport::{classify_status, Answer, Class, Face};
pub use checks::{check_keys_before_writing, whoami};
pub use login::{login, Login, LoginError};
pub use metadata::item_metadata;

/// `{archive}/download/{id}/{name}`, each part percent-encoded as `ia` quotes keys (UTF-8,
/// `/` kept), so a name with a space, `#` or `?` is one working URL (`ia list -l` prints
/// names raw).
pub fn download_url(archive_url: &str, identifier: &str, name: &str) -> String {
    crate::ias3::join(archive_url, &download_path(identifier, name))
}

/// `download/ID/NAME`, each quoted as `ia` quotes keys (`/` kept).
pub fn download_path(identifier: &str, name: &str) -> String {
    format!(
        "download/{}/{}",
        crate::ias3::quote(identifier),
        crate::ias3::quote(name)
    )
}

/// The archive face: JSON answers, read by status alone (2xx success; 408, 429 and 5xx
/// transient; any other refusal fatal).
pub struct Archive;

/// The archive face, for [`crate::transport::send`].
pub const ARCHIVE: Archive = Archive;

impl Face for Archive {
    fn classify(&self, answer: &Answer) -> Class {
        classify_status(answer.status)
    }

    fn describe(&self, answer: &Answer) -> String {
        answer.describe_plain()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn download_urls_are_quoted_with_slashes_kept() {
        assert_eq!(
            super::download_url("https://archive.org/", "it", "dir/scan 1#2?.jpg"),
            "https://archive.org/download/it/dir/scan%201%232%3F.jpg"
        );
        assert_eq!(
            super::download_url("http://127.0.0.1:9", "it", "Ünï.txt"),
            "http://127.0.0.1:9/download/it/%C3%9Cn%C3%AF.txt"
        );
    }
}
