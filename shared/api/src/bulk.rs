//! `POST /tasks/bulk`: one action on up to 100 tasks, all or nothing. On refusal every id
//! gets its own result, so a client can see which ones stood in the way.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use events_schema::events::TaskStatus;
use events_schema::{AggregateType, Timestamp};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{ApiError, ErrorCode, not_changed};
use super::extract::{Ctx, normalise_id};
use super::idempotency::Idempotent;
use shared_core::Role;
use shared_core::domain::{Patch, UpdateTask, apply_update};
use shared_core::ports::{Aggregate, Change, MAX_CHANGES_PER_COMMIT};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum BulkBody {
    SetStatus {
        #[schemars(length(min = 1, max = 99), inner(regex(pattern = LOWER_UUID)), extend("uniqueItems" = true))]
        ids: Vec<String>,
        status: TaskStatus,
    },
    Delete {
        #[schemars(length(min = 1, max = 99), inner(regex(pattern = LOWER_UUID)), extend("uniqueItems" = true))]
        ids: Vec<String>,
    },
    /// `categoryId: null` takes the tasks out of any category.
    MoveToCategory {
        #[schemars(length(min = 1, max = 99), inner(regex(pattern = LOWER_UUID)), extend("uniqueItems" = true))]
        ids: Vec<String>,
        #[serde(rename = "categoryId")]
        #[schemars(extend("format" = "uuid"))]
        category_id: Option<String>,
    },
}

/// Task ids as the API writes them. The server also reads other spellings of a UUID, but
/// two spellings of one id would be one task listed twice; at most 99 ids, so that an
/// Idempotency-Key's record fits the same transaction.
const LOWER_UUID: &str = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ItemResult {
    id: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// The task's version after the action (`null` for a delete).
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
}

impl ItemResult {
    fn ok(id: &str, version: Option<u64>) -> Self {
        Self { id: id.to_owned(), ok: true, code: None, message: None, version }
    }

    fn failed(id: &str, code: &'static str, message: String) -> Self {
        Self { id: id.to_owned(), ok: false, code: Some(code), message: Some(message), version: None }
    }
}

pub async fn run(
    State(state): State<AppState>,
    ctx: Ctx,
    Idempotent { value, ticket }: Idempotent<BulkBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Member)?;
    if let Some(earlier) = ticket.replay(&state, ctx).await? {
        return Ok(earlier);
    }
    let ids = match &value {
        BulkBody::SetStatus { ids, .. } | BulkBody::Delete { ids } | BulkBody::MoveToCategory { ids, .. } => ids,
    };
    // The idempotency record is written in the same transaction, so it takes one place.
    let max = MAX_CHANGES_PER_COMMIT - usize::from(ticket.has_key());
    if ids.is_empty() || ids.len() > max {
        let why = if ticket.has_key() { " (with an Idempotency-Key, whose record takes one place)" } else { "" };
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed,
            format!("ids must list 1 to {max} tasks{why}, got {}", ids.len()),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = ids.iter().find(|id| !seen.insert(normalise_id(id).unwrap_or_else(|| (*id).clone()))) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed,
            format!("{dup} is listed twice"),
        ));
    }
    let category = match &value {
        BulkBody::MoveToCategory { category_id: Some(raw), .. } => {
            let found = match normalise_id(raw) {
                Some(id) => state.store.get_category(ctx.tenant(), &id).await?,
                None => None,
            };
            let category = found.ok_or_else(|| {
                ApiError::unprocessable_fields(vec![shared_core::domain::FieldError::new(
                    "categoryId",
                    format!("no such category {raw}"),
                )])
            })?;
            Patch::Set(category.id)
        }
        _ => Patch::Clear,
    };

    let now = Timestamp::now();
    let mut results = Vec::with_capacity(ids.len());
    let mut changes = Vec::with_capacity(ids.len());
    for raw in ids {
        let task = match normalise_id(raw) {
            Some(id) => state.store.get_task(ctx.tenant(), &id).await?,
            None => None,
        };
        let Some(task) = task else {
            results.push(ItemResult::failed(raw, "not_found", "the task was not found".into()));
            continue;
        };
        let cmd = match &value {
            BulkBody::Delete { .. } => {
                changes.push(Change::Delete {
                    aggregate_type: AggregateType::Task,
                    id: task.id.clone(),
                    expected_version: task.version,
                });
                results.push(ItemResult::ok(&task.id, None));
                continue;
            }
            BulkBody::SetStatus { status, .. } => UpdateTask { status: Some(*status), ..Default::default() },
            BulkBody::MoveToCategory { .. } => UpdateTask { category_id: category.clone(), ..Default::default() },
        };
        match apply_update(&task, cmd, now) {
            Ok(Some(next)) => {
                results.push(ItemResult::ok(&task.id, Some(next.version)));
                changes.push(Change::Put { new: Aggregate::Task(next), expected_version: Some(task.version) });
            }
            Ok(None) => results.push(ItemResult::ok(&task.id, Some(task.version))),
            Err(e) => results.push(ItemResult::failed(&task.id, "invalid_transition", e.to_string())),
        }
    }
    if results.iter().any(|r| !r.ok) {
        let results: Vec<serde_json::Value> =
            results.iter().map(|r| if r.ok { not_changed(&r.id) } else { serde_json::json!(r) }).collect();
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::BulkRejected,
            "some tasks cannot take this action; nothing was changed",
        )
        .with_details(serde_json::json!({ "results": results })));
    }
    let body = serde_json::json!({ "data": { "results": results } });
    if changes.is_empty() {
        return ticket.commit_nothing(&state, ctx, StatusCode::OK, body).await;
    }
    tracing::info!(tasks = changes.len(), "bulk change");
    ticket.commit(&state, ctx, changes, StatusCode::OK, body).await
}
