//! Optimistic locking on every route that changes an existing resource, and errors that
//! name what they are about: 428 without a version, 409 naming the resource kind with a
//! stale one, the same three ways of saying the version everywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{Harness, Reply};

async fn created(h: &Harness, path: &str, body: Value) -> String {
    let reply = h.call("POST", path, Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.body);
    reply.body["data"]["id"].as_str().unwrap().to_owned()
}

fn assert_required(reply: &Reply, what: &str) {
    assert_eq!((reply.status, reply.code()), (StatusCode::PRECONDITION_REQUIRED, "version_required"), "{what}");
}

fn assert_stale(reply: &Reply, kind: &str, current: u64, what: &str) {
    assert_eq!((reply.status, reply.code()), (StatusCode::CONFLICT, "version_conflict"), "{what}: {}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("the {kind} is at version {current}")), "{what}: {message}");
    assert_eq!(reply.body["error"]["details"]["resource"], kind, "{what}");
    assert_eq!(reply.body["error"]["details"]["currentVersion"], current, "{what}");
}

#[tokio::test]
async fn every_change_needs_its_version_and_a_stale_one_names_the_resource() {
    let h = Harness::new();
    let task = created(&h, "/tasks", json!({"title": "t"})).await;
    let category = created(&h, "/categories", json!({"name": "c"})).await;
    let project = created(&h, "/projects", json!({"name": "p"})).await;
    let sprint = created(&h, &format!("/projects/{project}/sprints"), json!({"name": "s"})).await;
    let before = h.change_log_len().await;

    // (method, path, body without a version, kind): none given is 428; a stale one is 409.
    let routes = [
        ("PUT", format!("/tasks/{task}"), Some(json!({"title": "t2"})), "task"),
        ("DELETE", format!("/tasks/{task}"), None, "task"),
        ("PUT", format!("/categories/{category}"), Some(json!({"name": "c2"})), "category"),
        ("DELETE", format!("/categories/{category}"), None, "category"),
        ("PUT", format!("/projects/{project}"), Some(json!({"name": "p2"})), "project"),
        ("POST", format!("/sprints/{sprint}/start"), None, "sprint"),
        ("POST", format!("/sprints/{sprint}/close"), None, "sprint"),
    ];
    for (method, path, body, kind) in &routes {
        let what = format!("{method} {path}");
        assert_required(&h.call(method, path, body.clone()).await, &what);
        let stale = h.call(method, &format!("{path}?version=7"), body.clone()).await;
        assert_stale(&stale, kind, 1, &what);
        let stale = h.call_with(method, path, body.clone().unwrap_or(Value::Null), &[("if-match", "\"7\"")]).await;
        assert_stale(&stale, kind, 1, &format!("{what} with If-Match"));
    }
    assert_eq!(h.change_log_len().await, before, "no refused change wrote anything");

    // The three ways agree or the request is refused.
    let disagree =
        h.call_with("PUT", &format!("/tasks/{task}?version=2"), json!({"version": 1, "title": "x"}), &[]).await;
    assert_eq!((disagree.status, disagree.code()), (StatusCode::BAD_REQUEST, "validation_failed"));
    assert_eq!(disagree.body["error"]["details"]["fields"][0]["field"], "version");
    let by_query = h.call("PUT", &format!("/tasks/{task}?version=1"), Some(json!({"title": "t2"}))).await;
    assert_eq!((by_query.status, by_query.body["data"]["version"].as_u64()), (StatusCode::OK, Some(2)));

    // The sprint moves at its version, and then is at the next.
    let started = h.call("POST", &format!("/sprints/{sprint}/start?version=1"), None).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    assert_stale(&h.call("POST", &format!("/sprints/{sprint}/close?version=1"), None).await, "sprint", 2, "close");
    let closed = h.call_with("POST", &format!("/sprints/{sprint}/close"), Value::Null, &[("if-match", "2")]).await;
    assert_eq!(closed.body["data"]["status"], "closed", "{}", closed.body);

    let deleted = h.call("DELETE", &format!("/categories/{category}?version=1"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(h.call("GET", &format!("/categories/{category}"), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_category_tasks_are_filed_under_is_not_deleted_and_the_refusal_counts_them() {
    let h = Harness::new();
    let category = created(&h, "/categories", json!({"name": "Docs"})).await;
    let a = created(&h, "/tasks", json!({"title": "a", "categoryId": category})).await;
    created(&h, "/tasks", json!({"title": "b", "categoryId": category})).await;
    created(&h, "/tasks", json!({"title": "elsewhere"})).await;
    let before = h.change_log_len().await;

    let refused = h.call("DELETE", &format!("/categories/{category}?version=1"), None).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::CONFLICT, "in_use"), "{}", refused.body);
    assert_eq!(refused.body["error"]["details"]["tasks"], 2);
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("used by 2 task"));
    assert_eq!(h.change_log_len().await, before);

    // Once no task uses it, it goes.
    let moved =
        h.call("POST", "/tasks/bulk", Some(json!({"action": "move_to_category", "ids": [a], "categoryId": null})));
    assert_eq!(moved.await.status, StatusCode::OK);
    let listed = h.call("GET", &format!("/tasks?categoryId={category}"), None).await;
    let left: Vec<String> =
        listed.body["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
    for id in left {
        let version = h.call("GET", &format!("/tasks/{id}"), None).await.body["data"]["version"].as_u64().unwrap();
        let gone = h.call("DELETE", &format!("/tasks/{id}?version={version}"), None).await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(
        h.call("DELETE", &format!("/categories/{category}?version=1"), None).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn query_string_errors_name_each_parameter_like_body_errors() {
    let h = Harness::new();
    let reply = h.call("GET", "/tasks?limit=ten&status=sideways&colour=red", None).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "validation_failed"), "{}", reply.body);
    let fields = reply.body["error"]["details"]["fields"].as_array().unwrap();
    let named: Vec<&str> = fields.iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(named, ["limit", "status", "colour"]);
    let messages: Vec<&str> = fields.iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert_eq!(messages[0], "must be a whole number");
    assert!(
        messages[1].starts_with("must be one of `todo`") && messages[1].ends_with("got `sideways`"),
        "{}",
        messages[1]
    );
    assert!(messages[2].starts_with("is not a parameter of this route"), "{}", messages[2]);
    for text in messages {
        assert!(!text.contains("Failed to deserialize"), "no framework text: {text}");
    }
    let missing = h.call("GET", "/search/suggest", None).await;
    assert_eq!(missing.body["error"]["details"]["fields"], json!([{"field": "prefix", "message": "is required"}]));
}

#[tokio::test]
async fn a_bulk_refusal_marks_the_tasks_it_left_alone_as_not_changed() {
    let h = Harness::new();
    let done = created(&h, "/tasks", json!({"title": "done"})).await;
    h.call("PUT", &format!("/tasks/{done}"), Some(json!({"version": 1, "status": "done"}))).await;
    let fine = created(&h, "/tasks", json!({"title": "fine"})).await;
    h.call("PUT", &format!("/tasks/{fine}"), Some(json!({"version": 1, "status": "in_progress"}))).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let before = h.change_log_len().await;

    let reply = h
        .call(
            "POST",
            "/tasks/bulk",
            Some(json!({"action": "set_status", "status": "in_review", "ids": [fine, done, missing]})),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNPROCESSABLE_ENTITY, "bulk_rejected"), "{}", reply.body);
    let results = reply.body["error"]["details"]["results"].as_array().unwrap();
    let by_id = |id: &str| results.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!((by_id(&fine)["ok"].as_bool(), by_id(&fine)["code"].as_str()), (Some(false), Some("not_changed")));
    assert_eq!(by_id(&done)["code"], "invalid_transition");
    assert_eq!(by_id(&missing)["code"], "not_found");
    assert_eq!(h.change_log_len().await, before);
    let fine_now = h.call("GET", &format!("/tasks/{fine}"), None).await;
    assert_eq!(fine_now.body["data"]["status"], "in_progress", "nothing was written");
}

#[tokio::test]
async fn timestamps_have_a_fixed_width_so_they_sort_as_text() {
    let h = Harness::new();
    let task = h.create(json!({"title": "t"})).await;
    for field in ["createdAt", "updatedAt", "statusChangedAt"] {
        let text = task[field].as_str().unwrap();
        assert_eq!(text.len(), "2026-03-01T08:00:00.000Z".len(), "{field}: {text}");
        assert_eq!(&text[19..20], ".", "{field}: {text}");
    }
}
