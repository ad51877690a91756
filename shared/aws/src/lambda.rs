//! What a Lambda invocation hands us, turned into the core's calls, and the answers the
//! event sources expect back (partial batch responses).

pub use aws_lambda_events::event::sqs::SqsEvent;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use shared_core::pipeline::{Consumer, InboundMessage, emf_line, process_batch_report};
use shared_core::stream_router::{EventPublisher, PoisonParking, RetryPolicy, RouterReport, prepare, route_batch};

use crate::dynamo::stream::{NotAStreamEvent, RawRecords, decode_batch_with};
use crate::parking::SqsDeadLetters;

/// The name the router's metrics go under (dimension `Router`), its handler's name.
pub const STREAM_ROUTER: &str = "stream-router";

/// Where a consumer's messages go when they have failed `max_receives` times.
pub struct DeadLettering<'a> {
    pub queue: &'a SqsDeadLetters,
    pub max_receives: u32,
}

/// An SQS batch of bus events for one consumer: only failed message ids are reported, so
/// SQS retries those alone. A message failing its last allowed receive is sent to the
/// dead-letter queue with the reason and acknowledged; if that send fails, it is reported
/// failed and the queue's own redrive policy dead-letters it (without the reason). The
/// batch's metrics go to stdout as EMF.
pub async fn consume_sqs(
    consumer: &dyn Consumer,
    event: SqsEvent,
    dead: Option<&DeadLettering<'_>>,
) -> SqsBatchResponse {
    let receives: Vec<u32> = event
        .records
        .iter()
        .map(|r| r.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1))
        .collect();
    let batch: Vec<InboundMessage> = event
        .records
        .into_iter()
        .map(|r| InboundMessage { id: r.message_id.unwrap_or_default(), body: r.body.unwrap_or_default() })
        .collect();
    let report = process_batch_report(consumer, &batch).await;
    println!("{}", emf_line(consumer.name(), &report, events_schema::Timestamp::now().unix_millis()));
    let mut response = SqsBatchResponse::default();
    for failure in report.failures {
        let index = batch.iter().position(|m| m.id == failure.id);
        let received = index.and_then(|i| receives.get(i)).copied().unwrap_or(1);
        if let (Some(dead), Some(i)) = (dead, index)
            && received >= dead.max_receives
        {
            match dead.queue.send(&batch[i].body, consumer.name(), &failure.reason, received).await {
                Ok(()) => {
                    tracing::warn!(message_id = %failure.id, reason = %failure.reason, "dead-lettered");
                    continue;
                }
                Err(e) => tracing::error!(error = %e, "dead-lettering failed; leaving it to the redrive policy"),
            }
        }
        let mut item = BatchItemFailure::default();
        item.item_identifier = failure.id;
        response.batch_item_failures.push(item);
    }
    response
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
    // Each record is derived and encoded as soon as it is decoded.
    let records = decode_batch_with(payload, prepare)?;
    let raws = RawRecords::new(payload);
    let raw = |i: usize| raws.get(i).unwrap_or_default();
    let report = route_batch(records, &raw, publisher, parking, policy, trace_header).await;
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
