//! A minimal HTTP/1.1 client over one kept-alive connection: the load generator should cost
//! the machine as little as possible, since it shares the cores with the server it measures.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Conn {
    stream: BufReader<TcpStream>,
    addr: SocketAddr,
    key: String,
    request: Vec<u8>,
    line: String,
}

impl Conn {
    pub async fn open(addr: SocketAddr, key: &str) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self { stream: BufReader::new(stream), addr, key: key.to_owned(), request: Vec::new(), line: String::new() })
    }

    /// One request; the body of the answer when its status is `expect`, else an error that
    /// shows what came back.
    pub async fn call(&mut self, method: &str, path: &str, body: &str, expect: u16) -> anyhow::Result<String> {
        self.request.clear();
        use std::io::Write;
        write!(
            self.request,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nx-api-key: {}\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            self.key,
            body.len()
        )?;
        self.stream.get_mut().write_all(&self.request).await?;
        self.line.clear();
        self.stream.read_line(&mut self.line).await?;
        let status: u16 = self
            .line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("not an HTTP status line: {:?}", self.line))?;
        let mut length = 0usize;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                bail!("the server closed the connection mid-response");
            }
            if self.line == "\r\n" {
                break;
            }
            if let Some((name, value)) = self.line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().context("Content-Length")?;
            }
        }
        let mut buf = vec![0; length];
        self.stream.read_exact(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        if status != expect {
            bail!("{method} {path}: expected {expect}, got {status}: {text}");
        }
        Ok(text)
    }
}

/// The `"id"` of a created resource, from its JSON answer.
pub fn created_id(body: &str) -> anyhow::Result<String> {
    let value: serde_json::Value = serde_json::from_str(body)?;
    value["data"]["id"].as_str().map(str::to_owned).with_context(|| format!("no data.id in {body}"))
}
