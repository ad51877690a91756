//! Given items as the store writes them, when the stream carries them, then these change
//! records, and these events from `derive`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_lambda_events::event::dynamodb::{EventRecord, UserIdentity};
use events_schema::events::{CategorySnapshot, CommentSnapshot, Priority, TaskSnapshot, TaskStatus};
use events_schema::{AggregateType, Timestamp};
use shared_core::context::{Identity, RequestContext, Role};
use shared_core::derive;
use shared_core::ports::Aggregate;

use super::change_record;
use crate::dynamo::item::{self, Item};

fn ctx(correlation_id: &str) -> RequestContext {
    RequestContext {
        identity: Identity { tenant: "acme".into(), actor: "maria".into(), role: Role::Member },
        correlation_id: correlation_id.into(),
    }
}

fn task(version: u64) -> TaskSnapshot {
    let at = Timestamp::parse("2026-03-01T10:00:00.123Z").unwrap();
    TaskSnapshot {
        id: "0190c8e0-0000-7000-8000-000000000001".into(),
        title: "Ship it".into(),
        description: Some("with tests".into()),
        status: TaskStatus::Todo,
        priority: Priority::High,
        assignee: Some("li".into()),
        reporter: None,
        category_id: None,
        project_id: Some("p1".into()),
        sprint_id: None,
        tags: vec!["backend".into(), "urgent".into()],
        due_date: Some("2026-04-01".into()),
        estimate_points: Some(5),
        created_at: at,
        updated_at: at,
        status_changed_at: at,
        escalation: None,
        version,
    }
}

fn stored(correlation_id: &str, aggregate: &Aggregate) -> serde_dynamo::Item {
    serde_dynamo::Item::from(item::to_item(&ctx(correlation_id), aggregate, 8, "token-1").unwrap())
}

/// What a soft delete leaves: the item, marked, at the next version, by its deleter.
fn soft_deleted(live: &serde_dynamo::Item, version: u64, correlation_id: &str) -> serde_dynamo::Item {
    let mut sdk: Item = live.clone().into();
    sdk.insert(item::DELETED.into(), aws_sdk_dynamodb::types::AttributeValue::Bool(true));
    sdk.insert(item::VERSION.into(), item::n(version));
    sdk.insert(item::CORRELATION_ID.into(), item::s(correlation_id));
    sdk.insert(item::CHANGED_AT.into(), item::s("2026-03-02T00:00:00Z"));
    sdk.insert(item::EXPIRES_AT.into(), item::n(1_900_000_000));
    for index_key in crate::dynamo::keys::TASK_INDEX_KEYS {
        sdk.remove(index_key);
    }
    serde_dynamo::Item::from(sdk)
}

fn record(name: &str, old: Option<serde_dynamo::Item>, new: Option<serde_dynamo::Item>) -> EventRecord {
    let mut r = EventRecord::default();
    r.event_id = "ev-1".into();
    r.event_name = name.into();
    r.change.old_image = old.unwrap_or_default();
    r.change.new_image = new.unwrap_or_default();
    r
}

fn event_types(r: &EventRecord) -> Vec<&'static str> {
    let change = change_record(r).expect("an aggregate change").unwrap();
    derive(change).unwrap().iter().map(|e| e.event_type()).collect()
}

#[test]
fn an_insert_is_a_create_whose_image_is_the_snapshot() {
    let t = task(1);
    let r = record("INSERT", None, Some(stored("c1", &Aggregate::Task(t.clone()))));
    let change = change_record(&r).unwrap().unwrap();
    assert_eq!(change.old, None);
    assert_eq!(change.new, Some(Aggregate::Task(t.clone())));
    assert_eq!(
        (change.tenant.as_str(), change.aggregate_type, change.aggregate_id.as_str()),
        ("acme", AggregateType::Task, t.id.as_str())
    );
    assert_eq!((change.aggregate_version, change.correlation_id.as_str(), change.actor.as_str()), (1, "c1", "maria"));
    assert_eq!(change.at, t.updated_at);
    assert_eq!(event_types(&r), ["TaskCreated"]);
}

