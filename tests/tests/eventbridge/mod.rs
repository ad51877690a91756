//! A local server that speaks EventBridge's PutEvents protocol, answering each call as a test
//! scripts it, for the real `EventBridgePublisher` (the AWS SDK client, its JSON protocol and
//! its error parsing) driven by the stream router's batch logic: an SDK-level double for what
//! the emulator cannot produce (it refuses an entry only for a missing field or a detail that
//! is not JSON, and never throttles). Every request body is recorded.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eventbridge::config::retry::RetryConfig;
use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use events_schema::{AggregateType, Timestamp};
use serde_json::{Value, json};
use shared_aws::bus::EventBridgePublisher;
use shared_core::ChangeRecord;
use shared_core::ports::Aggregate;
use shared_core::stream_router::{PoisonParking, RetryPolicy, RouterReport, StreamRecord, prepare_batch, route_batch};

pub const BUS: &str = "taskstream-test";
pub const JSON_1_1: &str = "application/x-amz-json-1.1";

/// One entry of a recorded PutEvents request, with the envelope its detail carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub event_id: String,
    pub aggregate: String,
    pub version: u64,
    pub detail_type: String,
    /// The X-Ray trace header the entry carried.
    pub trace: Option<String>,
}

impl Sent {
    pub fn of(entry: &Value) -> Self {
        assert_eq!(entry["EventBusName"], BUS, "{entry}");
        assert_eq!(entry["Source"], events_schema::EVENT_SOURCE, "{entry}");
        let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
        assert_eq!(entry["DetailType"], detail["eventType"], "the detail-type names the event");
        Self {
            event_id: detail["eventId"].as_str().unwrap().to_owned(),
            aggregate: detail["aggregateId"].as_str().unwrap().to_owned(),
            version: detail["aggregateVersion"].as_u64().unwrap(),
            detail_type: entry["DetailType"].as_str().unwrap().to_owned(),
            trace: entry["TraceHeader"].as_str().map(str::to_owned),
        }
    }
}

/// How the bus answers a call: `Err(status, body)` fails the call as a whole; otherwise each
/// entry gets `Some((code, message))` (refused) or `None` (accepted).
pub type Answer = Result<Vec<Option<(&'static str, &'static str)>>, (u16, Value)>;
pub type Script = Box<dyn Fn(usize, &[Sent]) -> Answer + Send + Sync>;

pub struct Bus {
    /// Every call's entries, and which of them the bus accepted.
    calls: Mutex<Vec<(Vec<Sent>, Vec<bool>)>>,
    script: Script,
}

impl Bus {
    pub fn calls(&self) -> Vec<Vec<Sent>> {
        self.calls.lock().unwrap().iter().map(|(sent, _)| sent.clone()).collect()
    }

    /// Every accepted entry, in the order the bus accepted them.
    pub fn accepted(&self) -> Vec<Sent> {
        let calls = self.calls.lock().unwrap();
        calls.iter().flat_map(|(sent, ok)| sent.iter().zip(ok).filter(|(_, ok)| **ok).map(|(s, _)| s.clone())).collect()
    }
}

/// The EventBridge JSON protocol, as much of it as PutEvents needs.
pub async fn put_events(
    State(bus): State<Arc<Bus>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let reply = |status: u16, body: Value| {
        (StatusCode::from_u16(status).unwrap(), [("content-type", JSON_1_1)], body.to_string())
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    if method != Method::POST || uri.path() != "/" || header("x-amz-target") != "AWSEvents.PutEvents" {
        return reply(400, json!({"__type": "UnknownOperationException", "message": format!("{method} {uri}")}));
    }
    assert!(header("content-type").starts_with(JSON_1_1), "content-type {:?}", header("content-type"));
    assert!(header("authorization").starts_with("AWS4-HMAC-SHA256 "), "requests are signed");
    let request: Value = serde_json::from_slice(&body).unwrap();
    let sent: Vec<Sent> = request["Entries"].as_array().unwrap().iter().map(Sent::of).collect();
    let n = bus.calls.lock().unwrap().len();
    match (bus.script)(n, &sent) {
        Err((status, body)) => {
            bus.calls.lock().unwrap().push((sent, Vec::new()));
            reply(status, body)
        }
        Ok(outcomes) => {
            assert_eq!(outcomes.len(), sent.len(), "the script answers every entry");
            let entries: Vec<Value> = outcomes
                .iter()
                .enumerate()
                .map(|(i, outcome)| match outcome {
                    None => json!({"EventId": format!("eb-{n}-{i}")}),
                    Some((code, message)) => json!({"ErrorCode": code, "ErrorMessage": message}),
                })
                .collect();
            let failed = outcomes.iter().filter(|o| o.is_some()).count();
            bus.calls.lock().unwrap().push((sent, outcomes.iter().map(Option::is_none).collect()));
            reply(200, json!({"FailedEntryCount": failed, "Entries": entries}))
        }
    }
}

/// A listening bus and the real publisher pointed at it: static dummy credentials, a region,
/// the endpoint override, and no SDK retries (every resend is the router's, so calls are
/// exactly what the router decided).
pub async fn bus(
    script: impl Fn(usize, &[Sent]) -> Answer + Send + Sync + 'static,
) -> (Arc<Bus>, EventBridgePublisher) {
    let bus = Arc::new(Bus { calls: Mutex::default(), script: Box::new(script) });
    let app = axum::Router::new().fallback(put_events).with_state(Arc::clone(&bus));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "static"))
        .retry_config(RetryConfig::disabled())
        .build();
    (bus, EventBridgePublisher::new(aws_sdk_eventbridge::Client::from_conf(config), BUS))
}

