//! Escalation timers in a real `serve` process: killed with -9 while it fires them, then
//! started again, it writes every level exactly once, the late ones first thing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::Server;

/// Enough past-due tasks that firing them takes several group commits.
const TASKS: usize = 1000;

fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap_or(-1)
}

#[test]
fn kill_9_while_firing_then_a_restart_writes_each_level_exactly_once() {
    let data = tempfile::tempdir().unwrap();
    // Tasks due long ago, written while the pipeline is stopped: their plans are made and
    // fired on the next start, all at once.
    let held = Server::start(data.path(), &[("TASKSTREAM_NO_PIPELINE", "true"), ("TASKSTREAM_MAX_LAG", "0")]);
    let commands: Vec<_> = (0..TASKS)
        .map(|i| {
            json!({
                "commandId": format!("late-{i}"), "commandType": "TaskCreateRequested", "schemaVersion": 1,
                "issuedAt": "2026-01-01T00:00:00.000Z", "tenant": "default", "actor": "maria",
                "correlationId": format!("late-{i}"),
                "data": {"title": format!("Late task {i}"), "priority": "medium", "assignee": "li",
                         "reporter": "maria", "dueDate": "2026-01-02"}
            })
        })
        .collect();
    let body = serde_json::to_string(&commands).unwrap();
    let (status, report) = held.call("POST", "/ingest/batch", Some(&body));
    assert_eq!(status, 200, "{report}");
    held.terminate();

    let db = data.path().join("taskstream.db");
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let escalated_sql = "SELECT COUNT(*) FROM tasks WHERE json_extract(body, '$.escalation.level') IS NOT NULL";
    let timers_sql = "SELECT COUNT(*) FROM escalation_timers";

    // Start, and kill -9 as soon as firing has begun but is not settled: some levels written
    // and timers still waiting (to be fired, or to be cleared after their write).
    let server = Server::start(data.path(), &[("TASKSTREAM_MAX_LAG", "0")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (escalated_at_kill, timers_at_kill) = loop {
        let (escalated, timers) = (count(&conn, escalated_sql), count(&conn, timers_sql));
        if escalated > 0 && timers > 0 {
            break (escalated, timers);
        }
        assert!(escalated < TASKS as i64 || timers > 0, "firing finished before the kill could land");
        assert!(Instant::now() < deadline, "firing never began");
        std::thread::sleep(Duration::from_millis(1));
    };
    let mut server = server;
    server.child.kill().unwrap(); // SIGKILL: no shutdown code runs
    server.child.wait().unwrap();
    drop(server);
    eprintln!("killed with {escalated_at_kill} tasks escalated and {timers_at_kill} timers waiting");

    // The next start fires what was left; the timers written but not cleared find their
    // level reached and write nothing.
    let server = Server::start(data.path(), &[("TASKSTREAM_MAX_LAG", "0")]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let routed = "SELECT COUNT(*) FROM archive WHERE detail_type = 'TaskEscalated'";
    while count(&conn, timers_sql) != 0 || count(&conn, routed) < TASKS as i64 {
        assert!(Instant::now() < deadline, "the restart did not finish firing");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&conn, escalated_sql), TASKS as i64);
    // One escalation write per task: every task at version 2, one TaskEscalated each, and
    // the one level (the last, with the ones past folded in).
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM tasks WHERE version = 2"), TASKS as i64);
    assert_eq!(count(&conn, routed), TASKS as i64);
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(DISTINCT json_extract(body, '$.detail.aggregateId')) FROM archive WHERE detail_type = 'TaskEscalated'"
        ),
        TASKS as i64
    );
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM tasks WHERE json_extract(body, '$.escalation.level') = 3"),
        TASKS as i64
    );
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM tasks WHERE json_extract(body, '$.priority') = 'critical'"),
        TASKS as i64
    );
    let (status, _) = server.call("GET", "/health", None);
    assert_eq!(status, 200);
    server.terminate();
}