#[test]
fn a_modify_carries_both_images() {
    let old = task(1);
    let mut new = task(2);
    new.status = TaskStatus::InProgress;
    new.title = "Ship it now".into();
    let r = record(
        "MODIFY",
        Some(stored("c1", &Aggregate::Task(old.clone()))),
        Some(stored("c2", &Aggregate::Task(new.clone()))),
    );
    let change = change_record(&r).unwrap().unwrap();
    assert_eq!(change.old, Some(Aggregate::Task(old)));
    assert_eq!((change.aggregate_version, change.correlation_id.as_str()), (2, "c2"));
    assert_eq!(event_types(&r), ["TaskStatusChanged", "TaskUpdated"]);
}

#[test]
fn a_soft_delete_is_a_delete_by_the_deleter_at_the_next_version() {
    let live = stored("c1", &Aggregate::Task(task(3)));
    let r = record("MODIFY", Some(live.clone()), Some(soft_deleted(&live, 4, "c-del")));
    let change = change_record(&r).unwrap().unwrap();
    assert_eq!((change.new.as_ref(), change.aggregate_version), (None, 4));
    assert_eq!(change.correlation_id, "c-del");
    assert_eq!(change.at, Timestamp::parse("2026-03-02T00:00:00Z").unwrap());
    assert_eq!(event_types(&r), ["TaskDeleted"]);
}

#[test]
fn the_ttl_removal_of_a_soft_deleted_item_is_ignored() {
    let live = stored("c1", &Aggregate::Task(task(3)));
    let mut r = record("REMOVE", Some(soft_deleted(&live, 4, "c-del")), None);
    let mut who = UserIdentity::default();
    who.type_ = "Service".into();
    who.principal_id = "dynamodb.amazonaws.com".into();
    r.user_identity = Some(who);
    assert_eq!(change_record(&r), None);
}

#[test]
fn a_create_in_place_of_a_soft_deleted_item_is_a_create() {
    let live = stored("c1", &Aggregate::Task(task(3)));
    let r = record("MODIFY", Some(soft_deleted(&live, 4, "c-del")), Some(stored("c9", &Aggregate::Task(task(1)))));
    let change = change_record(&r).unwrap().unwrap();
    assert_eq!((change.old.as_ref(), change.aggregate_version), (None, 1));
    assert_eq!(event_types(&r), ["TaskCreated"]);
}

#[test]
fn a_live_item_removed_by_hand_is_still_announced_as_deleted() {
    let r = record("REMOVE", Some(stored("c1", &Aggregate::Task(task(3)))), None);
    let change = change_record(&r).unwrap().unwrap();
    assert_eq!((change.new.as_ref(), change.aggregate_version), (None, 4));
    assert_eq!(change.correlation_id, "dynamodb-stream:ev-1");
    assert_eq!(event_types(&r), ["TaskDeleted"]);
}

#[test]
fn other_aggregates_round_trip_through_derive() {
    let category = CategorySnapshot { id: "c1".into(), name: "Bugs".into(), color: None, icon: None, version: 1 };
    let r = record("INSERT", None, Some(stored("c1", &Aggregate::Category(category))));
    assert_eq!(event_types(&r), ["CategoryCreated"]);
    let comment = CommentSnapshot {
        id: "m1".into(),
        task_id: "t1".into(),
        author: "li".into(),
        body: "hi @maria".into(),
        mentions: vec!["maria".into()],
        created_at: Timestamp::parse("2026-03-01T10:00:00Z").unwrap(),
    };
    let r = record("INSERT", None, Some(stored("c1", &Aggregate::Comment(comment.clone()))));
    let change = change_record(&r).unwrap().unwrap();
    assert_eq!(change.new, Some(Aggregate::Comment(comment)));
    assert_eq!(event_types(&r), ["CommentAdded"]);
}

