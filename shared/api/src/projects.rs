//! `/projects` and their sprints. Sprints move planned → active → closed by explicit
//! actions, one active sprint per project.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use events_schema::events::{ProjectSnapshot, SprintSnapshot, SprintStatus};
use events_schema::{AggregateType, Timestamp};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::extract::{Ctx, Json, PathId, Query};
use super::idempotency::Idempotent;
use super::tasks::NON_BLANK;
use super::tasks::{commit_one, data};
use super::versions::{VersionQuery, expected_version};
use shared_core::Role;
use shared_core::domain::{ProjectDraft, close_sprint, new_project, new_sprint, start_sprint, update_project};
use shared_core::ports::{Aggregate, Change};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProjectBody {
    /// Required to change a project (or `?version=`, or `If-Match`); absent to create one.
    #[serde(default)]
    #[schemars(range(min = 1, max = super::tasks::MAX_VERSION))]
    version: Option<u64>,
    #[schemars(length(min = 1, max = 100), regex(pattern = NON_BLANK))]
    name: String,
    #[schemars(length(max = 2000))]
    description: Option<String>,
    #[serde(default, rename = "id")]
    #[schemars(skip)]
    _id: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "createdAt")]
    #[schemars(skip)]
    _created_at: Option<serde::de::IgnoredAny>,
    #[serde(default, rename = "updatedAt")]
    #[schemars(skip)]
    _updated_at: Option<serde::de::IgnoredAny>,
}

impl ProjectBody {
    fn draft(&self) -> Result<ProjectDraft, ApiError> {
        ProjectDraft::parse(&self.name, self.description.as_deref()).map_err(ApiError::invalid_fields)
    }
}

async fn project_or_404(state: &AppState, tenant: &str, id: &str) -> Result<ProjectSnapshot, ApiError> {
    state.store.get_project(tenant, id).await?.ok_or_else(|| ApiError::not_found("the project"))
}

async fn sprint_or_404(state: &AppState, tenant: &str, id: &str) -> Result<SprintSnapshot, ApiError> {
    state.store.get_sprint(tenant, id).await?.ok_or_else(|| ApiError::not_found("the sprint"))
}

pub async fn list(State(state): State<AppState>, Ctx(ctx): Ctx) -> Result<Response, ApiError> {
    Ok(data(state.store.list_projects(ctx.tenant()).await?).into_response())
}

pub async fn get(State(state): State<AppState>, Ctx(ctx): Ctx, PathId(id): PathId) -> Result<Response, ApiError> {
    Ok(data(project_or_404(&state, ctx.tenant(), &id).await?).into_response())
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Idempotent { value, ticket }: Idempotent<ProjectBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    if let Some(earlier) = ticket.replay(&state, ctx).await? {
        return Ok(earlier);
    }
    let project = new_project(uuid::Uuid::now_v7().to_string(), value.draft()?, Timestamp::now());
    ticket.create(&state, ctx, Aggregate::Project(project)).await
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    PathId(id): PathId,
    headers: HeaderMap,
    Query(query): Query<VersionQuery>,
    Json(body): Json<ProjectBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let expected = expected_version(body.version, query.version, &headers)?;
    let current = project_or_404(&state, ctx.tenant(), &id).await?;
    let draft = body.draft()?;
    if current.version != expected {
        return Err(ApiError::conflict(AggregateType::Project, expected, current.version));
    }
    let Some(next) = update_project(&current, draft, Timestamp::now()) else {
        return Ok(data(current).into_response());
    };
    commit_one(&state, ctx, Change::Put { new: Aggregate::Project(next.clone()), expected_version: Some(expected) })
        .await?;
    Ok(data(next).into_response())
}

pub async fn list_sprints(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    project_or_404(&state, ctx.tenant(), &id).await?;
    Ok(data(state.store.list_sprints(ctx.tenant(), &id).await?).into_response())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SprintBody {
    #[schemars(length(min = 1, max = 100), regex(pattern = NON_BLANK))]
    name: String,
}

pub async fn create_sprint(
    State(state): State<AppState>,
    ctx: Ctx,
    PathId(project_id): PathId,
    Idempotent { value, ticket }: Idempotent<SprintBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    if let Some(earlier) = ticket.replay(&state, ctx).await? {
        return Ok(earlier);
    }
    project_or_404(&state, ctx.tenant(), &project_id).await?;
    let sprint = new_sprint(uuid::Uuid::now_v7().to_string(), project_id, &value.name)
        .map_err(|e| ApiError::invalid_fields(vec![e]))?;
    ticket.create(&state, ctx, Aggregate::Sprint(sprint)).await
}

pub async fn get_sprint(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    PathId(id): PathId,
) -> Result<Response, ApiError> {
    Ok(data(sprint_or_404(&state, ctx.tenant(), &id).await?).into_response())
}

async fn move_sprint(
    state: AppState,
    ctx: Ctx,
    id: String,
    headers: HeaderMap,
    query: VersionQuery,
    starting: bool,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let expected = expected_version(None, query.version, &headers)?;
    let current = sprint_or_404(&state, ctx.tenant(), &id).await?;
    if current.version != expected {
        return Err(ApiError::conflict(AggregateType::Sprint, expected, current.version));
    }
    let now = Timestamp::now();
    let moved = if starting { start_sprint(&current, now) } else { close_sprint(&current, now) };
    let next = moved.map_err(|m| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidTransition, m))?;
    if starting {
        let siblings = state.store.list_sprints(ctx.tenant(), &current.project_id).await?;
        if let Some(active) = siblings.iter().find(|s| s.status == SprintStatus::Active) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::InvalidTransition,
                format!("sprint {} of this project is active; close it first", active.id),
            ));
        }
    }
    commit_one(&state, ctx, Change::Put { new: Aggregate::Sprint(next.clone()), expected_version: Some(expected) })
        .await?;
    Ok(data(next).into_response())
}

pub async fn start(
    State(state): State<AppState>,
    ctx: Ctx,
    PathId(id): PathId,
    headers: HeaderMap,
    Query(query): Query<VersionQuery>,
) -> Result<Response, ApiError> {
    move_sprint(state, ctx, id, headers, query, true).await
}

pub async fn close(
    State(state): State<AppState>,
    ctx: Ctx,
    PathId(id): PathId,
    headers: HeaderMap,
    Query(query): Query<VersionQuery>,
) -> Result<Response, ApiError> {
    move_sprint(state, ctx, id, headers, query, false).await
}
