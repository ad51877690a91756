//! `/ingest` end to end over the embedded engine: commands applied as the caller's tenant,
//! the usual events derived from the changes they make, each command once, and every refusal
//! with its reason and nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use shared_core::Role;
use support::Harness;

fn command(id: &str, command_type: &str, data: Value) -> Value {
    json!({ "commandId": id, "commandType": command_type, "schemaVersion": 1, "data": data })
}

fn create(id: &str, key: &str) -> Value {
    command(id, "TaskCreateRequested", json!({ "title": format!("Review {key}"), "externalKey": key }))
}

fn status(id: &str, key: &str, to: &str, expected: Value) -> Value {
    command(
        id,
        "TaskStatusRequested",
        json!({ "task": { "externalKey": key }, "status": to, "expectedVersion": expected }),
    )
}

/// Every archived event of a task, as (version, type), in order.
fn events_of(h: &Harness, task_id: &str) -> Vec<(u64, String)> {
    let conn = rusqlite::Connection::open(h.engine.db().path()).unwrap();
    let mut stmt = conn.prepare("SELECT body FROM archive ORDER BY seq").unwrap();
    let bodies: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
    bodies
        .iter()
        // The archive keeps the bus event: the envelope is its detail.
        .map(|b| serde_json::from_str::<Value>(b).unwrap()["detail"].clone())
        .filter(|e| e["aggregateId"] == task_id || e["data"]["comment"]["taskId"] == task_id)
        .map(|e| (e["aggregateVersion"].as_u64().unwrap_or(0), e["eventType"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn each_command_applies_once_and_the_usual_events_follow() {
    let h = Harness::new();
    let created = h.call("POST", "/ingest", Some(create("c-1", "PR-123"))).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let task_id = created.body["data"]["taskId"].as_str().unwrap().to_owned();
    assert_eq!(created.body["data"]["result"], "applied");
    assert_eq!(created.body["data"]["duplicate"], false);

    let moved = h.call("POST", "/ingest", Some(status("c-2", "PR-123", "in_progress", json!(1)))).await;
    assert_eq!((moved.status, moved.body["data"]["version"].clone()), (StatusCode::OK, json!(2)));
    let reviewed = h.call("POST", "/ingest", Some(status("c-3", "PR-123", "in_review", json!("latest")))).await;
    assert_eq!(reviewed.body["data"]["version"], 3);
    let comment = command("c-4", "TaskCommentRequested", json!({ "task": { "id": task_id }, "body": "LGTM @maria" }));
    let commented = h.call("POST", "/ingest", Some(comment.clone())).await;
    assert_eq!(commented.status, StatusCode::OK, "{}", commented.body);

    // Second deliveries do nothing and say what the first did.
    let log = h.change_log_len().await;
    for again in [create("c-1", "PR-123"), status("c-2", "PR-123", "in_progress", json!(1)), comment] {
        let reply = h.call("POST", "/ingest", Some(again)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["data"]["duplicate"], true);
        assert_eq!(reply.body["data"]["taskId"], task_id.as_str());
    }
    assert_eq!(h.change_log_len().await, log);

    h.settle().await;
    let events = events_of(&h, &task_id);
    let types: Vec<&str> = events.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(types, ["TaskCreated", "TaskStatusChanged", "TaskStatusChanged", "CommentAdded"], "{events:?}");
    let task = h.call("GET", &format!("/tasks/{task_id}"), None).await;
    assert_eq!(
        (task.body["data"]["status"].clone(), task.body["data"]["version"].clone()),
        (json!("in_review"), json!(3))
    );
    let history = h.call("GET", &format!("/tasks/{task_id}/history"), None).await;
    let entries = history.body["data"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    // The publisher is the actor; the command id is the correlation id.
    assert_eq!((entries[1]["actor"].clone(), entries[1]["correlationId"].clone()), (json!("tester"), json!("c-2")));
}

#[tokio::test]
async fn refused_commands_say_why_and_write_nothing() {
    let h = Harness::new();
    h.call("POST", "/ingest", Some(create("c-1", "PR-1"))).await;
    let log = h.change_log_len().await;
    let cases = [
        (status("r-1", "PR-1", "in_progress", json!(4)), StatusCode::CONFLICT, "version_conflict", "stale_version"),
        (
            status("r-2", "PR-404", "in_progress", json!("latest")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_found",
            "task_not_found",
        ),
        (
            status("r-3", "PR-1", "done", json!("latest")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_transition",
            "illegal_transition",
        ),
        (create("r-4", "PR-1"), StatusCode::CONFLICT, "external_key_taken", "external_key_taken"),
        (
            command("c-1", "TaskCreateRequested", json!({ "title": "other" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "command_id_reused",
        ),
        (
            command("r-6", "TaskExplodeRequested", json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "invalid",
        ),
        (
            json!({ "commandId": "r-6b", "commandType": "TaskCreateRequested", "schemaVersion": 82_065_814_879u64, "data": { "title": "t" } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "invalid",
        ),
        (
            json!({ "commandId": "r-6c", "commandType": "TaskCreateRequested", "schemaVersion": 1.643e23, "data": { "title": "t" } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "invalid",
        ),
        (
            json!({ "commandId": "r-7", "commandType": "TaskCreateRequested", "schemaVersion": 1, "data": { "title": "t" }, "tenant": "globex" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_tenant",
            "wrong_tenant",
        ),
        (
            json!({ "commandId": "r-8", "commandType": "TaskCreateRequested", "schemaVersion": 82_065_814_879u64, "data": { "title": "t" } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "invalid",
        ),
    ];
    for (body, expected, code, reason) in cases {
        let reply = h.call("POST", "/ingest", Some(body.clone())).await;
        assert_eq!((reply.status, reply.code()), (expected, code), "{body}: {}", reply.body);
        assert_eq!(reply.body["error"]["details"]["reason"], reason, "{}", reply.body);
    }
    let stale = h.call("POST", "/ingest", Some(status("r-1", "PR-1", "in_progress", json!(4)))).await;
    assert_eq!(stale.body["error"]["details"]["currentVersion"], 1);
    let request = Request::builder()
        .method("POST")
        .uri("/ingest")
        .header("content-type", "application/json")
        .body(Body::from("{\"commandId\": "))
        .unwrap();
    assert_eq!(h.send(request).await.code(), "invalid_json");
    assert_eq!(h.change_log_len().await, log);
}

#[tokio::test]
async fn ingest_is_walled_by_tenant_and_role() {
    let h = Harness::with_tenant("acme");
    let task_id = h.call("POST", "/ingest", Some(create("c-1", "PR-7"))).await.body["data"]["taskId"]
        .as_str()
        .unwrap()
        .to_owned();
    let globex = Harness::as_role(h.engine.clone(), tempfile::tempdir().unwrap(), "globex", Role::Member);
    for task in [json!({ "externalKey": "PR-7" }), json!({ "id": task_id })] {
        let data = json!({ "task": task, "status": "in_progress", "expectedVersion": "latest" });
        let reply = globex.call("POST", "/ingest", Some(command("g-1", "TaskStatusRequested", data))).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::UNPROCESSABLE_ENTITY, "not_found"), "{}", reply.body);
    }
    // Their command id and their external key are theirs: no duplicate, no taken key.
    let theirs = globex.call("POST", "/ingest", Some(create("c-1", "PR-7"))).await;
    assert_eq!((theirs.status, theirs.body["data"]["duplicate"].clone()), (StatusCode::OK, json!(false)));
    assert_ne!(theirs.body["data"]["taskId"], task_id.as_str());
    let viewer = Harness::as_role(h.engine.clone(), tempfile::tempdir().unwrap(), "acme", Role::Viewer);
    let refused = viewer.call("POST", "/ingest", Some(status("v-1", "PR-7", "in_progress", json!("latest")))).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let batch =
        viewer.call("POST", "/ingest/batch", Some(json!([status("v-2", "PR-7", "in_progress", json!(1))]))).await;
    assert_eq!((batch.status, batch.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let task = h.call("GET", &format!("/tasks/{task_id}"), None).await;
    assert_eq!(task.body["data"]["version"], 1);
}

#[tokio::test]
async fn a_batch_answers_each_line_and_applies_the_good_ones() {
    let h = Harness::new();
    let lines = [
        create("b-1", "PR-9").to_string(),
        status("b-2", "PR-9", "in_progress", json!(1)).to_string(),
        String::new(),
        "{\"commandId\": ".to_owned(),
        status("b-3", "PR-9", "in_review", json!(1)).to_string(),
        create("b-1", "PR-9").to_string(),
        status("b-4", "PR-9", "in_review", json!("latest")).to_string(),
    ];
    let request = Request::builder()
        .method("POST")
        .uri("/ingest/batch")
        .header("content-type", "application/x-ndjson")
        .body(Body::from(lines.join("\n")))
        .unwrap();
    let reply = h.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let data = &reply.body["data"];
    assert_eq!(
        (data["applied"].clone(), data["duplicates"].clone(), data["rejected"].clone()),
        (json!(3), json!(1), json!(2))
    );
    let results = data["results"].as_array().unwrap();
    let summary: Vec<(u64, bool, &str)> = results
        .iter()
        .map(|r| {
            let what = if r["ok"] == true {
                r["outcome"]["result"].as_str().unwrap()
            } else {
                r["error"]["details"]["reason"].as_str().unwrap()
            };
            (r["line"].as_u64().unwrap(), r["ok"] == true, what)
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, true, "applied"),
            (2, true, "applied"),
            (4, false, "malformed"),
            (5, false, "stale_version"),
            (6, true, "applied"),
            (7, true, "applied")
        ]
    );
    assert_eq!(results[4]["outcome"]["duplicate"], true);
    assert_eq!(results[5]["outcome"]["version"], 3);

    // The same as a JSON array, positions from 1.
    let array = json!([status("b-4", "PR-9", "in_review", json!("latest")), { "not": "a command" }]);
    let reply = h.call("POST", "/ingest/batch", Some(array)).await;
    let results = reply.body["data"]["results"].as_array().unwrap();
    assert_eq!((results[0]["outcome"]["duplicate"].clone(), results[1]["line"].clone()), (json!(true), json!(2)));
    assert_eq!(results[1]["error"]["code"], "invalid_body");
}
