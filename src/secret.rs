//! A string that must never be printed: S3 secret keys, passwords, login cookies.
//!
//! `Debug` and `Display` both render `(redacted)`, so a secret cannot leak through a log line,
//! an error message, `--show-settings` or a panic. Code that really needs the value (the
//! `Authorization` header, the config file writer) calls [`Secret::expose`] on purpose.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The clear value. Every call site is a place where the secret leaves the program.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// Lets clap parse a flag straight into a `Secret`, so the clear value never sits in a `String`
/// of an argument struct whose derived `Debug` would print it.
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret::new(s))
    }
}

/// S3 keys as IAS3 expects them in `Authorization: LOW access:secret`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub access: String,
    pub secret: Secret,
}

impl Credentials {
    /// The `Authorization` header value. Only the HTTP layer calls this.
    pub fn authorization(&self) -> String {
        format!("LOW {}:{}", self.access, self.secret.expose())
    }

    /// The same header with the secret masked, for `--dry-run` and logs.
    pub fn authorization_masked(&self) -> String {
        format!("LOW {}:(redacted)", self.access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_formats_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "(redacted)");
        assert_eq!(format!("{s:?}"), "(redacted)");
        let c = Credentials {
            access: "AK".into(),
            secret: s,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.authorization(), "LOW AK:hunter2");
        assert!(!c.authorization_masked().contains("hunter2"));
        let parsed: Secret = "hunter2".parse().unwrap();
        assert_eq!(parsed.expose(), "hunter2");
    }
}
