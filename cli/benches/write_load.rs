//! Write load against a real `taskstream serve` (release build, consumers running):
//! `POST /tasks` then `PUT /tasks/{id}` over keep-alive connections, measuring writes/s and
//! latency percentiles, then how long the consumers take to apply everything.
//!
//! Run: `cargo bench -p cli --bench write_load` (env: `LOAD_SECONDS`, default 10;
//! `LOAD_CONNECTIONS`, default 32). Figures go to BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench binary: a panic is the report

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
use tokio::net::TcpStream;

struct Conn {
    stream: AsyncBufReader<TcpStream>,
    addr: SocketAddr,
    key: String,
}

impl Conn {
    async fn open(addr: SocketAddr, key: &str) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Self { stream: AsyncBufReader::new(stream), addr, key: key.to_owned() }
    }

    /// One request on the kept-alive connection; returns the status and body.
    async fn call(&mut self, method: &str, path: &str, body: &str) -> (u16, String) {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nx-api-key: {}\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            self.key,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await.unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut buf = vec![0; length];
        self.stream.read_exact(&mut buf).await.unwrap();
        (status, String::from_utf8(buf).unwrap())
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

fn main() {
    let seconds: u64 = std::env::var("LOAD_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let connections: usize = std::env::var("LOAD_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(32);
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("TASKSTREAM_LOG", "warn")
        // One key drives all the load: the per-key limit would measure itself, not the writes.
        .env("TASKSTREAM_RATE_LIMIT", "0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr: SocketAddr = line.trim().rsplit("http://").next().unwrap().parse().unwrap();
    let key = std::fs::read_to_string(data.path().join("admin.key")).map(|k| k.trim().to_owned()).unwrap_or_default();

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (creates, updates, elapsed) = runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let workers: Vec<_> = (0..connections)
            .map(|w| {
                let (stop, key) = (Arc::clone(&stop), key.clone());
                tokio::spawn(async move {
                    let mut conn = Conn::open(addr, &key).await;
                    let (mut creates, mut updates) = (Vec::new(), Vec::new());
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let body = format!(r#"{{"title":"load {w}-{i}","priority":"high","tags":["load"]}}"#);
                        let t = Instant::now();
                        let (status, reply) = conn.call("POST", "/tasks", &body).await;
                        creates.push(t.elapsed().as_micros() as u32);
                        assert_eq!(status, 201, "{reply}");
                        let id = reply.split(r#""id":""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
                        let t = Instant::now();
                        let (status, reply) =
                            conn.call("PUT", &format!("/tasks/{id}"), r#"{"version":1,"status":"in_progress"}"#).await;
                        updates.push(t.elapsed().as_micros() as u32);
                        assert_eq!(status, 200, "{reply}");
                        i += 1;
                    }
                    (creates, updates)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let (mut creates, mut updates) = (Vec::new(), Vec::new());
        for w in workers {
            let (c, u) = w.await.unwrap();
            creates.extend(c);
            updates.extend(u);
        }
        (creates, updates, started.elapsed())
    });

    let writes = creates.len() + updates.len();
    let drain_started = Instant::now();
    let db = data.path().join("taskstream.db");
    let expected = writes as i64;
    loop {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let applied: i64 = conn
            .query_row("SELECT COUNT(DISTINCT task_id || ':' || version) FROM history", [], |r| r.get(0))
            .unwrap_or(0);
        if applied >= expected || drain_started.elapsed() > Duration::from_secs(300) {
            println!(
                "consumers caught up {applied}/{expected} versions {:.1} s after the load stopped",
                drain_started.elapsed().as_secs_f64()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();

    let mut creates = creates;
    let mut updates = updates;
    creates.sort_unstable();
    updates.sort_unstable();
    let secs = elapsed.as_secs_f64();
    println!(
        "{connections} connections, {secs:.1} s, with the router and the consumers (audit history, search) running"
    );
    println!("| operation | requests | per second | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    println!(
        "| POST /tasks | {} | {:.0} | {:.2} | {:.2} |",
        creates.len(),
        creates.len() as f64 / secs,
        percentile(&creates, 0.5),
        percentile(&creates, 0.99)
    );
    println!(
        "| PUT /tasks/{{id}} | {} | {:.0} | {:.2} | {:.2} |",
        updates.len(),
        updates.len() as f64 / secs,
        percentile(&updates, 0.5),
        percentile(&updates, 0.99)
    );
    println!("| all writes | {writes} | {:.0} | | |", writes as f64 / secs);
}
