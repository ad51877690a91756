//! Given a change record, when it is derived, then these events.

use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use events_schema::{AggregateType, EventData, Timestamp, catalog, event_id};
use proptest::prelude::*;

use super::*;

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn task(version: u64) -> TaskSnapshot {
    TaskSnapshot {
        id: "t1".into(),
        title: "Ship it".into(),
        description: None,
        status: TaskStatus::Todo,
        priority: Priority::Medium,
        assignee: None,
        reporter: None,
        category_id: None,
        project_id: None,
        sprint_id: None,
        tags: vec![],
        due_date: None,
        estimate_points: None,
        created_at: ts("2026-01-01T00:00:00Z"),
        updated_at: ts("2026-01-01T00:00:00Z"),
        status_changed_at: ts("2026-01-01T00:00:00Z"),
        escalation: None,
        version,
    }
}

fn record(old: Option<&TaskSnapshot>, new: Option<&TaskSnapshot>) -> ChangeRecord {
    let version = new.map(|n| n.version).or(old.map(|o| o.version + 1)).unwrap_or(1);
    ChangeRecord {
        tenant: "acme".into(),
        aggregate_type: AggregateType::Task,
        aggregate_id: "t1".into(),
        aggregate_version: version,
        at: new.map(|n| n.updated_at).unwrap_or(ts("2026-02-01T00:00:00Z")),
        correlation_id: "corr-1".into(),
        actor: "maria".into(),
        old: old.cloned().map(Aggregate::Task),
        new: new.cloned().map(Aggregate::Task),
    }
}

fn types(record: &ChangeRecord) -> Vec<&'static str> {
    derive(record.clone()).unwrap().iter().map(|e| e.event_type()).collect()
}

#[test]
fn given_no_old_image_then_task_created() {
    assert_eq!(types(&record(None, Some(&task(1)))), ["TaskCreated"]);
}

#[test]
fn given_no_new_image_then_task_deleted_one_version_past_the_last() {
    let events = derive(record(Some(&task(4)), None)).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type(), "TaskDeleted");
    assert_eq!(events[0].meta.aggregate_version, 5);
}

#[test]
fn given_a_move_to_done_then_status_changed_and_completed_with_durations() {
    let mut old = task(2);
    old.status = TaskStatus::InProgress;
    old.status_changed_at = ts("2026-01-01T01:00:00Z");
    let mut new = old.clone();
    new.status = TaskStatus::Done;
    new.status_changed_at = ts("2026-01-01T03:00:00Z");
    new.updated_at = new.status_changed_at;
    new.version = 3;
    let events = derive(record(Some(&old), Some(&new))).unwrap();
    let [changed, completed] = events.as_slice() else { panic!("{events:?}") };
    let EventData::TaskStatusChanged(c) = &changed.data else { panic!() };
    assert_eq!((c.previous_status, c.seconds_in_previous_status), (Some(TaskStatus::InProgress), Some(7200)));
    let EventData::TaskCompleted(d) = &completed.data else { panic!() };
    assert_eq!((d.completed_at, d.lead_time_seconds), (new.status_changed_at, 3 * 3600));
}

#[test]
fn given_assignee_and_title_changes_then_assigned_and_updated_listing_fields() {
    let old = task(1);
    let mut new = task(2);
    new.assignee = Some("li".into());
    new.title = "Ship it now".into();
    new.tags = vec!["urgent".into()];
    let events = derive(record(Some(&old), Some(&new))).unwrap();
    assert_eq!(events.iter().map(|e| e.event_type()).collect::<Vec<_>>(), ["TaskAssigned", "TaskUpdated"]);
    let EventData::TaskUpdated(u) = &events[1].data else { panic!() };
    assert_eq!(u.changed_fields, ["tags", "title"]);
}

#[test]
fn given_an_escalation_level_reached_then_task_escalated_and_the_raised_priority_updated() {
    let mut old = task(3);
    old.due_date = Some("2026-01-02".into());
    let mut new = old.clone();
    new.version = 4;
    new.priority = Priority::Critical;
    new.escalation = Some(Box::new(events_schema::events::Escalation {
        level: 3,
        name: "overdue".into(),
        notify: vec!["ana".into()],
        plan: "00000000000000ff".into(),
        at: ts("2026-01-04T00:00:00Z"),
    }));
    let events = derive(record(Some(&old), Some(&new))).unwrap();
    assert_eq!(events.iter().map(|e| e.event_type()).collect::<Vec<_>>(), ["TaskEscalated", "TaskUpdated"]);
    let EventData::TaskEscalated(e) = &events[0].data else { panic!() };
    assert_eq!((e.level, e.name.as_str(), e.notify.as_slice()), (3, "overdue", &["ana".to_owned()][..]));
    assert_eq!((e.previous_priority, e.task.priority), (Some(Priority::Medium), Priority::Critical));
    let EventData::TaskUpdated(u) = &events[1].data else { panic!() };
    assert_eq!(u.changed_fields, ["priority"]);

    // The same level written again (a second runner, a redelivered write) announces nothing.
    let mut again = new.clone();
    again.version = 5;
    assert!(types(&record(Some(&new), Some(&again))).is_empty());
}

#[test]
fn given_only_timestamps_changed_then_nothing() {
    let mut new = task(2);
    new.updated_at = ts("2026-01-05T00:00:00Z");
    assert!(types(&record(Some(&task(1)), Some(&new))).is_empty());
}

#[test]
fn given_an_image_of_another_kind_then_an_error_naming_it() {
    let mut rec = record(None, Some(&task(1)));
    rec.new = Some(Aggregate::Category(events_schema::events::CategorySnapshot {
        id: "t1".into(),
        name: "Backend".into(),
        color: None,
        icon: None,
        version: 1,
    }));
    let err = derive(rec).unwrap_err();
    assert!(err.to_string().contains("new image of Task t1 is a Category snapshot"), "{err}");
}

