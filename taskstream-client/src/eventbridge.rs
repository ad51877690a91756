//! Commands onto an EventBridge bus under the publisher's own source: PutEvents in calls of
//! at most 10 entries and 256 KB, refused entries worth retrying (`ThrottlingException`,
//! `InternalFailure`) resent with jittered exponential backoff, the others reported with
//! their reason. taskstream's ingest rule takes every source but its own, and applies each
//! command on its own queue; what it refuses lands in that queue's dead letters.

use std::time::Duration;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::operation::put_events::PutEventsError;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use backon::BackoffBuilder;
use events_schema::commands::Command;

use crate::{Delivery, PublishError};

/// The source taskstream publishes its own events under; the bus refuses it to anyone else,
/// and ingest would never read it.
pub const TASKSTREAM_SOURCE: &str = "taskstream";
/// PutEvents' limits per call.
const MAX_ENTRIES: usize = 10;
const MAX_CALL_BYTES: usize = 256 * 1024;
/// Refusal codes a resend may get past.
const RETRYABLE: [&str; 2] = ["ThrottlingException", "InternalFailure"];

/// How refused entries are resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub min_delay: Duration,
    pub max_delay: Duration,
    pub max_resends: usize,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { min_delay: Duration::from_millis(100), max_delay: Duration::from_secs(2), max_resends: 4 }
    }
}

#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
    source: String,
    backoff: Backoff,
}

impl EventBridgePublisher {
    /// Publishes onto `bus` as `source`: the service's own name (`integrations.git`), which
    /// taskstream maps to a tenant. `taskstream` itself is refused.
    pub fn new(client: Client, bus: impl Into<String>, source: impl Into<String>) -> Result<Self, PublishError> {
        let source = source.into();
        if source.is_empty() || source == TASKSTREAM_SOURCE || source.starts_with("aws.") {
            return Err(PublishError::Config(format!(
                "{source:?} cannot be a publisher's source: use the service's own name, such as integrations.git"
            )));
        }
        Ok(Self { client, bus: bus.into(), source, backoff: Backoff::default() })
    }

    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Puts every command on the bus; one delivery per command, in order: `Accepted` with
    /// the bus's event id, or `Rejected` with the code and message the bus gave (after the
    /// resends, for a refusal worth retrying).
    pub async fn publish(&self, commands: &[Command]) -> Result<Vec<Delivery>, PublishError> {
        let mut deliveries: Vec<Option<Delivery>> = vec![None; commands.len()];
        let mut entries = Vec::with_capacity(commands.len());
        for (index, command) in commands.iter().enumerate() {
            let envelope = command.to_envelope().map_err(|e| PublishError::Encode(e.to_string()))?;
            let detail = serde_json::to_string(&envelope).map_err(|e| PublishError::Encode(e.to_string()))?;
            let size = detail.len() + envelope.command_type.len() + self.source.len();
            if size > MAX_CALL_BYTES {
                deliveries[index] = Some(Delivery::Rejected {
                    code: "EntryTooLarge".into(),
                    message: format!("the command is {size} bytes; a bus entry holds at most {MAX_CALL_BYTES}"),
                });
                continue;
            }
            entries.push(Entry { index, size, detail_type: envelope.command_type, detail });
        }
        for call in calls(entries) {
            for (index, delivery) in self.send_with_resends(call).await {
                deliveries[index] = Some(delivery);
            }
        }
        Ok(deliveries
            .into_iter()
            .map(|d| {
                d.unwrap_or(Delivery::Rejected { code: "NotSent".into(), message: "the command was not sent".into() })
            })
            .collect())
    }

    async fn send_with_resends(&self, call: Vec<Entry>) -> Vec<(usize, Delivery)> {
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(self.backoff.min_delay)
            .with_max_delay(self.backoff.max_delay)
            .with_max_times(self.backoff.max_resends)
            .with_jitter()
            .build();
        let mut settled = Vec::with_capacity(call.len());
        let mut pending = call;
        loop {
            let mut again: Vec<(Entry, String, String)> = Vec::new();
            match self.put(&pending).await {
                Ok(results) => {
                    for (entry, result) in pending.into_iter().zip(results) {
                        match result {
                            Ok(event_id) => settled.push((entry.index, Delivery::Accepted { event_id })),
                            Err((code, message)) if RETRYABLE.contains(&code.as_str()) => {
                                again.push((entry, code, message))
                            }
                            Err((code, message)) => settled.push((entry.index, Delivery::Rejected { code, message })),
                        }
                    }
                }
                Err((retryable, message)) if retryable => {
                    again = pending.into_iter().map(|e| (e, "CallFailed".to_owned(), message.clone())).collect();
                }
                Err((_, message)) => {
                    settled.extend(pending.into_iter().map(|e| {
                        (e.index, Delivery::Rejected { code: "CallFailed".into(), message: message.clone() })
                    }));
                }
            }
            if again.is_empty() {
                return settled;
            }
            let Some(delay) = delays.next() else {
                tracing::warn!(refused = again.len(), "bus entries still refused after the resends");
                settled.extend(
                    again.into_iter().map(|(e, code, message)| (e.index, Delivery::Rejected { code, message })),
                );
                return settled;
            };
            tracing::debug!(refused = again.len(), ?delay, "resending refused bus entries");
            tokio::time::sleep(delay).await;
            pending = again.into_iter().map(|(e, _, _)| e).collect();
        }
    }

