//! What the stream router gave up on, redriven against the local emulator (S3, EventBridge,
//! SQS): a failure object in the exact shape Lambda writes to an S3 on-failure destination
//! for a DynamoDB stream (`tests/fixtures/stream-router-failure.json`: the invocation record
//! with `payload`, the whole invocation event as an escaped JSON string; three routable
//! records and one poison), and the router's parked records.
//!
//! Events are counted where they arrive: a catch-all rule on the stage's bus sends every
//! event to an observer queue.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod aws;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws::{Moto, Queue, queue, receive, unique_name};
use aws_sdk_eventbridge::types::Target;
use events_schema::EVENT_SOURCE;
use serde_json::{Value, json};
use shared_aws::dynamo::stream::decode_batch_with;
use shared_aws::lambda::STREAM_ROUTER;
use shared_aws::operate::router_failures::{FailureRecord, Shown};
use shared_aws::operate::{OperateError, RedriveSelection, RouterFailures, StageNames};
use shared_aws::parking::SqsParking;
use shared_core::stream_router::{PoisonParking, RetryPolicy, prepare};

const FIXTURE: &str = include_str!("../fixtures/stream-router-failure.json");
/// Where Lambda puts an invocation record: `aws/lambda/<mapping>/<shard>/YYYY/MM/DD/<time>-<uuid>`.
const KEY: &str = "aws/lambda/8f2c6a31-5d0e-4b7a-9c14-2e6f0b9d3a77/shardId-00000001796126000000-1a2b3c4d/2026/12/01/2026-12-01T12.14.07-0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d";

struct Stage {
    _moto: Arc<Moto>,
    names: StageNames,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
    bucket: String,
    parking_url: String,
    observer: Queue,
}

/// The stage's bus with an observer on it, the router's parking queue, and its failure
/// bucket named as the CDK app names it.
async fn stage() -> Stage {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    // Short: S3 bucket names end at 63 characters.
    let names = StageNames::new(unique_name("s").replace('-', "")[..10].to_owned());
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let s3 = moto.s3();
    events.create_event_bus().name(names.bus()).send().await.unwrap();
    let observer = queue(&sqs, &unique_name("observer"), 30).await;
    let rule = names.rule("observer");
    let pattern = json!({ "source": [EVENT_SOURCE] });
    events.put_rule().name(&rule).event_bus_name(names.bus()).event_pattern(pattern.to_string()).send().await.unwrap();
    let target = Target::builder().id("queue").arn(&observer.arn).build().unwrap();
    events.put_targets().rule(&rule).event_bus_name(names.bus()).targets(target).send().await.unwrap();
    let parking_url =
        sqs.create_queue().queue_name(names.dead_letter_queue(STREAM_ROUTER)).send().await.unwrap().queue_url.unwrap();
    // Another stage's bucket first: the prefix tells them apart.
    let bucket = format!("{}123456789012", names.router_failure_bucket_prefix());
    let decoy = format!("{}x-taskstream-stream-router-failures-123456789012", names.stage);
    s3.create_bucket().bucket(decoy).send().await.unwrap();
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    Stage { _moto: moto, names, s3, sqs, events, bucket, parking_url, observer }
}

impl Stage {
    fn failures(&self) -> RouterFailures {
        RouterFailures::new(self.s3.clone(), self.sqs.clone(), self.events.clone(), self.names.clone())
            .with_policy(RetryPolicy { min_delay: Duration::ZERO, max_delay: Duration::ZERO, max_resends: 1 })
    }

