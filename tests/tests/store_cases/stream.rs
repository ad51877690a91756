//! DynamoDB only: what the store writes comes out of the table's stream as change records
//! from which `derive` yields the expected events, read through the DynamoDB Streams API and
//! handed to `shared_aws::dynamo::stream` in the shape the stream-router Lambda receives.

use events_schema::AggregateType;
use events_schema::EventData;
use events_schema::events::TaskStatus;
use shared_aws::dynamo::DynamoStore;
use shared_aws::dynamo::stream::change_record;
use shared_core::derive;
use shared_core::ports::{Aggregate, HistoryRecord, HistoryStore, IdempotencyRecord, Store};

use super::*;
use crate::aws::{Moto, as_lambda_event, read_stream};

pub async fn stream_records_derive_the_expected_events(moto: &Moto, table: &str, store: &DynamoStore) {
    let t1 = task(&new_id());
    store.commit(&ctx_as(ACME, "c-create"), vec![create(Aggregate::Task(t1.clone()))], None).await.unwrap();
    let c = category(&new_id(), "Bugs");
    store.commit(&ctx_as(ACME, "c-category"), vec![create(Aggregate::Category(c))], None).await.unwrap();
    let entry = HistoryRecord {
        tenant: ACME.into(),
        task_id: t1.id.clone(),
        version: 1,
        event_type: "TaskCreated".into(),
        event_id: uuid::Uuid::new_v4(),
        schema_version: 1,
        occurred_at: t1.updated_at,
        actor: "maria".into(),
        correlation_id: "c-create".into(),
        data: serde_json::json!({}),
    };
    assert!(store.append(&entry).await.unwrap());
    // A transaction: the task's change and an idempotency record.
    let at = ts("2026-03-01T11:00:00Z");
    let t2 = TaskSnapshot {
        status: TaskStatus::InProgress,
        status_changed_at: at,
        escalation: None,
        updated_at: at,
        version: 2,
        ..t1.clone()
    };
    let key = IdempotencyRecord { key: "k1".into(), fingerprint: "f".into(), status: 200, body: "{}".into() };
    store.commit(&ctx_as(ACME, "c-start"), vec![update(Aggregate::Task(t2.clone()), 1)], Some(key)).await.unwrap();
    store.commit(&ctx_as(ACME, "c-delete"), vec![delete(AggregateType::Task, &t1.id, 2)], None).await.unwrap();
    // What the TTL does days later: removes the soft-deleted item.
    moto.dynamodb()
        .delete_item()
        .table_name(table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("T#{ACME}#TASK#{}", t1.id)))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("TASK".to_owned()))
        .send()
        .await
        .unwrap();

    let records = read_stream(moto, table).await;
    let names: Vec<String> = records.iter().filter_map(|r| r.event_name().map(|n| n.as_str().to_owned())).collect();
    assert_eq!(names, ["INSERT", "INSERT", "INSERT", "MODIFY", "INSERT", "MODIFY", "REMOVE"]);

    let mut derived = Vec::new();
    let mut skipped = 0;
    for record in &records {
        match change_record(&as_lambda_event(record)) {
            None => skipped += 1,
            Some(change) => {
                let change = change.unwrap();
                let events = derive(change.clone()).unwrap();
                derived.push((
                    events.iter().map(|e| e.event_type()).collect::<Vec<_>>(),
                    change.aggregate_version,
                    change.correlation_id.clone(),
                    events,
                ));
            }
        }
    }
    // The history item, the idempotency record and the TTL removal announce nothing.
    assert_eq!(skipped, 3);
    let summary: Vec<_> = derived.iter().map(|(types, v, corr, _)| (types.clone(), *v, corr.as_str())).collect();
    assert_eq!(
        summary,
        [
            (vec!["TaskCreated"], 1, "c-create"),
            (vec!["CategoryCreated"], 1, "c-category"),
            (vec!["TaskStatusChanged"], 2, "c-start"),
            (vec!["TaskDeleted"], 3, "c-delete"),
        ]
    );
    let EventData::TaskCreated(created) = &derived[0].3[0].data else { panic!("{:?}", derived[0].3) };
    assert_eq!(created.task, t1);
    let EventData::TaskStatusChanged(changed) = &derived[2].3[0].data else { panic!("{:?}", derived[2].3) };
    assert_eq!((changed.task.clone(), changed.previous_status), (t2.clone(), Some(TaskStatus::Todo)));
    let EventData::TaskDeleted(deleted) = &derived[3].3[0].data else { panic!("{:?}", derived[3].3) };
    assert_eq!(deleted.task, t2);
    assert_eq!(derived[3].3[0].meta.tenant, ACME);
    // The store agrees: the deleted task is gone.
    assert_eq!(store.get_task(ACME, &t1.id).await.unwrap(), None);
}
