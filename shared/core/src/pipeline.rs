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
    let bus_event: BridgeEvent = serde_json::from_str(body).map_err(DecodeError::NotABusEvent)?;
    let envelope = bus_event.envelope()?;
    let event = DomainEvent::from_envelope(envelope)?;
    Ok((event, Delivery { replay_name: bus_event.replay_name }))
}

/// Applies each message in order and returns the ones that failed, with why.
pub async fn process_batch(consumer: &dyn Consumer, batch: &[InboundMessage]) -> Vec<MessageFailure> {
    let mut failures = Vec::new();
    for message in batch {
        let span = tracing::info_span!("message", consumer = consumer.name(), message_id = %message.id,
            event_type = tracing::field::Empty, correlation_id = tracing::field::Empty);
        let outcome = async {
            let (event, delivery) = decode(&message.body).map_err(|e| e.to_string())?;
            let span = tracing::Span::current();
            span.record("event_type", event.event_type());
            span.record("correlation_id", event.meta.correlation_id.as_str());
            consumer.apply(&event, &delivery).await.map_err(|e| e.to_string())
        }
        .instrument(span.clone())
        .await;
        if let Err(reason) = outcome {
            span.in_scope(|| tracing::warn!(%reason, "message failed"));
            failures.push(MessageFailure { id: message.id.clone(), reason });
        }
    }
    failures
}
