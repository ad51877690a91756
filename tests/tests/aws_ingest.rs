//! The AWS ingest against the local emulator: commands published by a service with the
//! publisher crate onto the bus, routed by the ingest rule (every source but taskstream's)
//! to the ingest queue, applied by the task-ingest handler's code as the tenant its source
//! maps to; refusals in the DLQ with their reason; the events the table's stream derives.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod aws;

use aws::{Moto, create_table, queue, read_stream, receive, sqs_event, unique_name};
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, Target};
use events_schema::EVENT_SOURCE;
use serde_json::json;
use shared_aws::dynamo::DynamoStore;
use shared_aws::dynamo::stream::change_record;
use shared_aws::ingest::{SourceTenants, consume_commands};
use shared_aws::parking::SqsDeadLetters;
use shared_core::derive;
use shared_core::ports::Store;
use taskstream_client::{
    Backoff, Delivery, EventBridgePublisher, TaskRef, TaskStatus, comment, create_task, set_status,
};

const COMMANDS: [&str; 3] = ["TaskCreateRequested", "TaskStatusRequested", "TaskCommentRequested"];

#[tokio::test]
async fn commands_on_the_bus_apply_as_their_sources_tenant_and_refusals_are_dead_lettered_with_the_reason() {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let table = unique_name("ingest");
    create_table(&moto.dynamodb(), &table).await;
    let store = DynamoStore::new(&config, &table);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let bus = unique_name("bus");
    events.create_event_bus().name(&bus).send().await.unwrap();
    // The rule the CDK makes for the ingest.
    let ingest = queue(&sqs, &unique_name("task-ingest"), 30).await;
    let rule = format!("{bus}-task-ingest");
    let pattern =
        json!({ "source": [{ "anything-but": [EVENT_SOURCE, "taskstream.workflows"] }], "detail-type": COMMANDS });
    events.put_rule().name(&rule).event_bus_name(&bus).event_pattern(pattern.to_string()).send().await.unwrap();
    let target = Target::builder().id("queue").arn(&ingest.arn).build().unwrap();
    events.put_targets().rule(&rule).event_bus_name(&bus).targets(target).send().await.unwrap();

    // A Git integration publishes with the publisher crate.
    let publisher =
        EventBridgePublisher::new(events.clone(), &bus, "integrations.git").unwrap().with_backoff(Backoff {
            min_delay: std::time::Duration::ZERO,
            max_delay: std::time::Duration::ZERO,
            max_resends: 1,
        });
    let key = TaskRef::external_key("PR-77");
    let create = create_task("Review PR-77").external_key("PR-77").command_id("git-1").build();
    let commands = [
        create.clone(),
        set_status(key.clone(), TaskStatus::InProgress).command_id("git-2").build(),
        comment(key.clone(), "CI passed").command_id("git-3").build(),
        set_status(key.clone(), TaskStatus::Blocked).at_version(5).command_id("git-4").build(),
        create,
    ];
    let deliveries = publisher.publish(&commands).await.unwrap();
    assert!(deliveries.iter().all(|d| matches!(d, Delivery::Accepted { .. })), "{deliveries:?}");
    // A service nobody mapped, and a forgery under taskstream's own source (the rule skips it).
    let detail = json!({ "commandId": "x-1", "commandType": "TaskCreateRequested", "schemaVersion": 1, "data": { "title": "t" } });
    for source in ["unknown.service", EVENT_SOURCE] {
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&bus)
            .source(source)
            .detail_type("TaskCreateRequested")
            .detail(detail.to_string())
            .build();
        events.put_events().entries(entry).send().await.unwrap();
    }

    let messages = receive(&sqs, &ingest.url, 6).await;
    assert_eq!(messages.len(), 6, "five commands and the unmapped source's; not taskstream's own");
    let sources = SourceTenants::parse("integrations.git=acme").unwrap();
    let dead_letters = SqsDeadLetters::new(sqs.clone(), &ingest.dlq_url);
    let response = consume_commands(&store, &sources, &dead_letters, sqs_event(&messages)).await;
    assert!(response.batch_item_failures.is_empty(), "nothing to retry: {:?}", response.batch_item_failures);

    // Applied once, as acme.
    let id = store.task_for_external_key("acme", "PR-77").await.unwrap().expect("the key is linked");
    let task = store.get_task("acme", &id).await.unwrap().unwrap();
    assert_eq!((task.status, task.version), (TaskStatus::InProgress, 2));
    let comments = store.list_comments("acme", &id, 10, None).await.unwrap().items;
    assert_eq!((comments.len(), comments[0].author.as_str()), (1, "integrations.git"));
    assert_eq!(store.task_for_external_key("unknown.service", "PR-77").await.unwrap(), None);

    // The stale command and the unmapped source's, each with its reason.
    let parked = receive(&sqs, &ingest.dlq_url, 2).await;
    let mut reasons: Vec<String> =
        parked.iter().map(|m| m.message_attributes().unwrap()["reason"].string_value().unwrap().to_owned()).collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].starts_with("forbidden: the source \"unknown.service\" is not mapped"), "{reasons:?}");
    assert!(
        reasons[1].starts_with("stale_version: the task of external key \"PR-77\" is at version 2, not 5"),
        "{reasons:?}"
    );

    // The table's stream: the usual events, and nothing for receipts and key links.
    let mut derived = Vec::new();
    for record in read_stream(&moto, &table).await {
        if let Some(change) = change_record(&aws::as_lambda_event(&record)) {
            let change = change.unwrap();
            assert_eq!((change.tenant.as_str(), change.actor.as_str()), ("acme", "integrations.git"));
            derived.extend(derive(change).unwrap().iter().map(|e| e.event_type().to_owned()));
        }
    }
    assert_eq!(derived, ["TaskCreated", "TaskStatusChanged", "CommentAdded"]);
}
