//! `/notifications`: the calling person's notifications, newest first, and marking them
//! read. The caller is the person their credentials speak for (an API key made with a
//! person, a signed-in user); a key that speaks for no one has no notifications.
//!
//! Credentials that speak for no one (a key made without a person) have no notifications:
//! their list is empty and there is nothing for them to mark.
//!
//! The routes answer only where the engine keeps people and notifications: `serve` puts a
//! [`NotificationsHandle`] in the request extensions; without one they are 404.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared_core::Role;
use shared_core::domain::FieldError;
use shared_core::notify::Notification;
use shared_core::ports::{NotificationQuery, NotificationStore, ReadSelection};

use super::error::ApiError;
use super::extract::{Ctx, Json, Query};
use super::people::{ChannelName, KindName};
use super::tasks::{MAX_PAGE, data};

/// The engine's people and outbox, as `serve` hands them to the router.
#[derive(Clone)]
pub struct NotificationsHandle(pub Arc<dyn NotificationStore>);

pub struct Notifications(pub Arc<dyn NotificationStore>);

impl<S: Send + Sync> FromRequestParts<S> for Notifications {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<NotificationsHandle>() {
            Some(handle) => Ok(Notifications(Arc::clone(&handle.0))),
            None => Err(super::error::not_found().await),
        }
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationQueryParams {
    #[schemars(range(min = 1, max = 100))]
    limit: Option<usize>,
    cursor: Option<String>,
    /// Only those not yet read.
    unread: Option<bool>,
}

/// Which notifications to mark read: `{"ids": [...]}` or `{"all": true}`. Read leniently,
/// so a wrong combination gets a message naming it; documented as [`ReadBodyDoc`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    ids: Option<Vec<uuid::Uuid>>,
    all: Option<bool>,
}

/// Which notifications to mark read: some by id, or all.
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ReadBodyDoc {
    Ids(ReadIds),
    All(ReadAll),
}

#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ReadIds {
    #[schemars(length(min = 1, max = 100))]
    ids: Vec<uuid::Uuid>,
}

#[derive(schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ReadAll {
    #[schemars(extend("const" = true))]
    all: bool,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadResult {
    /// How many were unread and are now read.
    marked: usize,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    id: String,
    kind: KindName,
    channel: ChannelName,
    /// `delivered` (in-app: recorded; email and Slack: accepted by the mail server or
    /// Slack), `pending` (waiting for its channel's sender, or for its next attempt) or
    /// `failed` (given up on; the reason is `lastError`).
    status: String,
    /// Attempts made to send it (in-app: none).
    attempts: u32,
    /// Why the last attempt failed, when one did.
    last_error: Option<String>,
    event_id: String,
    event_type: String,
    task_id: Option<String>,
    sprint_id: Option<String>,
    actor: String,
    summary: String,
    occurred_at: String,
    read_at: Option<String>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id.hyphenated().to_string(),
            kind: n.kind.into(),
            channel: n.channel.into(),
            status: n.status.as_str().to_owned(),
            attempts: n.attempts,
            last_error: n.last_error,
            event_id: n.event_id.hyphenated().to_string(),
            event_type: n.event_type,
            task_id: n.task_id,
            sprint_id: n.sprint_id,
            actor: n.actor,
            summary: n.summary,
            occurred_at: n.occurred_at.to_string(),
            read_at: n.read_at.map(|t| t.to_string()),
        }
    }
}

pub async fn list(
    ctx: Ctx,
    Notifications(store): Notifications,
    Query(query): Query<NotificationQueryParams>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid_fields(vec![FieldError::new(
            "limit",
            format!("must be 1 to {MAX_PAGE}, got {limit}"),
        )]));
    }
    let ctx = ctx.require(Role::Viewer)?;
    let Some(who) = ctx.identity.person() else {
        return Ok(axum::Json(serde_json::json!({ "data": [], "nextCursor": null })).into_response());
    };
    let q = NotificationQuery { limit, unread: query.unread.unwrap_or(false), cursor: query.cursor };
    let page = store.list(ctx.tenant(), who, &q).await?;
    let items: Vec<NotificationView> = page.items.into_iter().map(NotificationView::from).collect();
    Ok(axum::Json(serde_json::json!({ "data": items, "nextCursor": page.next_cursor })).into_response())
}

pub async fn read(
    ctx: Ctx,
    Notifications(store): Notifications,
    Json(body): Json<ReadBody>,
) -> Result<Response, ApiError> {
    let which = match (body.ids, body.all) {
        (Some(ids), None) if !ids.is_empty() && ids.len() <= MAX_PAGE => ReadSelection::Ids(ids),
        (Some(_), None) => {
            return Err(ApiError::invalid_fields(vec![FieldError::new(
                "ids",
                format!("must hold 1 to {MAX_PAGE} ids"),
            )]));
        }
        (None, Some(true)) => ReadSelection::All,
        (None, Some(false)) => {
            return Err(ApiError::invalid_fields(vec![FieldError::new("all", "must be true when given")]));
        }
        _ => {
            return Err(ApiError::invalid_fields(vec![FieldError::new(
                "body",
                "give either \"ids\" (a list of notification ids) or \"all\": true",
            )]));
        }
    };
    let ctx = ctx.require(Role::Viewer)?;
    let Some(who) = ctx.identity.person() else { return Ok(data(ReadResult { marked: 0 }).into_response()) };
    let marked = store.mark_read(ctx.tenant(), who, &which).await?;
    Ok(data(ReadResult { marked }).into_response())
}
