//! What an operator does to a running backbone: watch its lag, read and redrive dead
//! letters, replay a window of the archive into chosen consumers, and trace where one task's
//! events went. `serve` answers these over its admin API; the CLI reads the same figures.
//!
//! Every call is scoped by `tenant`: `Some` for an API caller (another tenant's events, dead
//! letters and replays do not exist for it), `None` for an operator on the machine, who sees
//! every tenant.

use async_trait::async_trait;
use events_schema::Timestamp;
use serde::Serialize;

use super::StoreError;
use crate::domain::FieldError;

/// Dead letters a list shows when the caller does not say.
pub const DEFAULT_DEAD_LETTER_LIMIT: usize = 100;
/// The most dead letters one list may hold.
pub const MAX_DEAD_LETTER_LIMIT: usize = 1000;
/// The longest replay name (EventBridge's limit, kept on both engines).
pub const MAX_REPLAY_NAME: usize = 64;

/// How far behind each stage is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lag {
    /// Change records the router has not taken yet.
    pub router_pending: i64,
    /// Age of the oldest of them, in milliseconds.
    pub router_oldest_age_ms: Option<i64>,
    /// Change records the router parked because no events could be derived from them.
    pub router_parked: i64,
    pub consumers: Vec<ConsumerLag>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerLag {
    pub consumer: String,
    /// Events routed to this consumer that it has not read yet.
    pub depth: i64,
    /// Age of the oldest of them (since it occurred), in milliseconds.
    pub oldest_age_ms: Option<i64>,
    /// Failed events waiting out a backoff before another attempt (SQS: in flight).
    pub retrying: i64,
    pub dead_letters: i64,
    /// Replays still feeding this consumer.
    pub replays_running: i64,
    /// Events the consumer took per second (of the caller's scope) since an earlier look a
    /// few seconds back; `None` until there has been one, so a single look cannot show a
    /// rate it did not see.
    pub events_per_second: Option<f64>,
}

impl Lag {
    /// The oldest age any stage is behind by, in milliseconds.
    pub fn max_age_ms(&self) -> Option<i64> {
        self.consumers.iter().map(|c| c.oldest_age_ms).chain([self.router_oldest_age_ms]).flatten().max()
    }
}

/// An event a consumer gave up on, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterView {
    pub id: i64,
    pub consumer: String,
    pub event_id: String,
    pub event_type: String,
    pub aggregate_id: String,
    pub occurred_at: String,
    pub receive_count: u32,
    /// The reason of the last failed attempt.
    pub reason: String,
    pub failed_at: String,
    /// The replay the event was delivered by, when it was.
    pub replay_name: Option<String>,
    /// The whole event as the consumer received it (`show` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<serde_json::Value>,
}

/// Which dead letters go back to their consumers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedriveRequest {
    pub consumer: Option<String>,
    /// At most this many, oldest first.
    pub max: Option<usize>,
    /// Only this one.
    pub id: Option<i64>,
}

/// A window of the archive to send again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    /// Generated when not given.
    pub name: Option<String>,
    /// Events that occurred at or after this...
    pub from: Timestamp,
    /// ...and before this.
    pub to: Timestamp,
    /// The consumers to feed; each must be a known one.
    pub consumers: Vec<String>,
}

