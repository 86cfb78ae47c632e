//! The client of iaup's file PUTs, on hyper directly because reqwest cannot send
//! `Expect: 100-continue` (it does not pass request extensions on, so hyper's
//! `on_informational` hook is out of its reach).
//!
//! A body of at least the threshold is announced with `Expect: 100-continue` and held back until
//! the server says `100 Continue`, or [`CONTINUE_WAIT`] passes with no word (curl's wait: a
//! server that ignores `Expect` gets the body anyway). A final answer that comes first (403,
//! 404, 503 SlowDown, 307) is read in full and returned as any answer is, and the body, not one
//! byte of it sent, ends with an error so hyper drops that connection instead of pooling a
//! connection with a request half done. hyper's HTTP/1 client flushes the head while the body is
//! pending and reads the answer while the body is unfinished (`proto/h1/dispatch.rs`
//! `poll_loop`, `conn.rs` `can_read_head`); the tests pin both.
//!
//! The connection setup is what `transport::client` asks of reqwest with `rustls-tls`: rustls
//! with the webpki roots and the ring provider, HTTP/1.1 only, a keep-alive pool per host, a
//! 30 s connect timeout, TCP_NODELAY, iaup's User-Agent, and no redirect followed (the engine
//! follows them). One difference: no proxy. reqwest honours `HTTPS_PROXY` for the other
//! requests; these PUTs always go direct to IAS3.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::header::{HeaderValue, EXPECT, USER_AGENT};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::watch;

use super::Answer;

/// How long a body waits for `100 Continue` before it is sent anyway (curl's default).
pub const CONTINUE_WAIT: Duration = Duration::from_secs(1);

/// The chunks of a PUT body: exactly the announced size, or an error.
pub type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// Why a PUT got no answer: a connection that failed (`hyper_util`'s `legacy::Error`), an
/// answer body that broke off (`hyper::Error`), or a request that could not be built.
pub type PutError = Box<dyn std::error::Error + Send + Sync>;

/// The PUT client of a run, cheap to clone (one pool).
#[derive(Clone, Debug)]
pub struct PutClient {
    client: Client<HttpsConnector<HttpConnector>, PutBody>,
    /// Bodies of at least this many bytes send `Expect: 100-continue`; 0: none do.
    threshold: u64,
}

impl PutClient {
    /// A client with connection reuse for `pool` concurrent PUTs per host, announcing bodies
    /// of at least `threshold` bytes (0: never).
    pub fn new(pool: usize, threshold: u64) -> PutClient {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(30)));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .expect("ring supports rustls' default TLS versions")
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_max_idle_per_host(pool.max(1))
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        PutClient { client, threshold }
    }

    /// Sends one PUT of `size` bytes from `chunks` to `url` with `headers` (Content-Length
    /// among them) and reads the whole (small) answer.
    pub async fn put(
        &self,
        url: &str,
        headers: Vec<(String, String)>,
        size: u64,
        chunks: Chunks,
    ) -> Result<Answer, PutError> {
        let expect = self.threshold > 0 && size >= self.threshold;
        let gate = Gate::new(if expect { Step::Waiting } else { Step::Go });
        let body = PutBody {
            chunks,
            left: size,
            wait: expect.then(|| gate.clone().wait()),
        };
        let mut req = hyper::Request::put(url).header(USER_AGENT, super::USER_AGENT);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if expect {
            req = req.header(EXPECT, HeaderValue::from_static("100-continue"));
        }
        let mut req = req.body(body)?;
        if expect {
            let g = gate.clone();
            hyper::ext::on_informational(&mut req, move |res| {
                if res.status() == hyper::StatusCode::CONTINUE {
                    g.settle(Step::Go);
                }
            });
        }
        let (head, incoming) = self.client.request(req).await?.into_parts();
        // A final answer while the body still waits: it is never sent (settled at the head,
        // so the 1 s wait cannot run out while the answer's body is read).
        gate.settle(Step::Refused);
        let body = incoming.collect().await?.to_bytes();
        Ok(Answer {
            status: head.status.as_u16(),
            headers: head.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// Where a held-back body stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Waiting,
    Go,
    Refused,
}

/// The one decision of a held-back body, made once by whoever comes first: the `100`, the
/// wait running out, or a final answer.
#[derive(Clone)]
struct Gate(Arc<watch::Sender<Step>>);

impl Gate {
    fn new(step: Step) -> Gate {
        Gate(Arc::new(watch::Sender::new(step)))
    }

    /// Moves a waiting gate to `to`; returns where it stands now.
    fn settle(&self, to: Step) -> Step {
        self.0.send_if_modified(|s| {
            let first = *s == Step::Waiting;
            if first {
                *s = to;
            }
            first
        });
        *self.0.borrow()
    }

    /// Resolves with the decision, going ahead after [`CONTINUE_WAIT`] without one.
    fn wait(self) -> Pin<Box<dyn Future<Output = Step> + Send>> {
        Box::pin(async move {
            let mut rx = self.0.subscribe();
            let _ = tokio::time::timeout(CONTINUE_WAIT, rx.wait_for(|s| *s != Step::Waiting)).await;
            self.settle(Step::Go)
        })
    }
}

/// A PUT body of an exact size whose first chunk may wait for the [`Gate`].
pub struct PutBody {
    chunks: Chunks,
    /// Bytes not yet yielded.
    left: u64,
    wait: Option<Pin<Box<dyn Future<Output = Step> + Send>>>,
}

impl std::fmt::Debug for PutBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutBody").field("left", &self.left).finish()
    }
}

