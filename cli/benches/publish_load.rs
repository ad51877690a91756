//! `taskstream publish` of a large NDJSON file to a real `taskstream serve` (release build,
//! consumers running): commands/s as publish reports them, then how long the consumers take
//! to apply every version the commands wrote.
//!
//! The file: per task, a create under an external key, a move to `in_progress` (latest), a
//! comment and a move to `in_review` (latest), by key: `PUBLISH_LINES` lines (default 100 000).
//! `PUBLISH_IN_FLIGHT` sets publish's `--in-flight` (batches sent at once; its default otherwise).
//!
//! Run: `cargo bench -p cli --bench publish_load`. Figures go to BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench binary: a panic is the report

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let lines: usize = std::env::var("PUBLISH_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    // publish's own default unless set.
    let in_flight = std::env::var("PUBLISH_IN_FLIGHT").ok();
    let tasks = lines / 4;
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("commands.ndjson");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for t in 0..tasks {
        let key = format!("PR-{t}");
        let task = serde_json::json!({ "externalKey": key });
        let commands = [
            (
                "TaskCreateRequested",
                serde_json::json!({ "title": format!("Review {key}"), "externalKey": key, "tags": ["git"] }),
            ),
            (
                "TaskStatusRequested",
                serde_json::json!({ "task": task, "status": "in_progress", "expectedVersion": "latest" }),
            ),
            ("TaskCommentRequested", serde_json::json!({ "task": task, "body": "CI passed, @maria please review" })),
            (
                "TaskStatusRequested",
                serde_json::json!({ "task": task, "status": "in_review", "expectedVersion": "latest" }),
            ),
        ];
        for (n, (command_type, payload)) in commands.into_iter().enumerate() {
            let line = serde_json::json!({ "commandId": format!("load-{t}-{n}"), "commandType": command_type,
                                           "schemaVersion": 1, "data": payload });
            writeln!(out, "{line}").unwrap();
        }
    }
    out.flush().unwrap();
    drop(out);

    let mut child = Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .env("TASKSTREAM_LOG", "warn")
        // One key sends everything: the per-key limit would measure itself.
        .env("TASKSTREAM_RATE_LIMIT", "0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = format!("http://{}", line.trim().rsplit("http://").next().unwrap());

    let started = Instant::now();
    let published = Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(["publish", "--file"])
        .arg(&file)
        .args(["--url", &url, "--data"])
        .arg(data.path())
        .args(in_flight.iter().flat_map(|n| ["--in-flight", n.as_str()]))
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let report = String::from_utf8_lossy(&published.stdout);
    assert!(published.status.success(), "{report}\n{}", String::from_utf8_lossy(&published.stderr));
    print!("publish: {report}");
    println!(
        "{} lines in {:.2} s wall: {:.0} commands/s",
        tasks * 4,
        elapsed.as_secs_f64(),
        (tasks * 4) as f64 / elapsed.as_secs_f64()
    );

    // Three versions per task (create and two moves): each has its history entry once applied.
    let drain_started = Instant::now();
    let db = data.path().join("taskstream.db");
    let expected = (tasks * 3) as i64;
    loop {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let applied: i64 = conn
            .query_row("SELECT COUNT(DISTINCT task_id || ':' || version) FROM history", [], |r| r.get(0))
            .unwrap_or(0);
        if applied >= expected || drain_started.elapsed() > Duration::from_secs(600) {
            println!(
                "consumers caught up {applied}/{expected} versions {:.1} s after publish ended",
                drain_started.elapsed().as_secs_f64()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}