impl ReplayRequest {
    /// Checks what needs no engine: a real window, known consumers, a usable name.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if self.from >= self.to {
            errors.push(FieldError::new("to", "must be after from"));
        }
        if self.consumers.is_empty() {
            errors.push(FieldError::new("consumers", "name at least one consumer"));
        }
        for c in &self.consumers {
            if events_schema::routing::route(c).is_none() {
                let known: Vec<&str> = events_schema::routing::ROUTES.iter().map(|r| r.name).collect();
                errors.push(FieldError::new(
                    "consumers",
                    format!("{c:?} is not a consumer; known: {}", known.join(", ")),
                ));
            }
        }
        if let Some(name) = &self.name
            && !valid_replay_name(name)
        {
            errors.push(FieldError::new(
                "name",
                format!("1 to {MAX_REPLAY_NAME} characters of letters, digits, '.', '-' and '_'"),
            ));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

/// EventBridge's replay name rule: `[\.\-_A-Za-z0-9]+`, at most 64 characters.
pub fn valid_replay_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_REPLAY_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// What a replay would do, counted without doing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayPlan {
    /// Where the events come from.
    pub archive: String,
    pub from: String,
    pub to: String,
    pub consumers: Vec<ConsumerPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerPlan {
    pub consumer: String,
    /// Events in the window routed to this consumer.
    pub events: i64,
    /// Of those, how many would change the consumer's records.
    pub would_apply: i64,
    /// Of those, how many the consumer already holds at their version or a later one.
    pub unchanged: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayState {
    Running,
    Completed,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayStatus {
    pub name: String,
    pub from: String,
    pub to: String,
    pub state: ReplayState,
    pub created_at: String,
    pub consumers: Vec<ReplayProgress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayProgress {
    pub consumer: String,
    /// Share of the archive range read so far, 0 to 1000 (per mille).
    pub progress_permille: i64,
    /// Events applied: they changed the consumer's records (or it could not tell).
    pub applied: i64,
    /// Events the consumer already held at their version or a later one.
    pub unchanged: i64,
    /// Events that failed and went to the consumer's retries (and maybe its dead letters).
    pub failed: i64,
    pub done: bool,
}

/// Where one task's changes went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub task_id: String,
    pub changes: Vec<TraceChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceChange {
    pub version: u64,
    pub at: String,
    pub correlation_id: String,
    pub actor: String,
    /// Not routed yet, routed, or parked by the router (see `reason`).
    pub state: ChangeState,
    pub reason: Option<String>,
    pub events: Vec<TraceEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeState {
    Pending,
    Routed,
    Parked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceEvent {
    pub event_id: String,
    pub event_type: String,
    pub schema_version: u32,
    /// Whether the bus archived it (it is then delivered to `deliveries`).
    pub archived: bool,
    pub deliveries: Vec<TraceDelivery>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceDelivery {
    pub consumer: String,
    pub state: DeliveryState,
    /// Why the last attempt failed (retrying, dead-lettered).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Applied,
    Pending,
    Retrying,
    DeadLettered,
}

/// What a redrive of the router's dead letters did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterRedriven {
    /// Change records routed: their events are on the bus, and they are no longer parked.
    pub routed: usize,
    /// Events those records derived (the bus keeps one copy per event id).
    pub events: usize,
    /// Records still poison; they stay parked with the reason of this attempt.
    pub still_poison: Vec<StillPoison>,
}

/// A parked change record that failed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StillPoison {
    /// Its change-log position, the id it is listed under.
    pub id: i64,
    pub reason: String,
}

/// The operator's view of an engine. See the module's note on `tenant`.
#[async_trait]
pub trait Operations: Send + Sync {
    /// The consumers this engine runs (a replay can feed only these).
    async fn consumers(&self) -> Result<Vec<String>, StoreError>;
    async fn lag(&self, tenant: Option<&str>) -> Result<Lag, StoreError>;
    /// Dead letters, oldest first, without their events; nothing is removed.
    async fn dead_letters(
        &self,
        tenant: Option<&str>,
        consumer: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetterView>, StoreError>;
    /// One dead letter with its event; [`StoreError::NotFound`] for another tenant's.
    async fn dead_letter(&self, tenant: Option<&str>, id: i64) -> Result<DeadLetterView, StoreError>;
    /// Sends dead letters back to their consumers, due at once; returns how many.
    async fn redrive(&self, tenant: Option<&str>, request: &RedriveRequest) -> Result<usize, StoreError>;
    /// Deletes dead letters for good; returns how many.
    async fn purge(&self, tenant: Option<&str>, consumer: Option<&str>) -> Result<usize, StoreError>;
    async fn plan_replay(&self, tenant: Option<&str>, request: &ReplayRequest) -> Result<ReplayPlan, StoreError>;
    /// Starts a replay; a name in use is [`StoreError::AlreadyExists`].
    async fn start_replay(&self, tenant: Option<&str>, request: &ReplayRequest) -> Result<ReplayStatus, StoreError>;
    async fn replays(&self, tenant: Option<&str>) -> Result<Vec<ReplayStatus>, StoreError>;
    async fn replay(&self, tenant: Option<&str>, name: &str) -> Result<ReplayStatus, StoreError>;
    async fn cancel_replay(&self, tenant: Option<&str>, name: &str) -> Result<ReplayStatus, StoreError>;
    /// The change records the router parked (no events could be derived from them), oldest
    /// first, as dead letters of `stream-router` numbered by change-log position.
    async fn router_dead_letters(&self, tenant: Option<&str>, limit: usize) -> Result<Vec<DeadLetterView>, StoreError>;
    /// One parked change record, with the record; [`StoreError::NotFound`] for another tenant's.
    async fn router_dead_letter(&self, tenant: Option<&str>, id: i64) -> Result<DeadLetterView, StoreError>;
    /// Routes parked change records again with the router's own derivation (all, the oldest
    /// `max`, or one id); one still poison stays parked with its new reason.
    async fn redrive_router(
        &self,
        tenant: Option<&str>,
        max: Option<usize>,
        id: Option<i64>,
    ) -> Result<RouterRedriven, StoreError>;
    /// [`StoreError::NotFound`] when the tenant has no change of this task.
    async fn trace(&self, tenant: Option<&str>, task_id: &str, version: Option<u64>) -> Result<Trace, StoreError>;
}
