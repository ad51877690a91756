//! The seams: what the core needs from an engine. `shared/embedded` implements these over
//! SQLite, `shared/aws` over DynamoDB and friends; tests can implement them in memory.

use async_trait::async_trait;
use events_schema::Timestamp;
use events_schema::events::TaskStatus;
use uuid::Uuid;

use crate::context::{Identity, RequestContext};
use crate::domain::Task;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("version conflict: expected version {expected}, the current version is {current}")]
    Conflict { expected: u64, current: u64 },
    #[error("{0:?} already exists")]
    AlreadyExists(String),
    #[error("the cursor is not one this list issued")]
    BadCursor,
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}

/// A page of a list, with the opaque cursor of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskQuery {
    pub status: Option<TaskStatus>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// Tasks, with optimistic locking. Every successful write commits exactly one change record
/// atomically with it; a failed write commits nothing.
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// Fails with [`StoreError::AlreadyExists`] when the id is taken.
    async fn create(&self, ctx: &RequestContext, task: &Task) -> Result<(), StoreError>;
    async fn get(&self, tenant: &str, id: &str) -> Result<Option<Task>, StoreError>;
    /// Writes `task` (already one version up) if the stored version is still `expected_version`.
    async fn update(&self, ctx: &RequestContext, task: &Task, expected_version: u64) -> Result<(), StoreError>;
    /// Deletes the task (if still at `expected_version`, when given) and returns its last state.
    async fn delete(&self, ctx: &RequestContext, id: &str, expected_version: Option<u64>) -> Result<Task, StoreError>;
    /// Newest first.
    async fn list(&self, tenant: &str, query: &TaskQuery) -> Result<Page<Task>, StoreError>;
}

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
    /// A task's records, by version then event type.
    async fn list(&self, tenant: &str, task_id: &str) -> Result<Vec<HistoryRecord>, StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials were presented")]
    Missing,
    #[error("the credentials are not valid")]
    Invalid,
}

/// Turns request headers into an identity. The tenant comes only from here.
#[async_trait]
pub trait Authenticator: Send + Sync {
    async fn authenticate(&self, headers: &axum::http::HeaderMap) -> Result<Identity, AuthError>;
}

/// Everyone is the same caller of one tenant: for a single-user embedded setup.
#[derive(Debug, Clone)]
pub struct SingleTenant(pub Identity);

#[async_trait]
impl Authenticator for SingleTenant {
    async fn authenticate(&self, _: &axum::http::HeaderMap) -> Result<Identity, AuthError> {
        Ok(self.0.clone())
    }
}
