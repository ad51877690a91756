//! The HTTP API, one axum `Router` for every engine: `taskstream serve` binds it to a
//! socket, the task-api Lambda feeds it through `lambda_http`.

mod admin;
pub mod auth_failures;
pub mod backpressure;
mod bulk;
mod categories;
mod comments;
mod console;
mod correlation;
mod error;
mod escalation;
mod event_stream;
mod export;
mod extract;
mod history;
mod idempotency;
pub mod ingest;
mod keys;
mod metrics;
mod notifications;
pub mod openapi;
mod people;
mod projects;
pub mod rate_limit;
mod search;
mod tasks;
mod versions;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};

pub use admin::OpsHandle;
pub use correlation::CORRELATION_HEADER;
pub use error::{ApiError, ErrorCode};
pub use escalation::EscalationHandle;
pub use event_stream::{EventsHandle, LAST_EVENT_ID};
pub use export::cell as csv_cell;
pub use idempotency::{IDEMPOTENCY_HEADER, REPLAYED_HEADER};
pub use keys::KeysHandle;
pub use notifications::NotificationsHandle;
pub use webhooks::WebhooksHandle;

use shared_core::ports::{Authenticator, ExportStore, HistoryStore, MetricsReader, SearchIndex, Store};

/// Request bodies above this are refused with 413 before they are read whole.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub history: Arc<dyn HistoryStore>,
    /// Read by `/search`; written only by the search-indexer consumer.
    pub search: Arc<dyn SearchIndex>,
    /// Read by `/metrics/{name}`; written only by the metrics consumer. `None` where the
    /// deployment keeps no metrics (its sink is none): `/metrics` then answers 404.
    pub metrics: Option<Arc<dyn MetricsReader>>,
    pub auth: Arc<dyn Authenticator>,
    /// Where `GET /tasks/export.csv` writes the CSV, answering with a link to it; `None`
    /// answers with the CSV itself.
    pub exports: Option<Arc<dyn ExportStore>>,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route("/tasks/export.csv", get(export::export))
        .route("/tasks/bulk", post(bulk::run))
        .route("/tasks/{id}", get(tasks::get).put(tasks::update).delete(tasks::delete))
        .route("/tasks/{id}/history", get(history::list))
        .route("/tasks/{id}/comments", get(comments::list).post(comments::create))
        .route("/categories", get(categories::list).post(categories::create))
        .route("/categories/{id}", get(categories::get).put(categories::update).delete(categories::delete))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/projects/{id}", get(projects::get).put(projects::update))
        .route("/projects/{id}/sprints", get(projects::list_sprints).post(projects::create_sprint))
        .route("/sprints/{id}", get(projects::get_sprint))
        .route("/sprints/{id}/start", post(projects::start))
        .route("/sprints/{id}/close", post(projects::close))
        .route("/ingest", post(ingest::one))
        .route("/ingest/batch", post(ingest::batch))
        .route("/search", get(search::search))
        .route("/search/suggest", get(search::suggest))
        .route("/metrics/{name}", get(metrics::get))
        .route("/events/stream", get(event_stream::stream))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{keyId}", delete(keys::revoke))
        .route("/admin/lag", get(admin::lag))
        .route("/admin/dead-letters", get(admin::dead_letters))
        .route("/admin/dead-letters/redrive", post(admin::redrive))
        .route("/admin/dead-letters/purge", post(admin::purge))
        .route("/admin/dead-letters/{letterId}", get(admin::dead_letter))
        .route("/admin/router/dead-letters", get(admin::router_dead_letters))
        .route("/admin/router/dead-letters/redrive", post(admin::redrive_router))
        .route("/admin/router/dead-letters/{changeId}", get(admin::router_dead_letter))
        .route("/admin/replays", get(admin::replays).post(admin::start_replay))
        .route("/admin/replays/plan", post(admin::plan_replay))
        .route("/admin/replays/{name}", get(admin::replay))
        .route("/admin/replays/{name}/cancel", post(admin::cancel_replay))
        .route("/admin/tasks/{id}/trace", get(admin::trace))
        .route("/people/{name}", get(people::get).put(people::put))
        .route("/escalation-policy", get(escalation::get).put(escalation::put))
        .route("/notifications", get(notifications::list))
        .route("/notifications/read", post(notifications::read))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/{id}", get(webhooks::get).put(webhooks::update).delete(webhooks::delete))
        .route("/webhooks/{id}/rotate-secret", post(webhooks::rotate_secret))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/{id}/deliveries/{deliveryId}/redeliver", post(webhooks::redeliver))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), extract::authenticate));

    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::serve))
        // The console's page and files: public, they hold no data (see `console`).
        .route("/console", get(console::page))
        .route("/console/", get(console::page))
        .route("/console/{asset}", get(console::asset))
        .merge(api)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(correlation::correlate))
        .with_state(state)
}

async fn health() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "data": { "status": "ok" } }))
}
