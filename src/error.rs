//! The one error type that reaches `main`, with its exit code, and how it is rendered:
//! `error: ...`, then `  caused by: ...` for each source, then an optional `hint: ...`.

use std::fmt::Write as _;

/// How a command ended, which decides the process's exit code: every command returns one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Everything done (0).
    Success,
    /// The command ran and something failed, is missing or differs (1).
    Failed,
    /// Bad input or configuration: nothing was sent (2).
    Usage,
    /// Stopped by Ctrl-C (130).
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failed => 1,
            ExitStatus::Usage => 2,
            ExitStatus::Interrupted => 130,
        }
    }

    /// `Failed` when `failed`, else `Success`.
    pub fn failed_if(failed: bool) -> ExitStatus {
        if failed {
            ExitStatus::Failed
        } else {
            ExitStatus::Success
        }
    }
}

#[derive(Debug)]
pub struct AppError {
    pub status: ExitStatus,
    pub error: Box<dyn std::error::Error + Send + Sync>,
    pub hint: Option<String>,
}

impl AppError {
    /// Bad input or configuration: nothing was sent (exit 2).
    pub fn usage(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> AppError {
        AppError {
            status: ExitStatus::Usage,
            error: error.into(),
            hint: None,
        }
    }

    /// The operation ran and failed (exit 1).
    pub fn failed(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> AppError {
        AppError {
            status: ExitStatus::Failed,
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

// Each stage's errors become a command's error on purpose (there is no blanket conversion):
// settings, ia.ini, the journal and the report file are all read or opened before anything is
// sent, so their errors are bad input or configuration (exit 2). Errors after sending began are
// per-file outcomes in the run's record, or `AppError::failed` where a command decides so.

impl From<crate::settings::SettingsError> for AppError {
    fn from(e: crate::settings::SettingsError) -> AppError {
        AppError::usage(e)
    }
}

impl From<crate::config::ConfigError> for AppError {
    fn from(e: crate::config::ConfigError) -> AppError {
        AppError::usage(e)
    }
}

impl From<crate::journal::JournalError> for AppError {
    fn from(e: crate::journal::JournalError) -> AppError {
        e.into_app()
    }
}

impl From<crate::reporter::ReportError> for AppError {
    fn from(e: crate::reporter::ReportError) -> AppError {
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
