//! `/webhooks`: an admin's subscriptions of internal services to the tenant's events, and
//! what became of their deliveries. The signing secret is in the answer that makes it (and
//! in that of a rotation) and in no other, so `POST /webhooks` takes no `Idempotency-Key`.
//!
//! A URL is judged where it points before it is stored: one naming or resolving to a
//! loopback, private, link-local (cloud metadata) or otherwise non-public address is
//! refused unless the operator allows private webhooks (`serve --allow-private-webhooks`).
//! The sender judges it again at every attempt.
//!
//! The routes answer only where the engine keeps subscriptions: `serve` puts a
//! [`WebhooksHandle`] in the request extensions; without one they are 404.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use events_schema::Timestamp;
use serde::{Deserialize, Serialize};
use shared_core::Role;
use shared_core::domain::FieldError;
use shared_core::ports::{DeliveryQuery, WebhookStore};
use shared_core::webhooks::address::{AddressError, resolve_checked};
use shared_core::webhooks::{
    Delivery, ROTATION_OVERLAP_MS, Subscription, SubscriptionSpec, UrlProblem, parse_event_types, parse_url,
};
use uuid::Uuid;

use super::IDEMPOTENCY_HEADER;
use super::error::ApiError;
use super::extract::{Ctx, Json, Query};
use super::tasks::{MAX_PAGE, data};

/// A subscription URL as the document states it (what `parse_url` takes, short of where it
/// points).
const URL_PATTERN: &str = r"^https?://[^\s\x00-\x1f\x7f-\x9f/?#@]+([/?][^\s\x00-\x1f\x7f-\x9f#]*)?$";

/// The engine's subscriptions, as `serve` hands them to the router, and whether URLs may
/// point at private addresses.
#[derive(Clone)]
pub struct WebhooksHandle {
    pub store: Arc<dyn WebhookStore>,
    pub allow_private: bool,
}

pub struct Webhooks(WebhooksHandle);

impl<S: Send + Sync> FromRequestParts<S> for Webhooks {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<WebhooksHandle>() {
            Some(handle) => Ok(Webhooks(handle.clone())),
            None => Err(super::error::not_found().await),
        }
    }
}

/// An event type a subscription can ask for: those the notifier receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum WebhookEventType {
    CommentAdded,
    SprintClosed,
    SprintStarted,
    SprintSummarized,
    TaskAssigned,
    TaskCompleted,
    TaskCreated,
    TaskDeleted,
    TaskEscalated,
    TaskStatusChanged,
    TaskUpdated,
}

impl WebhookEventType {
    pub fn as_str(&self) -> &'static str {
        match self {
            WebhookEventType::CommentAdded => "CommentAdded",
            WebhookEventType::SprintClosed => "SprintClosed",
            WebhookEventType::SprintStarted => "SprintStarted",
            WebhookEventType::SprintSummarized => "SprintSummarized",
            WebhookEventType::TaskAssigned => "TaskAssigned",
            WebhookEventType::TaskCompleted => "TaskCompleted",
            WebhookEventType::TaskCreated => "TaskCreated",
            WebhookEventType::TaskDeleted => "TaskDeleted",
            WebhookEventType::TaskEscalated => "TaskEscalated",
            WebhookEventType::TaskStatusChanged => "TaskStatusChanged",
            WebhookEventType::TaskUpdated => "TaskUpdated",
        }
    }
}

