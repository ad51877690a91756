//! The consumer runtime: a batch of queue messages, each an EventBridge event carrying a
//! taskstream envelope, is decoded, upcast to the latest schema and applied; the result
//! names only the messages that failed, so a queue retries those and nothing else.
//!
//! SQS (through Lambda) and the embedded queues both drive this same code.

use async_trait::async_trait;
use events_schema::{BridgeEvent, DomainEvent};
use tracing::Instrument;

use crate::ports::StoreError;

/// How an event reached the consumer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivery {
    /// Set when the event was re-sent from the archive: replays re-apply idempotently and,
    /// unless asked, have no outside effects such as notifications.
    pub replay_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Rejected(String),
}

/// A downstream concern. `apply` must be idempotent and version-fenced: applying an event
/// twice, or events out of order, ends in the same state.
#[async_trait]
pub trait Consumer: Send + Sync {
    fn name(&self) -> &'static str;
    async fn apply(&self, event: &DomainEvent, delivery: &Delivery) -> Result<(), ApplyError>;

    /// Applies a batch's decoded events; one outcome per event, in order, each charged to its
    /// own event. The default applies them concurrently, one [`Consumer::apply`] each (order
    /// within a batch cannot change the outcome, and concurrent writes share commits). A
    /// consumer whose store can take many records in one write overrides this: it derives
    /// every record first (a rejection stays that event's), then hands the good ones over at
    /// once, which is where a batch's cost goes from one write per event to one per batch.
    async fn apply_batch(&self, events: &[Decoded]) -> Vec<Result<(), ApplyError>> {
        futures_util::future::join_all(events.iter().map(|d| {
            let span = d.span(self.name());
            self.apply(&d.event, &d.delivery).instrument(span)
        }))
        .await
    }
}

/// A message decoded to the latest version of its event, with how it was delivered.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The message it came from (its id in the queue).
    pub message_id: String,
    pub event: DomainEvent,
    pub delivery: Delivery,
}

