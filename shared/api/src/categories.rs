//! `/categories`: read by anyone of the tenant, managed by admins.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use events_schema::AggregateType;
use events_schema::events::CategorySnapshot;
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::extract::{Ctx, Json, PathId, Query};
use super::idempotency::Idempotent;
use super::tasks::MAX_PAGE;
use super::tasks::NON_BLANK;
use super::tasks::{Errors, commit_one, data};
use super::versions::{VersionQuery, expected_version};
use shared_core::Role;
use shared_core::domain::{CategoryDraft, CategoryName, Color, Icon, new_category, update_category};
use shared_core::ports::{Aggregate, Change, TaskFilter, TaskQuery};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CategoryBody {
    /// Required to change a category (or `?version=`, or `If-Match`); absent to create one.
    #[serde(default)]
    #[schemars(range(min = 1, max = super::tasks::MAX_VERSION))]
    version: Option<u64>,
    #[schemars(length(min = 1, max = 50), regex(pattern = NON_BLANK))]
    name: String,
    #[schemars(regex(pattern = r"^#[0-9a-fA-F]{6}$"))]
    color: Option<String>,
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,32}$"))]
    icon: Option<String>,
    #[serde(default, rename = "id")]
    #[schemars(skip)]
    _id: Option<serde::de::IgnoredAny>,
}

impl CategoryBody {
    fn draft(self) -> Result<CategoryDraft, ApiError> {
        let mut e = Errors::default();
        let name = e.take(CategoryName::parse(&self.name));
        let color = self.color.and_then(|c| e.take(Color::parse(&c)));
        let icon = self.icon.and_then(|i| e.take(Icon::parse(&i)));
        e.check()?;
        name.map(|name| CategoryDraft { name, color, icon }).ok_or_else(|| ApiError::invalid_fields(vec![]))
    }
}

async fn category_or_404(state: &AppState, tenant: &str, id: &str) -> Result<CategorySnapshot, ApiError> {
    state.store.get_category(tenant, id).await?.ok_or_else(|| ApiError::not_found("the category"))
}

pub async fn list(State(state): State<AppState>, Ctx(ctx): Ctx) -> Result<Response, ApiError> {
    Ok(data(state.store.list_categories(ctx.tenant()).await?).into_response())
}

pub async fn get(State(state): State<AppState>, Ctx(ctx): Ctx, PathId(id): PathId) -> Result<Response, ApiError> {
    Ok(data(category_or_404(&state, ctx.tenant(), &id).await?).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Idempotent { value, ticket }: Idempotent<CategoryBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    if let Some(earlier) = ticket.replay(&state, ctx).await? {
        return Ok(earlier);
    }
    let category = new_category(uuid::Uuid::now_v7().to_string(), value.draft()?);
    ticket.create(&state, ctx, Aggregate::Category(category)).await
}

/// Replaces the category's fields (absent optional fields are cleared).
pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    PathId(id): PathId,
    headers: HeaderMap,
    Query(query): Query<VersionQuery>,
    Json(body): Json<CategoryBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let expected = expected_version(body.version, query.version, &headers)?;
    let current = category_or_404(&state, ctx.tenant(), &id).await?;
    let draft = body.draft()?;
    if current.version != expected {
        return Err(ApiError::conflict(AggregateType::Category, expected, current.version));
    }
    let Some(next) = update_category(&current, draft) else { return Ok(data(current).into_response()) };
    commit_one(&state, ctx, Change::Put { new: Aggregate::Category(next.clone()), expected_version: Some(expected) })
        .await?;
    Ok(data(next).into_response())
}

/// A category that tasks are filed under is not deleted: 409 with how many tasks use it, so
/// the caller moves them first (`POST /tasks/bulk` with `move_to_category`). Deleting it
/// would leave those tasks pointing at nothing; clearing it from them in the same commit
/// would be a change of up to every task of the tenant, past one commit's 100 items.
pub async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    PathId(id): PathId,
    headers: HeaderMap,
    Query(query): Query<VersionQuery>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let expected = expected_version(None, query.version, &headers)?;
    let current = category_or_404(&state, ctx.tenant(), &id).await?;
    if current.version != expected {
        return Err(ApiError::conflict(AggregateType::Category, expected, current.version));
    }
    let in_use = tasks_in_category(&state, ctx.tenant(), &id).await?;
    if in_use > 0 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InUse,
            format!("the category is used by {in_use} task(s); move them to another category first"),
        )
        .with_details(serde_json::json!({ "resource": "category", "tasks": in_use })));
    }
    commit_one(&state, ctx, Change::Delete { aggregate_type: AggregateType::Category, id, expected_version: expected })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// How many of the tenant's tasks are filed under the category, page by page.
async fn tasks_in_category(state: &AppState, tenant: &str, id: &str) -> Result<usize, ApiError> {
    let mut query = TaskQuery {
        filter: TaskFilter { category_id: Some(id.to_owned()), ..TaskFilter::default() },
        limit: MAX_PAGE,
        ..TaskQuery::default()
    };
    let mut count = 0;
    loop {
        let page = state.store.list_tasks(tenant, &query).await?;
        count += page.items.len();
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(count),
        }
    }
}
