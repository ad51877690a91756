//! A consumer whose sink throttles, against the emulator's SQS: the message is backed off
//! with ChangeMessageVisibility (it comes back after the backoff, long before the queue's
//! visibility timeout would let it), it is not dead-lettered at the receive count that parks
//! a failing message, and it is parked with its reason only after its throttled receives.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod aws;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws::{queue, receive, sqs_event, unique_name};
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use events_schema::{AggregateType, BridgeEvent, DomainEvent, Timestamp};
use shared_aws::lambda::{Backoff, BackoffSchedule, DeadLettering, consume_sqs};
use shared_aws::parking::{SqsDeadLetters, SqsVisibility};
use shared_core::ChangeRecord;
use shared_core::pipeline::{ApplyError, Consumer, Delivery};
use shared_core::ports::{Aggregate, StoreError};

/// A consumer whose sink refuses for load, or for good.
struct Sink {
    throttled: bool,
}

#[async_trait]
impl Consumer for Sink {
    fn name(&self) -> &'static str {
        "search-indexer"
    }

    async fn apply(&self, _: &DomainEvent, _: &Delivery) -> Result<(), ApplyError> {
        Err(if self.throttled {
            ApplyError::Store(StoreError::Throttled("OpenSearch bulk: status 429: rejected execution".into()))
        } else {
            ApplyError::Rejected("the document cannot be indexed".into())
        })
    }
}

/// A TaskCreated event as the bus delivers it to a queue.
fn bus_event() -> String {
    let at = Timestamp::from_unix_millis(1_767_225_600_000).unwrap();
    let id = uuid::Uuid::now_v7().to_string();
    let task = TaskSnapshot {
        id: id.clone(),
        title: "Index me".into(),
        description: None,
        status: TaskStatus::Todo,
        priority: Priority::Low,
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
        version: 1,
    };
    let change = ChangeRecord {
        tenant: "acme".into(),
        aggregate_type: AggregateType::Task,
        aggregate_id: id,
        aggregate_version: 1,
        at,
        correlation_id: "c-1".into(),
        actor: "maria".into(),
        old: None,
        new: Some(Aggregate::Task(task)),
    };
    let event = shared_core::derive(change).unwrap().remove(0);
    serde_json::to_string(&BridgeEvent::wrap(&event.to_envelope().unwrap()).unwrap()).unwrap()
}

/// The SQS event for `message`, as Lambda would deliver it on its `received`th receive.
fn received_as(message: &aws_sdk_sqs::types::Message, received: u32) -> shared_aws::lambda::SqsEvent {
    let mut event = sqs_event(std::slice::from_ref(message));
    event.records[0].attributes.insert("ApproximateReceiveCount".into(), received.to_string());
    event
}

#[tokio::test]
async fn a_throttled_message_comes_back_after_its_backoff_and_is_parked_only_after_its_throttled_receives() {
    let moto = aws::Moto::shared();
    let config = moto.sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&config);
    // A visibility timeout of ten minutes: only a changed visibility brings it back sooner.
    let q = queue(&sqs, &unique_name("throttled"), 600).await;
    sqs.send_message().queue_url(&q.url).message_body(bus_event()).send().await.unwrap();
    let dlq = SqsDeadLetters::from_config(&config, &q.dlq_url);
    let dead = DeadLettering { queue: &dlq, max_receives: 5 };
    let visibility = SqsVisibility::from_config(&config, &q.url);
    let backoff = Backoff {
        queue: &visibility,
        max_throttled_receives: 20,
        schedule: BackoffSchedule { first_secs: 1, longest_secs: 2 },
    };
    let sink = Sink { throttled: true };

    let message = receive(&sqs, &q.url, 1).await.remove(0);
    let response = consume_sqs(&sink, received_as(&message, 1), Some(&dead), Some(&backoff)).await;
    assert_eq!(response.batch_item_failures.len(), 1, "a throttled message is not done");
    let backed_off = Instant::now();
    let mut again = Vec::new();
    while again.is_empty() && backed_off.elapsed() < Duration::from_secs(20) {
        again = receive(&sqs, &q.url, 1).await;
    }
    assert_eq!(again.len(), 1, "the message came back after its backoff, not after the 600 s visibility timeout");
    assert!(backed_off.elapsed() < Duration::from_secs(20));

    // At the receive count that parks a failing message, a throttled one is backed off again.
    let response = consume_sqs(&sink, received_as(&again[0], 5), Some(&dead), Some(&backoff)).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(receive(&sqs, &q.dlq_url, 1).await.is_empty(), "not parked at the fifth receive");

    // At its last throttled receive it is parked with the reason, and acknowledged.
    let third = receive(&sqs, &q.url, 1).await;
    let third = if third.is_empty() {
        tokio::time::sleep(Duration::from_secs(3)).await;
        receive(&sqs, &q.url, 1).await
    } else {
        third
    };
    let response = consume_sqs(&sink, received_as(&third[0], 20), Some(&dead), Some(&backoff)).await;
    assert!(response.batch_item_failures.is_empty(), "parked, so acknowledged");
    let parked = receive(&sqs, &q.dlq_url, 1).await;
    assert_eq!(parked.len(), 1);
    let reason = parked[0].message_attributes().unwrap()["reason"].string_value().unwrap().to_owned();
    assert!(reason.contains("429"), "{reason}");
}

#[tokio::test]
async fn a_message_failing_for_another_reason_is_parked_at_its_fifth_receive_as_before() {
    let moto = aws::Moto::shared();
    let config = moto.sdk_config();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let q = queue(&sqs, &unique_name("failing"), 600).await;
    sqs.send_message().queue_url(&q.url).message_body(bus_event()).send().await.unwrap();
    let dlq = SqsDeadLetters::from_config(&config, &q.dlq_url);
    let dead = DeadLettering { queue: &dlq, max_receives: 5 };
    let visibility = SqsVisibility::from_config(&config, &q.url);
    let backoff = Backoff { queue: &visibility, max_throttled_receives: 20, schedule: BackoffSchedule::default() };

    let message = receive(&sqs, &q.url, 1).await.remove(0);
    let response = consume_sqs(&Sink { throttled: false }, received_as(&message, 1), Some(&dead), Some(&backoff)).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(receive(&sqs, &q.url, 1).await.is_empty(), "no backoff: it waits out the queue's visibility timeout");
    let response = consume_sqs(&Sink { throttled: false }, received_as(&message, 5), Some(&dead), Some(&backoff)).await;
    assert!(response.batch_item_failures.is_empty());
    let parked = receive(&sqs, &q.dlq_url, 1).await;
    assert_eq!(
        parked[0].message_attributes().unwrap()["reason"].string_value(),
        Some("the document cannot be indexed")
    );
}
