//! `GET /metrics/{name}` end to end: tasks written through the API, their events routed and
//! applied by the metrics consumer, the figures read back; walled by tenant and role; bad
//! input refused with the error envelope.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use shared_core::Role;
use shared_embedded::{ApiKeys, DEFAULT_CACHE_TTL, Engine};
use support::{Harness, Reply, fast_config};

fn harness() -> (Harness, ApiKeys) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), fast_config()).unwrap();
    let keys = engine.api_keys();
    let h = Harness::with_auth(engine, dir, Arc::new(keys.authenticator(DEFAULT_CACHE_TTL)));
    (h, keys)
}

async fn key(keys: &ApiKeys, tenant: &str, role: Role) -> String {
    keys.create(tenant, role).await.unwrap().key.expose().to_owned()
}

async fn call(h: &Harness, key: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Reply {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        builder = builder.header("x-api-key", key);
    }
    let request = match body {
        Some(b) => builder.header("content-type", "application/json").body(Body::from(b.to_string())),
        None => builder.body(Body::empty()),
    };
    h.send(request.unwrap()).await
}

async fn ok(h: &Harness, key: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let reply = call(h, Some(key), method, path, body).await;
    assert!(reply.status.is_success(), "{method} {path}: {} {}", reply.status, reply.body);
    reply.body["data"].clone()
}

/// A project with a started sprint and three tasks in it (3, 5 and 8 points): two done, one
/// in progress. Returns the sprint's id.
async fn a_sprint_of_work(h: &Harness, admin: &str) -> (String, String) {
    let project =
        ok(h, admin, "POST", "/projects", Some(json!({"name": "Release"}))).await["id"].as_str().unwrap().to_owned();
    let sprint = ok(h, admin, "POST", &format!("/projects/{project}/sprints"), Some(json!({"name": "S1"}))).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(h, admin, "POST", &format!("/sprints/{sprint}/start?version=1"), None).await;
    for (title, points, finish) in [("a", 3, true), ("b", 5, true), ("c", 8, false)] {
        let body = json!({"title": title, "estimatePoints": points, "projectId": project, "sprintId": sprint, "assignee": "ana"});
        let id = ok(h, admin, "POST", "/tasks", Some(body)).await["id"].as_str().unwrap().to_owned();
        ok(h, admin, "PUT", &format!("/tasks/{id}"), Some(json!({"version": 1, "status": "in_progress"}))).await;
        if finish {
            ok(h, admin, "PUT", &format!("/tasks/{id}"), Some(json!({"version": 2, "status": "done"}))).await;
        }
    }
    h.settle().await;
    (project, sprint)
}

#[tokio::test]
async fn velocity_cycle_time_throughput_wip_and_burndown_answer_on_tasks_written_through_the_api() {
    let (h, keys) = harness();
    let admin = key(&keys, "acme", Role::Admin).await;
    let viewer = key(&keys, "acme", Role::Viewer).await;
    let (project, sprint) = a_sprint_of_work(&h, &admin).await;

    let velocity = ok(&h, &viewer, "GET", "/metrics/velocity", None).await;
    assert_eq!(velocity, json!([{"sprint": sprint, "completed": 2, "points": 8}]));

    let cycle = ok(&h, &viewer, "GET", &format!("/metrics/cycle-time?projectId={project}&interval=week"), None).await;
    assert_eq!(cycle.as_array().unwrap().len(), 1, "{cycle}");
    assert_eq!(cycle[0]["completed"], 2);
    assert!(cycle[0]["p90Seconds"].as_u64().unwrap() >= cycle[0]["p50Seconds"].as_u64().unwrap());

    let throughput = ok(&h, &viewer, "GET", "/metrics/throughput?interval=hour&assignee=ana", None).await;
    let completed: u64 = throughput.as_array().unwrap().iter().map(|r| r["completed"].as_u64().unwrap()).sum();
    assert_eq!(completed, 2, "{throughput}");
    assert_eq!(ok(&h, &viewer, "GET", "/metrics/throughput?assignee=bo", None).await, json!([]));

    let wip = ok(&h, &viewer, "GET", "/metrics/wip", None).await;
    assert_eq!(wip.as_array().unwrap().last().unwrap()["wip"], 1, "{wip}");

    let burndown = ok(&h, &viewer, "GET", &format!("/metrics/burndown?sprintId={sprint}"), None).await;
    let last = burndown.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["scopePoints"].clone(), last["completedPoints"].clone(), last["remainingPoints"].clone()),
        (json!(16), json!(8), json!(8))
    );

    let sla = ok(&h, &viewer, "GET", "/metrics/sla", None).await;
    assert_eq!((sla[0]["completed"].clone(), sla[0]["withDueDate"].clone()), (json!(2), json!(0)));
}

