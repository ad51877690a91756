//! People, and the notifications recorded for them (the outbox).

use async_trait::async_trait;
use uuid::Uuid;

use super::{Page, StoreError};
use crate::notify::{Notification, Person};

/// A page of a person's notifications, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationQuery {
    pub limit: usize,
    /// Only those not yet read.
    pub unread: bool,
    pub cursor: Option<String>,
}

/// Which notifications to mark read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadSelection {
    All,
    Ids(Vec<Uuid>),
}

/// Every call is scoped to `tenant`; another tenant's people and notifications do not exist
/// here.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    async fn person(&self, tenant: &str, name: &str) -> Result<Option<Person>, StoreError>;
    /// Creates or replaces the entry; the stored version is one above the one replaced (1
    /// for a new entry), whatever `person.version` says.
    async fn put_person(&self, tenant: &str, person: &Person) -> Result<Person, StoreError>;
    /// The entries of those of `names` that have one.
    async fn people(&self, tenant: &str, names: &[&str]) -> Result<Vec<Person>, StoreError>;
    /// The people of a sprint: the assignees and reporters of its tasks, each once.
    async fn sprint_people(&self, tenant: &str, sprint_id: &str) -> Result<Vec<String>, StoreError>;
    /// Records each notification unless its id is already recorded (insert-if-absent, all
    /// in one transaction); returns how many were new.
    async fn record(&self, notifications: &[Notification]) -> Result<usize, StoreError>;
    /// A person's notifications, newest recorded first.
    async fn list(
        &self,
        tenant: &str,
        recipient: &str,
        query: &NotificationQuery,
    ) -> Result<Page<Notification>, StoreError>;
    /// Marks the selection read (those already read keep their time); returns how many of
    /// the person's notifications changed.
    async fn mark_read(&self, tenant: &str, recipient: &str, which: &ReadSelection) -> Result<usize, StoreError>;
}
