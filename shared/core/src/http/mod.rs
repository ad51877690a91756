//! The HTTP API, one axum `Router` for every engine: `taskstream serve` binds it to a
//! socket, the task-api Lambda feeds it through `lambda_http`.

mod correlation;
mod error;
mod extract;
mod history;
mod tasks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

pub use correlation::CORRELATION_HEADER;
pub use error::{ApiError, ErrorCode};

use crate::ports::{Authenticator, HistoryStore, TaskStore};

/// Request bodies above this are refused with 413 before they are read whole.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub tasks: Arc<dyn TaskStore>,
    pub history: Arc<dyn HistoryStore>,
    pub auth: Arc<dyn Authenticator>,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route("/tasks/{id}", get(tasks::get).put(tasks::update).delete(tasks::delete))
        .route("/tasks/{id}/history", get(history::list))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), extract::authenticate));

    Router::new()
        .route("/health", get(health))
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
