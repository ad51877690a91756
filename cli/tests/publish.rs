//! Publishing to a real `serve`: the publisher crate's example, and `taskstream publish`
//! with a file that has good and bad lines.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

#[allow(dead_code)] // its `main` is for `cargo run --example`; the test calls `run`
#[path = "../../taskstream-client/examples/publish.rs"]
mod example;

use std::process::Command;

use support::Server;
use taskstream_client::Delivery;

#[tokio::test(flavor = "multi_thread")]
async fn the_publisher_crates_example_runs_against_serve() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let url = format!("http://{}", server.addr);
    let first = example::run(&url, &server.key, "PR-42").await.unwrap();
    let outcomes: Vec<(String, u64, bool)> = first
        .iter()
        .map(|d| match d {
            Delivery::Applied(a) => (a.result.clone(), a.version, a.duplicate),
            other => panic!("not applied: {other:?}"),
        })
        .collect();
    let applied = |v| ("applied".to_owned(), v, false);
    assert_eq!(outcomes, [applied(1), applied(2), applied(3), applied(3)]);
    let Delivery::Applied(created) = &first[0] else { unreachable!() };
    let (status, task) = server.call("GET", &format!("/tasks/{}", created.task_id), None);
    assert_eq!((status, task["data"]["status"].as_str()), (200, Some("in_review")));
    let (_, comments) = server.call("GET", &format!("/tasks/{}/comments", created.task_id), None);
    assert_eq!(comments["data"][0]["author"], "ci-bot");
    // Run again: the second run's commands are new (new ids), and its create finds the key taken.
    let err = example::run(&url, &server.key, "PR-42").await.unwrap();
    assert!(matches!(&err[0], Delivery::Rejected { code, .. } if code == "external_key_taken"), "{err:?}");
}

#[test]
fn publish_reports_each_refused_line_and_applies_the_rest() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let command = |id: &str, kind: &str, data: serde_json::Value| {
        serde_json::json!({ "commandId": id, "commandType": kind, "schemaVersion": 1, "data": data }).to_string()
    };
    let lines = [
        command("p-1", "TaskCreateRequested", serde_json::json!({ "title": "From a file", "externalKey": "JIRA-1" })),
        command(
            "p-2",
            "TaskStatusRequested",
            serde_json::json!({ "task": { "externalKey": "JIRA-1" }, "status": "in_progress", "expectedVersion": 1 }),
        ),
        "{ not json".to_owned(),
        String::new(),
        command(
            "p-3",
            "TaskStatusRequested",
            serde_json::json!({ "task": { "externalKey": "JIRA-1" }, "status": "blocked", "expectedVersion": 1 }),
        ),
        command("p-1", "TaskCreateRequested", serde_json::json!({ "title": "From a file", "externalKey": "JIRA-1" })),
    ];
    let file = data.path().join("events.ndjson");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(["publish", "--file"])
        .arg(&file)
        .args(["--url", &format!("http://{}", server.addr), "--key", &server.key, "--batch", "2"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    let refused: Vec<&str> = stderr.lines().filter(|l| l.starts_with("line ")).collect();
    assert_eq!(refused.len(), 2, "{stderr}");
    assert!(refused[0].starts_with("line 3: malformed: "), "{stderr}");
    assert!(refused[1].starts_with("line 5: stale_version: "), "{stderr}");
    assert!(stdout.contains("5 commands in"), "{stdout}");
    assert!(stdout.contains("2 applied, 1 duplicates, 2 rejected"), "{stdout}");
    assert!(stderr.contains("2 of 5 commands were rejected"), "{stderr}");

    // Without --key, the admin key in the data directory is used.
    let good = data.path().join("good.ndjson");
    std::fs::write(
        &good,
        command(
            "p-9",
            "TaskCommentRequested",
            serde_json::json!({ "task": { "externalKey": "JIRA-1" }, "body": "done" }),
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(["publish", "--file"])
        .arg(&good)
        .args(["--url", &format!("http://{}", server.addr), "--data"])
        .arg(data.path())
        .env_remove("TASKSTREAM_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 applied"));
}

#[test]
fn batches_in_flight_keep_each_tasks_commands_in_the_files_order() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let command = |id: String, kind: &str, data: serde_json::Value| {
        serde_json::json!({ "commandId": id, "commandType": kind, "schemaVersion": 1, "data": data }).to_string()
    };
    // Rounds, not tasks, one after another: every task's three commands sit in three different
    // batches, so a batch sent before an earlier one about the same task would be refused
    // (not found, or a stale version).
    let tasks = 60;
    let mut lines = Vec::new();
    for t in 0..tasks {
        let data = serde_json::json!({ "title": format!("Task {t}"), "externalKey": format!("ORD-{t}") });
        lines.push(command(format!("o-{t}-1"), "TaskCreateRequested", data));
    }
    for (n, status) in [(2, "in_progress"), (3, "in_review")] {
        for t in 0..tasks {
            let data = serde_json::json!({
                "task": { "externalKey": format!("ORD-{t}") }, "status": status, "expectedVersion": n - 1
            });
            lines.push(command(format!("o-{t}-{n}"), "TaskStatusRequested", data));
        }
    }
    let file = data.path().join("rounds.ndjson");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_taskstream"))
        .args(["publish", "--file"])
        .arg(&file)
        .args(["--url", &format!("http://{}", server.addr), "--key", &server.key])
        .args(["--batch", "7", "--in-flight", "8"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("180 applied, 0 duplicates, 0 rejected"), "{stdout}");
    let (status, page) = server.call("GET", "/tasks?status=in_review&limit=100", None);
    assert_eq!(status, 200, "{page}");
    let versions: Vec<u64> = page["data"].as_array().unwrap().iter().map(|t| t["version"].as_u64().unwrap()).collect();
    assert_eq!(versions, vec![3; tasks], "{page}");
}