#[tokio::test]
async fn another_tenant_sees_none_of_it_even_by_the_sprint_id() {
    let (h, keys) = harness();
    let admin = key(&keys, "acme", Role::Admin).await;
    let (_, sprint) = a_sprint_of_work(&h, &admin).await;
    let other = key(&keys, "umbrella", Role::Admin).await;
    assert_eq!(ok(&h, &other, "GET", "/metrics/velocity", None).await, json!([]));
    assert_eq!(ok(&h, &other, "GET", &format!("/metrics/burndown?sprintId={sprint}"), None).await, json!([]));
    assert_eq!(ok(&h, &other, "GET", &format!("/metrics/throughput?sprintId={sprint}"), None).await, json!([]));
}

#[tokio::test]
async fn a_viewer_reads_metrics_and_a_caller_without_a_key_is_401() {
    let (h, keys) = harness();
    let viewer = key(&keys, "acme", Role::Viewer).await;
    assert_eq!(call(&h, Some(&viewer), "GET", "/metrics/wip", None).await.status, StatusCode::OK);
    let reply = call(&h, None, "GET", "/metrics/wip", None).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
}

#[tokio::test]
async fn bad_input_is_refused_with_the_error_envelope() {
    let (h, keys) = harness();
    let viewer = key(&keys, "acme", Role::Viewer).await;
    let cases = [
        ("/metrics/latency", StatusCode::NOT_FOUND, "not_found", "latency"),
        ("/metrics/throughput?from=yesterday", StatusCode::BAD_REQUEST, "validation_failed", "from"),
        ("/metrics/throughput?interval=month", StatusCode::BAD_REQUEST, "validation_failed", "interval"),
        ("/metrics/throughput?projectId=42", StatusCode::BAD_REQUEST, "validation_failed", "projectId"),
        ("/metrics/throughput?tenant=umbrella", StatusCode::BAD_REQUEST, "validation_failed", "tenant"),
        (
            "/metrics/throughput?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "to",
        ),
        ("/metrics/sla?to=2026-02-30T00:00:00Z", StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "to"),
        ("/metrics/burndown", StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "sprintId"),
    ];
    for (path, status, code, mentions) in cases {
        let reply = call(&h, Some(&viewer), "GET", path, None).await;
        assert_eq!((reply.status, reply.code()), (status, code), "{path}: {}", reply.body);
        assert!(reply.body["error"]["message"].as_str().unwrap().contains(mentions), "{path}: {}", reply.body);
        assert!(!reply.body["error"]["correlationId"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn a_deployment_without_metrics_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), fast_config()).unwrap();
    let caller = shared_core::Identity { tenant: "acme".into(), actor: "t".into(), role: Role::Viewer };
    let state = shared_api::AppState {
        store: engine.store(),
        history: engine.history_store(),
        search: engine.search_index(),
        metrics: None,
        auth: Arc::new(shared_core::ports::SingleTenant(caller)),
        exports: None,
    };
    let app = shared_api::router(state);
    let response = tower::ServiceExt::oneshot(app, Request::builder().uri("/metrics/wip").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
