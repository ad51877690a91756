//! `/tasks`: create, read, change, delete, list.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use events_schema::events::{Priority, TaskStatus};
use events_schema::{AggregateType, Timestamp};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::AppState;
use super::error::ApiError;
use super::extract::{Ctx, Json, PathId, Query, normalise_id};
use super::idempotency::Idempotent;
use super::versions::{VersionQuery, expected_version};
use shared_core::Role;
use shared_core::context::RequestContext;
use shared_core::domain::{
    CreateTask, Description, DueDate, EstimatePoints, FieldError, Links, Patch, Tag, Task, Title, UpdateTask, UserName,
    apply_update, new_task,
};
use shared_core::ports::{Aggregate, Change, TaskFilter, TaskQuery, TaskSort};

pub(super) fn data(value: impl serde::Serialize) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "data": value }))
}

/// Collects every field's error, so a client fixes a request in one round trip.
#[derive(Default)]
pub(super) struct Errors(pub Vec<FieldError>);

impl Errors {
    pub fn take<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    pub fn check(self) -> Result<(), ApiError> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::invalid_fields(self.0)) }
    }

    /// Like `check`, with the links that point at nothing: on their own they are a 422
    /// (the request fits the schema; the tenant's data refuses it), with other errors a 400.
    pub fn check_with_links(mut self, links: Errors) -> Result<(), ApiError> {
        if !self.0.is_empty() {
            self.0.extend(links.0);
            return Err(ApiError::invalid_fields(self.0));
        }
        if links.0.is_empty() { Ok(()) } else { Err(ApiError::unprocessable_fields(links.0)) }
    }
}

pub(super) async fn task_or_404(state: &AppState, tenant: &str, id: &str) -> Result<Task, ApiError> {
    state.store.get_task(tenant, id).await?.ok_or_else(|| ApiError::not_found("the task"))
}