    async fn put_failure(&self, key: &str) {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(FIXTURE.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
    }

    async fn objects(&self) -> usize {
        let out = self.s3.list_objects_v2().bucket(&self.bucket).send().await.unwrap();
        out.contents().len()
    }

    /// Every event that reached the bus since the last call: their ids.
    async fn arrived(&self, at_least: usize) -> Vec<String> {
        let messages = receive(&self.sqs, &self.observer.url, at_least + 1).await;
        for m in &messages {
            let receipt = m.receipt_handle().unwrap();
            self.sqs.delete_message().queue_url(&self.observer.url).receipt_handle(receipt).send().await.unwrap();
        }
        messages
            .iter()
            .map(|m| {
                let event: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                event["detail"]["eventId"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    async fn parked(&self) -> Vec<Value> {
        let messages = receive(&self.sqs, &self.parking_url, 10).await;
        for m in &messages {
            let receipt = m.receipt_handle().unwrap();
            self.sqs
                .change_message_visibility()
                .queue_url(&self.parking_url)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
        }
        messages.iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect()
    }
}

/// The event ids the router derives from the fixture's payload, and its raw records.
fn fixture() -> (BTreeSet<String>, Vec<Value>) {
    let failure = FailureRecord::parse(FIXTURE).unwrap();
    let prepared = decode_batch_with(&failure.payload, prepare).unwrap();
    let ids = prepared.iter().filter_map(|p| p.entries.as_ref().ok()).flatten().map(|e| e.event_id.clone()).collect();
    let payload: Value = serde_json::from_str(&failure.payload).unwrap();
    (ids, payload["Records"].as_array().unwrap().clone())
}

#[tokio::test]
async fn a_failed_batch_is_redriven_once_its_events_published_and_its_poison_parked_with_the_reason() {
    let s = stage().await;
    s.put_failure(KEY).await;
    let failures = s.failures();
    let (expected, _) = fixture();
    assert_eq!(expected.len(), 3);

    let depth = failures.depth().await.unwrap();
    assert_eq!((depth.bucket.as_str(), depth.failed_batches, depth.parked), (s.bucket.as_str(), 1, 0));
    let (batches, parked) = failures.list(10).await.unwrap();
    assert!(parked.is_empty());
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].key, KEY);
    assert_eq!(batches[0].condition, "RetryAttemptsExhausted");
    assert_eq!((batches[0].records, batches[0].invocations), (4, 11));
    assert_eq!(batches[0].first_sequence, "000000000000001000000");

    // The counts first: nothing is sent, nothing removed.
    let plan = failures.redrive(&RedriveSelection { dry_run: true, ..Default::default() }).await.unwrap();
    assert_eq!((plan.batches, plan.records, plan.events, plan.newly_parked), (1, 4, 3, 1));
    assert!(plan.deleted_keys.is_empty());
    assert_eq!(s.objects().await, 1);
    assert!(s.arrived(0).await.is_empty());

    let done = failures.redrive(&RedriveSelection::default()).await.unwrap();
    assert_eq!((done.batches, done.records, done.events, done.newly_parked), (1, 4, 3, 1), "{done:?}");
    assert_eq!(done.deleted_keys, vec![KEY.to_owned()]);
    assert!(done.failed.is_empty(), "{:?}", done.failed);
    let arrived = s.arrived(3).await;
    assert_eq!(arrived.len(), 3, "{arrived:?}");
    assert_eq!(arrived.into_iter().collect::<BTreeSet<_>>(), expected, "the router's own deterministic ids");
    assert_eq!(s.objects().await, 0, "the object is gone once its events are out");
    let parked = s.parked().await;
    assert_eq!(parked.len(), 1);
    assert!(parked[0]["reason"].as_str().unwrap().contains("exploded"), "{}", parked[0]);
    assert_eq!(parked[0]["record"]["dynamodb"]["SequenceNumber"], "000000000000001000003");

    // The same object redriven again: nothing left to send.
    let again = failures.redrive(&RedriveSelection::default()).await.unwrap();
    assert_eq!((again.batches, again.events), (0, 0), "{again:?}");
    assert!(s.arrived(0).await.is_empty(), "no duplicate reached the bus");
}

#[tokio::test]
async fn parked_records_are_shown_and_redriven_and_one_still_poison_stays_with_its_reason() {
    let s = stage().await;
    let (expected, records) = fixture();
    let parking = SqsParking::new(s.sqs.clone(), s.parking_url.clone());
    // Record 0 was parked when the bus refused its event; record 3 cannot be derived.
    parking.park(&records[0], "EventBridge refused event … for good: AccessDeniedException").await.unwrap();
    parking.park(&records[3], "the new image is not a snapshot: unknown variant `exploded`").await.unwrap();
    let failures = s.failures();

    let (batches, parked) = failures.list(10).await.unwrap();
    assert!(batches.is_empty());
    assert_eq!(parked.len(), 2);
    let poison = parked.iter().find(|p| p.sequence_number.as_deref() == Some("000000000000001000003")).unwrap();
    assert!(poison.reason.contains("exploded"));
    assert_eq!(poison.event_name.as_deref(), Some("MODIFY"));
    assert!(poison.item.as_deref().unwrap().starts_with("T#tenant-5#TASK#"));
    let Shown::Parked(shown) = failures.show(&poison.id).await.unwrap() else { panic!("a parked record") };
    assert_eq!(shown.record.unwrap()["dynamodb"]["NewImage"]["status"]["S"], "exploded");

    let plan = failures.redrive(&RedriveSelection { dry_run: true, ..Default::default() }).await.unwrap();
    assert_eq!((plan.parked_records, plan.events, plan.still_poison.len()), (1, 1, 1), "{plan:?}");
    assert!(s.arrived(0).await.is_empty());

    let done = failures.redrive(&RedriveSelection::default()).await.unwrap();
    assert_eq!((done.parked_records, done.records, done.events), (1, 1, 1), "{done:?}");
    assert_eq!(done.still_poison.len(), 1);
    assert!(done.still_poison[0].contains("exploded"), "{:?}", done.still_poison);
    let arrived = s.arrived(1).await;
    assert_eq!(arrived.len(), 1);
    assert!(expected.contains(&arrived[0]));
    let left = s.parked().await;
    assert_eq!(left.len(), 1, "only the poison record stays, not parked twice: {left:?}");
    assert!(left[0]["reason"].as_str().unwrap().contains("exploded"));
}

#[tokio::test]
async fn a_redrive_by_id_takes_that_item_only_and_an_unknown_id_or_stage_is_named() {
    let s = stage().await;
    let other = KEY.replace("0b1c2d3e", "99999999");
    s.put_failure(KEY).await;
    s.put_failure(&other).await;
    let failures = s.failures();
    let Shown::Batch(batch) = failures.show(KEY).await.unwrap() else { panic!("a failed batch") };
    assert_eq!(batch.payload.unwrap()["Records"].as_array().unwrap().len(), 4);

    let one = RedriveSelection { id: Some(KEY.to_owned()), ..Default::default() };
    let done = failures.redrive(&one).await.unwrap();
    assert_eq!(done.deleted_keys, vec![KEY.to_owned()]);
    assert_eq!(s.arrived(3).await.len(), 3);
    assert_eq!(s.objects().await, 1, "the other object stays");

    let missing = RedriveSelection { id: Some("aws/lambda/nothing-here".to_owned()), ..Default::default() };
    assert!(matches!(failures.redrive(&missing).await, Err(OperateError::NotFound(_))));
    assert!(matches!(failures.show("no-such-message").await, Err(OperateError::NotFound(_))));

    let elsewhere = RouterFailures::new(s.s3.clone(), s.sqs.clone(), s.events.clone(), StageNames::new("nostage"));
    match elsewhere.depth().await {
        Err(OperateError::NotFound(message)) => {
            assert!(message.contains("nostage-taskstream-stream-router-failures-"), "{message}")
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
}
