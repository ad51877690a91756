//! `/keys` over HTTP: admins of a tenant list, make and revoke that tenant's keys; the
//! secret is shown once; other tenants' keys and weaker roles get nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use shared_api::KeysHandle;
use shared_core::Role;
use shared_embedded::{ApiKeys, DEFAULT_CACHE_TTL, Engine};
use support::{Harness, Reply, fast_config};

/// The router as serve builds it: API key authentication and the engine's keys behind /keys.
fn harness() -> (Harness, ApiKeys) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), fast_config()).unwrap();
    let keys = engine.api_keys();
    let mut h = Harness::with_auth(engine, dir, Arc::new(keys.authenticator(DEFAULT_CACHE_TTL)));
    h.app = h.app.clone().layer(axum::Extension(KeysHandle(Arc::new(keys.clone()))));
    (h, keys)
}

async fn as_key(h: &Harness, key: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    let builder = Request::builder().method(method).uri(path).header("x-api-key", key);
    let request = match body {
        Some(b) => builder.header("content-type", "application/json").body(Body::from(b.to_string())),
        None => builder.body(Body::empty()),
    };
    h.send(request.unwrap()).await
}

async fn key(keys: &ApiKeys, tenant: &str, role: Role) -> String {
    keys.create(tenant, role).await.unwrap().key.expose().to_owned()
}

#[tokio::test]
async fn an_admin_makes_lists_and_revokes_keys_of_their_tenant_and_sees_a_secret_once() {
    let (h, keys) = harness();
    let admin = key(&keys, "acme", Role::Admin).await;
    key(&keys, "globex", Role::Admin).await;

    let made = as_key(&h, &admin, "POST", "/keys", Some(json!({"role": "member"}))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let secret = made.body["data"]["key"].as_str().unwrap().to_owned();
    let key_id = made.body["data"]["keyId"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(&format!("tsk_{key_id}_")), "{secret}");
    assert_eq!(
        (made.body["data"]["tenant"].as_str(), made.body["data"]["role"].as_str()),
        (Some("acme"), Some("member"))
    );
    // The new key works, with its role and tenant.
    assert_eq!(
        as_key(&h, &secret, "POST", "/tasks", Some(json!({"title": "by the new key"}))).await.status,
        StatusCode::CREATED
    );
    assert_eq!(as_key(&h, &secret, "GET", "/keys", None).await.status, StatusCode::FORBIDDEN);

    let listed = as_key(&h, &admin, "GET", "/keys", None).await;
    let listed = listed.body["data"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "acme's two keys, not globex's: {listed:?}");
    assert!(listed.iter().all(|k| k["tenant"] == "acme" && k.get("key").is_none()), "never a secret: {listed:?}");
    assert!(!serde_json::to_string(&listed).unwrap().contains(&secret));

    let revoked = as_key(&h, &admin, "DELETE", &format!("/keys/{key_id}"), None).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(revoked.body["data"]["revokedAt"].is_string());
    assert_eq!(as_key(&h, &secret, "GET", "/tasks", None).await.status, StatusCode::UNAUTHORIZED, "at once");
    let again = as_key(&h, &admin, "DELETE", &format!("/keys/{key_id}"), None).await;
    assert_eq!(again.body["data"]["revokedAt"], revoked.body["data"]["revokedAt"], "the first revocation stands");
}

#[tokio::test]
async fn another_tenants_key_does_not_exist_and_weaker_roles_are_refused() {
    let (h, keys) = harness();
    let acme_admin = key(&keys, "acme", Role::Admin).await;
    let globex_admin = key(&keys, "globex", Role::Admin).await;
    let globex_id = globex_admin.split('_').nth(1).unwrap().to_owned();

    let reply = as_key(&h, &acme_admin, "DELETE", &format!("/keys/{globex_id}"), None).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::NOT_FOUND, "not_found"), "{}", reply.body);
    assert_eq!(as_key(&h, &globex_admin, "GET", "/tasks", None).await.status, StatusCode::OK, "still active");
    let bogus = as_key(&h, &acme_admin, "DELETE", "/keys/not-a-key-id", None).await;
    assert_eq!(bogus.status, StatusCode::NOT_FOUND);

    for role in [Role::Viewer, Role::Member] {
        let weak = key(&keys, "acme", role).await;
        for (method, path, body) in [
            ("GET", "/keys".to_owned(), None),
            ("POST", "/keys".to_owned(), Some(json!({"role": "admin"}))),
            ("DELETE", format!("/keys/{}", acme_admin.split('_').nth(1).unwrap()), None),
        ] {
            let reply = as_key(&h, &weak, method, &path, body).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "forbidden"), "{role:?} {method} {path}");
        }
    }
    assert_eq!(keys.list().await.unwrap().iter().filter(|k| k.revoked_at.is_some()).count(), 0);
}

#[tokio::test]
async fn a_new_key_refuses_an_idempotency_key_and_a_bad_role() {
    let (h, keys) = harness();
    let admin = key(&keys, "acme", Role::Admin).await;
    let builder = Request::builder()
        .method("POST")
        .uri("/keys")
        .header("x-api-key", &admin)
        .header("content-type", "application/json")
        .header("idempotency-key", "once");
    let reply = h.send(builder.body(Body::from(json!({"role": "viewer"}).to_string())).unwrap()).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "validation_failed"), "{}", reply.body);
    let reply = as_key(&h, &admin, "POST", "/keys", Some(json!({"role": "owner"}))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(keys.list().await.unwrap().len(), 1, "nothing made");
}

#[tokio::test]
async fn without_an_engine_that_manages_keys_the_routes_do_not_exist() {
    let h = Harness::new();
    assert_eq!(h.call("GET", "/keys", None).await.status, StatusCode::NOT_FOUND);
}
