//! Audit history: one immutable line per task event, so one entry per task version.

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::{AggregateType, DomainEvent, Timestamp};
use serde::Serialize;

use crate::pipeline::{ApplyError, Consumer, Decoded, Delivery};
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
        let Some(record) = record_of(event)? else { return Ok(()) };
        // A duplicate is a no-op by key: the store's insert-if-absent is the idempotency.
        self.store.append(&record).await?;
        Ok(())
    }

    /// Every record derived first, then the batch's records appended in one call: the store
    /// writes them together, and answers for each.
    async fn apply_batch(&self, events: &[Decoded]) -> Vec<Result<(), ApplyError>> {
        let mut outcomes: Vec<Result<(), ApplyError>> = Vec::with_capacity(events.len());
        let (mut records, mut owners) = (Vec::with_capacity(events.len()), Vec::with_capacity(events.len()));
        for (i, d) in events.iter().enumerate() {
            match record_of(&d.event) {
                Ok(Some(record)) => {
                    records.push(record);
                    owners.push(i);
                    outcomes.push(Ok(()));
                }
                Ok(None) => outcomes.push(Ok(())),
                Err(e) => outcomes.push(Err(e)),
            }
        }
        if records.is_empty() {
            return outcomes;
        }
        let appended = self.store.append_many(&records).await;
        for (i, result) in owners.into_iter().zip(appended) {
            if let Err(e) = result {
                outcomes[i] = Err(e.into());
            }
        }
        outcomes
    }
}

/// The history line of a task event; `None` for events of other aggregates, which the
/// history does not keep.
fn record_of(event: &DomainEvent) -> Result<Option<HistoryRecord>, ApplyError> {
    if event.meta.aggregate_type != AggregateType::Task {
        return Ok(None);
    }
    let envelope = event.to_envelope().map_err(|e| ApplyError::Rejected(e.to_string()))?;
    Ok(Some(HistoryRecord {
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
    }))
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
