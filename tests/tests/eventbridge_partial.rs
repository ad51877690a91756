//! PutEvents partial failures at the SDK level: the real `EventBridgePublisher` (the AWS SDK
//! client, its JSON protocol and its error parsing) against a local server that speaks the
//! EventBridge protocol, driven by the stream router's batch logic. The local emulator always
//! accepts every entry, so refusals (`FailedEntryCount > 0`) can only be tested this way.
//!
//! What is asserted comes from the request bodies the server recorded: only refused entries
//! are resent, in their order; no call carries two entries of one aggregate; every event is
//! accepted exactly once, each aggregate's in version order; and when an entry keeps being
//! refused, the batch names its record and nothing later of that aggregate is sent.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

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

const BUS: &str = "taskstream-test";
const JSON_1_1: &str = "application/x-amz-json-1.1";

/// One entry of a recorded PutEvents request, with the envelope its detail carries.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    event_id: String,
    aggregate: String,
    version: u64,
    detail_type: String,
}

impl Sent {
    fn of(entry: &Value) -> Self {
        assert_eq!(entry["EventBusName"], BUS, "{entry}");
        assert_eq!(entry["Source"], events_schema::EVENT_SOURCE, "{entry}");
        let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
        assert_eq!(entry["DetailType"], detail["eventType"], "the detail-type names the event");
        Self {
            event_id: detail["eventId"].as_str().unwrap().to_owned(),
            aggregate: detail["aggregateId"].as_str().unwrap().to_owned(),
            version: detail["aggregateVersion"].as_u64().unwrap(),
            detail_type: entry["DetailType"].as_str().unwrap().to_owned(),
        }
    }
}

/// How the bus answers a call: `Err(status, body)` fails the call as a whole; otherwise each
/// entry gets `Some((code, message))` (refused) or `None` (accepted).
type Answer = Result<Vec<Option<(&'static str, &'static str)>>, (u16, Value)>;
type Script = Box<dyn Fn(usize, &[Sent]) -> Answer + Send + Sync>;

struct Bus {
    /// Every call's entries, and which of them the bus accepted.
    calls: Mutex<Vec<(Vec<Sent>, Vec<bool>)>>,
    script: Script,
}

impl Bus {
    fn calls(&self) -> Vec<Vec<Sent>> {
        self.calls.lock().unwrap().iter().map(|(sent, _)| sent.clone()).collect()
    }

    /// Every accepted entry, in the order the bus accepted them.
    fn accepted(&self) -> Vec<Sent> {
        let calls = self.calls.lock().unwrap();
        calls.iter().flat_map(|(sent, ok)| sent.iter().zip(ok).filter(|(_, ok)| **ok).map(|(s, _)| s.clone())).collect()
    }
}

