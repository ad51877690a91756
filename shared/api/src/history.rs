//! `/tasks/{id}/history`: one entry per task version, readable after the task is deleted.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use super::extract::{Ctx, PathId};
use shared_core::consumers::history::entries;

pub async fn list(State(state): State<AppState>, Ctx(ctx): Ctx, PathId(id): PathId) -> Result<Response, ApiError> {
    let records = state.history.list(ctx.tenant(), &id).await?;
    if records.is_empty() && state.store.get_task(ctx.tenant(), &id).await?.is_none() {
        return Err(ApiError::not_found("the task"));
    }
    Ok(axum::Json(serde_json::json!({ "data": entries(records) })).into_response())
}