/// Nothing in these batches is poison.
pub struct NoParking;

#[async_trait]
impl PoisonParking for NoParking {
    async fn park(&self, _: &Value, reason: &str) -> Result<(), String> {
        panic!("nothing here is poison, yet a record was parked: {reason}")
    }
}

pub fn snapshot(id: &str, version: u64, status: TaskStatus) -> TaskSnapshot {
    let at = Timestamp::from_unix_millis(1_767_225_600_000 + version as i64 * 1000).unwrap();
    TaskSnapshot {
        id: id.into(),
        title: format!("Task {id}"),
        description: None,
        status,
        priority: Priority::Medium,
        assignee: None,
        reporter: None,
        category_id: None,
        project_id: None,
        sprint_id: None,
        tags: vec![],
        due_date: None,
        estimate_points: None,
        created_at: at,
        updated_at: at,
        status_changed_at: at,
        escalation: None,
        version,
    }
}

/// Stream record `seq`: task `id` created (version 1), or moved from todo to done (version 2,
/// two events: status changed and completed).
pub fn record(seq: usize, id: &str, version: u64) -> StreamRecord {
    let new = snapshot(id, version, if version == 1 { TaskStatus::Todo } else { TaskStatus::Done });
    let old = (version > 1).then(|| Aggregate::Task(snapshot(id, version - 1, TaskStatus::Todo)));
    StreamRecord {
        sequence_number: sequence(seq),
        change: Ok(Some(Box::new(ChangeRecord {
            tenant: "acme".into(),
            aggregate_type: AggregateType::Task,
            aggregate_id: id.into(),
            aggregate_version: version,
            at: new.updated_at,
            correlation_id: format!("corr-{seq}"),
            actor: "maria".into(),
            old,
            new: Some(Aggregate::Task(new)),
        }))),
    }
}

/// DynamoDB Streams sequence numbers are long decimal strings.
pub fn sequence(seq: usize) -> String {
    format!("{:021}", 4_200_000_000_000_000_000_usize + seq)
}

/// The event ids the records derive, in record order.
pub fn expected(records: &[StreamRecord]) -> Vec<(String, String, u64)> {
    records
        .iter()
        .flat_map(|r| shared_core::derive(*r.change.clone().unwrap().unwrap()).unwrap())
        .map(|e| (e.meta.event_id.to_string(), e.meta.aggregate_id.clone(), e.meta.aggregate_version))
        .collect()
}

pub fn fast() -> RetryPolicy {
    RetryPolicy { min_delay: Duration::from_millis(1), max_delay: Duration::from_millis(5), max_resends: 3 }
}

pub async fn route(records: &[StreamRecord], publisher: &EventBridgePublisher, policy: &RetryPolicy) -> RouterReport {
    route_batch(prepare_batch(records.to_vec()), &|_| Value::Null, publisher, &NoParking, policy, None).await
}

/// Records what is parked: the record (its index, as `raw` gives it) and the reason.
#[derive(Default)]
pub struct Parked(pub Mutex<Vec<(Value, String)>>);

#[async_trait]
impl PoisonParking for Parked {
    async fn park(&self, record: &Value, reason: &str) -> Result<(), String> {
        self.0.lock().unwrap().push((record.clone(), reason.to_owned()));
        Ok(())
    }
}

/// Routes `records` with parking recorded; `raw(i)` is `{"record": i}`.
pub async fn route_parking(
    records: &[StreamRecord],
    publisher: &EventBridgePublisher,
    parked: &Parked,
    trace: Option<&str>,
) -> RouterReport {
    route_batch(prepare_batch(records.to_vec()), &|i| json!({ "record": i }), publisher, parked, &fast(), trace).await
}

pub fn assert_one_entry_per_aggregate_a_call(calls: &[Vec<Sent>]) {
    for (n, call) in calls.iter().enumerate() {
        let aggregates: HashSet<&str> = call.iter().map(|s| s.aggregate.as_str()).collect();
        assert_eq!(aggregates.len(), call.len(), "call {n} carries two entries of one aggregate: {call:?}");
        assert!(call.len() <= 10, "call {n} has {} entries", call.len());
    }
}

pub fn ids(sent: &[Sent]) -> Vec<&str> {
    sent.iter().map(|s| s.event_id.as_str()).collect()
}
