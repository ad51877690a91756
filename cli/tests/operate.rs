//! `taskstream replay | dlq | lag | trace` on a data directory, with `serve` running and
//! without: what they print, what they change, and their exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Server;

fn taskstream(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("TASKSTREAM_LOG", "warn")
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn text_of(out: &Output) -> String {
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Waits until every consumer has read everything (the pipeline runs in serve).
fn wait_idle(data: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let lag = json_of(&taskstream(data, &["lag", "--json"]));
        let busy = lag["routerPending"] != 0 || lag["consumers"].as_array().unwrap().iter().any(|c| c["depth"] != 0);
        if !busy {
            return;
        }
        assert!(Instant::now() < deadline, "the pipeline did not catch up: {lag}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn history_rows(data: &Path) -> i64 {
    let conn = rusqlite::Connection::open(data.join("taskstream.db")).unwrap();
    conn.query_row("SELECT COUNT(*) FROM history", [], |r| r.get(0)).unwrap()
}

const WINDOW: [&str; 4] = ["--from", "2000-01-01T00:00:00Z", "--to", "2999-01-01T00:00:00Z"];

#[test]
fn replay_lag_and_trace_with_serve_running_and_without() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let server = Server::start(data, &[]);
    let (status, created) = server.call("POST", "/tasks", Some(r#"{"title": "traced"}"#));
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, _) = server.call("PUT", &format!("/tasks/{id}"), Some(r#"{"version": 1, "status": "in_progress"}"#));
    assert_eq!(status, 200);
    server.call("POST", "/tasks", Some(r#"{"title": "other"}"#));
    wait_idle(data);

    let table = text_of(&taskstream(data, &["lag", "--max-age", "1m"]));
    assert!(
        table.starts_with("STAGE") && table.contains("audit-history") && table.contains("search-indexer"),
        "{table}"
    );
    let trace = json_of(&taskstream(data, &["trace", &id, "--json"]));
    let changes = trace["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "{trace}");
    assert_eq!(changes[1]["events"][0]["eventType"], "TaskStatusChanged");
    assert!(
        changes.iter().flat_map(|c| c["events"][0]["deliveries"].as_array().unwrap()).all(|d| d["state"] == "applied")
    );
    let text = text_of(&taskstream(data, &["trace", &id]));
    assert!(text.contains("TaskCreated v1") && text.contains("audit-history    applied"), "{text}");

    // With serve running, its workers apply the replay; the command follows it.
    let plan = json_of(&taskstream(
        data,
        &[&["replay", "--consumer", "audit-history", "--dry-run", "--json"][..], &WINDOW].concat(),
    ));
    assert_eq!(
        plan["consumers"][0],
        json!({"consumer": "audit-history", "events": 3, "wouldApply": 0, "unchanged": 3})
    );
    let done = json_of(&taskstream(
        data,
        &[&["replay", "--consumer", "audit-history", "--name", "live", "--json"][..], &WINDOW].concat(),
    ));
    assert_eq!(
        (done["state"].as_str(), done["consumers"][0]["unchanged"].as_i64()),
        (Some("completed"), Some(3)),
        "{done}"
    );
    assert!(server.terminate().0.success());

    // Without serve, the command runs the consumer itself; a lost history entry comes back.
    let conn = rusqlite::Connection::open(data.join("taskstream.db")).unwrap();
    conn.execute("DELETE FROM history WHERE task_id = ?1 AND version = 2", [&id]).unwrap();
    drop(conn);
    let plan =
        text_of(&taskstream(data, &[&["replay", "--consumer", "audit-history", "--dry-run"][..], &WINDOW].concat()));
    assert!(
        plan.contains("dry run")
            && plan.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["audit-history", "3", "1", "2"]),
        "{plan}"
    );
    let done = text_of(&taskstream(
        data,
        &[&["replay", "--consumer", "audit-history", "--name", "offline"][..], &WINDOW].concat(),
    ));
    assert!(done.contains("replay offline completed"), "{done}");
    assert!(
        done.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["audit-history", "100.0%", "1", "2", "0"]),
        "{done}"
    );
    assert_eq!(history_rows(data), 3);
    let listed = json_of(&taskstream(data, &["replay", "list", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let taken =
        taskstream(data, &[&["replay", "--consumer", "audit-history", "--name", "offline"][..], &WINDOW].concat());
    assert!(!taken.status.success() && String::from_utf8_lossy(&taken.stderr).contains("exists already"));
    let unknown = taskstream(data, &[&["replay", "--consumer", "no-such-consumer"][..], &WINDOW].concat());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("not a consumer this data directory runs"),
        "{unknown:?}"
    );
}

#[test]
fn lag_exits_non_zero_above_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let server = Server::start(data, &[("TASKSTREAM_NO_PIPELINE", "true")]);
    assert_eq!(server.call("POST", "/tasks", Some(r#"{"title": "waits"}"#)).0, 201);
    std::thread::sleep(Duration::from_millis(50));
    let out = taskstream(data, &["lag", "--max-age", "10ms"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("above --max-age"));
    let router = String::from_utf8_lossy(&out.stdout).lines().find(|l| l.starts_with("router")).unwrap().to_owned();
    assert_eq!(router.split_whitespace().nth(1), Some("1"), "one change not routed: {router}");
    assert_eq!(taskstream(data, &["lag", "--max-age", "60m"]).status.code(), Some(0));
}

#[test]
fn dead_letters_listed_shown_redriven_and_purged_only_with_yes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let server = Server::start(data, &[("TASKSTREAM_MAX_RECEIVES", "1")]);
    assert_eq!(server.call("POST", "/tasks", Some(r#"{"title": "fine"}"#)).0, 201);
    wait_idle(data);
    // An archived event no consumer can read: a TaskCreated with no envelope.
    let conn = rusqlite::Connection::open(data.join("taskstream.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute(
        "INSERT INTO archive (event_id, detail_type, tenant, occurred_at, archived_ms, body)
         VALUES ('bad', 'TaskCreated', 'default', '2026-01-01T00:00:00.000Z', 0, '{\"id\": \"bad\"}')",
        [],
    )
    .unwrap();
    drop(conn);
    // One dead letter for each consumer serve runs that takes TaskCreated: audit-history,
    // escalation, metrics, notifier, search-indexer.
    let readers = 5;
    let deadline = Instant::now() + Duration::from_secs(20);
    let letters = loop {
        let listed = json_of(&taskstream(data, &["dlq", "list", "--json"]));
        if listed["deadLetters"].as_array().unwrap().len() == readers {
            break listed;
        }
        assert!(Instant::now() < deadline, "{listed}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let first = &letters["deadLetters"][0];
    assert!(
        first["reason"].as_str().unwrap().contains("not an EventBridge event")
            || first["reason"].as_str().unwrap().contains("detail"),
        "{first}"
    );
    let id = first["id"].as_i64().unwrap().to_string();
    let table = text_of(&taskstream(data, &["dlq", "list"]));
    assert!(table.starts_with("CONSUMER") && table.contains("REASON"), "{table}");
    let shown = text_of(&taskstream(data, &["dlq", "show", &id]));
    assert!(shown.contains(&format!("dead letter {id}")) && shown.contains("\"id\": \"bad\""), "{shown}");
    assert_eq!(
        json_of(&taskstream(data, &["dlq", "list", "--json"]))["deadLetters"].as_array().unwrap().len(),
        readers,
        "show removes nothing"
    );

    let asked = text_of(&taskstream(data, &["dlq", "purge", "--consumer", "audit-history"]));
    assert!(asked.contains("1 dead letter(s) would be deleted") && asked.contains("--yes"), "{asked}");
    assert_eq!(
        json_of(&taskstream(data, &["dlq", "list", "--json"]))["deadLetters"].as_array().unwrap().len(),
        readers
    );
    let planned = json_of(&taskstream(data, &["dlq", "redrive", "--dry-run", "--json"]));
    assert_eq!(planned, json!({ "dryRun": true, "count": readers }));
    let planned = text_of(&taskstream(data, &["dlq", "redrive", "--max", "2", "--dry-run"]));
    assert!(planned.contains("dry run: 2 dead letter(s) would be redriven"), "{planned}");
    assert_eq!(
        json_of(&taskstream(data, &["dlq", "list", "--json"]))["deadLetters"].as_array().unwrap().len(),
        readers,
        "a dry run moves nothing"
    );
    let moved = json_of(&taskstream(data, &["dlq", "redrive", "--id", &id, "--json"]));
    assert_eq!(moved["count"], 1);
    let purged = json_of(&taskstream(data, &["dlq", "purge", "--yes", "--json"]));
    assert!(purged["count"].as_i64().unwrap() >= 1, "{purged}");
    assert!(server.terminate().0.success());
}

#[test]
fn a_change_record_the_router_parked_is_listed_shown_and_redriven_with_consumer_stream_router() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // Written while nothing routes, then broken before the router reads it.
    let quiet = Server::start(data, &[("TASKSTREAM_NO_PIPELINE", "true")]);
    assert_eq!(quiet.call("POST", "/tasks", Some(r#"{"title": "parked"}"#)).0, 201);
    assert!(quiet.terminate().0.success());
    let image = |status: &str| {
        let conn = rusqlite::Connection::open(data.join("taskstream.db")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let sql = format!("UPDATE change_log SET new_image = json_set(new_image, '$.status', '{status}')");
        assert_eq!(conn.execute(&sql, []).unwrap(), 1);
    };
    image("exploded");
    let server = Server::start(data, &[]);
    wait_idle(data);

    let all = text_of(&taskstream(data, &["dlq", "list"]));
    let row = all.lines().find(|l| l.starts_with("stream-router")).unwrap_or_else(|| panic!("{all}"));
    assert_eq!(row.split_whitespace().nth(1), Some("1"), "{all}");
    let listed = json_of(&taskstream(data, &["dlq", "list", "--consumer", "stream-router", "--json"]));
    let letter = &listed["deadLetters"][0];
    assert_eq!((letter["consumer"].as_str(), letter["eventType"].as_str()), (Some("stream-router"), Some("task v1")));
    assert!(letter["reason"].as_str().unwrap().contains("exploded"), "{letter}");
    let id = letter["id"].as_i64().unwrap().to_string();
    let shown = text_of(&taskstream(data, &["dlq", "show", &id, "--consumer", "stream-router"]));
    assert!(
        shown.contains(&format!("change record {id} parked by the router")) && shown.contains("exploded"),
        "{shown}"
    );

    let planned = text_of(&taskstream(data, &["dlq", "redrive", "--consumer", "stream-router", "--dry-run"]));
    assert!(planned.contains("dry run: 1 parked change record(s) would be routed again"), "{planned}");
    let early = text_of(&taskstream(data, &["dlq", "redrive", "--consumer", "stream-router"]));
    assert!(early.contains("routed 0 parked") && early.contains("still poison, left parked"), "{early}");
    assert_eq!(history_rows(data), 0);

    image("todo");
    let done = json_of(&taskstream(data, &["dlq", "redrive", "--consumer", "stream-router", "--json"]));
    assert_eq!((done["routed"].as_u64(), done["events"].as_u64()), (Some(1), Some(1)), "{done}");
    wait_idle(data);
    let deadline = Instant::now() + Duration::from_secs(20);
    while history_rows(data) == 0 {
        assert!(Instant::now() < deadline, "the audit history never applied the redriven event");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(history_rows(data), 1);
    let out = taskstream(data, &["dlq", "purge", "--consumer", "stream-router", "--yes"]);
    assert!(!out.status.success());
    assert!(taskstream(data, &["dlq", "list", "--consumer", "stream-router", "--json"]).status.success());
    assert!(server.terminate().0.success());
}
