//! The router as `serve` builds it for people, notifications and webhooks: API key
//! authentication, the engine's keys, outbox and subscriptions, and the notifier consumer
//! (recording webhook deliveries too) drained by `settle`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use serde_json::Value;
use shared_api::{KeysHandle, NotificationsHandle, WebhooksHandle};
use shared_core::Role;
use shared_core::consumers::notifier::Notifier;
use shared_core::pipeline::Consumer;
use shared_core::ports::{NotificationStore, WebhookStore};
use shared_embedded::{ApiKeys, DEFAULT_CACHE_TTL, Engine};

use super::{Harness, Reply, fast_config};

pub struct NotifyHarness {
    pub h: Harness,
    pub keys: ApiKeys,
    pub store: Arc<dyn NotificationStore>,
    pub notifier: Arc<dyn Consumer>,
    pub webhooks: Arc<dyn WebhookStore>,
}

impl NotifyHarness {
    pub fn new() -> Self {
        Self::build(false)
    }

    /// As `serve --allow-private-webhooks` builds it.
    pub fn allowing_private_webhooks() -> Self {
        Self::build(true)
    }

    fn build(allow_private: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), fast_config()).unwrap();
        let keys = engine.api_keys();
        let store = engine.notification_store();
        let webhooks = engine.webhook_store();
        let notifier: Arc<dyn Consumer> =
            Arc::new(Notifier::new(Arc::clone(&store)).with_webhooks(Arc::clone(&webhooks)));
        engine.register_queue(notifier.name()).unwrap();
        let mut h = Harness::with_auth(engine, dir, Arc::new(keys.authenticator(DEFAULT_CACHE_TTL)));
        h.app = h
            .app
            .clone()
            .layer(axum::Extension(KeysHandle(Arc::new(keys.clone()))))
            .layer(axum::Extension(NotificationsHandle(Arc::clone(&store))))
            .layer(axum::Extension(WebhooksHandle { store: Arc::clone(&webhooks), allow_private }));
        Self { h, keys, store, notifier, webhooks }
    }

    /// A key of `tenant` with `role` speaking for `person` (none: a key of no one).
    pub async fn key(&self, tenant: &str, role: Role, person: Option<&str>) -> String {
        self.keys.create_for(tenant, role, person).await.unwrap().key.expose().to_owned()
    }

    pub async fn call(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
        let builder = Request::builder().method(method).uri(path).header("x-api-key", key);
        let request = match body {
            Some(b) => builder.header("content-type", "application/json").body(Body::from(b.to_string())),
            None => builder.body(Body::empty()),
        };
        self.h.send(request.unwrap()).await
    }

    /// Routes everything and drains the notifier until idle.
    pub async fn settle(&self) {
        loop {
            let routed = self.h.engine.route_pending().await.unwrap();
            let drained = self.h.engine.drain_once(self.notifier.as_ref()).await.unwrap();
            if routed == 0 && drained == 0 {
                return;
            }
        }
    }

    /// `(kind, channel, summary)` of the person's notifications, newest first.
    pub async fn inbox(&self, key: &str) -> Vec<(String, String, String)> {
        let reply = self.call(key, "GET", "/notifications?limit=100", None).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let s = |f: &str| n[f].as_str().unwrap().to_owned();
                (s("kind"), s("channel"), s("summary"))
            })
            .collect()
    }
}
