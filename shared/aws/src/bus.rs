//! The EventBridge custom bus as the stream router's publisher.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_eventbridge::operation::put_events::PutEventsError;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use shared_core::stream_router::{BusEntry, CallFailure, EventPublisher, Refusal};

pub struct EventBridgePublisher {
    client: Client,
    bus_name: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self { client, bus_name: bus_name.into() }
    }

    pub fn from_config(config: &aws_config::SdkConfig, bus_name: impl Into<String>) -> Self {
        Self::new(Client::new(config), bus_name)
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    /// One PutEvents call; the caller keeps within its 10-entry and 256 KB limits. A refused
    /// entry carries its error code and message; the call failing as a whole is `Err`, marked
    /// retryable unless EventBridge refused the call itself.
    async fn put(&self, entries: &[BusEntry], trace_header: Option<&str>) -> Result<Vec<Option<Refusal>>, CallFailure> {
        let request: Vec<PutEventsRequestEntry> = entries
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(&e.source)
                    .detail_type(&e.detail_type)
                    .detail(&e.detail)
                    .set_trace_header(trace_header.map(str::to_owned))
                    .build()
            })
            .collect();
        let output = self.client.put_events().set_entries(Some(request)).send().await.map_err(|e| CallFailure {
            retryable: worth_retrying(&e),
            reason: format!("PutEvents failed: {}", DisplayErrorContext(&e)),
        })?;
        let results = output.entries();
        if results.len() != entries.len() {
            // Which entries went is unknown: sending them all again is safe (event ids are
            // deterministic and consumers idempotent).
            return Err(CallFailure {
                retryable: true,
                reason: format!("PutEvents answered {} entries for {}", results.len(), entries.len()),
            });
        }
        Ok(results
            .iter()
            .map(|r| r.error_code().map(|code| Refusal::new(code, r.error_message().unwrap_or("no message"))))
            .collect())
    }
}

/// A call that failed on the way (timeout, connection, an unreadable answer), was throttled,
/// or met a server error may pass when sent again; one EventBridge refused as such (access
/// denied, a validation error) will not. The SDK's own retries have already run either way.
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