fn status() -> impl Strategy<Value = TaskStatus> {
    proptest::sample::select(TaskStatus::ALL.to_vec())
}

fn priority() -> impl Strategy<Value = Priority> {
    proptest::sample::select(Priority::ALL.to_vec())
}

fn snapshot() -> impl Strategy<Value = TaskSnapshot> {
    (
        "[a-zA-Z ]{1,40}",
        proptest::option::of("[a-z ]{0,60}"),
        status(),
        priority(),
        proptest::option::of("[a-z]{1,8}"),
        proptest::collection::vec("[a-z]{1,6}", 0..4),
        proptest::option::of(0u32..100),
        0i64..1_000_000,
        0i64..1_000_000,
        1u64..50,
    )
        .prop_map(|(title, description, status, priority, assignee, tags, points, changed, updated, version)| {
            let base = 1_767_225_600_000i64; // 2026-01-01
            TaskSnapshot {
                title,
                description,
                status,
                priority,
                assignee,
                tags,
                estimate_points: points,
                status_changed_at: Timestamp::from_unix_millis(base + changed * 1000).unwrap(),
                escalation: None,
                updated_at: Timestamp::from_unix_millis(base + updated * 1000).unwrap(),
                version,
                ..task(1)
            }
        })
}

fn any_record() -> impl Strategy<Value = ChangeRecord> {
    (proptest::option::of(snapshot()), proptest::option::of(snapshot()))
        .prop_filter("a change has at least one image", |(o, n)| o.is_some() || n.is_some())
        .prop_map(|(old, new)| record(old.as_ref(), new.as_ref()))
}

proptest! {
    #[test]
    fn derivation_is_deterministic(rec in any_record()) {
        prop_assert_eq!(derive(rec.clone()).unwrap(), derive(rec.clone()).unwrap());
    }

    #[test]
    fn ids_are_stable_and_unique_within_a_change(rec in any_record()) {
        let events = derive(rec.clone()).unwrap();
        for e in &events {
            let m = &e.meta;
            prop_assert_eq!(m.event_id, event_id(&m.tenant, m.aggregate_type, &m.aggregate_id, m.aggregate_version, e.event_type()));
            prop_assert_eq!(&m.correlation_id, "corr-1");
        }
        let mut ids: Vec<_> = events.iter().map(|e| e.meta.event_id).collect();
        ids.sort();
        ids.dedup();
        prop_assert_eq!(ids.len(), events.len());
    }

    #[test]
    fn every_event_round_trips_through_its_json_schema(rec in any_record()) {
        for event in derive(rec.clone()).unwrap() {
            let envelope = event.to_envelope().unwrap();
            let schema = catalog::schema_of(&envelope.event_type, envelope.schema_version).unwrap();
            let schema = serde_json::to_value(schema).unwrap();
            let errors: Vec<String> = jsonschema::validator_for(&schema).unwrap()
                .iter_errors(&envelope.data).map(|e| e.to_string()).collect();
            prop_assert!(errors.is_empty(), "{} fails its schema: {:?}", envelope.event_type, errors);
            let wire = serde_json::to_string(&envelope).unwrap();
            let back = events_schema::DomainEvent::from_envelope(serde_json::from_str(&wire).unwrap()).unwrap();
            prop_assert_eq!(back, event);
        }
    }
}

fn sprint_record(old: &SprintSnapshot, new: &SprintSnapshot) -> ChangeRecord {
    ChangeRecord {
        tenant: "acme".into(),
        aggregate_type: AggregateType::Sprint,
        aggregate_id: new.id.clone(),
        aggregate_version: new.version,
        at: ts("2026-03-16T17:00:00Z"),
        correlation_id: "corr-1".into(),
        actor: "sprint-closure".into(),
        old: Some(Aggregate::Sprint(old.clone())),
        new: Some(Aggregate::Sprint(new.clone())),
    }
}

#[test]
fn given_a_closed_sprint_gaining_its_summary_then_sprint_summarized_once() {
    use crate::domain::{CarryOver, close_sprint, new_sprint, start_sprint};
    let at = ts("2026-03-16T17:00:00Z");
    let started = start_sprint(&new_sprint("s1".into(), "p".into(), "Sprint 14").unwrap(), at).unwrap();
    let closed = close_sprint(&started, &CarryOver::Backlog, at).unwrap();
    assert_eq!(types(&sprint_record(&started, &closed)), ["SprintClosed"]);
    let batch = SprintSnapshot { moved_out: 99, version: closed.version + 1, ..closed.clone() };
    assert!(types(&sprint_record(&closed, &batch)).is_empty(), "a batch of moves announces nothing of the sprint");
    let summary = SprintSummary {
        completed_count: 4,
        completed_points: 13,
        carried_over_count: 100,
        carried_over_to: "backlog".into(),
        summarized_at: at,
    };
    let summarized =
        SprintSnapshot { moved_out: 100, summary: Some(summary.clone()), version: batch.version + 1, ..batch.clone() };
    let events = derive(sprint_record(&batch, &summarized)).unwrap();
    assert_eq!(events.len(), 1);
    match &events[0].data {
        EventData::SprintSummarized(e) => assert_eq!((&e.summary, e.sprint.version), (&summary, 5)),
        other => panic!("expected SprintSummarized, got {}", other.event_type()),
    }
    let again = SprintSnapshot { version: summarized.version + 1, ..summarized.clone() };
    assert!(types(&sprint_record(&summarized, &again)).is_empty(), "a summary is announced once");
}
