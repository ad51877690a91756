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

/// Whether the bus refuses an entry in the n-th call.
type RefuseRule = Box<dyn Fn(&BusEntry, usize) -> bool + Send + Sync>;

/// Refuses entries by rule, records every call.
struct Bus {
    calls: Mutex<Vec<Vec<BusEntry>>>,
    refuse: RefuseRule,
}

impl Bus {
    fn new(refuse: impl Fn(&BusEntry, usize) -> bool + Send + Sync + 'static) -> Self {
        Self { calls: Mutex::new(Vec::new()), refuse: Box::new(refuse) }
    }

    /// Every accepted entry, in the order the bus accepted them.
    fn accepted(&self) -> Vec<BusEntry> {
        let calls = self.calls.lock().unwrap();
        let mut out = Vec::new();
        for (n, call) in calls.iter().enumerate() {
            out.extend(call.iter().filter(|e| !(self.refuse)(e, n)).cloned());
        }
        out
    }
}

#[async_trait]
impl EventPublisher for Bus {
    async fn put(&self, entries: &[BusEntry]) -> Result<Vec<Option<String>>, String> {
        let mut calls = self.calls.lock().unwrap();
        let n = calls.len();
        calls.push(entries.to_vec());
        assert!(entries.len() <= MAX_ENTRIES_PER_CALL);
        assert!(entries.iter().map(BusEntry::size).sum::<usize>() <= MAX_BYTES_PER_CALL);
        Ok(entries.iter().map(|e| (self.refuse)(e, n).then(|| "ThrottlingException".to_owned())).collect())
    }
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
    let bus = Bus::new(|_, _| false);
    let report = route_batch(prepare_batch(records.clone()), &raw, &bus, &Parking::default(), &quick()).await;
    let sizes: Vec<usize> = bus.calls.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
    assert_eq!((report.events, report.calls, report.first_failed_sequence), (25, 3, None));
}

#[tokio::test]
async fn only_refused_entries_are_resent() {
    let records: Vec<_> = (0..6).map(|i| record(i, &format!("t{i}"), 1, None)).collect();
    // The first call refuses t2 and t4; the resend accepts them.
    let bus = Bus::new(|e, call| call == 0 && (e.aggregate.ends_with("/t2") || e.aggregate.ends_with("/t4")));
    let report = route_batch(prepare_batch(records.clone()), &raw, &bus, &Parking::default(), &quick()).await;
    let calls = bus.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    let resent: Vec<&str> = calls[1].iter().map(|e| e.aggregate.rsplit('/').next().unwrap()).collect();
    assert_eq!(resent, ["t2", "t4"]);
    assert_eq!(report.first_failed_sequence, None);
    assert_eq!(bus.accepted().len(), 6);
}

#[tokio::test]
async fn an_entry_refused_for_good_fails_the_batch_from_its_record() {
    let records = vec![
        record(0, "a", 1, None),
        record(1, "b", 1, None),
        record(2, "a", 2, Some((TaskStatus::Todo, TaskStatus::InProgress))),
        record(3, "c", 1, None),
    ];
    let bus = Bus::new(|e, _| e.aggregate.ends_with("/b"));
    let report = route_batch(prepare_batch(records.clone()), &raw, &bus, &Parking::default(), &quick()).await;
    assert_eq!(report.first_failed_sequence.as_deref(), Some("00001"));
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
    let bus = Bus::new(|_, _| false);
    let parking = Parking::default();
    let report = route_batch(prepare_batch(records.clone()), &raw, &bus, &parking, &quick()).await;
    assert_eq!((report.parked, report.events, report.first_failed_sequence), (1, 2, None));
    let parked = parking.parked.lock().unwrap();
    assert_eq!(parked[0], (json!({ "eventID": 1 }), "the new image is not a task".to_owned()));
}

#[tokio::test]
async fn when_parking_fails_nothing_is_lost() {
    let mut poison = record(1, "p", 1, None);
    poison.change = Err("bad".into());
    let records = vec![record(0, "a", 1, None), poison];
    let bus = Bus::new(|_, _| false);
    let report = route_batch(
        prepare_batch(records.clone()),
        &raw,
        &bus,
        &Parking { broken: true, ..Default::default() },
        &quick(),
    )
    .await;
    assert_eq!(report.first_failed_sequence.as_deref(), Some("00000"));
    assert!(bus.calls.lock().unwrap().is_empty());
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
        let bus = Bus::new(move |e, call| {
            let h = e.event_id.bytes().fold(refuse_seed ^ call as u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            h % 7 == 0
        });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let report = runtime.block_on(route_batch(prepare_batch(records.clone()), &raw, &bus, &Parking::default(), &quick()));
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
