//! Tasks (and, with them, every aggregate a write changes), with optimistic locking.

use async_trait::async_trait;
use events_schema::events::TaskStatus;

use crate::context::RequestContext;
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
