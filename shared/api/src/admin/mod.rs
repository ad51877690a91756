//! `/admin/...`: the operator's API over the engine: lag, dead letters (list, show, redrive,
//! purge; and the change records the router parked, under `/admin/router/dead-letters`),
//! replays of the archive into chosen consumers (plan, start, follow, cancel) and
//! the trace of one task. Admins only, and walled by tenant like everything else: an admin
//! sees and moves only their own tenant's events.
//!
//! The routes answer only where the engine offers them: `serve` puts an [`OpsHandle`] in the
//! request extensions; without one they are 404 like any unknown path.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use shared_core::Role;
use shared_core::domain::FieldError;
use shared_core::ports::{
    DEFAULT_DEAD_LETTER_LIMIT, MAX_DEAD_LETTER_LIMIT, Operations, RedriveRequest, ReplayRequest, StoreError,
    valid_replay_name,
};

pub mod doc;

use super::error::ApiError;
use super::extract::{Ctx, Json, PathId, Query};
use super::tasks::data;

/// The engine's operations, as `serve` hands them to the router.
#[derive(Clone)]
pub struct OpsHandle(pub Arc<dyn Operations>);

pub struct Ops(Arc<dyn Operations>);

impl<S: Send + Sync> FromRequestParts<S> for Ops {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<OpsHandle>() {
            Some(handle) => Ok(Ops(Arc::clone(&handle.0))),
            None => Err(super::error::not_found().await),
        }
    }
}

/// The most dead letters one redrive may name by count.
pub const MAX_REDRIVE: usize = 100_000;

/// A consumer's name, as the routing table knows it.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct ConsumerName(String);

impl TryFrom<String> for ConsumerName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        if events_schema::routing::route(&name).is_some() {
            Ok(Self(name))
        } else {
            Err(format!("{name:?} is not a consumer; known: {}", consumer_names().join(", ")))
        }
    }
}

fn consumer_names() -> Vec<&'static str> {
    events_schema::routing::ROUTES.iter().map(|r| r.name).collect()
}

impl JsonSchema for ConsumerName {
    fn schema_name() -> Cow<'static, str> {
        "ConsumerName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "enum": consumer_names(), "description": "A consumer of the routing table." })
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterQuery {
    /// Only this consumer's.
    consumer: Option<ConsumerName>,
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

/// Which dead letters go back to their consumers; all of the tenant's when nothing is named.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveBody {
    consumer: Option<ConsumerName>,
    /// At most this many, oldest first.
    #[schemars(range(min = 1, max = 100000))]
    max: Option<usize>,
    /// Only this one.
    #[schemars(range(min = 1))]
    id: Option<i64>,
}

/// How many of the router's parked change records to list.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouterLetterQuery {
    #[schemars(range(min = 1, max = 1000))]
    limit: Option<usize>,
}

/// Which parked change records to route again; all of the tenant's when nothing is named.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouterRedriveBody {
    /// At most this many, oldest first.
    #[schemars(range(min = 1, max = 100000))]
    max: Option<usize>,
    /// Only this one (its change-log position, as listed).
    #[schemars(range(min = 1))]
    id: Option<i64>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeBody {
    consumer: Option<ConsumerName>,
}

/// A window of the archive to replay into chosen consumers.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// Unique among the tenant's replays; generated when absent.
    #[schemars(regex(pattern = r"^[.\-_A-Za-z0-9]{1,64}$"))]
    name: Option<String>,
    /// Events that occurred at or after this time (RFC 3339)...
    #[schemars(extend("format" = "date-time"))]
    from: String,
    /// ...and before this one.
    #[schemars(extend("format" = "date-time"))]
    to: String,
    #[schemars(length(min = 1))]
    consumers: Vec<ConsumerName>,
}

impl ReplayBody {
    /// What the schema cannot say (a window that ends before it starts, a time the clock
    /// cannot hold) is 422.
    fn parse(self) -> Result<ReplayRequest, ApiError> {
        let mut errors = Vec::new();
        let mut time = |field: &str, text: &str| match events_schema::Timestamp::parse(text) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(FieldError::new(field, format!("is not an RFC 3339 time: {e}")));
                None
            }
        };
        let (from, to) = (time("from", &self.from), time("to", &self.to));
        let (Some(from), Some(to)) = (from, to) else { return Err(ApiError::unprocessable_fields(errors)) };
        let request =
            ReplayRequest { name: self.name, from, to, consumers: dedup(self.consumers.into_iter().map(|c| c.0)) };
        request.validate().map_err(ApiError::unprocessable_fields)?;
        Ok(request)
    }
}

fn dedup(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceQuery {
    /// Only this version's change.
    #[schemars(range(min = 1))]
    version: Option<u64>,
}

/// How many dead letters a redrive or purge moved.
#[derive(Serialize, JsonSchema)]
pub struct Moved {
    pub count: usize,
}

fn tenant(ctx: &Ctx) -> Result<&str, ApiError> {
    Ok(ctx.require(Role::Admin)?.tenant())
}

pub async fn lag(ctx: Ctx, Ops(ops): Ops) -> Result<Response, ApiError> {
    Ok(data(ops.lag(Some(tenant(&ctx)?)).await?).into_response())
}

/// A listing's `limit`, the default when absent.
fn listing_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_DEAD_LETTER_LIMIT);
    if limit == 0 || limit > MAX_DEAD_LETTER_LIMIT {
        return Err(ApiError::invalid_fields(vec![FieldError::new(
            "limit",
            format!("must be 1 to {MAX_DEAD_LETTER_LIMIT}, got {limit}"),
        )]));
    }
    Ok(limit)
}

