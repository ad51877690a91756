//! The archive as a live feed: what `GET /events/stream` reads. Every event the bus carries
//! has a position in the archive that only grows, so a reader that remembers the last
//! position it saw can come back later and miss nothing and repeat nothing.

use async_trait::async_trait;
use tokio::sync::watch;

use super::StoreError;

/// The most events one [`EventFeed::after`] read returns.
pub const MAX_FEED_BATCH: usize = 500;

/// One archived event as the feed hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// The event's place in the archive: larger for every event archived later.
    pub position: i64,
    pub event_type: String,
    /// The event's envelope (`eventId`, `eventType`, `aggregateId`, `aggregateVersion`,
    /// `correlationId`, `data`, ...) as JSON text, as consumers receive it.
    pub envelope: String,
}

/// What one read of the feed found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPage {
    /// The tenant's events that pass the filter, oldest first.
    pub events: Vec<FeedEvent>,
    /// Where the next read starts: past every event this read looked at, the ones that
    /// did not pass the filter (or belong to another tenant) included, so they are never
    /// looked at again.
    pub through: i64,
}

/// Which of a tenant's events a reader wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedFilter {
    /// Only these event types; every type when empty.
    pub types: Vec<String>,
    /// Only events about this task: its own, and comments on it.
    pub task_id: Option<String>,
}

#[async_trait]
pub trait EventFeed: Send + Sync {
    /// Up to `limit` of `tenant`'s events archived after `position` that pass `filter`,
    /// oldest first. Another tenant's events are never returned.
    async fn after(
        &self,
        tenant: &str,
        position: i64,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, StoreError>;
    /// The position of the last event archived so far (0 for an empty archive): where a
    /// reader that asks only for what comes next starts.
    async fn head(&self) -> Result<i64, StoreError>;
    /// Changes each time events are archived in this process; a reader waits on it instead
    /// of asking the archive again and again. Events archived by another process (a
    /// `taskstream route` beside `serve`) do not move it: readers also look now and then.
    fn archived(&self) -> watch::Receiver<u64>;
}
