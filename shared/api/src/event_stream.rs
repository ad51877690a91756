//! `GET /events/stream`: the tenant's events as Server-Sent Events, live.
//!
//! Each event's `id:` is its position in the archive. A client that reconnects with the
//! last id it saw (the `Last-Event-ID` header, as browsers send it, or `?lastEventId=`)
//! gets everything archived after it and nothing before: no gap and no repeat. Without
//! one, the stream starts at the archive's end (only what comes next).
//!
//! A stream does not ask the archive again and again: it waits for the engine to say that
//! events were archived, then reads from its position on. While nothing happens it sends a
//! comment line every heartbeat (so proxies keep the connection open) and looks at the
//! archive once, for events another process archived. It ends when the server shuts down.
//!
//! The route answers only where the engine offers a feed: `serve` puts an [`EventsHandle`]
//! in the request extensions; without one it is 404 like any unknown path.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::Deserialize;
use shared_core::Role;
use shared_core::domain::FieldError;
use shared_core::ports::{EventFeed, FeedEvent, FeedFilter, MAX_FEED_BATCH};
use tokio::sync::watch;

use super::error::ApiError;
use super::extract::{Ctx, Query};

/// The header a reconnecting client names the last event it saw with.
pub const LAST_EVENT_ID: &str = "last-event-id";

/// The engine's archive as a live feed, as `serve` hands it to the router.
#[derive(Clone)]
pub struct EventsHandle {
    pub feed: Arc<dyn EventFeed>,
    /// How long a stream may be silent before it sends a comment line.
    pub heartbeat: Duration,
    /// Turns true when the server shuts down: every open stream then ends.
    pub closing: watch::Receiver<bool>,
}

pub struct Events(EventsHandle);

impl<S: Send + Sync> FromRequestParts<S> for Events {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<EventsHandle>() {
            Some(handle) => Ok(Events(handle.clone())),
            None => Err(super::error::not_found().await),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StreamQuery {
    /// Only events of these types, comma-separated (`TaskCreated,TaskStatusChanged`).
    #[serde(rename = "type")]
    types: Option<TypeList>,
    /// Only events about this task: its own and the comments on it.
    task_id: Option<uuid::Uuid>,
    /// Resume after this archive position (the `id:` of the last event seen); the
    /// `Last-Event-ID` header, when sent, takes its place.
    #[schemars(range(min = 0))]
    last_event_id: Option<u64>,
}

/// `?type=`: event types, comma-separated. Its schema lists the types the catalogue knows.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct TypeList(String);

impl JsonSchema for TypeList {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EventTypeList".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let one = format!("({})", known_types().join("|"));
        schemars::json_schema!({
            "type": "string",
            "pattern": format!("^{one}(,{one})*$"),
            "description": "Event types, comma-separated."
        })
    }
}

/// Every event type the catalogue knows, for checking `?type=`.
fn known_types() -> Vec<&'static str> {
    let mut types: Vec<&'static str> = Vec::new();
    for entry in events_schema::catalog::entries() {
        if !types.contains(&entry.event_type) {
            types.push(entry.event_type);
        }
    }
    types
}

impl StreamQuery {
    fn filter(&self) -> Result<FeedFilter, ApiError> {
        let mut types: Vec<String> = Vec::new();
        if let Some(TypeList(list)) = &self.types {
            let known = known_types();
            let mut unknown = Vec::new();
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if !known.contains(&name) {
                    unknown.push(name.to_owned());
                } else if !types.iter().any(|t| t == name) {
                    types.push(name.to_owned());
                }
            }
            if !unknown.is_empty() {
                return Err(ApiError::invalid_fields(vec![FieldError::new(
                    "type",
                    format!("{} not an event type; known: {}", unknown.join(", "), known.join(", ")),
                )]));
            }
            if types.is_empty() {
                return Err(ApiError::invalid_fields(vec![FieldError::new(
                    "type",
                    "name at least one event type; several, comma-separated",
                )]));
            }
        }
        Ok(FeedFilter { types, task_id: self.task_id.map(|id| id.to_string()) })
    }
}

/// Where the client left off: the header first (a browser's reconnect sends the newest),
/// then the query parameter.
fn resume_point(headers: &HeaderMap, query: Option<u64>) -> Result<Option<i64>, ApiError> {
    let bad = |why: &str| ApiError::invalid_fields(vec![FieldError::new("Last-Event-ID", why.to_owned())]);
    let raw = match headers.get(LAST_EVENT_ID) {
        Some(value) => {
            let text = value.to_str().map_err(|_| bad("must be an archive position (a whole number)"))?.trim();
            // An empty id is how a server tells a client to forget its last one.
            if text.is_empty() {
                return Ok(None);
            }
            Some(text.parse::<u64>().map_err(|_| bad("must be an archive position (a whole number)"))?)
        }
        None => query,
    };
    raw.map(|p| i64::try_from(p).map_err(|_| bad("is past any archive position"))).transpose()
}

pub async fn stream(
    ctx: Ctx,
    Events(handle): Events,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = ctx.require(Role::Viewer)?.tenant().to_owned();
    let filter = query.filter()?;
    let resume = resume_point(&headers, query.last_event_id)?;
    // Subscribed before the first read: whatever is archived after it wakes the stream.
    let archived = handle.feed.archived();
    let head = handle.feed.head().await?;
    // A position past the archive's end was never handed out; it would skip what comes.
    let position = resume.map_or(head, |p| p.min(head));
    let follow = Follow {
        feed: handle.feed,
        tenant,
        filter,
        position,
        pending: VecDeque::new(),
        archived,
        closing: handle.closing,
        look_again: handle.heartbeat,
    };
    let events = futures_util::stream::unfold(follow, Follow::next);
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(handle.heartbeat).text("heartbeat"));
    // Proxies that buffer responses (nginx) would hold the events back.
    let headers = [(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"))];
    Ok((headers, sse).into_response())
}

/// One open stream: where it stands in the archive and what it waits on.
struct Follow {
    feed: Arc<dyn EventFeed>,
    tenant: String,
    filter: FeedFilter,
    /// Every event up to here was sent or passed over.
    position: i64,
    /// Read but not yet sent.
    pending: VecDeque<FeedEvent>,
    archived: watch::Receiver<u64>,
    closing: watch::Receiver<bool>,
    /// How long to wait for a wake-up before looking at the archive anyway.
    look_again: Duration,
}

impl Follow {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                let sse = Event::default().id(event.position.to_string()).data(event.envelope);
                return Some((Ok(sse), self));
            }
            if *self.closing.borrow() {
                return None;
            }
            match self.feed.after(&self.tenant, self.position, &self.filter, MAX_FEED_BATCH).await {
                Ok(page) => {
                    self.position = page.through;
                    if !page.events.is_empty() {
                        self.pending.extend(page.events);
                        continue;
                    }
                }
                Err(e) => {
                    // The client reconnects with the last id it got and misses nothing.
                    tracing::warn!(error = %e, "the event stream could not read the archive; ending it");
                    return None;
                }
            }
            tokio::select! {
                woken = self.archived.changed() => {
                    if woken.is_err() {
                        return None;
                    }
                }
                closed = self.closing.changed() => {
                    if closed.is_err() {
                        return None;
                    }
                }
                _ = tokio::time::sleep(self.look_again) => {}
            }
        }
    }
}
