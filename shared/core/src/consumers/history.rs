//! Audit history: one immutable line per task event, so one entry per task version.

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::{AggregateType, DomainEvent, Timestamp};
use serde::Serialize;

use crate::pipeline::{ApplyError, Consumer, Delivery};
use crate::ports::{HistoryRecord, HistoryStore};

pub struct AuditHistory {
    store: Arc<dyn HistoryStore>,
}

impl AuditHistory {
    pub fn new(store: Arc<dyn HistoryStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Consumer for AuditHistory {
    fn name(&self) -> &'static str {
        events_schema::routing::AUDIT_HISTORY
    }

    async fn apply(&self, event: &DomainEvent, _: &Delivery) -> Result<(), ApplyError> {
        if event.meta.aggregate_type != AggregateType::Task {
            return Ok(());
        }
        let envelope = event.to_envelope().map_err(|e| ApplyError::Rejected(e.to_string()))?;
        let record = HistoryRecord {
            tenant: envelope.tenant,
            task_id: envelope.aggregate_id,
            version: envelope.aggregate_version,
            event_type: envelope.event_type,
            event_id: envelope.event_id,
            schema_version: envelope.schema_version,
            occurred_at: envelope.occurred_at,
            actor: envelope.actor,
            correlation_id: envelope.correlation_id,
            data: envelope.data,
        };
        // A duplicate is a no-op by key: the store's insert-if-absent is the idempotency.
        self.store.append(&record).await?;
        Ok(())
    }
}

/// One task version as the API shows it: the events that version produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub version: u64,
    pub occurred_at: Timestamp,
    pub actor: String,
    pub correlation_id: String,
    pub events: Vec<HistoryEvent>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    #[serde(rename = "type")]
    pub event_type: String,
    pub event_id: String,
    pub schema_version: u32,
    pub data: serde_json::Value,
}

/// Groups records (sorted by version) into one entry per version.
pub fn entries(records: Vec<HistoryRecord>) -> Vec<HistoryEntry> {
    let mut out: Vec<HistoryEntry> = Vec::new();
    for r in records {
        let event = HistoryEvent {
            event_type: r.event_type,
            event_id: r.event_id.to_string(),
            schema_version: r.schema_version,
            data: r.data,
        };
        match out.last_mut() {
            Some(last) if last.version == r.version => last.events.push(event),
            _ => out.push(HistoryEntry {
                version: r.version,
                occurred_at: r.occurred_at,
                actor: r.actor,
                correlation_id: r.correlation_id,
                events: vec![event],
            }),
        }
    }
    out
}