/// A redrive's `max` and `id`, checked as the schema states them.
fn redrive_bounds(max: Option<usize>, id: Option<i64>) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if max.is_some_and(|m| m == 0 || m > MAX_REDRIVE) {
        errors.push(FieldError::new("max", format!("must be 1 to {MAX_REDRIVE}")));
    }
    if id.is_some_and(|id| id < 1) {
        errors.push(FieldError::new("id", "must be at least 1"));
    }
    if errors.is_empty() { Ok(()) } else { Err(ApiError::invalid_fields(errors)) }
}

pub async fn dead_letters(ctx: Ctx, Ops(ops): Ops, Query(q): Query<DeadLetterQuery>) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    let limit = listing_limit(q.limit)?;
    let consumer = q.consumer.map(|c| c.0);
    Ok(data(ops.dead_letters(Some(tenant), consumer.as_deref(), limit).await?).into_response())
}

/// A dead letter's id from the path; anything but a positive number cannot exist.
fn letter_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| ApiError::not_found("the dead letter"))
}

pub async fn dead_letter(
    ctx: Ctx,
    Ops(ops): Ops,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    let id = letter_id(&id)?;
    let letter = ops.dead_letter(Some(tenant), id).await.map_err(|e| not_found(e, "the dead letter"))?;
    Ok(data(letter).into_response())
}

pub async fn redrive(ctx: Ctx, Ops(ops): Ops, Json(body): Json<RedriveBody>) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    redrive_bounds(body.max, body.id)?;
    let request = RedriveRequest { consumer: body.consumer.map(|c| c.0), max: body.max, id: body.id };
    let count = ops.redrive(Some(tenant), &request).await?;
    Ok(data(Moved { count }).into_response())
}

pub async fn purge(ctx: Ctx, Ops(ops): Ops, Json(body): Json<PurgeBody>) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    let consumer = body.consumer.map(|c| c.0);
    let count = ops.purge(Some(tenant), consumer.as_deref()).await?;
    Ok(data(Moved { count }).into_response())
}

pub async fn router_dead_letters(
    ctx: Ctx,
    Ops(ops): Ops,
    Query(q): Query<RouterLetterQuery>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    let limit = listing_limit(q.limit)?;
    Ok(data(ops.router_dead_letters(Some(tenant), limit).await?).into_response())
}

pub async fn router_dead_letter(
    ctx: Ctx,
    Ops(ops): Ops,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    let what = "the parked change record";
    let id = id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| ApiError::not_found(what))?;
    let letter = ops.router_dead_letter(Some(tenant), id).await.map_err(|e| not_found(e, what))?;
    Ok(data(letter).into_response())
}

pub async fn redrive_router(
    ctx: Ctx,
    Ops(ops): Ops,
    Json(body): Json<RouterRedriveBody>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    redrive_bounds(body.max, body.id)?;
    let done = ops.redrive_router(Some(tenant), body.max, body.id).await?;
    Ok(data(done).into_response())
}

/// Refuses a consumer this engine does not run: nothing would ever apply its replay.
async fn runs(ops: &dyn Operations, request: &ReplayRequest) -> Result<(), ApiError> {
    let runs = ops.consumers().await?;
    let errors: Vec<FieldError> = request
        .consumers
        .iter()
        .filter(|c| !runs.contains(c))
        .map(|c| FieldError::new("consumers", format!("{c} is not run by this engine (it runs {})", runs.join(", "))))
        .collect();
    if errors.is_empty() { Ok(()) } else { Err(ApiError::unprocessable_fields(errors)) }
}

pub async fn plan_replay(ctx: Ctx, Ops(ops): Ops, Json(body): Json<ReplayBody>) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    let request = body.parse()?;
    runs(ops.as_ref(), &request).await?;
    Ok(data(ops.plan_replay(Some(tenant), &request).await?).into_response())
}

pub async fn start_replay(ctx: Ctx, Ops(ops): Ops, Json(body): Json<ReplayBody>) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    let request = body.parse()?;
    runs(ops.as_ref(), &request).await?;
    let status = ops.start_replay(Some(tenant), &request).await.map_err(|e| match e {
        StoreError::AlreadyExists(name) => ApiError::new(
            StatusCode::CONFLICT,
            super::error::ErrorCode::InUse,
            format!("a replay named {name} exists already; choose another name"),
        ),
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, data(status)).into_response())
}

pub async fn replays(ctx: Ctx, Ops(ops): Ops) -> Result<Response, ApiError> {
    Ok(data(ops.replays(Some(tenant(&ctx)?)).await?).into_response())
}

/// A replay's name from the path; one that breaks the naming rule cannot exist.
fn replay_name(raw: &str) -> Result<&str, ApiError> {
    if valid_replay_name(raw) { Ok(raw) } else { Err(ApiError::not_found("the replay")) }
}

pub async fn replay(
    ctx: Ctx,
    Ops(ops): Ops,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    let status = ops.replay(Some(tenant), replay_name(&name)?).await.map_err(|e| not_found(e, "the replay"))?;
    Ok(data(status).into_response())
}

pub async fn cancel_replay(
    ctx: Ctx,
    Ops(ops): Ops,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    let status = ops.cancel_replay(Some(tenant), replay_name(&name)?).await.map_err(|e| not_found(e, "the replay"))?;
    tracing::info!(tenant, replay = %status.name, "replay cancelled over the API");
    Ok(data(status).into_response())
}

pub async fn trace(
    ctx: Ctx,
    Ops(ops): Ops,
    PathId(id): PathId,
    Query(q): Query<TraceQuery>,
) -> Result<Response, ApiError> {
    let tenant = tenant(&ctx)?;
    let trace = ops.trace(Some(tenant), &id, q.version).await.map_err(|e| not_found(e, "the task"))?;
    Ok(data(trace).into_response())
}

fn not_found(err: StoreError, what: &str) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found(what),
        other => other.into(),
    }
}
