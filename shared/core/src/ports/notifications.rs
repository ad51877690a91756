//! People, and the notifications recorded for them (the outbox).

use async_trait::async_trait;
use events_schema::Timestamp;
use uuid::Uuid;

use super::{Page, StoreError};
use crate::notify::deliver::{Attempted, Outgoing};
use crate::notify::{Channel, Notification, Person};

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

/// The sending side of the outbox, for a process that sends email and Slack notifications
/// itself (serve): what is due, and what became of each attempt. Across tenants: the sender
/// works for all of them, and each row names its own.
#[async_trait]
pub trait NotificationOutbox: Send + Sync {
    /// Up to `limit` pending notifications of `channels` due by `now`, oldest due first, each
    /// with its person's current address for its channel.
    async fn due(&self, now: Timestamp, channels: &[Channel], limit: usize) -> Result<Vec<Outgoing>, StoreError>;
    /// Records what became of attempts, all in one transaction.
    async fn settle(&self, outcomes: &[Attempted]) -> Result<(), StoreError>;
}

/// The dedupe records of email and Slack notifications where the outbox and the senders
/// share no transaction (AWS): each is claimed by a conditional put before its send, so a
/// redelivered, duplicated or replayed event sends nothing. Every call is scoped to the
/// notification's own tenant.
#[async_trait]
pub trait SendClaims: Send + Sync {
    /// Claims the send of `n` until `lease_until`: `true` when the caller may send it (no
    /// record yet, or a claim whose holder's lease ran out before it recorded an outcome),
    /// `false` when it was sent, failed for good, or another holder's lease still runs.
    async fn claim(&self, n: &Notification, now: Timestamp, lease_until: Timestamp) -> Result<bool, StoreError>;
    /// Records the outcome of the caller's claim: delivered or failed keeps the record (until
    /// it expires); pending (worth another attempt) lets the claim go, for the event's next
    /// delivery. The person's list shows the outcome too.
    async fn settle_claim(&self, n: &Notification, outcome: &Attempted) -> Result<(), StoreError>;
}
