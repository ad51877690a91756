use std::collections::HashMap;
use std::sync::Mutex;

use events_schema::AggregateType;
use events_schema::Timestamp;
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::ports::Aggregate;

fn snapshot(id: &str, version: u64, status: TaskStatus) -> TaskSnapshot {
    let at = Timestamp::from_unix_millis(1_767_225_600_000 + version as i64 * 1000).unwrap();
    TaskSnapshot {
        id: id.into(),
        title: "t".into(),
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

/// A record: the task created (v1) or moved from `from` to `to` at `version`.
fn record(seq: usize, task: &str, version: u64, change: Option<(TaskStatus, TaskStatus)>) -> StreamRecord {
    let (old, new) = match change {
        None => (None, snapshot(task, 1, TaskStatus::Todo)),
        Some((from, to)) => (Some(snapshot(task, version - 1, from)), snapshot(task, version, to)),
    };
    StreamRecord {
        sequence_number: format!("{seq:05}"),
        change: Ok(Some(Box::new(ChangeRecord {
            tenant: "acme".into(),
            aggregate_type: AggregateType::Task,
            aggregate_id: task.into(),
            aggregate_version: new.version,
            at: new.updated_at,
            correlation_id: "c".into(),
            actor: "a".into(),
            old: old.map(Aggregate::Task),
            new: Some(Aggregate::Task(new)),
        }))),
    }
}

/// The error code, if any, the bus answers an entry with in the n-th call.
type RefuseRule = Box<dyn Fn(&BusEntry, usize) -> Option<&'static str> + Send + Sync>;

/// Refuses entries by rule, records every call and the trace header it carried.
struct Bus {
    calls: Mutex<Vec<Vec<BusEntry>>>,
    traces: Mutex<Vec<Option<String>>>,
    refuse: RefuseRule,
}

impl Bus {
    fn new(refuse: impl Fn(&BusEntry, usize) -> Option<&'static str> + Send + Sync + 'static) -> Self {
        Self { calls: Mutex::new(Vec::new()), traces: Mutex::default(), refuse: Box::new(refuse) }
    }

    /// A bus that throttles the entries `refuse` picks.
    fn throttling(refuse: impl Fn(&BusEntry, usize) -> bool + Send + Sync + 'static) -> Self {
        Self::new(move |e, n| refuse(e, n).then_some("ThrottlingException"))
    }

    fn accepting() -> Self {
        Self::new(|_, _| None)
    }

    /// Every accepted entry, in the order the bus accepted them.
    fn accepted(&self) -> Vec<BusEntry> {
        let calls = self.calls.lock().unwrap();
        let mut out = Vec::new();
        for (n, call) in calls.iter().enumerate() {
            out.extend(call.iter().filter(|e| (self.refuse)(e, n).is_none()).cloned());
        }
        out
    }

    fn aggregates_of_call(&self, n: usize) -> Vec<String> {
        self.calls.lock().unwrap()[n].iter().map(|e| e.aggregate.rsplit('/').next().unwrap().to_owned()).collect()
    }
}

#[async_trait]
impl EventPublisher for Bus {
    async fn put(&self, entries: &[BusEntry], trace: Option<&str>) -> Result<Vec<Option<Refusal>>, CallFailure> {
        let mut calls = self.calls.lock().unwrap();
        let n = calls.len();
        calls.push(entries.to_vec());
        self.traces.lock().unwrap().push(trace.map(str::to_owned));
        assert!(entries.len() <= MAX_ENTRIES_PER_CALL);
        assert!(entries.iter().map(BusEntry::size).sum::<usize>() <= MAX_BYTES_PER_CALL);
        Ok(entries.iter().map(|e| (self.refuse)(e, n).map(|code| Refusal::new(code, "refused"))).collect())
    }
}

/// Fails every call as a whole, as a transport error or a refused call would.
struct FailingBus {
    failure: CallFailure,
    calls: Mutex<usize>,
}

#[async_trait]
impl EventPublisher for FailingBus {
    async fn put(&self, _: &[BusEntry], _: Option<&str>) -> Result<Vec<Option<Refusal>>, CallFailure> {
        *self.calls.lock().unwrap() += 1;
        Err(self.failure.clone())
    }
}

async fn route(records: &[StreamRecord], bus: &dyn EventPublisher, parking: &Parking) -> RouterReport {
    route_batch(prepare_batch(records.to_vec()), &raw, bus, parking, &quick(), None).await
}

#[derive(Default)]
struct Parking {
    parked: Mutex<Vec<(serde_json::Value, String)>>,
    broken: bool,
}

#[async_trait]
impl PoisonParking for Parking {
    async fn park(&self, record: &serde_json::Value, reason: &str) -> Result<(), String> {
        if self.broken {
            return Err("queue unavailable".into());
        }
        self.parked.lock().unwrap().push((record.clone(), reason.to_owned()));
        Ok(())
    }
}

/// What the event source handed over: here, just the record's position.
fn raw(index: usize) -> serde_json::Value {
    json!({ "eventID": index })
}

fn quick() -> RetryPolicy {
    RetryPolicy { min_delay: Duration::ZERO, max_delay: Duration::ZERO, max_resends: 3 }
}

#[tokio::test]
async fn a_batch_goes_out_in_calls_of_at_most_ten() {
    let records: Vec<_> = (0..25).map(|i| record(i, &format!("t{i}"), 1, None)).collect();
    let bus = Bus::accepting();
    let report = route(&records, &bus, &Parking::default()).await;
    let sizes: Vec<usize> = bus.calls.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!((report.events, report.calls, report.first_failed_sequence), (25, 3, None));
}

#[tokio::test]
async fn only_refused_entries_are_resent() {
    let records: Vec<_> = (0..6).map(|i| record(i, &format!("t{i}"), 1, None)).collect();
    // The first call refuses t2 and t4; the resend accepts them.
    let bus = Bus::throttling(|e, call| call == 0 && (e.aggregate.ends_with("/t2") || e.aggregate.ends_with("/t4")));
    let report = route(&records, &bus, &Parking::default()).await;
    assert_eq!(bus.calls.lock().unwrap().len(), 2);
    assert_eq!(bus.aggregates_of_call(1), ["t2", "t4"]);
    assert_eq!((report.first_failed_sequence, report.resends, report.calls), (None, 2, 2));
    assert_eq!(bus.accepted().len(), 6);
}

#[tokio::test]
async fn an_entry_still_throttled_after_its_resends_fails_the_batch_from_its_record() {
    let records = vec![
        record(0, "a", 1, None),
        record(1, "b", 1, None),
        record(2, "a", 2, Some((TaskStatus::Todo, TaskStatus::InProgress))),
        record(3, "c", 1, None),
    ];
    let bus = Bus::throttling(|e, _| e.aggregate.ends_with("/b"));
    let parking = Parking::default();
    let report = route(&records, &bus, &parking).await;
    assert_eq!(report.first_failed_sequence.as_deref(), Some("00001"));
    assert!(parking.parked.lock().unwrap().is_empty(), "throttling is no reason to park");
    // "a" v2 was planned into a later call (one event per aggregate per call) and never sent.
    let accepted: Vec<String> = bus.accepted().iter().map(|e| e.detail_type.clone() + "@" + &e.aggregate).collect();
    assert!(!accepted.iter().any(|e| e.starts_with("TaskStatusChanged")), "{accepted:?}");
    assert_eq!(bus.calls.lock().unwrap().len(), 1 + 3, "one call and three resends, then it stops");
}

#[tokio::test]
async fn a_poison_record_is_parked_whole_and_the_rest_go_through() {
    let mut poison = record(1, "p", 1, None);
    poison.change = Err("the new image is not a task".into());
    let records = vec![record(0, "a", 1, None), poison, record(2, "b", 1, None)];
    let bus = Bus::accepting();
    let parking = Parking::default();
    let report = route(&records, &bus, &parking).await;
    assert_eq!((report.parked, report.events, report.first_failed_sequence), (1, 2, None));
    let parked = parking.parked.lock().unwrap();
    assert_eq!(parked[0], (json!({ "eventID": 1 }), "the new image is not a task".to_owned()));
}

#[tokio::test]
async fn when_parking_fails_nothing_is_lost() {
    let mut poison = record(1, "p", 1, None);
    poison.change = Err("bad".into());
    let records = vec![record(0, "a", 1, None), poison];
    let bus = Bus::accepting();
    let report = route(&records, &bus, &Parking { broken: true, ..Default::default() }).await;
    assert_eq!(report.first_failed_sequence.as_deref(), Some("00000"));
    assert!(bus.calls.lock().unwrap().is_empty());
}

/// Every PutEvents entry error code: the two that time can cure are resent until accepted,
/// every other one parks its record at once, and the batch goes on either way.
#[tokio::test]
async fn each_error_code_is_resent_or_parked() {
    let codes = [
        ("ThrottlingException", true),
        ("InternalFailure", true),
        ("InvalidArgument", false),
        ("MalformedDetail", false),
        ("AccessDeniedException", false),
        ("NotAuthorizedForSourceException", false),
        ("NotAuthorizedForDetailTypeException", false),
        ("InvalidAccountIdException", false),
        ("RedactionFailure", false),
        ("SomethingNew", false),
    ];
    for (code, retryable) in codes {
        assert_eq!(Refusal::new(code, "m").is_retryable(), retryable, "{code}");
        let records = vec![record(0, "a", 1, None), record(1, "b", 1, None), record(2, "c", 1, None)];
        // b is refused in the first call only.
        let bus = Bus::new(move |e, call| (call == 0 && e.aggregate.ends_with("/b")).then_some(code));
        let parking = Parking::default();
        let report = route(&records, &bus, &parking).await;
        assert_eq!(report.first_failed_sequence, None, "{code}");
        let parked = parking.parked.lock().unwrap();
        let accepted: Vec<String> = bus.accepted().iter().map(|e| e.aggregate.clone()).collect();
        if retryable {
            assert_eq!((report.calls, report.resends, report.parked), (2, 1, 0), "{code}");
            assert_eq!(bus.aggregates_of_call(1), ["b"], "{code}: only b is resent");
            assert_eq!(accepted, ["acme/task/a", "acme/task/c", "acme/task/b"], "{code}");
            assert!(parked.is_empty(), "{code}");
        } else {
            assert_eq!((report.calls, report.resends, report.parked), (1, 0, 1), "{code}: never resent");
            assert_eq!(parked.len(), 1, "{code}");
            assert_eq!(parked[0].0, json!({ "eventID": 1 }), "{code}: b's record, whole");
            assert!(parked[0].1.contains(code) && parked[0].1.contains("refused"), "{code}: {}", parked[0].1);
            assert_eq!(accepted, ["acme/task/a", "acme/task/c"], "{code}");
        }
    }
}

#[tokio::test]
async fn a_record_refused_for_good_never_blocks_the_records_behind_it() {
    // b's first event is refused for good; records after it, b's own next version included,
    // go out, and the rest of b's record (its second event) is not sent: the record is parked
    // whole and goes back whole.
    let records = vec![
        record(0, "a", 1, None),
        record(1, "b", 2, Some((TaskStatus::InProgress, TaskStatus::Done))),
        record(2, "c", 1, None),
        record(3, "b", 3, Some((TaskStatus::Done, TaskStatus::Todo))),
        record(4, "d", 1, None),
    ];
    let refused = prepare_batch(records[1..2].to_vec())[0].entries.as_ref().unwrap()[0].event_id.clone();
    let bus = Bus::new(move |e, _| (e.event_id == refused).then_some("MalformedDetail"));
    let parking = Parking::default();
    let report = route(&records, &bus, &parking).await;
    assert_eq!((report.first_failed_sequence, report.parked, report.resends), (None, 1, 0));
    let parked = parking.parked.lock().unwrap();
    assert_eq!(parked.iter().map(|(r, _)| r.clone()).collect::<Vec<_>>(), [json!({ "eventID": 1 })]);
    let sent: Vec<(usize, String)> =
        bus.calls.lock().unwrap().iter().flatten().map(|e| (e.record, e.detail_type.clone())).collect();
    assert!(sent.iter().filter(|(r, _)| *r == 1).count() == 1, "b's other events stay unsent: {sent:?}");
    let records_accepted: Vec<usize> = bus.accepted().iter().map(|e| e.record).collect();
    for record in [0, 2, 3, 4] {
        assert!(records_accepted.contains(&record), "record {record} was held back: {records_accepted:?}");
    }
}

#[tokio::test]
async fn a_call_failing_as_a_whole_is_resent_when_it_may_pass_and_parked_when_it_cannot() {
    let records = vec![record(0, "a", 1, None), record(1, "b", 1, None)];
    let transient =
        FailingBus { failure: CallFailure { retryable: true, reason: "timed out".into() }, calls: Mutex::new(0) };
    let parking = Parking::default();
    let report = route(&records, &transient, &parking).await;
    assert_eq!(*transient.calls.lock().unwrap(), 1 + quick().max_resends);
    assert_eq!(report.first_failed_sequence.as_deref(), Some("00000"));
    assert!(parking.parked.lock().unwrap().is_empty());

    let refused = FailingBus {
        failure: CallFailure { retryable: false, reason: "AccessDeniedException: no".into() },
        calls: Mutex::new(0),
    };
    let report = route(&records, &refused, &parking).await;
    assert_eq!(*refused.calls.lock().unwrap(), 1);
    assert_eq!((report.first_failed_sequence, report.parked), (None, 2));
    assert!(parking.parked.lock().unwrap().iter().all(|(_, reason)| reason.contains("AccessDeniedException")));
}

#[tokio::test]
async fn when_parking_a_refused_record_fails_the_batch_resumes_from_it() {
    let records = vec![record(0, "a", 1, None), record(1, "b", 1, None), record(2, "c", 1, None)];
    let bus = Bus::new(|e, _| e.aggregate.ends_with("/b").then_some("InvalidArgument"));
    let report = route(&records, &bus, &Parking { broken: true, ..Default::default() }).await;
    assert_eq!(report.first_failed_sequence.as_deref(), Some("00001"));
}

#[tokio::test]
async fn every_call_carries_the_trace_header() {
    let records: Vec<_> = (0..12).map(|i| record(i, &format!("t{i}"), 1, None)).collect();
    let bus = Bus::throttling(|e, call| call == 0 && e.aggregate.ends_with("/t3"));
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    route_batch(prepare_batch(records), &raw, &bus, &Parking::default(), &quick(), Some(trace)).await;
    let traces = bus.traces.lock().unwrap();
    assert_eq!(traces.len(), 3, "two calls and a resend");
    assert!(traces.iter().all(|t| t.as_deref() == Some(trace)));
}

#[test]
fn the_batch_metrics_are_one_emf_line() {
    let report =
        RouterReport { records: 100, events: 93, parked: 2, calls: 12, resends: 3, first_failed_sequence: None };
    let line: serde_json::Value = serde_json::from_str(&emf_line("stream-router", &report, 6.5, 42)).unwrap();
    let metrics = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!((metrics["Namespace"].as_str(), &metrics["Dimensions"]), (Some("Taskstream"), &json!([["Router"]])));
    let names: Vec<&str> = metrics["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Records", "Events", "Parked", "Resends", "BatchMs"]);
    assert_eq!(line["Router"], "stream-router");
    for (name, value) in [("Records", 100.0), ("Events", 93.0), ("Parked", 2.0), ("Resends", 3.0), ("BatchMs", 6.5)] {
        assert_eq!(line[name].as_f64(), Some(value), "{name}");
    }
}

#[test]
fn calls_respect_the_byte_limit() {
    let entry = |i: usize| BusEntry {
        event_id: i.to_string(),
        source: "taskstream".into(),
        detail_type: "TaskCreated".into(),
        detail: "x".repeat(100_000),
        aggregate: format!("t{i}"),
        record: i,
    };
    let calls = plan_calls((0..5).map(entry).collect());
    assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
}

#[test]
fn an_entry_carries_the_events_envelope_as_its_detail() {
    let mut task = snapshot("t1", 2, TaskStatus::Done);
    // Text that JSON must escape, and text beyond ASCII.
    task.title = "Fix \"quotes\", back\\slashes,\ttabs and\nnewlines \u{1} — ünïcödé 🚀".into();
    task.description = Some("</script> & 'single' ".repeat(50));
    let change = record(0, "t1", 2, Some((TaskStatus::InProgress, TaskStatus::Done)));
    let mut change = *change.change.unwrap().unwrap();
    change.new = Some(Aggregate::Task(task));
    let events = crate::derive(change).unwrap();
    assert_eq!(events.len(), 3, "status changed, completed, updated");
    for event in &events {
        let entry = BusEntry::from_event(event, 7).unwrap();
        let envelope: events_schema::Envelope = serde_json::from_str(&entry.detail).unwrap();
        assert_eq!(envelope, event.to_envelope().unwrap());
        assert_eq!(entry.detail_type, event.event_type());
        assert_eq!(entry.event_id, event.meta.event_id.to_string());
        assert_eq!((entry.aggregate.as_str(), entry.record), ("acme/task/t1", 7));
    }
}

proptest! {
    /// Whatever the bus refuses, each aggregate's accepted events are in record order, and
    /// every record before the reported failure has all its events accepted.
    #[test]
    fn order_per_aggregate_is_kept(
        ops in proptest::collection::vec((0usize..4, any::<bool>()), 1..30),
        refuse_seed in any::<u64>(),
    ) {
        let mut versions: HashMap<usize, u64> = HashMap::new();
        let mut records = Vec::new();
        for (seq, (task, _)) in ops.iter().enumerate() {
            let v = versions.entry(*task).and_modify(|v| *v += 1).or_insert(1);
            let change = if *v == 1 { None } else if v.is_multiple_of(2) {
                Some((TaskStatus::Todo, TaskStatus::InProgress))
            } else {
                Some((TaskStatus::InProgress, TaskStatus::Todo))
            };
            records.push(record(seq, &format!("t{task}"), *v, change));
        }
        let bus = Bus::throttling(move |e, call| {
            let h = e.event_id.bytes().fold(refuse_seed ^ call as u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            h % 7 == 0
        });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let report = runtime.block_on(route(&records, &bus, &Parking::default()));
        let accepted = bus.accepted();
        let mut last: HashMap<String, usize> = HashMap::new();
        for e in &accepted {
            if let Some(prev) = last.insert(e.aggregate.clone(), e.record) {
                prop_assert!(prev <= e.record, "{} went back from record {} to {}", e.aggregate, prev, e.record);
            }
        }
        let done = report.first_failed_sequence.as_ref().map_or(records.len(), |s| s.parse::<usize>().unwrap());
        let prepared = prepare_batch(records);
        for (i, record) in prepared.iter().enumerate().take(done) {
            for entry in record.entries.as_ref().unwrap() {
                let id = &entry.event_id;
                prop_assert!(accepted.iter().any(|e| &e.event_id == id), "record {} before the failure point lost {}", i, id);
            }
        }
    }
}