/// A subscription's whole setting (a PUT replaces all of it).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookBody {
    /// Where deliveries are POSTed: http or https, a public address unless serve allows
    /// private ones.
    #[schemars(length(min = 8, max = 2048), regex(pattern = URL_PATTERN))]
    url: String,
    /// The event types to deliver.
    #[schemars(length(min = 1, max = 16))]
    event_types: Vec<WebhookEventType>,
    /// A subscription that is not active is sent nothing; its pending deliveries wait.
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    id: String,
    url: String,
    event_types: Vec<String>,
    active: bool,
    created_at: String,
    updated_at: String,
    /// Until when the secret replaced by the last rotation still signs deliveries.
    previous_secret_until: Option<String>,
    /// Since when every attempt to the URL has failed; null while attempts succeed.
    failing_since: Option<String>,
    /// When the subscription was turned off for failing every attempt for three days (its
    /// tenant's admins were told); null unless it was. `"active": true` turns it on again.
    disabled_at: Option<String>,
    /// Why it was turned off: since when it failed, and the last error.
    disabled_reason: Option<String>,
    /// The signing secret (`whsec_<base64>`), shown once: in the answer that made it or
    /// rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl WebhookView {
    fn of(s: Subscription, show_secret: bool) -> Self {
        Self {
            id: s.id.hyphenated().to_string(),
            url: s.url,
            event_types: s.event_types,
            active: s.active,
            created_at: s.created_at.to_string(),
            updated_at: s.updated_at.to_string(),
            previous_secret_until: s.previous_secret.as_ref().map(|(_, until)| until.to_string()),
            failing_since: s.failing_since.map(|t| t.to_string()),
            disabled_at: s.disabled.as_ref().map(|(at, _)| at.to_string()),
            disabled_reason: s.disabled.map(|(_, reason)| reason),
            secret: show_secret.then(|| s.secret.expose()),
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// Also the `webhook-id` header of every attempt.
    id: String,
    event_id: String,
    event_type: String,
    /// `pending`, `delivered` or `dead`.
    status: String,
    attempts: u32,
    created_at: String,
    next_attempt_at: Option<String>,
    last_attempt_at: Option<String>,
    last_status_code: Option<u16>,
    /// Why the last attempt failed (for a dead delivery: why it was given up on).
    last_error: Option<String>,
    last_latency_ms: Option<u64>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            id: d.id.hyphenated().to_string(),
            event_id: d.event_id.hyphenated().to_string(),
            event_type: d.event_type,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            created_at: d.created_at.to_string(),
            next_attempt_at: d.next_attempt_at.map(|t| t.to_string()),
            last_attempt_at: d.last_attempt_at.map(|t| t.to_string()),
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            last_latency_ms: d.last_latency_ms,
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQueryParams {
    #[schemars(range(min = 1, max = 100))]
    limit: Option<usize>,
    cursor: Option<String>,
}

/// Checks the body and where its URL points.
async fn spec_of(body: WebhookBody, allow_private: bool) -> Result<SubscriptionSpec, ApiError> {
    let types: Vec<String> = body.event_types.iter().map(|t| t.as_str().to_owned()).collect();
    let event_types = parse_event_types(&types).map_err(|e| ApiError::invalid_fields(vec![e]))?;
    let target = parse_url(&body.url).map_err(|problem| match problem {
        UrlProblem::Shape(e) => ApiError::invalid_fields(vec![e]),
        UrlProblem::Unusable(e) => ApiError::unprocessable_fields(vec![e]),
    })?;
    if let Err(e) = resolve_checked(&target.host, target.port, allow_private).await {
        let message = match e {
            AddressError::Refused { .. } => format!("{e} (serve --allow-private-webhooks allows them)"),
            AddressError::Unresolved(_) => e.to_string(),
        };
        return Err(ApiError::unprocessable_fields(vec![FieldError::new("url", message)]));
    }
    Ok(SubscriptionSpec { url: body.url, event_types, active: body.active })
}

/// An id that is not a UUID names no subscription.
fn id_of(text: &str, what: &str) -> Result<Uuid, ApiError> {
    text.parse().map_err(|_| ApiError::not_found(what))
}

fn no_webhook() -> ApiError {
    ApiError::not_found("the webhook")
}

pub async fn create(
    ctx: Ctx,
    Webhooks(h): Webhooks,
    headers: HeaderMap,
    Json(body): Json<WebhookBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    if headers.contains_key(IDEMPOTENCY_HEADER) {
        return Err(ApiError::invalid_fields(vec![FieldError::new(
            IDEMPOTENCY_HEADER,
            "is not taken here: the answer holds the secret, which is shown once",
        )]));
    }
    let spec = spec_of(body, h.allow_private).await?;
    let made = h.store.create(ctx.tenant(), &spec).await?;
    tracing::info!(webhook = %made.id, tenant = %ctx.tenant(), "webhook subscription created");
    Ok((StatusCode::CREATED, data(WebhookView::of(made, true))).into_response())
}

pub async fn list(ctx: Ctx, Webhooks(h): Webhooks) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let all = h.store.list(ctx.tenant()).await?;
    Ok(data(all.into_iter().map(|s| WebhookView::of(s, false)).collect::<Vec<_>>()).into_response())
}

pub async fn get(ctx: Ctx, Webhooks(h): Webhooks, Path(id): Path<String>) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let id = id_of(&id, "the webhook")?;
    let found = h.store.get(ctx.tenant(), id).await?.ok_or_else(no_webhook)?;
    Ok(data(WebhookView::of(found, false)).into_response())
}