impl http_body::Body for PutBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(wait) = self.wait.as_mut() {
            let step = ready!(wait.as_mut().poll(cx));
            self.wait = None;
            if step == Step::Refused {
                return Poll::Ready(Some(Err(io::Error::other(
                    "the server answered before the body was sent",
                ))));
            }
        }
        match ready!(self.chunks.as_mut().poll_next(cx)) {
            Some(Ok(chunk)) => {
                self.left = self.left.saturating_sub(chunk.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(e))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use futures::StreamExt;
    use md5::{Digest, Md5};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    const MIB: usize = 1 << 20;

    /// `n` bytes in chunks of 64 KiB, counting the chunks taken from it.
    fn chunks(n: usize, taken: Arc<AtomicUsize>) -> (Chunks, Vec<u8>) {
        let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        let pieces: Vec<Result<Bytes, io::Error>> = data
            .chunks(64 << 10)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let stream = futures::stream::iter(pieces).inspect(move |_| {
            taken.fetch_add(1, Ordering::SeqCst);
        });
        (Box::pin(stream), data)
    }

    async fn listener() -> (TcpListener, String) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/item/file", l.local_addr().unwrap());
        (l, url)
    }

    /// Reads one request head; returns it (lowercased) and the bytes read past it.
    async fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
        let mut buf = Vec::new();
        let mut b = [0u8; 4096];
        loop {
            let n = s.read(&mut b).await.unwrap();
            assert!(n > 0, "the connection closed before the head ended");
            buf.extend_from_slice(&b[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                return (head, buf[end + 4..].to_vec());
            }
        }
    }

    /// Reads `n` body bytes after `got`; returns their MD5 and when the first one came.
    async fn read_body(s: &mut TcpStream, mut got: Vec<u8>, n: usize) -> (String, Instant) {
        let mut first = (!got.is_empty()).then(Instant::now);
        let mut b = vec![0u8; 64 << 10];
        while got.len() < n {
            let k = s.read(&mut b).await.unwrap();
            assert!(k > 0, "the body ended early");
            first.get_or_insert_with(Instant::now);
            got.extend_from_slice(&b[..k]);
        }
        (
            hex::encode(Md5::digest(&got)),
            first.unwrap_or_else(Instant::now),
        )
    }

    async fn answer_ok(s: &mut TcpStream, md5: &str) {
        let head = format!("HTTP/1.1 200 OK\r\netag: \"{md5}\"\r\ncontent-length: 0\r\n\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
    }

    fn headers(n: usize) -> Vec<(String, String)> {
        vec![("content-length".to_owned(), n.to_string())]
    }

    /// PUTs `n` bytes with `client`; the answer is a 200 with their MD5 as ETag.
    async fn put_whole(client: &PutClient, url: &str, n: usize) {
        let (body, data) = chunks(n, Arc::new(AtomicUsize::new(0)));
        let answer = client.put(url, headers(n), n as u64, body).await.unwrap();
        assert_eq!(answer.status, 200, "{answer:?}");
        let md5 = hex::encode(Md5::digest(&data));
        assert_eq!(answer.headers["etag"], format!("\"{md5}\"").as_str());
    }

    // A refusal right after the head: hyper flushed the head while the body waited, read the
    // answer while the body was unfinished, and not one body byte went out. The connection is
    // closed, not pooled: the next PUT opens another and succeeds.
    #[tokio::test]
    async fn a_refusal_before_100_costs_no_body_byte() {
        let (l, url) = listener().await;
        const DENIED: &str = "<Error><Code>AccessDenied</Code><Message>no</Message></Error>";
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let (head, mut after) = read_head(&mut s).await;
            assert!(head.contains("\r\nexpect: 100-continue"), "{head}");
            assert!(head.contains("\r\nuser-agent: iaup/"), "{head}");
            let answer = format!(
                "HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\n\
                 content-length: {}\r\n\r\n{DENIED}",
                DENIED.len()
            );
            s.write_all(answer.as_bytes()).await.unwrap();
            // Everything the client sends until it closes the connection.
            let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut after));
            read.await
                .expect("the client closes the connection")
                .unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            let (_, got) = read_head(&mut s).await;
            s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.unwrap();
            let (md5, _) = read_body(&mut s, got, 2 * MIB).await;
            answer_ok(&mut s, &md5).await;
            after.len()
        });
        let client = PutClient::new(1, MIB as u64);
        let taken = Arc::new(AtomicUsize::new(0));
        let (body, _) = chunks(4 * MIB, taken.clone());
        let start = Instant::now();
        let answer = client
            .put(&url, headers(4 * MIB), 4 * MIB as u64, body)
            .await
            .unwrap();
        assert!(
            start.elapsed() < CONTINUE_WAIT,
            "it did not wait out the 1 s"
        );
        assert_eq!((answer.status, answer.body.as_str()), (403, DENIED));
        put_whole(&client, &url, 2 * MIB).await;
        assert_eq!(
            server.await.unwrap(),
            0,
            "body bytes the server read after the head"
        );
        assert_eq!(taken.load(Ordering::SeqCst), 0, "no chunk was taken");
    }

    /// A server for one PUT of `n` bytes with `Expect: 100-continue`, that says `100 Continue`
    /// or nothing; it answers 200 with the MD5 and returns how long after the head (or the 100)
    /// the body began.
    fn serve_expecting(l: TcpListener, n: usize, say_100: bool) -> JoinHandle<Duration> {
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let (head, got) = read_head(&mut s).await;
            assert!(head.contains("\r\nexpect: 100-continue"), "{head}");
            assert!(got.is_empty(), "no body before the 100 or the wait");
            let heard = Instant::now();
            if say_100 {
                s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.unwrap();
            }
            let (md5, first) = read_body(&mut s, got, n).await;
            answer_ok(&mut s, &md5).await;
            first - heard
        })
    }

    // `100 Continue` releases the body at once (well before the 1 s wait).
    #[tokio::test]
    async fn the_body_follows_100_continue() {
        let (l, url) = listener().await;
        let server = serve_expecting(l, 3 * MIB, true);
        put_whole(&PutClient::new(1, MIB as u64), &url, 3 * MIB).await;
        let delay = server.await.unwrap();
        assert!(delay < CONTINUE_WAIT / 2, "the body waited {delay:?}");
    }

    // A server that says nothing gets the body after the 1 s wait, as curl sends it.
    #[tokio::test]
    async fn a_silent_server_gets_the_body_after_the_wait() {
        let (l, url) = listener().await;
        let server = serve_expecting(l, 2 * MIB, false);
        put_whole(&PutClient::new(1, MIB as u64), &url, 2 * MIB).await;
        let delay = server.await.unwrap();
        let wait = CONTINUE_WAIT - Duration::from_millis(100);
        assert!(delay >= wait, "the body came after {delay:?}");
    }

    // Below the threshold, or with it 0, no `Expect`: the body goes with the head. Both PUTs
    // share one kept-alive connection (the server accepts only one).
    #[tokio::test]
    async fn small_bodies_and_threshold_0_send_no_expect() {
        let (l, url) = listener().await;
        let server = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut heads = Vec::new();
            for n in [1000, 2 * MIB] {
                let (head, got) = read_head(&mut s).await;
                let (md5, _) = read_body(&mut s, got, n).await;
                answer_ok(&mut s, &md5).await;
                heads.push(head);
            }
            heads
        });
        let small = PutClient::new(1, MIB as u64);
        put_whole(&small, &url, 1000).await;
        // A clone shares the pool.
        let off = PutClient {
            threshold: 0,
            ..small.clone()
        };
        put_whole(&off, &url, 2 * MIB).await;
        for head in server.await.unwrap() {
            assert!(!head.contains("expect"), "{head}");
            assert!(head.starts_with("put /item/file http/1.1"), "{head}");
        }
    }
}
