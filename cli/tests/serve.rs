//! `taskstream serve` as a user runs it: a real process, a real socket, a real data dir.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    child: Child,
    addr: SocketAddr,
    /// The admin key serve wrote to `<data>/admin.key`; `call` sends it.
    key: String,
}

impl Server {
    fn start(data: &Path) -> Self {
        Self::start_with(data, &[])
    }

    fn start_with(data: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_taskstream"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
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
        // Written before the listening line, on the first start; reused after.
        let key = std::fs::read_to_string(data.join("admin.key")).unwrap().trim().to_owned();
        Self { child, addr, key }
    }

    /// One HTTP/1.1 exchange as the admin; returns the status and the JSON body.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_as(&self.key, method, path, body)
    }

    /// One HTTP/1.1 exchange with `key` (none when empty); returns the status and the JSON
    /// body (null when empty).
    fn call_as(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let key_header = if key.is_empty() { String::new() } else { format!("x-api-key: {key}\r\n") };
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{key_header}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, payload) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let value = if payload.is_empty() { Value::Null } else { serde_json::from_str(payload).unwrap() };
        (status, value)
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
        self.child.wait().unwrap()
    }

    fn crash(mut self) {
        self.child.kill().unwrap(); // SIGKILL: no shutdown code runs
        self.child.wait().unwrap();
    }
}

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn types(entry: &Value) -> Vec<&str> {
    entry["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect()
}

#[test]
fn a_task_travels_from_the_api_to_its_history_and_serve_stops_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let (status, created) = server.call("POST", "/tasks", Some(json!({"title": "Write the release notes"})));
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/tasks/{id}");
    assert_eq!(server.call("PUT", &path, Some(json!({"version": 1, "status": "in_progress"}))).0, 200);
    assert_eq!(server.call("PUT", &path, Some(json!({"version": 2, "status": "done"}))).0, 200);

    let history = wait_for("three history entries", || {
        let (_, body) = server.call("GET", &format!("{path}/history"), None);
        let entries = body["data"].as_array()?.clone();
        (entries.len() == 3 && entries[2]["events"].as_array()?.len() == 2).then_some(entries)
    });
    let versions: Vec<u64> = history.iter().map(|e| e["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(types(&history[0]), ["TaskCreated"]);
    assert_eq!(types(&history[1]), ["TaskStatusChanged"]);
    assert_eq!(types(&history[2]), ["TaskCompleted", "TaskStatusChanged"]);
    assert_eq!(history[1]["events"][0]["data"]["previousStatus"], "todo");

    let exit = server.terminate();
    assert!(exit.success(), "serve exits 0 on SIGTERM, got {exit}");
}

/// Writes, then SIGKILL before the consumers can have caught up; a restart on the same data
/// finishes the work: for every consumer, every write's effect appears exactly once, in
/// per-task order (history: versions 1 then 2; search: each task at its latest version).
#[test]
fn a_crash_loses_no_event_and_duplicates_none() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    // A concurrent burst, so the consumers are behind when the process dies.
    let ids: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..6)
            .map(|w| {
                let server = &server;
                scope.spawn(move || {
                    (0..30)
                        .map(|i| {
                            let (status, body) =
                                server.call("POST", "/tasks", Some(json!({"title": format!("task {w}-{i}")})));
                            assert_eq!(status, 201);
                            let id = body["data"]["id"].as_str().unwrap().to_owned();
                            let moved = server.call(
                                "PUT",
                                &format!("/tasks/{id}"),
                                Some(json!({"version": 1, "status": "in_progress"})),
                            );
                            assert_eq!(moved.0, 200);
                            id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    server.crash();

    let db = data.path().join("taskstream.db");
    let history_rows = || -> i64 {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row("SELECT COUNT(*) FROM history", [], |r| r.get(0)).unwrap()
    };
    let before_restart = history_rows();
    eprintln!("history rows when killed: {before_restart} of {}", ids.len() * 2);

    let server = Server::start(data.path());
    wait_for("every write's history", || (history_rows() == (ids.len() * 2) as i64).then_some(()));
    for id in &ids {
        let (_, body) = server.call("GET", &format!("/tasks/{id}/history"), None);
        let entries = body["data"].as_array().unwrap();
        let got: Vec<(u64, Vec<&str>)> = entries.iter().map(|e| (e["version"].as_u64().unwrap(), types(e))).collect();
        assert_eq!(got, vec![(1, vec!["TaskCreated"]), (2, vec!["TaskStatusChanged"])], "task {id}");
    }
    // The search index, the other consumer, holds every task at its latest version, once.
    let conn = rusqlite::Connection::open(&db).unwrap();
    wait_for("every task indexed at version 2", || {
        let at_2: i64 = conn.query_row("SELECT COUNT(*) FROM search_docs WHERE version = 2", [], |r| r.get(0)).ok()?;
        (at_2 == ids.len() as i64).then_some(())
    });
    let docs: i64 = conn.query_row("SELECT COUNT(*) FROM search_docs", [], |r| r.get(0)).unwrap();
    assert_eq!(docs, ids.len() as i64, "one document per task");
    let in_progress: i64 =
        conn.query_row("SELECT COUNT(*) FROM search_docs WHERE status = 'in_progress'", [], |r| r.get(0)).unwrap();
    assert_eq!(in_progress, ids.len() as i64, "the index shows each task's last change");
    // Nothing more trickles in later: every consumer's cursor is at the archive's end, with
    // nothing failed, waiting or parked.
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(history_rows(), (ids.len() * 2) as i64);
    let archived: i64 = conn.query_row("SELECT MAX(seq) FROM archive", [], |r| r.get(0)).unwrap();
    let cursors: Vec<(String, i64)> = {
        let mut stmt = conn.prepare("SELECT name, seq FROM consumer_cursors ORDER BY name").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<Result<_, _>>().unwrap()
    };
    let at_end = |name: &str| (name.to_owned(), archived);
    assert_eq!(
        cursors,
        [
            at_end("audit-history"),
            at_end("escalation"),
            at_end("metrics"),
            at_end("notifier"),
            at_end("search-indexer")
        ]
    );
    // The metrics consumer too: one metric record per event, none twice.
    let records: i64 = conn.query_row("SELECT COUNT(*) FROM metric_records", [], |r| r.get(0)).unwrap();
    assert_eq!(records, (ids.len() * 2) as i64, "one metric record per event");
    let failed: i64 = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM consumer_retries) + (SELECT COUNT(*) FROM consumer_dead_letters)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(failed, 0);
    assert!(server.terminate().success());
}

#[test]
fn a_second_serve_on_the_same_data_is_refused_with_a_clear_message() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let out = Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another taskstream process"), "{stderr}");
    assert!(server.terminate().success());
}

/// Runs `taskstream keys ...` on `data`; returns stdout, after checking it succeeded.
fn keys_command(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .arg("keys")
        .arg(args[0])
        .arg("--data")
        .arg(data)
        .args(&args[1..])
        .env("TASKSTREAM_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "keys {args:?}: {}{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn the_first_start_writes_an_owner_only_admin_key_that_later_starts_reuse() {
    use std::os::unix::fs::PermissionsExt;

    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let file = data.path().join("admin.key");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(server.key.starts_with("tsk_"), "the file holds the key alone");
    let (status, created) = server.call("POST", "/tasks", Some(json!({"title": "as admin"})));
    assert_eq!(status, 201, "{created}");
    let (status, body) = server.call_as("", "GET", "/tasks", None);
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthenticated")));
    assert_eq!(server.call_as("", "GET", "/health", None).0, 200);
    let first = server.key.clone();
    assert!(server.terminate().success());

    let server = Server::start(data.path());
    assert_eq!(server.key, first, "a restart reuses the admin key");
    let (status, body) = server.call("GET", "/tasks", None);
    assert_eq!((status, body["data"].as_array().unwrap().len()), (200, 1));
    assert!(server.terminate().success());
}

#[test]
fn keys_made_revoked_and_listed_by_the_cli_work_against_a_running_serve() {
    let data = tempfile::tempdir().unwrap();
    // A one-second key cache, so a revocation from the CLI shows within a second.
    let server = Server::start_with(data.path(), &[("TASKSTREAM_KEY_CACHE_SECONDS", "1")]);
    let (_, created) = server.call("POST", "/tasks", Some(json!({"title": "of default"})));
    let task = format!("/tasks/{}", created["data"]["id"].as_str().unwrap());

    let out = keys_command(data.path(), &["create", "--tenant", "default", "--role", "viewer"]);
    let viewer = out.lines().last().unwrap().to_owned();
    assert!(viewer.starts_with("tsk_") && !viewer.contains(' '), "the key alone on the last line: {out:?}");
    assert_eq!(server.call_as(&viewer, "GET", &task, None).0, 200);
    let (status, body) = server.call_as(&viewer, "POST", "/tasks", Some(json!({"title": "no"})));
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")));

    let out = keys_command(data.path(), &["create", "--tenant", "globex", "--role", "member"]);
    let member = out.lines().last().unwrap().to_owned();
    assert_eq!(server.call_as(&member, "POST", "/tasks", Some(json!({"title": "of globex"}))).0, 201);
    assert_eq!(server.call_as(&member, "GET", &task, None).0, 404, "another tenant's task does not exist");

    let listed = keys_command(data.path(), &["list"]);
    let viewer_id = viewer.split('_').nth(1).unwrap();
    assert!(listed.contains(viewer_id) && listed.contains("globex"), "{listed}");
    assert!(!listed.contains(&viewer) && !listed.contains(&member) && !listed.contains(&server.key), "no secrets");

    keys_command(data.path(), &["revoke", viewer_id]);
    wait_for("the revocation to reach serve", || (server.call_as(&viewer, "GET", &task, None).0 == 401).then_some(()));
    assert_eq!(server.call_as(&member, "GET", "/tasks", None).0, 200, "other keys are unaffected");
    assert!(server.terminate().success());
}