/// A link id must be one of ours (else an error in `errors`) and exist in the caller's
/// tenant (else an error in `missing`).
async fn check_link(
    state: &AppState,
    tenant: &str,
    field: &str,
    raw: &str,
    errors: &mut Errors,
    missing: &mut Errors,
) -> Option<String> {
    let Some(id) = normalise_id(raw) else {
        errors.0.push(FieldError::new(field, format!("{raw:?} is not an id")));
        return None;
    };
    let exists = match field {
        "categoryId" => state.store.get_category(tenant, &id).await.map(|c| c.is_some()),
        "projectId" => state.store.get_project(tenant, &id).await.map(|p| p.is_some()),
        _ => state.store.get_sprint(tenant, &id).await.map(|s| s.is_some()),
    };
    match exists {
        Ok(true) => Some(id),
        Ok(false) => {
            missing.0.push(FieldError::new(field, format!("no such {} {id}", &field[..field.len() - 2])));
            None
        }
        Err(e) => {
            errors.0.push(FieldError::new(field, format!("could not be checked: {e}")));
            None
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBody {
    #[schemars(length(min = 1, max = 200), regex(pattern = NON_BLANK))]
    title: String,
    #[schemars(length(max = 10000))]
    description: Option<String>,
    priority: Option<Priority>,
    #[schemars(length(min = 1, max = 128), regex(pattern = USER_NAME))]
    assignee: Option<String>,
    #[schemars(length(min = 1, max = 128), regex(pattern = USER_NAME))]
    reporter: Option<String>,
    #[schemars(length(max = 20), inner(length(min = 1, max = 50), regex(pattern = TAG)))]
    tags: Option<Vec<String>>,
    #[schemars(regex(pattern = DATE), extend("format" = "date"))]
    due_date: Option<String>,
    #[schemars(range(max = 1000))]
    estimate_points: Option<u32>,
    #[schemars(extend("format" = "uuid"))]
    category_id: Option<String>,
    #[schemars(extend("format" = "uuid"))]
    project_id: Option<String>,
    #[schemars(extend("format" = "uuid"))]
    sprint_id: Option<String>,
}

/// What the fields' patterns say, for the OpenAPI document (the checks are in the domain).
/// White space as Rust's `char::is_whitespace` has it, spelled out: regex engines disagree
/// on what `\s` holds.
macro_rules! white_space {
    () => {
        r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}
/// Text that is not blank: one character at least that is not white space.
pub(super) const NON_BLANK: &str = concat!("[^", white_space!(), "]");
pub(super) const USER_NAME: &str = concat!("^[^", white_space!(), r"\x00-\x1f\x7f-\x9f]+$");
const TAG: &str = r"^[\w.:-]+$";
pub(super) const DATE: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$";
/// The version of a change, as documented: a positive integer within JSON's exact range.
pub(super) const MAX_VERSION: u64 = 9_007_199_254_740_991;

impl CreateBody {
    async fn parse(self, state: &AppState, tenant: &str) -> Result<CreateTask, ApiError> {
        let mut e = Errors::default();
        let title = e.take(Title::parse(&self.title));
        let description = self.description.and_then(|d| e.take(Description::parse(&d)));
        let assignee = self.assignee.and_then(|a| e.take(UserName::parse("assignee", &a)));
        let reporter = self.reporter.and_then(|r| e.take(UserName::parse("reporter", &r)));
        let tags = e.take(Tag::parse_set(&self.tags.unwrap_or_default()));
        let due_date = self.due_date.and_then(|d| e.take(DueDate::parse(&d)));
        let estimate_points = self.estimate_points.and_then(|p| e.take(EstimatePoints::parse(p)));
        let mut links = Links::default();
        let mut missing = Errors::default();
        if let Some(raw) = &self.category_id {
            links.category_id = check_link(state, tenant, "categoryId", raw, &mut e, &mut missing).await;
        }
        if let Some(raw) = &self.project_id {
            links.project_id = check_link(state, tenant, "projectId", raw, &mut e, &mut missing).await;
        }
        if let Some(raw) = &self.sprint_id {
            links.sprint_id = check_link(state, tenant, "sprintId", raw, &mut e, &mut missing).await;
        }
        e.check_with_links(missing)?;
        match (title, tags) {
            (Some(title), Some(tags)) => Ok(CreateTask {
                title,
                description,
                priority: self.priority.unwrap_or(Priority::Medium),
                assignee,
                reporter,
                tags,
                due_date,
                estimate_points,
                links,
            }),
            _ => Err(ApiError::invalid_fields(vec![])),
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    ctx: Ctx,
    Idempotent { value, ticket }: Idempotent<CreateBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Member)?;
    if let Some(earlier) = ticket.replay(&state, ctx).await? {
        return Ok(earlier);
    }
    let cmd = value.parse(&state, ctx.tenant()).await?;
    // Time-ordered ids: lists are newest-first by id, in both engines.
    let task = new_task(uuid::Uuid::now_v7().to_string(), cmd, Timestamp::now());
    let location = format!("/tasks/{}", task.id);
    let task_id = task.id.clone();
    let mut response = ticket.create(&state, ctx, Aggregate::Task(task)).await?;
    if response.status() == StatusCode::CREATED
        && let Ok(value) = location.parse()
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    tracing::info!(%task_id, tenant = %ctx.tenant(), "task created");
    Ok(response)
}

pub async fn get(State(state): State<AppState>, Ctx(ctx): Ctx, PathId(id): PathId) -> Result<Response, ApiError> {
    Ok(data(task_or_404(&state, ctx.tenant(), &id).await?).into_response())
}

/// A field a client may send as `null` to clear it; absent means "leave it".
#[derive(Default)]
pub struct Nullable<T>(Patch<T>);

impl<T: schemars::JsonSchema> schemars::JsonSchema for Nullable<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        format!("Nullable_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <Option<T>>::json_schema(generator)
    }

    fn inline_schema() -> bool {
        true
    }
}

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
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateBody {
    /// The version being changed (or `?version=`, or `If-Match`).
    #[schemars(with = "u64", range(min = 1, max = MAX_VERSION))]
    version: Option<u64>,
    #[schemars(length(min = 1, max = 200), regex(pattern = NON_BLANK))]
    title: Option<String>,
    #[serde(default)]
    #[schemars(length(max = 10000))]
    description: Nullable<String>,
    status: Option<TaskStatus>,
    priority: Option<Priority>,
    #[serde(default)]
    #[schemars(length(min = 1, max = 128), regex(pattern = USER_NAME))]
    assignee: Nullable<String>,
    #[serde(default)]
    #[schemars(length(min = 1, max = 128), regex(pattern = USER_NAME))]
    reporter: Nullable<String>,
    #[schemars(length(max = 20), inner(length(min = 1, max = 50), regex(pattern = TAG)))]
    tags: Option<Vec<String>>,
    #[serde(default)]
    #[schemars(regex(pattern = DATE), extend("format" = "date"))]
    due_date: Nullable<String>,
    #[serde(default)]
    #[schemars(range(max = 1000))]
    estimate_points: Nullable<u32>,
    #[serde(default)]
    #[schemars(extend("format" = "uuid"))]
    category_id: Nullable<String>,
    #[serde(default)]
    #[schemars(extend("format" = "uuid"))]
    project_id: Nullable<String>,
    #[serde(default)]
    #[schemars(extend("format" = "uuid"))]
    sprint_id: Nullable<String>,
    #[serde(default, rename = "id")]
    #[schemars(skip)]
    _id: Option<IgnoredAny>,
    #[serde(default, rename = "tenant")]
    #[schemars(skip)]
    _tenant: Option<IgnoredAny>,
    #[serde(default, rename = "createdAt")]
    #[schemars(skip)]
    _created_at: Option<IgnoredAny>,
    #[serde(default, rename = "updatedAt")]
    #[schemars(skip)]
    _updated_at: Option<IgnoredAny>,
    #[serde(default, rename = "statusChangedAt")]
    #[schemars(skip)]
    _status_changed_at: Option<IgnoredAny>,
    /// Written only by escalation.
    #[serde(default, rename = "escalation")]
    #[schemars(skip)]
    _escalation: Option<IgnoredAny>,
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

async fn link_patch(
    state: &AppState,
    tenant: &str,
    field: &str,
    patch: Nullable<String>,
    e: &mut Errors,
    missing: &mut Errors,
) -> Patch<String> {
    match patch.0 {
        Patch::Keep => Patch::Keep,
        Patch::Clear => Patch::Clear,
        Patch::Set(raw) => {
            check_link(state, tenant, field, &raw, e, missing).await.map(Patch::Set).unwrap_or(Patch::Keep)
        }
    }
}

impl UpdateBody {
    async fn parse(self, state: &AppState, tenant: &str) -> Result<UpdateTask, ApiError> {
        let mut e = Errors::default();
        let mut missing = Errors::default();
        let cmd = UpdateTask {
            title: self.title.and_then(|t| e.take(Title::parse(&t))),
            description: parse_patch(self.description, |d| Description::parse(&d), &mut e),
            status: self.status,
            priority: self.priority,
            assignee: parse_patch(self.assignee, |a| UserName::parse("assignee", &a), &mut e),
            reporter: parse_patch(self.reporter, |r| UserName::parse("reporter", &r), &mut e),
            tags: self.tags.and_then(|t| e.take(Tag::parse_set(&t))),
            due_date: parse_patch(self.due_date, |d| DueDate::parse(&d), &mut e),
            estimate_points: parse_patch(self.estimate_points, EstimatePoints::parse, &mut e),
            category_id: link_patch(state, tenant, "categoryId", self.category_id, &mut e, &mut missing).await,
            project_id: link_patch(state, tenant, "projectId", self.project_id, &mut e, &mut missing).await,
            sprint_id: link_patch(state, tenant, "sprintId", self.sprint_id, &mut e, &mut missing).await,
        };
        e.check_with_links(missing)?;
        Ok(cmd)
    }
}

pub async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    PathId(id): PathId,
    headers: HeaderMap,
    Query(query): Query<VersionQuery>,
    Json(body): Json<UpdateBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Member)?;
    let expected = expected_version(body.version, query.version, &headers)?;
    let current = task_or_404(&state, ctx.tenant(), &id).await?;
    let cmd = body.parse(&state, ctx.tenant()).await?;
    if current.version != expected {
        return Err(ApiError::conflict(AggregateType::Task, expected, current.version));
    }
    let Some(next) = apply_update(&current, cmd, Timestamp::now())? else {
        return Ok(data(current).into_response());
    };
    commit_one(&state, ctx, Change::Put { new: Aggregate::Task(next.clone()), expected_version: Some(expected) })
        .await?;
    tracing::info!(task_id = %id, version = next.version, "task updated");
    Ok(data(next).into_response())
}

/// Commits one change; a refusal names the kind of resource it is about.
pub(super) async fn commit_one(state: &AppState, ctx: &RequestContext, change: Change) -> Result<(), ApiError> {
    let kind = change.target().0;
    state.store.commit(ctx, vec![change], None).await.map_err(|e| ApiError::store(e, kind))
}

pub async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    PathId(id): PathId,
    headers: HeaderMap,
    Query(query): Query<VersionQuery>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Member)?;
    let expected = expected_version(None, query.version, &headers)?;
    task_or_404(&state, ctx.tenant(), &id).await?;
    let change = Change::Delete { aggregate_type: AggregateType::Task, id: id.clone(), expected_version: expected };
    commit_one(&state, ctx, change).await?;
    tracing::info!(task_id = %id, version = expected + 1, "task deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The list's query string, shared by `GET /tasks` and the CSV export.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    status: Option<TaskStatus>,
    priority: Option<Priority>,
    assignee: Option<String>,
    #[schemars(extend("format" = "uuid"))]
    category_id: Option<String>,
    #[schemars(extend("format" = "uuid"))]
    project_id: Option<String>,
    #[schemars(extend("format" = "uuid"))]
    sprint_id: Option<String>,
    tag: Option<String>,
    #[schemars(regex(pattern = DATE), extend("format" = "date"))]
    due_from: Option<String>,
    #[schemars(regex(pattern = DATE), extend("format" = "date"))]
    due_to: Option<String>,
    #[schemars(extend("enum" = ["created", "dueDate", "priority"]))]
    sort: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    limit: Option<usize>,
    /// The `nextCursor` of the previous page of the same list (same filters and sort).
    cursor: Option<String>,
}

pub const MAX_PAGE: usize = 100;

impl ListQuery {
    pub(super) fn parse(self) -> Result<TaskQuery, ApiError> {
        let mut e = Errors::default();
        let limit = self.limit.unwrap_or(50);
        if limit == 0 || limit > MAX_PAGE {
            e.0.push(FieldError::new("limit", format!("must be 1 to {MAX_PAGE}, got {limit}")));
        }
        let sort = match self.sort.as_deref() {
            None | Some("created") => TaskSort::Created,
            Some("dueDate") => TaskSort::DueDate,
            Some("priority") => TaskSort::Priority,
            Some(other) => {
                e.0.push(FieldError::new("sort", format!("must be created, dueDate or priority, got {other:?}")));
                TaskSort::Created
            }
        };
        let date =
            |d: Option<String>, e: &mut Errors| d.and_then(|d| e.take(DueDate::parse(&d))).map(|d| d.to_string());
        let id = |field: &str, raw: Option<String>, e: &mut Errors| {
            raw.and_then(|r| {
                normalise_id(&r).or_else(|| e.take(Err(FieldError::new(field, format!("{r:?} is not an id")))))
            })
        };
        let filter = TaskFilter {
            status: self.status,
            priority: self.priority,
            assignee: self.assignee,
            category_id: id("categoryId", self.category_id, &mut e),
            project_id: id("projectId", self.project_id, &mut e),
            sprint_id: id("sprintId", self.sprint_id, &mut e),
            tag: self.tag,
            due_from: date(self.due_from, &mut e),
            due_to: date(self.due_to, &mut e),
        };
        e.check()?;
        Ok(TaskQuery { filter, sort, limit, cursor: self.cursor })
    }
}

pub async fn list(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let query = query.parse()?;
    let page = state.store.list_tasks(ctx.tenant(), &query).await?;
    Ok(axum::Json(serde_json::json!({ "data": page.items, "nextCursor": page.next_cursor })).into_response())
}
