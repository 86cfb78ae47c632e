//! Transient or fatal: the class of a transport error (no HTTP answer at all), decided by
//! walking its `source()` chain and downcasting each link to the types that say what happened
//! (`reqwest::Error`, hyper-util's `legacy::Error` (the PUT client's), `hyper::Error`,
//! `std::io::Error`, `rustls::Error`), as uv's `retry.rs`
//! does, never by matching message text.
//!
//! The rule, in order:
//! 1. Fatal evidence anywhere in the chain wins: a TLS error (a certificate not trusted, a
//!    handshake refused: the same request meets the same certificate), an invalid input (a
//!    URL or host name that cannot be used), a request that could not be built, a redirect
//!    error, or a hyper "user" error without a cause (iaup's own misuse; when iaup's body
//!    stream failed, that cause decides: a file that shrank while sent is transient, and the
//!    next attempt's size check says what happened).
//! 2. Otherwise transient evidence makes it transient: a timeout, a connection that could not
//!    be made (refused, no route, DNS), or closed, reset or cut short while talking (io kinds
//!    ConnectionRefused/Reset/Aborted, BrokenPipe, UnexpectedEof, TimedOut, NotConnected,
//!    Interrupted, HostUnreachable, NetworkUnreachable, NetworkDown; hyper's incomplete
//!    message, closed, canceled, timeout, aborted body write), or a response body that broke
//!    off.
//! 3. Anything else, unknown, is fatal: reported at once with its whole cause chain, rather
//!    than retried for minutes on a guess. An error that deserves retrying and lands here is a
//!    bug to fix in this list, visible on the first occurrence.

use std::error::Error;
use std::io;

use super::retry::Class;

/// What one link of the chain says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Evidence {
    Fatal,
    Transient,
    Nothing,
}

/// The class of a transport error: [`Class::Transient`] or [`Class::Fatal`].
pub fn classify_error(err: &(dyn Error + 'static)) -> Class {
    let mut transient = false;
    let mut link: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = link {
        match evidence(e) {
            Evidence::Fatal => return Class::Fatal,
            Evidence::Transient => transient = true,
            Evidence::Nothing => {}
        }
        // `io::Error::source` skips the error it wraps (it returns that error's source), so
        // the wrapped error (a rustls::Error, say) is visited through `get_ref`.
        link = match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn Error + 'static)),
            None => e.source(),
        };
    }
    if transient {
        Class::Transient
    } else {
        Class::Fatal
    }
}

/// Whether a reqwest error is worth another attempt (see the module's rule).
pub fn is_transient(err: &reqwest::Error) -> bool {
    classify_error(err) == Class::Transient
}

