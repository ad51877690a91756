//! Authentication, roles, tenant walls and rate limiting through the router, with the real
//! API key authenticator over a temporary engine.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use shared_api::rate_limit::{ManualClock, RateLimitConfig, RateLimitLayer, RateLimiter};
use shared_core::Role;
use shared_embedded::{ApiKeys, DEFAULT_CACHE_TTL, Engine, KeyAdmin};
use support::{Harness, Reply, fast_config};

/// An engine whose router authenticates by API key, with a verification cache of `ttl`.
fn harness(ttl: Duration) -> (Harness, ApiKeys) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), fast_config()).unwrap();
    let keys = engine.api_keys();
    let h = Harness::with_auth(engine, dir, Arc::new(keys.authenticator(ttl)));
    (h, keys)
}

async fn key(keys: &ApiKeys, tenant: &str, role: Role) -> String {
    keys.create(tenant, role).await.unwrap().key.expose().to_owned()
}

/// One request carrying `headers`, with a JSON body when one is given.
async fn call(h: &Harness, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Reply {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = match body {
        Some(b) => builder.header("content-type", "application/json").body(Body::from(b.to_string())),
        None => builder.body(Body::empty()),
    };
    h.send(request.unwrap()).await
}

async fn as_key(h: &Harness, key: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    call(h, method, path, &[("x-api-key", key)], body).await
}

async fn create_task(h: &Harness, key: &str, title: &str) -> String {
    let reply = as_key(h, key, "POST", "/tasks", Some(json!({ "title": title }))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_str().unwrap().to_owned()
}

fn assert_unauthenticated(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(reply.code(), "unauthenticated");
}

#[tokio::test]
async fn a_request_without_a_key_is_401_but_health_needs_none() {
    let (h, _) = harness(DEFAULT_CACHE_TTL);
    let reply = call(&h, "GET", "/tasks", &[], None).await;
    assert_unauthenticated(&reply);
    assert!(reply.body["error"]["message"].as_str().unwrap().contains("no credentials"));
    assert!(!reply.body["error"]["correlationId"].as_str().unwrap().is_empty());
    assert_unauthenticated(&call(&h, "POST", "/tasks", &[], Some(json!({"title": "x"}))).await);
    assert_eq!(call(&h, "GET", "/health", &[], None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_malformed_or_forged_key_is_401() {
    let (h, keys) = harness(DEFAULT_CACHE_TTL);
    let real = key(&keys, "acme", Role::Admin).await;
    let unknown = format!("tsk_{}_{}", "1".repeat(16), "2".repeat(64));
    // The real key's id with a secret of one's own.
    let forged = format!("{}_{}", real.rsplit_once('_').unwrap().0, "0".repeat(64));
    for bad in [unknown.as_str(), "tsk_nope", "hello", forged.as_str()] {
        assert_unauthenticated(&as_key(&h, bad, "GET", "/tasks", None).await);
    }
    assert_unauthenticated(&call(&h, "GET", "/tasks", &[("authorization", "Basic dTpw")], None).await);
    assert_eq!(as_key(&h, &real, "GET", "/tasks", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_key_works_in_x_api_key_and_as_a_bearer_token() {
    let (h, keys) = harness(DEFAULT_CACHE_TTL);
    let key = key(&keys, "acme", Role::Member).await;
    let id = create_task(&h, &key, "by header").await;
    let bearer = format!("Bearer {key}");
    let reply = call(&h, "GET", &format!("/tasks/{id}"), &[("authorization", &bearer)], None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["title"], "by header");
}

#[tokio::test]
async fn a_revoked_key_is_401_at_once_here_and_after_invalidation_from_another_process() {
    let (h, keys) = harness(Duration::from_secs(3600));
    // Revoked through the serving process's own key store: refused at once.
    let here = key(&keys, "acme", Role::Member).await;
    assert_eq!(as_key(&h, &here, "GET", "/tasks", None).await.status, StatusCode::OK);
    let here_id = here.split('_').nth(1).unwrap();
    keys.revoke(here_id).await.unwrap();
    assert_unauthenticated(&as_key(&h, &here, "GET", "/tasks", None).await);

    // Revoked by `taskstream keys revoke` (another connection): the cached verification
    // holds until it expires or the cache is invalidated.
    let admin = KeyAdmin::open(h.dir.path(), false).unwrap();
    let there = admin.create("acme", Role::Member).unwrap();
    let there_key = there.key.expose();
    assert_eq!(as_key(&h, there_key, "GET", "/tasks", None).await.status, StatusCode::OK);
    admin.revoke(&there.info.key_id).unwrap();
    assert_eq!(as_key(&h, there_key, "GET", "/tasks", None).await.status, StatusCode::OK, "cached");
    keys.invalidate_cache();
    assert_unauthenticated(&as_key(&h, there_key, "GET", "/tasks", None).await);
}

#[tokio::test]
async fn a_revocation_from_another_process_shows_once_the_cache_entry_expires() {
    // A zero ttl: every request is past its entry's expiry.
    let (h, _) = harness(Duration::ZERO);
    let admin = KeyAdmin::open(h.dir.path(), false).unwrap();
    let new = admin.create("acme", Role::Viewer).unwrap();
    assert_eq!(as_key(&h, new.key.expose(), "GET", "/tasks", None).await.status, StatusCode::OK);
    admin.revoke(&new.info.key_id).unwrap();
    assert_unauthenticated(&as_key(&h, new.key.expose(), "GET", "/tasks", None).await);
}

#[tokio::test]
async fn each_role_gets_what_it_may_on_tasks() {
    let (h, keys) = harness(DEFAULT_CACHE_TTL);
    let (viewer, member, admin) = (
        key(&keys, "acme", Role::Viewer).await,
        key(&keys, "acme", Role::Member).await,
        key(&keys, "acme", Role::Admin).await,
    );
    let id = create_task(&h, &member, "shared").await;
    let path = format!("/tasks/{id}");

    // The viewer reads...
    assert_eq!(as_key(&h, &viewer, "GET", "/tasks", None).await.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(as_key(&h, &viewer, "GET", &path, None).await.status, StatusCode::OK);
    // ...and writes nothing.
    for (method, target, body) in [
        ("POST", "/tasks".to_owned(), Some(json!({"title": "no"}))),
        ("PUT", path.clone(), Some(json!({"version": 1, "title": "no"}))),
        ("DELETE", format!("{path}?version=1"), None),
    ] {
        let reply = as_key(&h, &viewer, method, &target, body).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {target}: {}", reply.body);
        assert_eq!(reply.code(), "forbidden");
    }
    let unchanged = as_key(&h, &viewer, "GET", &path, None).await;
    assert_eq!(
        (unchanged.body["data"]["version"].as_u64(), unchanged.body["data"]["title"].as_str()),
        (Some(1), Some("shared"))
    );

    // The member writes tasks; the admin too.
    let reply = as_key(&h, &member, "PUT", &path, Some(json!({"version": 1, "title": "renamed"}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(as_key(&h, &member, "DELETE", &format!("{path}?version=2"), None).await.status, StatusCode::NO_CONTENT);
    let by_admin = create_task(&h, &admin, "by admin").await;
    let reply =
        as_key(&h, &admin, "PUT", &format!("/tasks/{by_admin}"), Some(json!({"version": 1, "title": "ok"}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // Managing categories is the admin's alone.
    let reply = as_key(&h, &member, "POST", "/categories", Some(json!({"name": "c"}))).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let reply = as_key(&h, &admin, "POST", "/categories", Some(json!({"name": "c"}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[tokio::test]
async fn a_key_of_one_tenant_never_reaches_another_tenants_task() {
    let (h, keys) = harness(DEFAULT_CACHE_TTL);
    let acme = key(&keys, "acme", Role::Admin).await;
    let globex = key(&keys, "globex", Role::Admin).await;
    let id = create_task(&h, &globex, "globex only").await;
    let path = format!("/tasks/{id}");

    for (method, body) in [("GET", None), ("PUT", Some(json!({"version": 1, "title": "taken"}))), ("DELETE", None)] {
        let reply = as_key(&h, &acme, method, &format!("{path}?version=1"), body).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}: {}", reply.body);
        assert_eq!(reply.code(), "not_found");
    }
    assert_eq!(as_key(&h, &acme, "GET", &format!("{path}/history"), None).await.status, StatusCode::NOT_FOUND);
    let listed = as_key(&h, &acme, "GET", "/tasks", None).await;
    assert_eq!(listed.body["data"], json!([]), "{}", listed.body);

    // The owner still has it, untouched.
    let own = as_key(&h, &globex, "GET", &path, None).await;
    assert_eq!(
        (own.body["data"]["version"].as_u64(), own.body["data"]["title"].as_str()),
        (Some(1), Some("globex only"))
    );
}

#[tokio::test]
async fn past_its_burst_a_key_gets_429_with_retry_after_and_other_keys_do_not() {
    let (mut h, keys) = harness(DEFAULT_CACHE_TTL);
    let clock = Arc::new(ManualClock::default());
    let config = RateLimitConfig { per_second: 1.0, burst: 3, ..RateLimitConfig::default() };
    let limiter = Arc::new(RateLimiter::with_clock(config, clock.clone()).unwrap());
    h.app = h.app.clone().layer(RateLimitLayer::new(limiter));
    let busy = key(&keys, "acme", Role::Viewer).await;
    let calm = key(&keys, "acme", Role::Viewer).await;

    for _ in 0..3 {
        assert_eq!(as_key(&h, &busy, "GET", "/tasks", None).await.status, StatusCode::OK);
    }
    let refused = call(&h, "GET", "/tasks", &[("x-api-key", &busy), ("x-correlation-id", "c-429")], None).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.body);
    assert_eq!(refused.headers.get("retry-after").unwrap(), "1");
    assert_eq!(refused.headers.get("x-correlation-id").unwrap(), "c-429");
    assert_eq!(refused.code(), "rate_limited");
    assert_eq!(refused.body["error"]["correlationId"], "c-429");
    assert_eq!(refused.body["error"]["details"]["retryAfterSeconds"], 1);
    // The same key as a bearer token is the same bucket.
    let bearer = format!("Bearer {busy}");
    let reply = call(&h, "GET", "/tasks", &[("authorization", &bearer)], None).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);

    // Another key has its own bucket.
    assert_eq!(as_key(&h, &calm, "GET", "/tasks", None).await.status, StatusCode::OK);
    // A second later, the busy key has a token again, and only one.
    clock.advance(Duration::from_secs(1));
    assert_eq!(as_key(&h, &busy, "GET", "/tasks", None).await.status, StatusCode::OK);
    assert_eq!(as_key(&h, &busy, "GET", "/tasks", None).await.status, StatusCode::TOO_MANY_REQUESTS);
}
