//! The AWS pipeline end to end, against the local emulator: a write to DynamoDB, its stream
//! records read through the Streams API, the stream router, the EventBridge bus with one
//! rule per consumer built from the routing table, the consumers' SQS queues, the consumer
//! runtime, and the history items it writes back to DynamoDB. Also: poison parking, and a
//! failing consumer's message dead-lettered with its reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod aws;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws::{Moto, Queue, as_lambda_event, create_table, queue, read_stream, receive, sqs_event, unique_name};
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use events_schema::{DomainEvent, EVENT_SOURCE, Timestamp, routing};
use serde_json::json;
use shared_aws::bus::EventBridgePublisher;
use shared_aws::dynamo::DynamoStore;
use shared_aws::lambda::{DeadLettering, consume_sqs, route_stream};
use shared_aws::parking::{SqsDeadLetters, SqsParking};
use shared_core::consumers::history::AuditHistory;
use shared_core::pipeline::{ApplyError, Consumer, Delivery};
use shared_core::ports::{Aggregate, Change, HistoryStore, Store};
use shared_core::stream_router::RetryPolicy;
use shared_core::{Identity, RequestContext, Role};

fn ctx(correlation: &str) -> RequestContext {
    RequestContext {
        identity: Identity { tenant: "acme".into(), actor: "maria".into(), role: Role::Member },
        correlation_id: correlation.into(),
    }
}

fn task(id: &str, version: u64, status: TaskStatus, at_secs: i64) -> TaskSnapshot {
    let created = Timestamp::from_unix_millis(1_767_225_600_000).unwrap();
    let at = Timestamp::from_unix_millis(1_767_225_600_000 + at_secs * 1000).unwrap();
    TaskSnapshot {
        id: id.into(),
        title: "Write the release notes".into(),
        description: None,
        status,
        priority: Priority::High,
        assignee: None,
        reporter: None,
        category_id: None,
        project_id: None,
        sprint_id: None,
        tags: vec![],
        due_date: None,
        estimate_points: None,
        created_at: created,
        updated_at: at,
        status_changed_at: at,
        escalation: None,
        version,
    }
}