fn evidence(e: &(dyn Error + 'static)) -> Evidence {
    if let Some(r) = e.downcast_ref::<reqwest::Error>() {
        return if r.is_builder() || r.is_redirect() {
            Evidence::Fatal
        } else if r.is_timeout() || r.is_connect() || r.is_body() {
            Evidence::Transient
        } else {
            Evidence::Nothing
        };
    }
    if let Some(l) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
        // Its cause (a hyper, io or rustls error) says more; a connection that could not be
        // made is worth another attempt unless that cause is fatal (TLS).
        return if l.is_connect() {
            Evidence::Transient
        } else {
            Evidence::Nothing
        };
    }
    if let Some(h) = e.downcast_ref::<hyper::Error>() {
        return if h.is_user() {
            // The user body's own error (a file that shrank while sent) is the cause that
            // decides; without one, iaup misused the protocol.
            if h.source().is_some() {
                Evidence::Nothing
            } else {
                Evidence::Fatal
            }
        } else if h.is_incomplete_message()
            || h.is_closed()
            || h.is_canceled()
            || h.is_timeout()
            || h.is_body_write_aborted()
        {
            Evidence::Transient
        } else {
            Evidence::Nothing
        };
    }
    if e.downcast_ref::<rustls::Error>().is_some() {
        return Evidence::Fatal;
    }
    if let Some(io) = e.downcast_ref::<io::Error>() {
        use io::ErrorKind::*;
        return match io.kind() {
            // A TLS failure arrives as InvalidData; a name TLS cannot use as InvalidInput.
            InvalidInput | InvalidData | PermissionDenied | Unsupported => Evidence::Fatal,
            ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe
            | UnexpectedEof | TimedOut | Interrupted | WouldBlock | HostUnreachable
            | NetworkUnreachable | NetworkDown | AddrNotAvailable => Evidence::Transient,
            _ => Evidence::Nothing,
        };
    }
    Evidence::Nothing
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn listener() -> (TcpListener, String) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        (l, addr)
    }

    fn client() -> reqwest::Client {
        super::super::client::client(1)
    }

    /// A server that reads the request and closes the connection without an answer.
    async fn read_then_close(mut s: tokio::net::TcpStream) {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
    }

    /// A server that answers plain HTTP where TLS was expected.
    async fn answer_plain_http(mut s: tokio::net::TcpStream) {
        let _ = s
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await;
        let _ = s.flush().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    /// Runs `serve` on the first connection to `l`, if any.
    fn serve_once<F>(
        l: Option<TcpListener>,
        serve: impl FnOnce(tokio::net::TcpStream) -> F + Send + 'static,
    ) where
        F: std::future::Future<Output = ()> + Send,
    {
        if let Some(l) = l {
            tokio::spawn(async move {
                let (s, _) = l.accept().await.unwrap();
                serve(s).await;
            });
        }
    }

    /// The error of one GET to `url`, with the server side run by `serve` on `l`.
    async fn error_of<F>(
        url: String,
        l: Option<TcpListener>,
        serve: impl FnOnce(tokio::net::TcpStream) -> F + Send + 'static,
    ) -> reqwest::Error
    where
        F: std::future::Future<Output = ()> + Send,
    {
        serve_once(l, serve);
        client()
            .get(url)
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .expect_err("the request fails")
    }

    // The transport half of the transient/fatal table (the statuses are the faces': see
    // `ias3` and `archive`).
    #[tokio::test]
    async fn transport_errors_are_classified_by_type_not_text() {
        // Connection refused: nothing listens on the port any more.
        let (l, addr) = listener().await;
        drop(l);
        let refused = error_of(format!("http://{addr}/"), None, |_| async {}).await;
        assert!(refused.is_connect());
        assert_eq!(classify_error(&refused), Class::Transient, "refused");

        // Closed after the request was read, without an answer.
        let (l, addr) = listener().await;
        let closed = error_of(format!("http://{addr}/"), Some(l), read_then_close).await;
        assert_eq!(
            classify_error(&closed),
            Class::Transient,
            "closed: {closed:?}"
        );

        // No answer in time.
        let (l, addr) = listener().await;
        let timeout = error_of(format!("http://{addr}/"), Some(l), |s| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        })
        .await;
        assert!(timeout.is_timeout());
        assert_eq!(classify_error(&timeout), Class::Transient, "timeout");

        // TLS refused: the server does not speak TLS (rustls says the message is corrupt).
        let (l, addr) = listener().await;
        let tls = error_of(format!("https://{addr}/"), Some(l), answer_plain_http).await;
        assert_eq!(classify_error(&tls), Class::Fatal, "tls: {tls:?}");

        // A URL that cannot be sent at all.
        let builder = client()
            .get("http://exa mple.org/")
            .send()
            .await
            .unwrap_err();
        assert!(builder.is_builder());
        assert_eq!(classify_error(&builder), Class::Fatal, "builder");
    }

    /// The error of one PUT of the PUT client (hyper-util's `legacy::Error` on top) to `url`.
    async fn put_error_of<F>(
        url: String,
        l: Option<TcpListener>,
        serve: impl FnOnce(tokio::net::TcpStream) -> F + Send + 'static,
    ) -> Box<dyn Error + Send + Sync>
    where
        F: std::future::Future<Output = ()> + Send,
    {
        serve_once(l, serve);
        let client = super::super::expect::PutClient::new(1, 0);
        let body = Box::pin(futures::stream::empty());
        client
            .put(&url, vec![], 0, body)
            .await
            .expect_err("the PUT fails")
    }

    // The same table for the PUT client, whose errors are hyper-util's.
    #[tokio::test]
    async fn put_client_errors_are_classified_by_type_not_text() {
        let (l, addr) = listener().await;
        drop(l);
        let refused = put_error_of(format!("http://{addr}/"), None, |_| async {}).await;
        let legacy = refused.downcast_ref::<hyper_util::client::legacy::Error>();
        assert!(legacy.is_some_and(|e| e.is_connect()), "{refused:?}");
        assert_eq!(classify_error(&*refused), Class::Transient, "refused");

        let (l, addr) = listener().await;
        let closed = put_error_of(format!("http://{addr}/"), Some(l), read_then_close).await;
        assert_eq!(classify_error(&*closed), Class::Transient, "{closed:?}");

        let (l, addr) = listener().await;
        let tls = put_error_of(format!("https://{addr}/"), Some(l), answer_plain_http).await;
        assert_eq!(classify_error(&*tls), Class::Fatal, "tls: {tls:?}");

        let bad = put_error_of("http://exa mple.org/".into(), None, |_| async {}).await;
        assert_eq!(classify_error(&*bad), Class::Fatal, "bad url: {bad:?}");
    }

    #[test]
    fn wrapped_errors_are_found_through_io_errors() {
        let cert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(classify_error(&cert), Class::Fatal, "certificate");
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(classify_error(&reset), Class::Transient, "reset");
        let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank");
        assert_eq!(classify_error(&eof), Class::Transient, "short body");
        // Unknown: fatal, not blindly transient.
        let other = io::Error::other("something new");
        assert_eq!(classify_error(&other), Class::Fatal, "unknown");
        // Fatal evidence wins over transient evidence further up the chain.
        #[derive(Debug)]
        struct Wrap(io::Error);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("connect")
            }
        }
        impl Error for Wrap {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let timed_out_then_tls = io::Error::new(io::ErrorKind::TimedOut, Wrap(cert));
        assert_eq!(classify_error(&timed_out_then_tls), Class::Fatal);
    }
}
