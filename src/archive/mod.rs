//! The archive face: archive.org's own APIs beside S3 (`ias3`): the metadata API, read and
//! written ([`metadata`]), login ([`login`]), and the key checks before a command writes
//! ([`checks`]). Answers are JSON; what they mean is [`ARCHIVE`], the [`Face`] the transport
//! is given for these requests. The Tasks API ([`tasks`]) too; search will live here.

pub mod checks;
pub mod login;
pub mod metadata;
pub mod tasks;

pub use crate::transport::ApiError;
use crate::transport::{classify_status, Answer, Class, Face};
pub use checks::{check_keys_before_writing, whoami};
pub use login::{login, Login, LoginError};
pub use metadata::item_metadata;

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