pub async fn update(
    ctx: Ctx,
    Webhooks(h): Webhooks,
    Path(id): Path<String>,
    Json(body): Json<WebhookBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let id = id_of(&id, "the webhook")?;
    // Another tenant's id is a 404 before the URL is judged.
    if h.store.get(ctx.tenant(), id).await?.is_none() {
        return Err(no_webhook());
    }
    let spec = spec_of(body, h.allow_private).await?;
    let changed = h.store.update(ctx.tenant(), id, &spec).await?.ok_or_else(no_webhook)?;
    Ok(data(WebhookView::of(changed, false)).into_response())
}

pub async fn delete(ctx: Ctx, Webhooks(h): Webhooks, Path(id): Path<String>) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let id = id_of(&id, "the webhook")?;
    if !h.store.delete(ctx.tenant(), id).await? {
        return Err(no_webhook());
    }
    tracing::info!(webhook = %id, tenant = %ctx.tenant(), "webhook subscription deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn rotate_secret(ctx: Ctx, Webhooks(h): Webhooks, Path(id): Path<String>) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let id = id_of(&id, "the webhook")?;
    let until = Timestamp::from_unix_millis(Timestamp::now().unix_millis().saturating_add(ROTATION_OVERLAP_MS))
        .unwrap_or_else(Timestamp::now);
    let rotated = h.store.rotate_secret(ctx.tenant(), id, until).await?.ok_or_else(no_webhook)?;
    tracing::info!(webhook = %id, tenant = %ctx.tenant(), "webhook secret rotated");
    Ok(data(WebhookView::of(rotated, true)).into_response())
}

pub async fn deliveries(
    ctx: Ctx,
    Webhooks(h): Webhooks,
    Path(id): Path<String>,
    Query(query): Query<DeliveryQueryParams>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid_fields(vec![FieldError::new(
            "limit",
            format!("must be 1 to {MAX_PAGE}, got {limit}"),
        )]));
    }
    let ctx = ctx.require(Role::Admin)?;
    let id = id_of(&id, "the webhook")?;
    let q = DeliveryQuery { limit, cursor: query.cursor };
    let page = h.store.deliveries(ctx.tenant(), id, &q).await?.ok_or_else(no_webhook)?;
    let items: Vec<DeliveryView> = page.items.into_iter().map(DeliveryView::from).collect();
    Ok(axum::Json(serde_json::json!({ "data": items, "nextCursor": page.next_cursor })).into_response())
}

pub async fn redeliver(
    ctx: Ctx,
    Webhooks(h): Webhooks,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let id = id_of(&id, "the webhook")?;
    let delivery_id = id_of(&delivery_id, "the delivery")?;
    if h.store.get(ctx.tenant(), id).await?.is_none() {
        return Err(no_webhook());
    }
    let again = h.store.redeliver(ctx.tenant(), id, delivery_id).await?;
    let again = again.ok_or_else(|| ApiError::not_found("the delivery"))?;
    tracing::info!(webhook = %id, delivery = %delivery_id, tenant = %ctx.tenant(), "webhook delivery queued again");
    Ok((StatusCode::ACCEPTED, data(DeliveryView::from(again))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_event_types_are_the_ones_webhooks_carry() {
        use WebhookEventType::*;
        let all = [
            CommentAdded,
            SprintClosed,
            SprintStarted,
            SprintSummarized,
            TaskAssigned,
            TaskCompleted,
            TaskCreated,
            TaskDeleted,
            TaskEscalated,
            TaskStatusChanged,
            TaskUpdated,
        ];
        let documented: Vec<&str> = all.iter().map(WebhookEventType::as_str).collect();
        assert_eq!(documented, shared_core::webhooks::event_types());
        for t in all {
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(t.as_str()));
        }
    }
}
