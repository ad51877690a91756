//! The OpenAPI document: the committed copy matches the code, and every documented
//! operation is routed.
//!
//! After an intended API change: `TASKSTREAM_BLESS=1 cargo test -p tests --test openapi`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use shared_api::openapi::{document, operations};
use support::Harness;

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.json")
}

#[test]
fn the_committed_document_matches_the_code() {
    let mut expected = serde_json::to_string_pretty(&document()).unwrap();
    expected.push('\n');
    if std::env::var_os("TASKSTREAM_BLESS").is_some() {
        std::fs::write(committed_path(), &expected).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == expected,
        "openapi.json differs from the code; regenerate with TASKSTREAM_BLESS=1 and review the diff"
    );
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_the_document_is_served() {
    let mut h = Harness::new();
    // As serve routes it: with the engine's keys behind /keys, its operations behind /admin,
    // its people, notifications and webhooks, its escalation policies, its event stream.
    let keys = shared_api::KeysHandle(std::sync::Arc::new(h.engine.api_keys()));
    let ops = shared_api::OpsHandle(std::sync::Arc::new(h.engine.operator()));
    let notifications = shared_api::NotificationsHandle(h.engine.notification_store());
    let escalation = shared_api::EscalationHandle(h.engine.escalation());
    let webhooks = shared_api::WebhooksHandle { store: h.engine.webhook_store(), allow_private: false };
    // Already closing, so the event stream ends as soon as it has answered.
    let (_closing, closed) = tokio::sync::watch::channel(true);
    let events = shared_api::EventsHandle {
        feed: h.engine.event_feed(),
        heartbeat: std::time::Duration::from_secs(15),
        closing: closed,
    };
    h.app = h
        .app
        .clone()
        .layer(axum::Extension(keys))
        .layer(axum::Extension(ops))
        .layer(axum::Extension(notifications))
        .layer(axum::Extension(escalation))
        .layer(axum::Extension(webhooks))
        .layer(axum::Extension(events));
    for op in operations() {
        let path = op
            .path
            .replace("{id}", "0195a3c4-0000-7000-8000-000000000001")
            .replace("{keyId}", "0123456789abcdef")
            .replace("{letterId}", "1")
            .replace("{deliveryId}", "0195a3c4-0000-7000-8000-000000000002")
            // A replay's name and a person's alike.
            .replace("{name}", "replay-1");
        let request = Request::builder()
            .method(op.method.to_uppercase().as_str())
            .uri(&path)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let reply = h.send(request).await;
        assert_ne!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{} {path}", op.method);
        let unrouted = reply.status == StatusCode::NOT_FOUND
            && reply.body["error"]["message"].as_str().is_some_and(|m| m.contains("no route"));
        assert!(!unrouted, "{} {path} is documented but not routed", op.method);
    }
    let served = h.call("GET", "/openapi.json", None).await;
    assert_eq!(served.body, document());
    assert_eq!(served.body["openapi"], "3.1.0");
    assert!(served.body["components"]["schemas"]["TaskSnapshot"].is_object());
}
