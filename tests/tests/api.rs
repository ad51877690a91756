//! The HTTP API over the embedded engine, through the real axum router.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use support::Harness;

#[tokio::test]
async fn create_read_change_and_delete_a_task() {
    let h = Harness::new();
    let task = h.create(json!({"title": "  Write the release notes ", "priority": "high", "tags": ["docs", "docs", "a"], "dueDate": "2026-03-20"})).await;
    assert_eq!(task["title"], "Write the release notes");
    assert_eq!((task["status"].as_str(), task["version"].as_u64()), (Some("todo"), Some(1)));
    assert_eq!(task["tags"], json!(["a", "docs"]));
    let id = task["id"].as_str().unwrap();

    let got = h.call("GET", &format!("/tasks/{id}"), None).await;
    assert_eq!(got.body["data"], task);

    let moved = h
        .call("PUT", &format!("/tasks/{id}"), Some(json!({"version": 1, "status": "in_progress", "assignee": "li"})))
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(
        (moved.body["data"]["version"].as_u64(), moved.body["data"]["assignee"].as_str()),
        (Some(2), Some("li"))
    );

    let cleared = h.call("PUT", &format!("/tasks/{id}"), Some(json!({"version": 2, "assignee": null}))).await;
    assert!(cleared.body["data"].get("assignee").is_none(), "null clears: {}", cleared.body);

    let unversioned = h.call("DELETE", &format!("/tasks/{id}"), None).await;
    assert_eq!((unversioned.status, unversioned.code()), (StatusCode::PRECONDITION_REQUIRED, "version_required"));
    let deleted = h.call("DELETE", &format!("/tasks/{id}?version=3"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(h.call("GET", &format!("/tasks/{id}"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(h.change_log_len().await, 4, "create, two updates, delete: one record each");
}

#[tokio::test]
async fn a_stale_version_gets_409_with_the_current_one_and_writes_nothing() {
    let h = Harness::new();
    let id = h.create(json!({"title": "t"})).await["id"].as_str().unwrap().to_owned();
    h.call("PUT", &format!("/tasks/{id}"), Some(json!({"version": 1, "title": "t2"}))).await;
    let before = h.change_log_len().await;
    let stale = h.call("PUT", &format!("/tasks/{id}"), Some(json!({"version": 1, "title": "t3"}))).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.code(), "version_conflict");
    assert_eq!(stale.body["error"]["details"]["currentVersion"], 2);
    assert_eq!(h.change_log_len().await, before);

    let stale_delete = h.call("DELETE", &format!("/tasks/{id}?version=1"), None).await;
    assert_eq!(stale_delete.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn if_match_carries_the_version_and_must_agree_with_the_body() {
    let h = Harness::new();
    let id = h.create(json!({"title": "t"})).await["id"].as_str().unwrap().to_owned();
    let put = |if_match: &str, body: Value| {
        Request::builder()
            .method("PUT")
            .uri(format!("/tasks/{id}"))
            .header("content-type", "application/json")
            .header("if-match", if_match)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let ok = h.send(put("\"1\"", json!({"title": "t2"}))).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let disagree = h.send(put("2", json!({"version": 1, "title": "t3"}))).await;
    assert_eq!((disagree.status, disagree.code()), (StatusCode::BAD_REQUEST, "validation_failed"));
}

#[tokio::test]
async fn a_client_may_put_back_what_it_read_with_fields_changed() {
    let h = Harness::new();
    let task = h.create(json!({"title": "t", "description": "d"})).await;
    let mut body = task.clone();
    body["title"] = json!("renamed");
    body["id"] = json!("00000000-0000-0000-0000-000000000000");
    body["createdAt"] = json!("1999-01-01T00:00:00Z");
    let id = task["id"].as_str().unwrap();
    let reply = h.call("PUT", &format!("/tasks/{id}"), Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["title"], "renamed");
    assert_eq!(reply.body["data"]["id"], task["id"], "server-owned fields are ignored");
    assert_eq!(reply.body["data"]["createdAt"], task["createdAt"]);
}

#[tokio::test]
async fn a_put_that_changes_nothing_is_not_a_new_version() {
    let h = Harness::new();
    let task = h.create(json!({"title": "t"})).await;
    let id = task["id"].as_str().unwrap();
    let reply = h.call("PUT", &format!("/tasks/{id}"), Some(json!({"version": 1, "title": "t"}))).await;
    assert_eq!(reply.body["data"]["version"], 1);
    assert_eq!(h.change_log_len().await, 1);
}

/// Each bad request: its status, its error code, and no change record written.
#[tokio::test]
async fn bad_input_is_refused_with_the_envelope_and_writes_nothing() {
    let h = Harness::new();
    let id = h.create(json!({"title": "t"})).await["id"].as_str().unwrap().to_owned();
    let task = format!("/tasks/{id}");
    let raw = |method: &str, path: &str, content_type: &str, body: String| {
        Request::builder().method(method).uri(path).header("content-type", content_type).body(Body::from(body)).unwrap()
    };
    let json_req = |method: &str, path: &str, body: Value| raw(method, path, "application/json", body.to_string());
    let cases: Vec<(&str, Request<Body>, StatusCode, &str)> = vec![
        (
            "malformed JSON",
            raw("POST", "/tasks", "application/json", "{\"title\": ".into()),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "missing title",
            json_req("POST", "/tasks", json!({"priority": "low"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "blank title",
            json_req("POST", "/tasks", json!({"title": "   "})),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "oversize title",
            json_req("POST", "/tasks", json!({"title": "x".repeat(201)})),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "oversize description",
            json_req("POST", "/tasks", json!({"title": "t", "description": "d".repeat(10_001)})),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        ("wrong type", json_req("POST", "/tasks", json!({"title": 42})), StatusCode::BAD_REQUEST, "invalid_body"),
        (
            "unknown field",
            json_req("POST", "/tasks", json!({"title": "t", "owner": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "status on create",
            json_req("POST", "/tasks", json!({"title": "t", "status": "done"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "unknown priority",
            json_req("POST", "/tasks", json!({"title": "t", "priority": "urgent"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "impossible due date",
            json_req("POST", "/tasks", json!({"title": "t", "dueDate": "2026-02-30"})),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "body over 1 MiB",
            json_req("POST", "/tasks", json!({"title": "t", "description": "d".repeat(1_100_000)})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "not JSON media type",
            raw("POST", "/tasks", "text/plain", "{\"title\":\"t\"}".into()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "unknown status",
            json_req("PUT", &task, json!({"version": 1, "status": "finished"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "illegal transition",
            json_req("PUT", &task, json!({"version": 1, "status": "done"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_transition",
        ),
        (
            "no version",
            json_req("PUT", &task, json!({"title": "t2"})),
            StatusCode::PRECONDITION_REQUIRED,
            "version_required",
        ),
        (
            "negative version",
            json_req("PUT", &task, json!({"version": -1, "title": "t2"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "unknown field on PUT",
            json_req("PUT", &task, json!({"version": 1, "colour": "red"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "bad list limit",
            raw("GET", "/tasks?limit=1000", "application/json", String::new()),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "bad list status",
            raw("GET", "/tasks?status=nope", "application/json", String::new()),
            StatusCode::BAD_REQUEST,
            "validation_failed",
        ),
        (
            "tampered cursor",
            raw("GET", "/tasks?cursor=zz", "application/json", String::new()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        ("not an id", raw("GET", "/tasks/123", "application/json", String::new()), StatusCode::NOT_FOUND, "not_found"),
        (
            "no such route",
            raw("GET", "/nowhere", "application/json", String::new()),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "wrong method",
            raw("PATCH", "/tasks", "application/json", String::new()),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    let before = h.change_log_len().await;
    for (name, request, status, code) in cases {
        let reply = h.send(request).await;
        assert_eq!((reply.status, reply.code()), (status, code), "{name}: {}", reply.body);
        let error = &reply.body["error"];
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: message");
        assert!(error.get("details").is_some(), "{name}: details");
        let correlation = reply.headers["x-correlation-id"].to_str().unwrap();
        assert_eq!(error["correlationId"], correlation, "{name}: correlation id in body and header");
        assert_eq!(h.change_log_len().await, before, "{name}: the change log grew");
    }
    assert_eq!(h.call("GET", &task, None).await.body["data"]["version"], 1);
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() {
    let h = Harness::new();
    let reply = h.call("POST", "/tasks", Some(json!({"title": "", "dueDate": "soon", "tags": ["bad tag"]}))).await;
    let fields: Vec<&str> = reply.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "tags", "dueDate"]);
}

#[tokio::test]
async fn the_correlation_id_travels_from_the_request_into_the_history() {
    let h = Harness::new();
    let request = Request::builder()
        .method("POST")
        .uri("/tasks")
        .header("content-type", "application/json")
        .header("x-correlation-id", "deploy-42.step:3")
        .body(Body::from(json!({"title": "t"}).to_string()))
        .unwrap();
    let reply = h.send(request).await;
    assert_eq!(reply.headers["x-correlation-id"], "deploy-42.step:3");
    h.settle().await;
    let id = reply.body["data"]["id"].as_str().unwrap();
    let history = h.call("GET", &format!("/tasks/{id}/history"), None).await;
    assert_eq!(history.body["data"][0]["correlationId"], "deploy-42.step:3");

    // An unusable id (too long, odd characters) is replaced, not echoed.
    let request =
        Request::builder().uri("/health").header("x-correlation-id", "a b<script>").body(Body::empty()).unwrap();
    let reply = h.send(request).await;
    assert_ne!(reply.headers["x-correlation-id"], "a b<script>");
}

#[tokio::test]
async fn lists_page_newest_first_and_filter_by_status() {
    let h = Harness::new();
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(h.create(json!({"title": format!("task {i}")})).await["id"].as_str().unwrap().to_owned());
    }
    h.call("PUT", &format!("/tasks/{}", ids[2]), Some(json!({"version": 1, "status": "in_progress"}))).await;

    let mut seen = Vec::new();
    let mut path = "/tasks?limit=3".to_owned();
    loop {
        let page = h.call("GET", &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        seen.extend(page.body["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()));
        match page.body["nextCursor"].as_str() {
            Some(cursor) => path = format!("/tasks?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);

    let filtered = h.call("GET", "/tasks?status=in_progress", None).await;
    assert_eq!(filtered.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(filtered.body["data"][0]["id"], ids[2]);

    // A cursor from the unfiltered list does not page the filtered one.
    let page = h.call("GET", "/tasks?limit=3", None).await;
    let cursor = page.body["nextCursor"].as_str().unwrap();
    let misuse = h.call("GET", &format!("/tasks?status=todo&cursor={cursor}"), None).await;
    assert_eq!((misuse.status, misuse.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
}

#[tokio::test]
async fn tenants_are_walled_off() {
    let dir = tempfile::tempdir().unwrap();
    let engine = shared_embedded::Engine::open(dir.path(), support::fast_config()).unwrap();
    let acme = Harness::on(engine.clone(), tempfile::tempdir().unwrap(), "acme");
    let other = Harness::on(engine, dir, "globex");
    let id = acme.create(json!({"title": "secret"})).await["id"].as_str().unwrap().to_owned();
    acme.settle().await;
    let path = format!("/tasks/{id}");
    assert_eq!(other.call("GET", &path, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.call("PUT", &path, Some(json!({"version": 1, "title": "x"}))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.call("DELETE", &format!("{path}?version=1"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.call("GET", &format!("{path}/history"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(other.call("GET", "/tasks", None).await.body["data"], json!([]));
    assert_eq!(acme.call("GET", &path, None).await.body["data"]["title"], "secret");
}

#[tokio::test]
async fn health_answers_without_credentials() {
    let h = Harness::new();
    let reply = h.call("GET", "/health", None).await;
    assert_eq!((reply.status, &reply.body), (StatusCode::OK, &json!({"data": {"status": "ok"}})));
}
