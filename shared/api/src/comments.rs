//! `/tasks/{id}/comments`: immutable comments with @mentions.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use events_schema::Timestamp;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{Ctx, PathId, Query};
use super::idempotency::Idempotent;
use super::tasks::NON_BLANK;
use super::tasks::{MAX_PAGE, task_or_404};
use shared_core::Role;
use shared_core::domain::{FieldError, new_comment};
use shared_core::ports::Aggregate;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    #[schemars(length(min = 1, max = 5000), regex(pattern = NON_BLANK))]
    body: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[schemars(range(min = 1, max = 100))]
    limit: Option<usize>,
    cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(task_id): PathId,
    Query(query): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid_fields(vec![FieldError::new(
            "limit",
            format!("must be 1 to {MAX_PAGE}, got {limit}"),
        )]));
    }
    task_or_404(&state, ctx.tenant(), &task_id).await?;
    let page = state.store.list_comments(ctx.tenant(), &task_id, limit, query.cursor.as_deref()).await?;
    Ok(axum::Json(serde_json::json!({ "data": page.items, "nextCursor": page.next_cursor })).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    PathId(task_id): PathId,
    Idempotent { value, ticket }: Idempotent<CommentBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Member)?;
    if let Some(earlier) = ticket.replay(&state, ctx).await? {
        return Ok(earlier);
    }
    task_or_404(&state, ctx.tenant(), &task_id).await?;
    let comment = new_comment(
        uuid::Uuid::now_v7().to_string(),
        task_id,
        ctx.identity.actor.clone(),
        &value.body,
        Timestamp::now(),
    )
    .map_err(|e| ApiError::invalid_fields(vec![e]))?;
    ticket.create(&state, ctx, Aggregate::Comment(comment)).await
}
