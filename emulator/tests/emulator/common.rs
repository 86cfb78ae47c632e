//! Test helpers: an emulator on port 0 with its own temp dir, a reqwest client that ignores
//! proxy variables, an authorised PUT, and a tiny raw HTTP/1.1 reader for tests that must
//! control the bytes on the wire.

use std::time::Duration;

use ias3_emulator::{Config, Emulator, Faults};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const KEY: &str = "testaccess";
pub const SECRET: &str = "t0p-s3cret-value";

pub fn auth() -> String {
    format!("LOW {KEY}:{SECRET}")
}

pub struct Env {
    pub emu: Emulator,
    pub client: reqwest::Client,
    // Kept alive so the data dir lives as long as the emulator.
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.emu.url(), path)
    }

    /// An authorised PUT with auto-make-bucket and extra headers.
    pub async fn put(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self
            .client
            .put(self.url(path))
            .header("authorization", auth())
            .header("x-archive-auto-make-bucket", "1");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(body).send().await.expect("PUT sent")
    }

    /// An authorised PUT with auto-make-bucket whose answer may not come (reset faults).
    pub async fn try_put(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Result<reqwest::Response> {
        self.client
            .put(self.url(path))
            .header("authorization", auth())
            .header("x-archive-auto-make-bucket", "1")
            .body(body)
            .send()
            .await
    }

    pub async fn delete(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self
            .client
            .delete(self.url(path))
            .header("authorization", auth());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("DELETE sent")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("GET sent");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON body"))
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("POST sent");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("JSON body"))
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub async fn start() -> Env {
    start_with(|_| {}).await
}

pub async fn start_faults(faults: Faults) -> Env {
    start_with(move |c| c.faults = faults).await
}

pub async fn start_with(f: impl FnOnce(&mut Config)) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(dir.path().join("data"), KEY, SECRET);
    f(&mut config);
    let emu = Emulator::start(config).await.expect("emulator starts");
    Env {
        emu,
        client: client(),
        dir,
    }
}

/// The S3 error code in an XML error body.
pub fn xml_code(body: &str) -> String {
    xml_tag(body, "Code")
}

pub fn xml_tag(body: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    match (body.find(&open), body.find(&close)) {
        (Some(a), Some(b)) if b > a => body[a + open.len()..b].to_string(),
        _ => String::new(),
    }
}

/// Asserts an S3 error answer: status, `<Code>`, XML content type.
pub async fn expect_error(resp: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(resp.status().as_u16(), status, "status for {code}");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(ct, "application/xml");
    let body = resp.text().await.expect("body");
    assert_eq!(xml_code(&body), code, "body: {body}");
    assert!(body.starts_with("<?xml version='1.0' encoding='UTF-8'?>"));
    body
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

/// A response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response (status line, headers, Content-Length body).
pub async fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<RawResponse> {
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).await?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).await?;
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Opens a raw connection to the emulator.
pub async fn raw_connect(env: &Env) -> BufReader<TcpStream> {
    let stream = TcpStream::connect(env.emu.addr()).await.expect("connect");
    BufReader::new(stream)
}

/// Writes raw bytes on the connection.
pub async fn raw_send(conn: &mut BufReader<TcpStream>, bytes: &[u8]) {
    conn.get_mut().write_all(bytes).await.expect("write");
}
