//! A fresh embedded backbone per test, driven through the real router in process.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use shared_api::{AppState, router};
use shared_core::Identity;
use shared_core::consumers::history::AuditHistory;
use shared_core::consumers::metrics::MetricsRecorder;
use shared_core::consumers::search::SearchIndexer;
use shared_core::pipeline::Consumer;
use shared_core::ports::{Authenticator, SingleTenant};
use shared_embedded::{Engine, EngineConfig, QueueConfig};
use tower::ServiceExt;

pub mod notify;

pub struct Harness {
    pub engine: Engine,
    pub app: axum::Router,
    pub history: Arc<dyn Consumer>,
    /// The search indexer over the engine's FTS5 index; `settle` drains its queue too.
    pub search: Arc<dyn Consumer>,
    /// The metrics consumer over the engine's metrics table; `settle` drains its queue too.
    pub metrics: Arc<dyn Consumer>,
    pub dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<none>")
    }
}

/// Retries without delay, so dead-lettering takes no wall time in tests.
pub fn fast_config() -> EngineConfig {
    EngineConfig {
        queue: QueueConfig { base_backoff: Duration::ZERO, max_backoff: Duration::ZERO, ..QueueConfig::default() },
        ..EngineConfig::default()
    }
}

impl Harness {
    pub fn new() -> Self {
        Self::with_tenant("default")
    }

    pub fn with_tenant(tenant: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), fast_config()).unwrap();
        Self::on(engine, dir, tenant)
    }

    pub fn on(engine: Engine, dir: tempfile::TempDir, tenant: &str) -> Self {
        Self::as_role(engine, dir, tenant, shared_core::Role::Admin)
    }

    /// A caller of `tenant` with `role`, over an engine another harness may share.
    pub fn as_role(engine: Engine, dir: tempfile::TempDir, tenant: &str, role: shared_core::Role) -> Self {
        let caller = Identity { tenant: tenant.into(), actor: "tester".into(), role };
        Self::with_auth(engine, dir, Arc::new(SingleTenant(caller)))
    }

    /// Callers as `auth` says (the real API key authenticator, say).
    pub fn with_auth(engine: Engine, dir: tempfile::TempDir, auth: Arc<dyn Authenticator>) -> Self {
        let history_store = engine.history_store();
        let history: Arc<dyn Consumer> = Arc::new(AuditHistory::new(Arc::clone(&history_store)));
        engine.register_queue(history.name()).unwrap();
        let search_index = engine.search_index();
        let search: Arc<dyn Consumer> = Arc::new(SearchIndexer::new(Arc::clone(&search_index)));
        engine.register_queue(search.name()).unwrap();
        let metrics_store = engine.metrics();
        let metrics: Arc<dyn Consumer> = Arc::new(MetricsRecorder::new(metrics_store.clone()));
        engine.register_queue(metrics.name()).unwrap();
        let state = AppState {
            store: engine.store(),
            history: history_store,
            search: search_index,
            metrics: Some(metrics_store),
            auth,
            exports: None,
        };
        Self { app: router(state), engine, history, search, metrics, dir }
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        // Non-JSON bodies (the CSV export) come back as a string.
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply { status, headers, body }
    }

    pub async fn call_with(&self, method: &str, path: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
        let mut builder = Request::builder().method(method).uri(path).header("content-type", "application/json");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.send(builder.body(Body::from(body.to_string())).unwrap()).await
    }

    /// The raw body of a GET, for non-JSON responses.
    pub async fn text(&self, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let response =
            self.app.clone().oneshot(Request::builder().uri(path).body(Body::empty()).unwrap()).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let builder = Request::builder().method(method).uri(path);
        let request = match body {
            Some(b) => builder.header("content-type", "application/json").body(Body::from(b.to_string())),
            None => builder.body(Body::empty()),
        };
        self.send(request.unwrap()).await
    }

    pub async fn create(&self, body: Value) -> Value {
        let reply = self.call("POST", "/tasks", Some(body)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["data"].clone()
    }

    /// Routes the change log and drains the history, search and metrics queues until all are
    /// idle.
    pub async fn settle(&self) {
        loop {
            let routed = self.engine.route_pending().await.unwrap();
            let drained = self.engine.drain_once(self.history.as_ref()).await.unwrap();
            let indexed = self.engine.drain_once(self.search.as_ref()).await.unwrap();
            let measured = self.engine.drain_once(self.metrics.as_ref()).await.unwrap();
            if routed == 0 && drained == 0 && indexed == 0 && measured == 0 {
                return;
            }
        }
    }

    pub async fn change_log_len(&self) -> i64 {
        self.engine.change_log_len().await.unwrap()
    }
}
