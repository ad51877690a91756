//! `/categories`: read by anyone of the tenant, managed by admins.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use events_schema::AggregateType;
use events_schema::events::CategorySnapshot;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{Ctx, Json, PathId, Query};
use super::idempotency::Idempotent;
use super::tasks::{Errors, VersionQuery, commit_one, data, expected_version, version_required};
use shared_core::Role;
use shared_core::domain::{CategoryDraft, CategoryName, Color, Icon, new_category, update_category};
use shared_core::ports::{Aggregate, Change};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CategoryBody {
    #[serde(default)]
    version: Option<u64>,
    name: String,
    color: Option<String>,
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
    Json(body): Json<CategoryBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let expected = expected_version(body.version, &headers)?.ok_or_else(version_required)?;
    let current = category_or_404(&state, ctx.tenant(), &id).await?;
    let draft = body.draft()?;
    if current.version != expected {
        return Err(ApiError::conflict(expected, current.version));
    }
    let Some(next) = update_category(&current, draft) else { return Ok(data(current).into_response()) };
    commit_one(&state, ctx, Change::Put { new: Aggregate::Category(next.clone()), expected_version: Some(expected) })
        .await?;
    Ok(data(next).into_response())
}

/// Tasks filed under a deleted category keep its id; lists by that id still find them.
pub async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    PathId(id): PathId,
    headers: HeaderMap,
    Query(query): Query<VersionQuery>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let current = category_or_404(&state, ctx.tenant(), &id).await?;
    let expected = expected_version(query.version, &headers)?.unwrap_or(current.version);
    commit_one(&state, ctx, Change::Delete { aggregate_type: AggregateType::Category, id, expected_version: expected })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
