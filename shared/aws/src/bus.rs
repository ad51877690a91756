//! The EventBridge custom bus as the stream router's publisher.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use shared_core::stream_router::{BusEntry, EventPublisher};

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
    /// entry carries its error code and message; the call as a whole failing is `Err`.
    async fn put(&self, entries: &[BusEntry]) -> Result<Vec<Option<String>>, String> {
        let request: Vec<PutEventsRequestEntry> = entries
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(&e.source)
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
            .map_err(|e| format!("PutEvents failed: {}", aws_sdk_eventbridge::error::DisplayErrorContext(&e)))?;
        let results = output.entries();
        if results.len() != entries.len() {
            return Err(format!("PutEvents answered {} entries for {}", results.len(), entries.len()));
        }
        Ok(results
            .iter()
            .map(|r| r.error_code().map(|code| format!("{code}: {}", r.error_message().unwrap_or("no message"))))
            .collect())
    }
}