    /// One PutEvents call: per entry its event id or its refusal; the call failing as a
    /// whole is `Err((worth retrying, why))`.
    #[allow(clippy::type_complexity)]
    async fn put(&self, entries: &[Entry]) -> Result<Vec<Result<String, (String, String)>>, (bool, String)> {
        let request: Vec<PutEventsRequestEntry> = entries
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(&self.source)
                    .detail_type(&e.detail_type)
                    .detail(&e.detail)
                    .build()
            })
            .collect();
        let output = self
            .client
            .put_events()
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| (worth_retrying(&e), format!("PutEvents failed: {}", DisplayErrorContext(&e))))?;
        let results = output.entries();
        if results.len() != entries.len() {
            // Which went is unknown; a resend is harmless (the command id is the key).
            return Err((true, format!("PutEvents answered {} entries for {}", results.len(), entries.len())));
        }
        Ok(results
            .iter()
            .map(|r| match (r.error_code(), r.event_id()) {
                (None, Some(id)) => Ok(id.to_owned()),
                (None, None) => Err(("NoEventId".to_owned(), "the bus gave no event id".to_owned())),
                (Some(code), _) => Err((code.to_owned(), r.error_message().unwrap_or("no message").to_owned())),
            })
            .collect())
    }
}

struct Entry {
    index: usize,
    size: usize,
    detail_type: String,
    detail: String,
}

/// Entries in calls of at most 10 and 256 KB, in order.
fn calls(entries: Vec<Entry>) -> Vec<Vec<Entry>> {
    let mut calls: Vec<Vec<Entry>> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        let fits = calls.last().is_some_and(|c| c.len() < MAX_ENTRIES && bytes + entry.size <= MAX_CALL_BYTES);
        if !fits {
            calls.push(Vec::new());
            bytes = 0;
        }
        bytes += entry.size;
        if let Some(call) = calls.last_mut() {
            call.push(entry);
        }
    }
    calls
}

fn worth_retrying<R>(err: &SdkError<PutEventsError, R>) -> bool {
    match err {
        SdkError::ConstructionFailure(_) => false,
        SdkError::ServiceError(service) => {
            let error = service.err();
            matches!(error, PutEventsError::InternalException(_))
                || matches!(error.code(), Some("ThrottlingException" | "InternalFailure" | "ServiceUnavailable"))
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: usize, size: usize) -> Entry {
        Entry { index, size, detail_type: "TaskStatusRequested".into(), detail: String::new() }
    }

    #[test]
    fn calls_hold_at_most_ten_entries_and_256_kb_in_order() {
        let sizes: Vec<Entry> = (0..25).map(|i| entry(i, if i == 12 { 200 * 1024 } else { 10 * 1024 })).collect();
        let calls = calls(sizes);
        let shape: Vec<Vec<usize>> = calls.iter().map(|c| c.iter().map(|e| e.index).collect()).collect();
        assert_eq!(shape[0], (0..10).collect::<Vec<_>>());
        // 10 and 11 (20 KB), 12 (200 KB), then 13 to 15 up to 250 KB; 16 would pass 256 KB.
        assert_eq!(shape[1], (10..16).collect::<Vec<_>>());
        assert_eq!(shape[2], (16..25).collect::<Vec<_>>());
        assert_eq!(shape.len(), 3);
    }

    #[test]
    fn taskstreams_own_source_is_refused() {
        let config = aws_sdk_eventbridge::Config::builder().behavior_version_latest().build();
        let client = Client::from_conf(config);
        assert!(EventBridgePublisher::new(client.clone(), "bus", "taskstream").is_err());
        assert!(EventBridgePublisher::new(client.clone(), "bus", "aws.events").is_err());
        assert!(EventBridgePublisher::new(client, "bus", "integrations.git").is_ok());
    }
}
