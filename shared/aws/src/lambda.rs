//! What a Lambda invocation hands us, turned into the core's calls, and the answers the
//! event sources expect back (partial batch responses).

pub use aws_lambda_events::event::sqs::SqsEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use events_schema::routing::METRICS;
use shared_core::consumers::metrics::{record_batch, write_emf_line};
use shared_core::pipeline::{BatchReport, Consumer, InboundMessage, emf_line, process_batch_report};
use shared_core::ports::MetricsSink;
use shared_core::stream_router::{EventPublisher, PoisonParking, RetryPolicy, RouterReport, prepare, route_batch};

use crate::dynamo::stream::{NotAStreamEvent, RawRecords, decode_batch_with};
use crate::parking::{SqsDeadLetters, SqsVisibility};

/// The name the router's metrics go under (dimension `Router`), its handler's name.
pub const STREAM_ROUTER: &str = "stream-router";

/// Where a consumer's messages go when they have failed `max_receives` times.
pub struct DeadLettering<'a> {
    pub queue: &'a SqsDeadLetters,
    pub max_receives: u32,
}

/// How a message whose sink throttled comes back: after a growing delay (its visibility on
/// `queue`), and to the dead letters only after `max_throttled_receives`.
pub struct Backoff<'a> {
    pub queue: &'a SqsVisibility,
    pub max_throttled_receives: u32,
    pub schedule: BackoffSchedule,
}

/// The delays of a throttled message: the first, doubling on every receive up to the longest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffSchedule {
    pub first_secs: u64,
    pub longest_secs: u64,
}

impl Default for BackoffSchedule {
    /// 10 s doubling to 15 minutes: with 20 receives, about three and a half hours of
    /// throttling before a message is parked.
    fn default() -> Self {
        Self { first_secs: 10, longest_secs: 15 * 60 }
    }
}

impl BackoffSchedule {
    /// How long a message throttled on its `received`th receive stays away: the schedule's
    /// delay less a jitter of up to half, drawn from the message id, so that a throttled
    /// batch does not come back all at once.
    pub fn delay_secs(&self, message_id: &str, received: u32) -> u64 {
        let doubled = self.first_secs.saturating_mul(1 << received.saturating_sub(1).min(20));
        let ceiling = doubled.min(self.longest_secs).max(1);
        let spread = crate::dynamo::stable_hash(&format!("{message_id}/{received}")) % (ceiling / 2 + 1);
        ceiling - spread
    }
}

/// A consumer Lambda's queues, from its environment: `QUEUE_URL` (for throttled messages'
/// delays), `DLQ_URL`, `MAX_RECEIVES` and `MAX_THROTTLED_RECEIVES`. Every consumer handler
/// settles its batches against these, so they are read in one place.
pub struct ConsumerQueues {
    dead_letters: SqsDeadLetters,
    max_receives: u32,
    queue: SqsVisibility,
    max_throttled_receives: u32,
}

impl ConsumerQueues {
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, lambda_runtime::Error> {
        Ok(Self {
            dead_letters: SqsDeadLetters::from_config(config, crate::env::required("DLQ_URL")?),
            max_receives: crate::env::max_receives()?,
            queue: SqsVisibility::from_config(config, crate::env::required("QUEUE_URL")?),
            max_throttled_receives: crate::env::max_throttled_receives()?,
        })
    }

    pub fn dead(&self) -> DeadLettering<'_> {
        DeadLettering { queue: &self.dead_letters, max_receives: self.max_receives }
    }

    pub fn backoff(&self) -> Backoff<'_> {
        Backoff {
            queue: &self.queue,
            max_throttled_receives: self.max_throttled_receives,
            schedule: BackoffSchedule::default(),
        }
    }
}

/// Runs a consumer's Lambda until the runtime stops: each SQS batch through [`consume_sqs`],
/// dead-lettered and backed off per [`ConsumerQueues::from_env`].
pub async fn run_sqs_consumer(
    config: &aws_config::SdkConfig,
    consumer: &dyn Consumer,
) -> Result<(), lambda_runtime::Error> {
    let queues = ConsumerQueues::from_env(config)?;
    let queues = &queues;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<SqsEvent>| async move {
        let (dead, backoff) = (queues.dead(), queues.backoff());
        Ok::<_, lambda_runtime::Error>(consume_sqs(consumer, event.payload, Some(&dead), Some(&backoff)).await)
    }))
    .await
}

