//! A `taskstream serve` process per test, spoken to over raw sockets.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub key: String,
}

impl Server {
    /// Starts serve on a free port over `data`, with `env` set; waits for its address line.
    pub fn start(data: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_taskstream"))
            .args(["serve", "--addr", "0", "--data"])
            .arg(data)
            .env("TASKSTREAM_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().rsplit("http://").next().unwrap().parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let key = std::fs::read_to_string(data.join("admin.key")).unwrap().trim().to_owned();
        Self { child, addr, key }
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        stream
    }

    /// One request on its own connection as the admin; the status and the JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
        let mut stream = self.connect();
        send(&mut stream, method, path, &self.key, body, true);
        let response = read_response(&mut stream);
        (response.status, response.json())
    }

    /// SIGTERM; the exit status and how long serve took to stop.
    pub fn terminate(mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
        let status = self.child.wait().unwrap();
        (status, started.elapsed())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes one HTTP/1.1 request with `key` (none when empty).
pub fn send(stream: &mut TcpStream, method: &str, path: &str, key: &str, body: Option<&str>, close: bool) {
    let key = if key.is_empty() { String::new() } else { format!("x-api-key: {key}\r\n") };
    let body_headers = match body {
        Some(b) => format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()),
        None => String::new(),
    };
    let connection = if close { "Connection: close\r\n" } else { "" };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{key}{body_headers}{connection}\r\n{}",
        body.unwrap_or("")
    )
    .unwrap();
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        if self.body.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&self.body).unwrap() }
    }
}

/// Reads one response (with a Content-Length body) off a kept-alive connection.
pub fn read_response(stream: &mut TcpStream) -> Response {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).unwrap();
        assert!(n == 1, "the connection closed before a whole response head: {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize =
        headers.iter().find(|(n, _)| n == "content-length").map(|(_, v)| v.parse().unwrap()).unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).unwrap();
    Response { status, headers, body }
}

/// Whether the server closed `stream` (an orderly end of stream, not a reset), waiting up
/// to its read timeout.
pub fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(0))
}

/// Makes an API key with `taskstream keys create` on `data` (beside a running serve);
/// returns the secret.
pub fn create_key(data: &Path, tenant: &str, role: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(["keys", "create", "--data"])
        .arg(data)
        .args(["--tenant", tenant, "--role", role])
        .env("TASKSTREAM_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "keys create: {}{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout.lines().last().unwrap().trim().to_owned()
}