#[test]
fn items_that_are_not_aggregates_are_skipped_and_broken_ones_reported() {
    let mut history = serde_dynamo::Item::default();
    history.insert("entity".into(), serde_dynamo::AttributeValue::S("history".into()));
    assert_eq!(change_record(&record("INSERT", None, Some(history))), None);

    let mut broken: Item = stored("c1", &Aggregate::Task(task(1))).into();
    broken.remove("title");
    let err = change_record(&record("INSERT", None, Some(broken.into()))).unwrap().unwrap_err();
    assert!(err.reason.contains("title"), "{err}");
    let err = change_record(&record("INSERT", None, None)).unwrap().unwrap_err();
    assert!(err.reason.contains("NEW_AND_OLD_IMAGES"), "{err}");
}

#[test]
fn a_lambda_payload_decodes_record_by_record_and_poison_stays_whole() {
    let good = record("INSERT", None, Some(stored("c1", &Aggregate::Task(task(1)))));
    let mut broken: Item = stored("c2", &Aggregate::Task(task(1))).into();
    broken.insert(item::VERSION.into(), item::s("not a number"));
    let mut poison = record("INSERT", None, Some(broken.into()));
    poison.change.sequence_number = Some("200".into());
    let records = serde_json::json!({ "Records": [good, poison] });
    let payload = serde_json::to_string(&records).unwrap();

    let decoded = super::decode_batch(&payload).unwrap();
    assert_eq!(decoded.len(), 2);
    assert!(matches!(&decoded[0].change, Ok(Some(change)) if change.correlation_id == "c1"));
    let reason = decoded[1].change.as_ref().unwrap_err();
    assert!(reason.contains("the item has no version"), "{reason}");
    assert_eq!(decoded[1].sequence_number, "200");
    // Parked as it came: the record's own JSON, not a re-encoding of what was understood.
    let raws = super::RawRecords::new(&payload);
    assert_eq!(raws.get(1).unwrap(), records["Records"][1]);
    assert_eq!(raws.get(2), None);
}

#[test]
fn a_payload_that_is_not_a_stream_event_is_an_error() {
    for payload in ["", "{}", r#"{"Records": 3}"#, r#"{"Records": [{"dynamodb": {"NewImage": {"a": {"Z": "1"}}}}]}"#] {
        let err = super::decode_batch(payload).unwrap_err();
        assert!(err.to_string().contains("not a DynamoDB Streams event"), "{payload}: {err}");
    }
}

/// Any text, escapes, control characters and non-ASCII included.
fn text() -> impl proptest::strategy::Strategy<Value = String> {
    proptest::string::string_regex("(?s).{0,40}").unwrap()
}

proptest::proptest! {
    /// Whatever a task holds, the item the store writes for it, carried by a stream record as
    /// Lambda delivers it, decodes back to the same snapshot.
    #[test]
    fn any_stored_task_decodes_back_to_itself(
        title in text(),
        description in proptest::option::of(text()),
        assignee in proptest::option::of(text()),
        tags in proptest::collection::vec(text(), 0..4),
        points in proptest::option::of(proptest::prelude::any::<u32>()),
        version in 1u64..u64::MAX / 2,
        millis in 0i64..253_402_300_799_999,
    ) {
        let at = Timestamp::from_unix_millis(millis).unwrap();
        let snapshot = TaskSnapshot {
            title,
            description,
            assignee,
            tags,
            estimate_points: points,
            created_at: at,
            updated_at: at,
            status_changed_at: at,
            escalation: None,
            version,
            ..task(version)
        };
        let r = record("INSERT", None, Some(stored("c1", &Aggregate::Task(snapshot.clone()))));
        let payload = serde_json::to_string(&serde_json::json!({ "Records": [r] })).unwrap();
        let decoded = super::decode_batch(&payload).unwrap();
        let change = decoded[0].change.as_ref().unwrap().as_ref().unwrap();
        proptest::prop_assert_eq!(change.new.as_ref(), Some(&Aggregate::Task(snapshot)));
        proptest::prop_assert_eq!(change.aggregate_version, version);
    }
}