/// An SQS batch of bus events for one consumer: only failed message ids are reported, so
/// SQS retries those alone. A message failing its last allowed receive is sent to the
/// dead-letter queue with the reason and acknowledged; if that send fails, it is reported
/// failed and the queue's own redrive policy dead-letters it (without the reason).
///
/// A message that failed only because its sink throttled is not poison: with `backoff`, it
/// comes back after its [`BackoffSchedule`] delay (its visibility is changed) instead of when the queue's
/// visibility timeout says, and is dead-lettered only after `max_throttled_receives`. The
/// batch's metrics go to stdout as EMF.
pub async fn consume_sqs(
    consumer: &dyn Consumer,
    event: SqsEvent,
    dead: Option<&DeadLettering<'_>>,
    backoff: Option<&Backoff<'_>>,
) -> SqsBatchResponse {
    let received = Received::from(event);
    let report = process_batch_report(consumer, &received.batch).await;
    println!("{}", emf_line(consumer.name(), &report, events_schema::Timestamp::now().unix_millis()));
    received.settle(consumer.name(), report, dead, backoff).await
}

/// The metrics consumer's SQS batch: its records written together (at most 100 a write)
/// rather than one call per message, each message settled by its own record's outcome; the
/// batch's pipeline figures and its write figures go to stdout as EMF.
pub async fn consume_metrics(
    sink: &dyn MetricsSink,
    event: SqsEvent,
    dead: Option<&DeadLettering<'_>>,
    backoff: Option<&Backoff<'_>>,
) -> SqsBatchResponse {
    let received = Received::from(event);
    let (report, written) = record_batch(sink, &received.batch).await;
    let now = events_schema::Timestamp::now().unix_millis();
    println!("{}", emf_line(METRICS, &report, now));
    println!("{}", write_emf_line(&written, now));
    received.settle(METRICS, report, dead, backoff).await
}

/// An SQS batch as the consumer runtime takes it, with what settling its failures needs:
/// for consumers that apply a batch as a whole (the metrics consumer writes its records
/// together) rather than message by message through [`consume_sqs`].
pub struct Received {
    pub batch: Vec<InboundMessage>,
    receives: Vec<u32>,
    receipts: Vec<Option<String>>,
}

impl From<SqsEvent> for Received {
    fn from(event: SqsEvent) -> Self {
        let receives: Vec<u32> = event
            .records
            .iter()
            .map(|r| r.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1))
            .collect();
        let receipts: Vec<Option<String>> = event.records.iter().map(|r| r.receipt_handle.clone()).collect();
        let batch: Vec<InboundMessage> = event
            .records
            .into_iter()
            .map(|r| InboundMessage { id: r.message_id.unwrap_or_default(), body: r.body.unwrap_or_default() })
            .collect();
        Self { batch, receives, receipts }
    }
}

impl Received {
    /// The partial batch response for `report`'s failures, each dead-lettered or backed off
    /// as [`consume_sqs`] describes.
    pub async fn settle(
        &self,
        consumer: &str,
        report: BatchReport,
        dead: Option<&DeadLettering<'_>>,
        backoff: Option<&Backoff<'_>>,
    ) -> SqsBatchResponse {
        let (batch, receives, receipts) = (&self.batch, &self.receives, &self.receipts);
        let mut response = SqsBatchResponse::default();
        for failure in report.failures {
            let index = batch.iter().position(|m| m.id == failure.id);
            let received = index.and_then(|i| receives.get(i)).copied().unwrap_or(1);
            let allowed = match (failure.throttled, backoff) {
                (true, Some(backoff)) => Some(backoff.max_throttled_receives),
                _ => dead.map(|d| d.max_receives),
            };
            if let (Some(dead), Some(i), Some(allowed)) = (dead, index, allowed)
                && received >= allowed
            {
                match dead.queue.send(&batch[i].body, consumer, &failure.reason, received).await {
                    Ok(()) => {
                        tracing::warn!(message_id = %failure.id, reason = %failure.reason, "dead-lettered");
                        continue;
                    }
                    Err(e) => tracing::error!(error = %e, "dead-lettering failed; leaving it to the redrive policy"),
                }
            } else if let (true, Some(backoff), Some(Some(receipt))) =
                (failure.throttled, backoff, index.map(|i| receipts.get(i).cloned().flatten()))
            {
                let delay = backoff.schedule.delay_secs(&failure.id, received);
                match backoff.queue.delay(&receipt, delay).await {
                    Ok(()) => tracing::info!(message_id = %failure.id, delay, received, "throttled; backing off"),
                    // It then comes back when the queue's visibility timeout ends, as any failure.
                    Err(e) => tracing::warn!(error = %e, message_id = %failure.id, "backing off failed"),
                }
            }
            let mut item = BatchItemFailure::default();
            item.item_identifier = failure.id;
            response.batch_item_failures.push(item);
        }
        response
    }
}

