//! The immutable audit history.

use async_trait::async_trait;
use events_schema::Timestamp;
use uuid::Uuid;

use super::StoreError;

/// One event's line in a task's audit history, keyed by (tenant, task, version, event type).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRecord {
    pub tenant: String,
    pub task_id: String,
    pub version: u64,
    pub event_type: String,
    pub event_id: Uuid,
    pub schema_version: u32,
    pub occurred_at: Timestamp,
    pub actor: String,
    pub correlation_id: String,
    pub data: serde_json::Value,
}

/// The immutable audit history.
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// Inserts the record unless its key exists; `Ok(false)` means it was already there
    /// (a redelivery), which is success.
    async fn append(&self, record: &HistoryRecord) -> Result<bool, StoreError>;
    /// Appends each record unless its key exists (a redelivery is success); one outcome per
    /// record, in order, each its own. A store that can write them together does so; an
    /// adapter may hold them back to commit with the batch's settlement (see the embedded
    /// worker), so success here says the record is written or will be with the batch, not
    /// whether it was new. The default appends them concurrently, one call each.
    async fn append_many(&self, records: &[HistoryRecord]) -> Vec<Result<(), StoreError>> {
        futures_util::future::join_all(records.iter().map(|r| async move { self.append(r).await.map(|_| ()) })).await
    }
    /// A task's records, by version then event type.
    async fn list(&self, tenant: &str, task_id: &str) -> Result<Vec<HistoryRecord>, StoreError>;
}