struct Backbone {
    moto: Arc<Moto>,
    table: String,
    store: Arc<DynamoStore>,
    bus: String,
    queues: Vec<(&'static str, Queue)>,
    router_dlq: String,
    sqs: aws_sdk_sqs::Client,
}

/// The table, the bus, and per consumer a rule, a queue and a DLQ: what the CDK deploys.
async fn backbone(visibility: u32) -> Backbone {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let table = unique_name("fanout");
    create_table(&moto.dynamodb(), &table).await;
    let store = Arc::new(DynamoStore::new(&config, &table));
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus = unique_name("bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let mut queues = Vec::new();
    for route in routing::ROUTES {
        let q = queue(&sqs, &unique_name(route.name), visibility).await;
        let rule = format!("{bus}-{}", route.name);
        let pattern = json!({ "source": [EVENT_SOURCE], "detail-type": route.detail_types });
        events.put_rule().name(&rule).event_bus_name(&bus).event_pattern(pattern.to_string()).send().await.unwrap();
        let target = Target::builder().id("queue").arn(&q.arn).build().unwrap();
        events.put_targets().rule(&rule).event_bus_name(&bus).targets(target).send().await.unwrap();
        queues.push((route.name, q));
    }
    let router_dlq = sqs.create_queue().queue_name(unique_name("router-dlq")).send().await.unwrap().queue_url.unwrap();
    Backbone { moto, table, store, bus, queues, router_dlq, sqs }
}

impl Backbone {
    fn queue(&self, consumer: &str) -> &Queue {
        &self.queues.iter().find(|(name, _)| *name == consumer).unwrap().1
    }

    async fn route(&self, records: Vec<EventRecord>) -> shared_core::stream_router::RouterReport {
        let config = self.moto.sdk_config();
        let publisher = EventBridgePublisher::from_config(&config, &self.bus);
        let parking = SqsParking::from_config(&config, &self.router_dlq);
        let policy = RetryPolicy { min_delay: Duration::ZERO, max_delay: Duration::ZERO, max_resends: 2 };
        let mut event = StreamEvent::default();
        event.records = records;
        // The Lambda payload exactly as the event source would send it.
        let payload = serde_json::to_string(&event).unwrap();
        let (response, report) = route_stream(&payload, None, &publisher, &parking, &policy).await.unwrap();
        assert_eq!(response.batch_item_failures.is_empty(), report.first_failed_sequence.is_none());
        report
    }

    async fn depth(&self, url: &str) -> usize {
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        attrs.attributes().unwrap()[&QueueAttributeName::ApproximateNumberOfMessages].parse().unwrap()
    }
}

#[tokio::test]
async fn a_write_travels_from_dynamodb_through_the_bus_to_the_history_table() {
    let b = backbone(30).await;
    let id = uuid::Uuid::now_v7().to_string();
    let writes = [
        (Change::Put { new: Aggregate::Task(task(&id, 1, TaskStatus::Todo, 0)), expected_version: None }, "c-1"),
        (
            Change::Put { new: Aggregate::Task(task(&id, 2, TaskStatus::InProgress, 60)), expected_version: Some(1) },
            "c-2",
        ),
        (Change::Put { new: Aggregate::Task(task(&id, 3, TaskStatus::Done, 3600)), expected_version: Some(2) }, "c-3"),
    ];
    for (change, correlation) in writes {
        b.store.commit(&ctx(correlation), vec![change], None).await.unwrap();
    }

    let records: Vec<EventRecord> = read_stream(&b.moto, &b.table).await.iter().map(as_lambda_event).collect();
    assert_eq!(records.len(), 3);
    let report = b.route(records).await;
    assert_eq!((report.records, report.events, report.parked, report.first_failed_sequence.clone()), (3, 4, 0, None));

    // Every consumer's rule delivered exactly its detail-types.
    for (consumer, expected) in
        [("audit-history", 4), ("search-indexer", 4), ("metrics", 4), ("escalation", 4), ("notifier", 4)]
    {
        assert_eq!(b.depth(&b.queue(consumer).url).await, expected, "{consumer}");
    }

    let audit = b.queue("audit-history");
    let messages = receive(&b.sqs, &audit.url, 4).await;
    assert_eq!(messages.len(), 4);
    let consumer = AuditHistory::new(b.store.clone());
    let response = consume_sqs(&consumer, sqs_event(&messages), None, None).await;
    assert!(response.batch_item_failures.is_empty());
    // Delivered twice (a redelivery after a lost acknowledgement): still one item per event.
    let response = consume_sqs(&consumer, sqs_event(&messages), None, None).await;
    assert!(response.batch_item_failures.is_empty());

    let history = HistoryStore::list(b.store.as_ref(), "acme", &id).await.unwrap();
    let got: Vec<(u64, &str, &str)> =
        history.iter().map(|r| (r.version, r.event_type.as_str(), r.correlation_id.as_str())).collect();
    assert_eq!(
        got,
        [
            (1, "TaskCreated", "c-1"),
            (2, "TaskStatusChanged", "c-2"),
            (3, "TaskCompleted", "c-3"),
            (3, "TaskStatusChanged", "c-3")
        ]
    );
    let changed = history.iter().find(|r| r.version == 2).unwrap();
    assert_eq!(
        (changed.data["previousStatus"].as_str(), changed.data["secondsInPreviousStatus"].as_u64()),
        (Some("todo"), Some(60))
    );
}

#[tokio::test]
async fn a_poison_record_is_parked_whole_and_the_rest_of_the_batch_goes_through() {
    let b = backbone(30).await;
    let (good, bad) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    for id in [&bad, &good] {
        let change = Change::Put { new: Aggregate::Task(task(id, 1, TaskStatus::Todo, 0)), expected_version: None };
        b.store.commit(&ctx("c"), vec![change], None).await.unwrap();
    }
    let mut records: Vec<EventRecord> = read_stream(&b.moto, &b.table).await.iter().map(as_lambda_event).collect();
    // Corrupt the first record's image: its status is not one the schema knows.
    let mut image: std::collections::HashMap<String, serde_dynamo::AttributeValue> =
        records[0].change.new_image.clone().into();
    image.insert("status".into(), serde_dynamo::AttributeValue::S("exploded".into()));
    records[0].change.new_image = image.into();
    let poison_id = records[0].event_id.clone();

    let report = b.route(records).await;
    assert_eq!((report.parked, report.events, report.first_failed_sequence), (1, 1, None));
    let parked = receive(&b.sqs, &b.router_dlq, 1).await;
    let body: serde_json::Value = serde_json::from_str(parked[0].body().unwrap()).unwrap();
    assert_eq!(body["record"]["eventID"], poison_id, "the whole record is kept");
    assert!(body["reason"].as_str().unwrap().contains("exploded"), "{}", body["reason"]);
    assert_eq!(b.depth(&b.queue("audit-history").url).await, 1, "the good record's event was routed");
}

/// Fails every event; counts attempts.
struct Broken;

#[async_trait]
impl Consumer for Broken {
    fn name(&self) -> &'static str {
        routing::NOTIFIER
    }

    async fn apply(&self, _: &DomainEvent, _: &Delivery) -> Result<(), ApplyError> {
        Err(ApplyError::Rejected("the mail relay refused the message".into()))
    }
}

#[tokio::test]
async fn a_failing_message_is_reported_alone_then_dead_lettered_with_its_reason() {
    let b = backbone(0).await;
    let id = uuid::Uuid::now_v7().to_string();
    b.store
        .commit(
            &ctx("c-1"),
            vec![Change::Put { new: Aggregate::Task(task(&id, 1, TaskStatus::Todo, 0)), expected_version: None }],
            None,
        )
        .await
        .unwrap();
    b.store
        .commit(
            &ctx("c-2"),
            vec![Change::Put {
                new: Aggregate::Task(task(&id, 2, TaskStatus::InProgress, 5)),
                expected_version: Some(1),
            }],
            None,
        )
        .await
        .unwrap();
    let records: Vec<EventRecord> = read_stream(&b.moto, &b.table).await.iter().map(as_lambda_event).collect();
    b.route(records).await;

    let notifier = b.queue("notifier");
    // The notifier hears of the creation too: taken off the queue, so the status change alone
    // is the message that fails below (its first receive is this one).
    let both = receive(&b.sqs, &notifier.url, 2).await;
    assert_eq!(both.len(), 2);
    for message in &both {
        let body: serde_json::Value = serde_json::from_str(message.body().unwrap()).unwrap();
        let receipt = message.receipt_handle().unwrap();
        if body["detail-type"] == "TaskCreated" {
            b.sqs.delete_message().queue_url(&notifier.url).receipt_handle(receipt).send().await.unwrap();
        } else {
            let visible = b.sqs.change_message_visibility().queue_url(&notifier.url).receipt_handle(receipt);
            visible.visibility_timeout(0).send().await.unwrap();
        }
    }
    let config = b.moto.sdk_config();
    let dlq = SqsDeadLetters::from_config(&config, &notifier.dlq_url);
    let dead = DeadLettering { queue: &dlq, max_receives: 5 };
    for attempt in 2..=5 {
        let messages = receive(&b.sqs, &notifier.url, 1).await;
        assert_eq!(messages.len(), 1, "attempt {attempt}");
        let response = consume_sqs(&Broken, sqs_event(&messages), Some(&dead), None).await;
        if attempt < 5 {
            let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
            assert_eq!(failed, [messages[0].message_id().unwrap().to_owned()], "only that message is reported");
        } else {
            assert!(response.batch_item_failures.is_empty(), "dead-lettered, so acknowledged");
            b.sqs
                .delete_message()
                .queue_url(&notifier.url)
                .receipt_handle(messages[0].receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    let dead_letters = receive(&b.sqs, &notifier.dlq_url, 1).await;
    assert_eq!(dead_letters.len(), 1);
    let attrs = dead_letters[0].message_attributes().unwrap();
    assert_eq!(attrs["reason"].string_value(), Some("the mail relay refused the message"));
    assert_eq!(attrs["consumer"].string_value(), Some("notifier"));
    let body: serde_json::Value = serde_json::from_str(dead_letters[0].body().unwrap()).unwrap();
    assert_eq!(body["detail-type"], "TaskStatusChanged", "the body is the bus event, unchanged, for redrive");
    assert_eq!(b.depth(&notifier.url).await, 0);
}