/// A DynamoDB Streams batch through the router, from the invocation's payload as received
/// (the decoding reads it in place; a parked record is parked exactly as it came). A failure
/// names the first record to retry from (the event source then retries it and everything
/// after it, in order). A payload that is not a stream event at all is an error.
/// `trace_header` (the invocation's X-Ray trace) goes onto every PutEvents entry; the
/// batch's metrics go to stdout as EMF.
pub async fn route_stream(
    payload: &str,
    trace_header: Option<&str>,
    publisher: &dyn EventPublisher,
    parking: &dyn PoisonParking,
    policy: &RetryPolicy,
) -> Result<(DynamoDbEventResponse, RouterReport), NotAStreamEvent> {
    let started = std::time::Instant::now();
    let report = route_payload(payload, trace_header, publisher, parking, policy).await?;
    let batch_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{}",
        shared_core::stream_router::emf_line(
            STREAM_ROUTER,
            &report,
            batch_ms,
            events_schema::Timestamp::now().unix_millis()
        )
    );
    tracing::info!(records = report.records, events = report.events, parked = report.parked, calls = report.calls,
        resends = report.resends, batch_ms, failed_from = ?report.first_failed_sequence, "stream batch routed");
    let mut response = DynamoDbEventResponse::default();
    if let Some(sequence) = &report.first_failed_sequence {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence.clone());
        response.batch_item_failures.push(failure);
    }
    Ok((response, report))
}

/// The routing [`route_stream`] does, without its metrics line or Lambda response: for
/// routing a batch again from elsewhere (`taskstream dlq redrive --consumer stream-router`).
pub async fn route_payload(
    payload: &str,
    trace_header: Option<&str>,
    publisher: &dyn EventPublisher,
    parking: &dyn PoisonParking,
    policy: &RetryPolicy,
) -> Result<RouterReport, NotAStreamEvent> {
    // Each record is derived and encoded as soon as it is decoded.
    let records = decode_batch_with(payload, prepare)?;
    let raws = RawRecords::new(payload);
    let raw = |i: usize| raws.get(i).unwrap_or_default();
    Ok(route_batch(records, &raw, publisher, parking, policy, trace_header).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_message_backs_off_ever_longer_with_jitter_up_to_the_longest_delay() {
        let schedule = BackoffSchedule::default();
        let ceilings = [10, 20, 40, 80, 160, 320, 640, 900, 900];
        for (i, ceiling) in ceilings.into_iter().enumerate() {
            let received = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let delays: Vec<u64> = (0..50).map(|m| schedule.delay_secs(&format!("message-{m}"), received)).collect();
            assert!(delays.iter().all(|d| (ceiling / 2..=ceiling).contains(d)), "receive {received}: {delays:?}");
            assert!(delays.iter().collect::<std::collections::HashSet<_>>().len() > 3, "no jitter: {delays:?}");
        }
        assert_eq!(schedule.delay_secs("m", 1000), schedule.delay_secs("m", 1000), "stable, and no overflow");
        assert!(schedule.delay_secs("m", u32::MAX) <= 900);
        let total: u64 = (1..20).map(|r| ceilings.get(r - 1).copied().unwrap_or(900)).sum();
        assert!((3 * 3600..4 * 3600).contains(&total), "19 backoffs before the 20th receive: {total} s");
    }
}
