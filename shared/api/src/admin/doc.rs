//! The shapes `/admin/...` answers with, for the OpenAPI document: the core's operation
//! types are plain serde types, described here field for field (the fuzz test holds every
//! response to these).

#![allow(dead_code)] // read by schemars only

use schemars::JsonSchema;

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LagDoc {
    /// Change records the router has not taken yet.
    router_pending: i64,
    /// Age of the oldest of them, in milliseconds.
    router_oldest_age_ms: Option<i64>,
    /// Change records the router parked (no events could be derived).
    router_parked: i64,
    consumers: Vec<ConsumerLagDoc>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerLagDoc {
    consumer: String,
    /// Events routed to the consumer that it has not read yet.
    depth: i64,
    /// Age of the oldest of them, in milliseconds.
    oldest_age_ms: Option<i64>,
    /// Failed events waiting out a backoff.
    retrying: i64,
    dead_letters: i64,
    replays_running: i64,
    /// Events the consumer took per second since an earlier look at the lag a few seconds
    /// back; null on the first look.
    events_per_second: Option<f64>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterDoc {
    id: i64,
    consumer: String,
    event_id: String,
    event_type: String,
    aggregate_id: String,
    occurred_at: String,
    receive_count: u32,
    /// Why the last attempt failed.
    reason: String,
    failed_at: String,
    /// The replay that delivered the event, when one did.
    replay_name: Option<String>,
    /// The event as the consumer received it (one dead letter only).
    event: Option<serde_json::Value>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayPlanDoc {
    archive: String,
    from: String,
    to: String,
    consumers: Vec<ConsumerPlanDoc>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerPlanDoc {
    consumer: String,
    /// Events in the window routed to the consumer.
    events: i64,
    /// Of those, how many would change its records.
    would_apply: i64,
    /// Of those, how many it already holds at their version or a later one.
    unchanged: i64,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplayStateDoc {
    Running,
    Completed,
    Cancelled,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayStatusDoc {
    name: String,
    from: String,
    to: String,
    state: ReplayStateDoc,
    created_at: String,
    consumers: Vec<ReplayProgressDoc>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplayProgressDoc {
    consumer: String,
    /// Share of the archive range read, 0 to 1000.
    progress_permille: i64,
    applied: i64,
    unchanged: i64,
    failed: i64,
    done: bool,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceDoc {
    task_id: String,
    changes: Vec<TraceChangeDoc>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStateDoc {
    Pending,
    Routed,
    Parked,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceChangeDoc {
    version: u64,
    at: String,
    correlation_id: String,
    actor: String,
    state: ChangeStateDoc,
    reason: Option<String>,
    events: Vec<TraceEventDoc>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceEventDoc {
    event_id: String,
    event_type: String,
    schema_version: u32,
    archived: bool,
    deliveries: Vec<TraceDeliveryDoc>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStateDoc {
    Applied,
    Pending,
    Retrying,
    DeadLettered,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TraceDeliveryDoc {
    consumer: String,
    state: DeliveryStateDoc,
    reason: Option<String>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouterRedrivenDoc {
    /// Change records routed: their events are on the bus and they are no longer parked.
    routed: usize,
    /// Events those records derived (the bus keeps one copy per event id).
    events: usize,
    /// Records that failed again; they stay parked with this attempt's reason.
    still_poison: Vec<StillPoisonDoc>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StillPoisonDoc {
    /// The change-log position the record is listed under.
    id: i64,
    reason: String,
}
