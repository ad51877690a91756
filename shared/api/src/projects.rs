//! `/projects` and their sprints. Sprints move planned → active → closed by explicit
//! actions, one active sprint per project.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use events_schema::events::{ProjectSnapshot, SprintSnapshot, SprintStatus};
use events_schema::{AggregateType, Timestamp};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::extract::{Ctx, Json, PathId, Query, json_body, normalise_id, parse_json};
use super::idempotency::Idempotent;
use super::tasks::NON_BLANK;
use super::tasks::{commit_one, data};
use super::versions::{VersionQuery, expected_version};
use shared_core::Role;
use shared_core::domain::{
    CarryOver, FieldError, ProjectDraft, check_carry_over_target, close_sprint, new_project, new_sprint, start_sprint,
    update_project,
};
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

/// Where `POST /sprints/{id}/close` sends the unfinished tasks: `backlog`, or the id of a
/// planned or active sprint of the same project. Without a body, or without the field, the
/// backlog.
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloseBody {
    /// `backlog` (the default) or the id of a planned or active sprint of the same project.
    #[serde(default)]
    #[schemars(regex(pattern = CARRY_OVER))]
    carry_over_to: Option<String>,
}

const CARRY_OVER: &str = r"^(backlog|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$";

/// The body of a close, which may be absent (or `null`): 415 for another media type, 400
/// for a body of the wrong shape.
async fn close_body(request: Request) -> Result<CloseBody, ApiError> {
    let bytes = json_body(request, &()).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(CloseBody::default());
    }
    parse_json::<Option<CloseBody>>(&bytes).map(Option::unwrap_or_default)
}

/// The carry-over a close asks for, checked against the closing sprint: a sprint of another
/// tenant reads as no sprint at all.
async fn carry_over(
    state: &AppState,
    tenant: &str,
    closing: &SprintSnapshot,
    body: CloseBody,
) -> Result<CarryOver, ApiError> {
    let Some(raw) = body.carry_over_to else {
        return Ok(CarryOver::Backlog);
    };
    if raw == CarryOver::BACKLOG {
        return Ok(CarryOver::Backlog);
    }
    let refuse = |message: String| ApiError::unprocessable_fields(vec![FieldError::new("carryOverTo", message)]);
    let Some(id) = normalise_id(&raw) else {
        return Err(ApiError::invalid_fields(vec![FieldError::new(
            "carryOverTo",
            format!("must be \"backlog\" or a sprint id, got {raw:?}"),
        )]));
    };
    let target = state.store.get_sprint(tenant, &id).await?.ok_or_else(|| refuse(format!("no such sprint {raw}")))?;
    check_carry_over_target(closing, &target).map_err(refuse)?;
    Ok(CarryOver::Sprint(target.id))
}

async fn move_sprint(
    state: AppState,
    ctx: Ctx,
    id: String,
    headers: HeaderMap,
    query: VersionQuery,
    closing: Option<Request>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let expected = expected_version(None, query.version, &headers)?;
    let body = match closing {
        Some(request) => Some(close_body(request).await?),
        None => None,
    };
    let current = sprint_or_404(&state, ctx.tenant(), &id).await?;
    if current.version != expected {
        return Err(ApiError::conflict(AggregateType::Sprint, expected, current.version));
    }
    let now = Timestamp::now();
    let starting = body.is_none();
    let moved = match body {
        None => start_sprint(&current, now),
        Some(body) => {
            let to = carry_over(&state, ctx.tenant(), &current, body).await?;
            close_sprint(&current, &to, now)
        }
    };
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
    move_sprint(state, ctx, id, headers, query, None).await
}

/// Closes an active sprint; the escalation consumer then carries its unfinished tasks over
/// as the body chose and records its summary.
pub async fn close(
    State(state): State<AppState>,
    ctx: Ctx,
    PathId(id): PathId,
    headers: HeaderMap,
    Query(query): Query<VersionQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    move_sprint(state, ctx, id, headers, query, Some(request)).await
}