/// The EventBridge JSON protocol, as much of it as PutEvents needs.
async fn put_events(
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
async fn bus(script: impl Fn(usize, &[Sent]) -> Answer + Send + Sync + 'static) -> (Arc<Bus>, EventBridgePublisher) {
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
struct NoParking;

#[async_trait]
impl PoisonParking for NoParking {
    async fn park(&self, _: &Value, reason: &str) -> Result<(), String> {
        panic!("nothing here is poison, yet a record was parked: {reason}")
    }
}

fn snapshot(id: &str, version: u64, status: TaskStatus) -> TaskSnapshot {
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
        version,
    }
}

/// Stream record `seq`: task `id` created (version 1), or moved from todo to done (version 2,
/// two events: status changed and completed).
fn record(seq: usize, id: &str, version: u64) -> StreamRecord {
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
fn sequence(seq: usize) -> String {
    format!("{:021}", 4_200_000_000_000_000_000_usize + seq)
}

/// The event ids the records derive, in record order.
fn expected(records: &[StreamRecord]) -> Vec<(String, String, u64)> {
    records
        .iter()
        .flat_map(|r| shared_core::derive(*r.change.clone().unwrap().unwrap()).unwrap())
        .map(|e| (e.meta.event_id.to_string(), e.meta.aggregate_id.clone(), e.meta.aggregate_version))
        .collect()
}

fn fast() -> RetryPolicy {
    RetryPolicy { min_delay: Duration::from_millis(1), max_delay: Duration::from_millis(5), max_resends: 3 }
}

async fn route(records: &[StreamRecord], publisher: &EventBridgePublisher, policy: &RetryPolicy) -> RouterReport {
    route_batch(prepare_batch(records.to_vec()), &|_| Value::Null, publisher, &NoParking, policy).await
}

fn assert_one_entry_per_aggregate_a_call(calls: &[Vec<Sent>]) {
    for (n, call) in calls.iter().enumerate() {
        let aggregates: HashSet<&str> = call.iter().map(|s| s.aggregate.as_str()).collect();
        assert_eq!(aggregates.len(), call.len(), "call {n} carries two entries of one aggregate: {call:?}");
        assert!(call.len() <= 10, "call {n} has {} entries", call.len());
    }
}

fn ids(sent: &[Sent]) -> Vec<&str> {
    sent.iter().map(|s| s.event_id.as_str()).collect()
}

#[tokio::test]
async fn refused_entries_alone_are_resent_in_order_until_every_event_is_accepted() {
    // a1 b1 c1 d1 go out together; a2 (a's next version, two events) and e1 follow later.
    let records = vec![
        record(0, "a", 1),
        record(1, "b", 1),
        record(2, "c", 1),
        record(3, "d", 1),
        record(4, "a", 2),
        record(5, "e", 1),
    ];
    let (bus, publisher) = bus(|n, sent| {
        Ok(sent
            .iter()
            .map(|s| match (n, s.aggregate.as_str()) {
                (0, "b") => Some(("ThrottlingException", "Rate exceeded.")),
                (0, "d") => Some(("InternalException", "An internal error occurred.")),
                // The resend of b and d: d is refused once more.
                (1, "d") => Some(("ThrottlingException", "Rate exceeded.")),
                _ => None,
            })
            .collect())
    })
    .await;

    let report = route(&records, &publisher, &fast()).await;

    let calls = bus.calls();
    let want = expected(&records);
    assert_eq!(want.iter().filter(|(_, aggregate, version)| aggregate == "a" && *version == 2).count(), 2);
    assert_eq!(report.first_failed_sequence, None, "{report:?}");
    assert_eq!(report.calls, calls.len(), "every call the router counted reached the bus");
    assert_one_entry_per_aggregate_a_call(&calls);
    assert_eq!(calls[0].iter().map(|s| s.aggregate.as_str()).collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    // Only the refused entries go again, in their order, with their own event ids.
    assert_eq!(ids(&calls[1]), [calls[0][1].event_id.as_str(), calls[0][3].event_id.as_str()]);
    assert_eq!(ids(&calls[2]), [calls[0][3].event_id.as_str()]);
    // The later calls follow once the first one's entries are all in: a2's two events in
    // calls of their own, e1 beside the second.
    let rest: Vec<&str> = calls[3..].iter().flat_map(|call| ids(call)).collect();
    assert_eq!(rest, want[4..].iter().map(|(id, _, _)| id.as_str()).collect::<Vec<_>>());
    assert_eq!(calls.len(), 5, "{calls:?}");

    // Every derived event accepted exactly once; each aggregate's in the order derived.
    let accepted = bus.accepted();
    assert_eq!(report.events, want.len());
    let mut got: Vec<&str> = ids(&accepted);
    got.sort_unstable();
    let mut all: Vec<&str> = want.iter().map(|(id, _, _)| id.as_str()).collect();
    all.sort_unstable();
    assert_eq!(got, all, "each event accepted once");
    for aggregate in ["a", "b", "c", "d", "e"] {
        let order: Vec<&str> =
            accepted.iter().filter(|s| s.aggregate == aggregate).map(|s| s.event_id.as_str()).collect();
        let derived: Vec<&str> = want.iter().filter(|(_, a, _)| a == aggregate).map(|(id, _, _)| id.as_str()).collect();
        assert_eq!(order, derived, "{aggregate} accepted out of order");
    }
    assert!(accepted.iter().all(|s| !s.detail_type.is_empty()));
}

#[tokio::test]
async fn an_entry_refused_on_every_resend_fails_the_batch_at_its_record_and_holds_back_its_aggregate() {
    // b1 keeps being refused; b2 (its next version) must never reach the bus.
    let records = vec![record(0, "a", 1), record(1, "b", 1), record(2, "c", 1), record(3, "b", 2), record(4, "d", 1)];
    let (bus, publisher) = bus(|_, sent| {
        Ok(sent
            .iter()
            .map(|s| {
                (s.aggregate == "b" && s.version == 1).then_some(("InternalException", "An internal error occurred."))
            })
            .collect())
    })
    .await;
    let policy = RetryPolicy { max_resends: 2, ..fast() };

    let report = route(&records, &publisher, &policy).await;

    assert_eq!(report.first_failed_sequence, Some(sequence(1)), "retry from b1's record: {report:?}");
    let calls = bus.calls();
    assert_one_entry_per_aggregate_a_call(&calls);
    assert_eq!(calls.len(), 1 + policy.max_resends, "the first call and its resends, nothing after");
    assert_eq!(calls[0].iter().map(|s| s.aggregate.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    for resend in &calls[1..] {
        assert_eq!(ids(resend), [calls[0][1].event_id.as_str()], "only b1 goes again");
    }
    let later_of_b = calls.iter().flatten().filter(|s| s.aggregate == "b" && s.version > 1).count();
    assert_eq!(later_of_b, 0, "nothing later of b was sent");
    assert!(calls.iter().flatten().all(|s| s.aggregate != "d"), "records after the failure wait for the retry");
    let accepted: Vec<String> = bus.accepted().into_iter().map(|s| s.aggregate).collect();
    assert_eq!(accepted, ["a", "c"], "records before the failed one are done");
}

#[tokio::test]
async fn a_call_failing_as_a_whole_is_resent_whole() {
    let records = vec![record(0, "a", 1), record(1, "b", 1)];
    let (bus, publisher) = bus(|n, sent| match n {
        0 => Err((500, json!({"__type": "InternalException", "message": "An internal error occurred."}))),
        _ => Ok(vec![None; sent.len()]),
    })
    .await;

    let report = route(&records, &publisher, &fast()).await;

    assert_eq!(report.first_failed_sequence, None, "{report:?}");
    let calls = bus.calls();
    assert_eq!(calls.len(), 2, "one failed call, one resend (the SDK itself retries nothing here)");
    assert_eq!(calls[0], calls[1]);
    assert_eq!(bus.accepted(), calls[1]);
}
