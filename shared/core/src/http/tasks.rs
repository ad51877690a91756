//! `/tasks`: create, read, change, delete, list.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use events_schema::Timestamp;
use events_schema::events::{Priority, TaskStatus};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::extract::{Ctx, Json, Query, TaskId, if_match_version};
use crate::Role;
use crate::domain::{
    CreateTask, Description, DueDate, EstimatePoints, FieldError, Patch, Tag, Title, UpdateTask, UserName,
    apply_update, new_task,
};
use crate::ports::TaskQuery;

fn data(value: impl serde::Serialize) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "data": value }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    title: String,
    description: Option<String>,
    priority: Option<Priority>,
    assignee: Option<String>,
    reporter: Option<String>,
    tags: Option<Vec<String>>,
    due_date: Option<String>,
    estimate_points: Option<u32>,
}

/// Collects every field's error, so a client fixes a request in one round trip.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        if !self.0.is_empty() {
            return Err(ApiError::invalid_fields(self.0));
        }
        value().ok_or_else(|| ApiError::invalid_fields(vec![]))
    }
}

impl CreateBody {
    fn parse(self) -> Result<CreateTask, ApiError> {
        let mut errors = Errors::default();
        let title = errors.take(Title::parse(&self.title));
        let description = self.description.map(|d| errors.take(Description::parse(&d)));
        let assignee = self.assignee.map(|a| errors.take(UserName::parse("assignee", &a)));
        let reporter = self.reporter.map(|r| errors.take(UserName::parse("reporter", &r)));
        let tags = errors.take(Tag::parse_set(&self.tags.unwrap_or_default()));
        let due_date = self.due_date.map(|d| errors.take(DueDate::parse(&d)));
        let estimate_points = self.estimate_points.map(|p| errors.take(EstimatePoints::parse(p)));
        errors.finish(|| {
            Some(CreateTask {
                title: title?,
                description: description.map(|d| d.ok_or(())).transpose().ok()?,
                priority: self.priority.unwrap_or(Priority::Medium),
                assignee: assignee.map(|a| a.ok_or(())).transpose().ok()?,
                reporter: reporter.map(|r| r.ok_or(())).transpose().ok()?,
                tags: tags?,
                due_date: due_date.map(|d| d.ok_or(())).transpose().ok()?,
                estimate_points: estimate_points.map(|p| p.ok_or(())).transpose().ok()?,
            })
        })
    }
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CreateBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Member)?;
    let cmd = body.parse()?;
    // Time-ordered ids: tasks created in one millisecond still list in creation order.
    let task = new_task(uuid::Uuid::now_v7().to_string(), cmd, Timestamp::now());
    state.tasks.create(ctx, &task).await?;
    tracing::info!(task_id = %task.id, tenant = %ctx.tenant(), "task created");
    let location = format!("/tasks/{}", task.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], data(&task)).into_response())
}

pub async fn get(State(state): State<AppState>, Ctx(ctx): Ctx, TaskId(id): TaskId) -> Result<Response, ApiError> {
    let task = state.tasks.get(ctx.tenant(), &id).await?.ok_or_else(|| ApiError::not_found("the task"))?;
    Ok(data(task).into_response())
}

/// A field a client may send as `null` to clear it; absent means "leave it".
#[derive(Default)]
pub struct Nullable<T>(Patch<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Nullable<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Nullable(match Option::<T>::deserialize(d)? {
            None => Patch::Clear,
            Some(v) => Patch::Set(v),
        }))
    }
}

