//! The one error type that reaches `main`, with its exit code, and how it is rendered:
//! `error: ...`, then `  caused by: ...` for each source, then an optional `hint: ...`.

use std::fmt::Write as _;

/// Exit codes, decided in one place.
pub const EXIT_OK: u8 = 0;
pub const EXIT_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug)]
pub struct AppError {
    pub code: u8,
    pub error: Box<dyn std::error::Error + Send + Sync>,
    pub hint: Option<String>,
}

impl AppError {
    /// Bad input or configuration: nothing was sent (exit 2).
    pub fn usage(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> AppError {
        AppError {
            code: EXIT_USAGE,
            error: error.into(),
            hint: None,
        }
    }

    /// The operation ran and failed (exit 1).
    pub fn failed(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> AppError {
        AppError {
            code: EXIT_FAILED,
            error: error.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> AppError {
        self.hint = Some(hint.into());
        self
    }

    pub fn render(&self) -> String {
        let mut s = format!("error: {}", self.error);
        let mut source = self.error.source();
        while let Some(e) = source {
            let _ = write!(s, "\n  caused by: {e}");
            source = e.source();
        }
        if let Some(h) = &self.hint {
            let _ = write!(s, "\nhint: {h}");
        }
        s
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for AppError {
    fn from(e: E) -> AppError {
        AppError::usage(e)
    }
}

/// A plain message as an error.
#[derive(Debug)]
pub struct Message(pub String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

pub fn msg(s: impl Into<String>) -> Message {
    Message(s.into())
}
