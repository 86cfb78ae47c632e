//! The HTTP client of a run and its redirect policy.
//!
//! One `reqwest::Client` per run (keep-alive, rustls, HTTP/1.1 as IAS3 speaks it) that follows
//! no redirect itself: IAS3 redirects PUTs (307) to the host that stores the item, and the
//! upload follows them by hand, resending the body with the keys only where
//! [`redirect_allowed`] says the keys may go.

use std::time::Duration;

pub const USER_AGENT: &str = concat!("iaup/", env!("CARGO_PKG_VERSION"));

/// Redirects one transfer may follow.
pub const MAX_REDIRECTS: u32 = 5;

/// A client with connection reuse for `pool` concurrent requests per host.
pub fn client(pool: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .http1_only()
        .pool_max_idle_per_host(pool.max(1))
        .pool_idle_timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        // IAS3 redirects PUTs (307) to the right host; reqwest resends the body only when it
        // can, and never to another host with our Authorization. We follow none and report.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the TLS backend is compiled in")
}

/// A redirect keeps the `Authorization` header only to the same host or to archive.org hosts
/// (IAS3 sends PUTs on to `ia8xxxxx.us.archive.org`), as curl's `--location-trusted` would
/// without the risk.
pub fn redirect_allowed(from: &str, to: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(from), url::Url::parse(to)) else {
        return false;
    };
    if !matches!(b.scheme(), "http" | "https") || (a.scheme() == "https" && b.scheme() != "https") {
        return false;
    }
    match (a.host_str(), b.host_str()) {
        (Some(x), Some(y)) if x == y => {
            a.port_or_known_default() == b.port_or_known_default() || y.ends_with(".archive.org")
        }
        (_, Some(y)) => y == "archive.org" || y.ends_with(".archive.org"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::redirect_allowed;

    #[test]
    fn redirects_keep_keys_only_on_the_same_host_or_archive_org() {
        assert!(redirect_allowed(
            "https://s3.us.archive.org/a/b",
            "https://ia800100.us.archive.org/a/b"
        ));
        assert!(redirect_allowed(
            "http://127.0.0.1:9/a/b",
            "http://127.0.0.1:9/a/b?redirected=1"
        ));
        assert!(!redirect_allowed(
            "http://127.0.0.1:9/a",
            "http://127.0.0.1:10/a"
        ));
        assert!(!redirect_allowed(
            "https://s3.us.archive.org/a/b",
            "https://evil.example/a/b"
        ));
        assert!(
            !redirect_allowed(
                "https://s3.us.archive.org/a/b",
                "http://ia800100.us.archive.org/a/b"
            ),
            "no downgrade to plain http"
        );
        assert!(!redirect_allowed(
            "https://s3.us.archive.org/a/b",
            "https://archive.org.evil.example/a"
        ));
    }
}