/// A change to a task. Clients may PUT back the `data` they read with fields changed: the
/// server-owned fields in it are accepted and ignored; any other unknown field is refused.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateBody {
    version: Option<u64>,
    title: Option<String>,
    #[serde(default)]
    description: Nullable<String>,
    status: Option<TaskStatus>,
    priority: Option<Priority>,
    #[serde(default)]
    assignee: Nullable<String>,
    #[serde(default)]
    reporter: Nullable<String>,
    tags: Option<Vec<String>>,
    #[serde(default)]
    due_date: Nullable<String>,
    #[serde(default)]
    estimate_points: Nullable<u32>,
    #[serde(default, rename = "id")]
    _id: Option<IgnoredAny>,
    #[serde(default, rename = "tenant")]
    _tenant: Option<IgnoredAny>,
    #[serde(default, rename = "createdAt")]
    _created_at: Option<IgnoredAny>,
    #[serde(default, rename = "updatedAt")]
    _updated_at: Option<IgnoredAny>,
    #[serde(default, rename = "statusChangedAt")]
    _status_changed_at: Option<IgnoredAny>,
}

fn parse_patch<T, U>(
    patch: Nullable<T>,
    parse: impl FnOnce(T) -> Result<U, FieldError>,
    errors: &mut Errors,
) -> Patch<U> {
    match patch.0 {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(v) => errors.take(parse(v)).map(Patch::Set).unwrap_or(Patch::Keep),
    }
}

impl UpdateBody {
    fn parse(self) -> Result<UpdateTask, ApiError> {
        let mut errors = Errors::default();
        let cmd = UpdateTask {
            title: self.title.and_then(|t| errors.take(Title::parse(&t))),
            description: parse_patch(self.description, |d| Description::parse(&d), &mut errors),
            status: self.status,
            priority: self.priority,
            assignee: parse_patch(self.assignee, |a| UserName::parse("assignee", &a), &mut errors),
            reporter: parse_patch(self.reporter, |r| UserName::parse("reporter", &r), &mut errors),
            tags: self.tags.and_then(|t| errors.take(Tag::parse_set(&t))),
            due_date: parse_patch(self.due_date, |d| DueDate::parse(&d), &mut errors),
            estimate_points: parse_patch(self.estimate_points, EstimatePoints::parse, &mut errors),
        };
        errors.finish(|| Some(cmd))
    }
}

/// The version a write expects: from the body or `If-Match`; both must agree.
fn expected_version(body: Option<u64>, headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match (body, if_match_version(headers)?) {
        (Some(a), Some(b)) if a != b => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed,
            format!("the body says version {a} but If-Match says {b}"),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    TaskId(id): TaskId,
    headers: HeaderMap,
    Json(body): Json<UpdateBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Member)?;
    let expected = expected_version(body.version, &headers)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            ErrorCode::VersionRequired,
            "say which version you are changing: \"version\" in the body or an If-Match header",
        )
    })?;
    let cmd = body.parse()?;
    let current = state.tasks.get(ctx.tenant(), &id).await?.ok_or_else(|| ApiError::not_found("the task"))?;
    if current.version != expected {
        return Err(ApiError::conflict(expected, current.version));
    }
    let Some(next) = apply_update(&current, cmd, Timestamp::now())? else {
        return Ok(data(current).into_response());
    };
    state.tasks.update(ctx, &next, expected).await?;
    tracing::info!(task_id = %id, version = next.version, "task updated");
    Ok(data(next).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    version: Option<u64>,
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    TaskId(id): TaskId,
    headers: HeaderMap,
    Query(query): Query<DeleteQuery>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Member)?;
    let expected = expected_version(query.version, &headers)?;
    let last = state.tasks.delete(ctx, &id, expected).await?;
    tracing::info!(task_id = %id, version = last.version + 1, "task deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<TaskStatus>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub const MAX_PAGE: usize = 100;

pub async fn list(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid_fields(vec![FieldError::new(
            "limit",
            format!("must be 1 to {MAX_PAGE}, got {limit}"),
        )]));
    }
    let page = state.tasks.list(ctx.tenant(), &TaskQuery { status: query.status, limit, cursor: query.cursor }).await?;
    Ok(axum::Json(serde_json::json!({ "data": page.items, "nextCursor": page.next_cursor })).into_response())
}