impl Decoded {
    /// The span an event's own logs go under: its consumer, message, type, correlation id
    /// and replay.
    pub fn span(&self, consumer: &'static str) -> tracing::Span {
        tracing::info_span!("message", consumer, message_id = %self.message_id,
            event_type = self.event.event_type(), correlation_id = self.event.meta.correlation_id.as_str(),
            replay = self.delivery.replay_name.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub id: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFailure {
    pub id: String,
    pub reason: String,
    /// The sink refused for load ([`StoreError::Throttled`]): the message is sound, and
    /// should come back after a backoff rather than count toward its dead-lettering.
    pub throttled: bool,
    /// The consumer's own store failed ([`StoreError::Unavailable`]: a full disk, an I/O
    /// error): the message is sound, and the batch is worth retrying once the store works.
    pub unavailable: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("the message is not an EventBridge event: {0}")]
    NotABusEvent(serde_json::Error),
    #[error(transparent)]
    Bridge(#[from] events_schema::bridge::BridgeError),
    #[error(transparent)]
    Schema(#[from] events_schema::SchemaError),
}

/// A message body to the latest version of its event.
pub fn decode(body: &str) -> Result<(DomainEvent, Delivery), DecodeError> {
    if let Some((envelope, replay_name)) = BridgeEvent::read_envelope(body) {
        return Ok((DomainEvent::from_envelope(envelope)?, Delivery { replay_name }));
    }
    let bus_event: BridgeEvent = serde_json::from_str(body).map_err(DecodeError::NotABusEvent)?;
    let envelope = bus_event.envelope()?;
    let event = DomainEvent::from_envelope(envelope)?;
    Ok((event, Delivery { replay_name: bus_event.replay_name }))
}

/// What one batch did, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub processed: usize,
    pub failures: Vec<MessageFailure>,
    /// The largest now − occurred-at among the batch's events, in milliseconds.
    pub max_lag_ms: i64,
    pub replayed: usize,
}

/// Applies a batch and returns the messages that failed, with why.
pub async fn process_batch(consumer: &dyn Consumer, batch: &[InboundMessage]) -> Vec<MessageFailure> {
    process_batch_report(consumer, batch).await.failures
}

/// Decodes a batch's messages, applies the ones that decode through
/// [`Consumer::apply_batch`], and reports each failure against its own message.
pub async fn process_batch_report(consumer: &dyn Consumer, batch: &[InboundMessage]) -> BatchReport {
    let mut report = BatchReport::default();
    let mut decoded = Vec::with_capacity(batch.len());
    for message in batch {
        match decode(&message.body) {
            Ok((event, delivery)) => decoded.push(Decoded { message_id: message.id.clone(), event, delivery }),
            Err(e) => report.failures.push(failure(consumer.name(), &message.id, None, e.to_string(), Cause::Message)),
        }
    }
    let outcomes = consumer.apply_batch(&decoded).await;
    let now = events_schema::Timestamp::now().unix_millis();
    for (i, d) in decoded.iter().enumerate() {
        // A consumer that answers for fewer events than it was given has not applied the rest.
        let outcome = outcomes.get(i).map_or_else(
            || Err(("the consumer gave no outcome for this event".to_owned(), Cause::Message)),
            |o| o.as_ref().map_err(|e| (e.to_string(), cause_of(e))),
        );
        match outcome {
            Ok(()) => {
                report.processed += 1;
                report.max_lag_ms = report.max_lag_ms.max(now - d.event.meta.occurred_at.unix_millis());
                report.replayed += usize::from(d.delivery.replay_name.is_some());
            }
            Err((reason, cause)) => {
                report.failures.push(failure(consumer.name(), &d.message_id, Some(d), reason, cause))
            }
        }
    }
    // Failures in the batch's order, as the messages came.
    let position = |id: &str| batch.iter().position(|m| m.id == id).unwrap_or(usize::MAX);
    report.failures.sort_by_key(|f| position(&f.id));
    report
}

/// Why a message failed, where it matters for what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// The message itself (bad input, a rejection): it counts toward its dead-lettering.
    Message,
    Throttled,
    Unavailable,
}

fn cause_of(e: &ApplyError) -> Cause {
    match e {
        ApplyError::Store(StoreError::Throttled(_)) => Cause::Throttled,
        ApplyError::Store(StoreError::Unavailable(_)) => Cause::Unavailable,
        _ => Cause::Message,
    }
}

/// A failed message, logged under its own span.
fn failure(
    consumer: &'static str,
    id: &str,
    decoded: Option<&Decoded>,
    reason: String,
    cause: Cause,
) -> MessageFailure {
    let span = match decoded {
        Some(d) => d.span(consumer),
        None => tracing::info_span!("message", consumer, message_id = %id),
    };
    span.in_scope(|| tracing::warn!(%reason, ?cause, "message failed"));
    MessageFailure {
        id: id.to_owned(),
        reason,
        throttled: cause == Cause::Throttled,
        unavailable: cause == Cause::Unavailable,
    }
}

/// The batch's metrics as one CloudWatch embedded-metric-format line (namespace
/// `Taskstream`, dimension `Consumer`): on Lambda, printing it to stdout is publishing it.
pub fn emf_line(consumer: &str, report: &BatchReport, now_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Taskstream",
                "Dimensions": [["Consumer"]],
                "Metrics": [
                    { "Name": "Processed", "Unit": "Count" },
                    { "Name": "Failed", "Unit": "Count" },
                    { "Name": "LagMs", "Unit": "Milliseconds" }
                ]
            }]
        },
        "Consumer": consumer,
        "Processed": report.processed,
        "Failed": report.failures.len(),
        "LagMs": report.max_lag_ms,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_names_the_namespace_dimension_and_values() {
        let report = BatchReport {
            processed: 9,
            failures: vec![MessageFailure { id: "m".into(), reason: "r".into(), throttled: false, unavailable: false }],
            max_lag_ms: 1500,
            replayed: 0,
        };
        let line: serde_json::Value = serde_json::from_str(&emf_line("search-indexer", &report, 42)).unwrap();
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Taskstream");
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Consumer"]]));
        assert_eq!(
            (line["Processed"].as_u64(), line["Failed"].as_u64(), line["LagMs"].as_i64()),
            (Some(9), Some(1), Some(1500))
        );
        assert_eq!(line["Consumer"], "search-indexer");
    }
}
