//! The embedded engine: taskstream's ports over one SQLite file, so the whole backbone (API,
//! change log, router, bus and archive, queues with dead letters, consumers) runs in one
//! process with no AWS account.

mod aggregates;
mod batch_unit;
mod bus;
mod change_log;
mod db;
mod escalation;
mod event_feed;
mod history;
mod keys;
mod metrics;
mod notifications;
mod operate;
mod progress;
mod queue;
mod router;
mod search;
mod task_list;
mod webhooks;
mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use shared_core::pipeline::Consumer;
use shared_core::ports::{HistoryStore, NotificationStore, SearchIndex, Store, StoreError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use db::{Db, Durability};
pub use escalation::SqliteEscalation;
pub use keys::{ApiKey, ApiKeyAuthenticator, ApiKeys, DEFAULT_CACHE_TTL, KeyAdmin, KeyError, KeyInfo, NewKey};
pub use metrics::{SqliteMetrics, query_file as query_metrics_file};
pub use operate::Operator;
pub use progress::{ConsumerProgress, Observer, Progress};
pub use queue::{DeadLetter, QueueConfig, QueueStats};

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("the data directory {0} cannot be used: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("the data directory {0} is in use by another taskstream process")]
    Locked(PathBuf),
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored JSON could not be read: {0}")]
    Json(#[from] serde_json::Error),
    #[error("a blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// The storage failed (disk full, I/O error, the writer gone); retrying later may work.
    #[error("the storage is unavailable: {0}")]
    Unavailable(String),
}

impl From<EmbeddedError> for StoreError {
    fn from(err: EmbeddedError) -> Self {
        match err {
            EmbeddedError::Store(e) => e,
            EmbeddedError::Json(e) => StoreError::Corrupt(e.to_string()),
            EmbeddedError::Corrupt(e) => StoreError::Corrupt(e),
            EmbeddedError::Sqlite(e) if db::is_corruption(&e) => StoreError::Corrupt(e.to_string()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// Settings of the embedded engine; the defaults suit a laptop.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub queue: QueueConfig,
    /// How many change records the router takes per transaction. Larger than a consumer's
    /// batch: the router's write shares each group commit with the consumers', and a router
    /// that archives no more per commit than a consumer applies holds every stage of a
    /// backlog's drain to its pace (`BENCHMARKS.md`, "The pipeline").
    pub router_batch: usize,
    /// How often idle loops look for work they were not woken for.
    pub idle_poll: Duration,
    /// How commits reach the disk; durable unless asked otherwise.
    pub durability: Durability,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            queue: QueueConfig::default(),
            router_batch: 2048,
            idle_poll: Duration::from_millis(500),
            durability: Durability::Full,
        }
    }
}

/// One open data directory.
#[derive(Clone)]
pub struct Engine {
    db: Arc<Db>,
    config: EngineConfig,
}

impl Engine {
    /// Opens (creating if needed) the data directory. Retries a previous process left
    /// waiting out a backoff are due at once: that process is gone.
    pub fn open(dir: &Path, config: EngineConfig) -> Result<Self, EmbeddedError> {
        let db = Db::open_with(dir, config.durability)?;
        queue::migrate_queue_tables(&db)?;
        queue::release_retries(&db)?;
        db.write_blocking(keys::create_tables)?;
        Ok(Self { db, config })
    }

    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    pub fn store(&self) -> Arc<dyn Store> {
        Arc::new(aggregates::SqliteStore::new(Arc::clone(&self.db)))
    }

    pub fn history_store(&self) -> Arc<dyn HistoryStore> {
        Arc::new(history::SqliteHistoryStore::new(Arc::clone(&self.db)))
    }

    /// People and the notifier's outbox.
    pub fn notification_store(&self) -> Arc<dyn NotificationStore> {
        Arc::new(notifications::SqliteNotificationStore::new(Arc::clone(&self.db)))
    }

    /// The outbox's sending side: due email and Slack notifications, and their outcomes.
    pub fn notification_outbox(&self) -> Arc<dyn shared_core::ports::NotificationOutbox> {
        Arc::new(notifications::SqliteNotificationStore::new(Arc::clone(&self.db)))
    }

    /// Webhook subscriptions and their deliveries.
    pub fn webhook_store(&self) -> Arc<dyn shared_core::ports::WebhookStore> {
        Arc::new(webhooks::SqliteWebhookStore::new(Arc::clone(&self.db)))
    }

    /// The FTS5 search index; its tables are created on first use.
    pub fn search_index(&self) -> Arc<dyn SearchIndex> {
        Arc::new(search::SqliteSearchIndex::new(Arc::clone(&self.db)))
    }

    /// The metric records: the metrics consumer's sink and the queries' reader. Its table is
    /// created on first use.
    pub fn metrics(&self) -> Arc<SqliteMetrics> {
        Arc::new(SqliteMetrics::new(Arc::clone(&self.db)))
    }

    /// The archive as a live feed, for `GET /events/stream`.
    pub fn event_feed(&self) -> Arc<dyn shared_core::ports::EventFeed> {
        Arc::new(event_feed::SqliteEventFeed::new(Arc::clone(&self.db)))
    }

    /// Escalation policies and the durable timers plans wait in.
    pub fn escalation(&self) -> Arc<SqliteEscalation> {
        Arc::new(SqliteEscalation::new(Arc::clone(&self.db)))
    }

    /// Fires due escalation timers until `shutdown` turns true, late ones first thing.
    pub fn spawn_escalation_timers(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(escalation::run(Arc::clone(&self.db), self.store(), self.config.idle_poll, shutdown))
    }

    /// Fires the escalation timers due at `now`, in this task; returns how many it settled.
    pub async fn fire_due_escalations(&self, now: events_schema::Timestamp) -> Result<usize, EmbeddedError> {
        escalation::fire_due(&self.db, &self.store(), now).await
    }

    /// How many escalation timers are waiting.
    pub async fn pending_escalations(&self) -> Result<i64, EmbeddedError> {
        escalation::pending(&self.db).await
    }

    /// API keys; `.authenticator(ttl)` checks requests against them. Revoke through the same
    /// `ApiKeys` whose authenticator serves, and the revocation takes effect at once.
    pub fn api_keys(&self) -> ApiKeys {
        ApiKeys::new(Arc::clone(&self.db))
    }

    /// Subscribes a consumer to the bus: its cursor starts at the archive's end (from now on;
    /// replay fills the past). A registered consumer keeps its place across restarts.
    pub fn register_queue(&self, name: &str) -> Result<(), EmbeddedError> {
        queue::register(&self.db, name)
    }

    /// The operator's view: lag, dead letters, replays, traces.
    pub fn operator(&self) -> Operator {
        Operator::new(Arc::clone(&self.db))
    }

    /// Routes the change log onto the bus until `shutdown` turns true.
    pub fn spawn_router(&self, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(router::run(Arc::clone(&self.db), self.config.clone(), shutdown))
    }

    /// Registers the consumer and drives it until `shutdown` turns true.
    pub fn spawn_consumer(
        &self,
        consumer: Arc<dyn Consumer>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<JoinHandle<()>, EmbeddedError> {
        self.register_queue(consumer.name())?;
        Ok(tokio::spawn(worker::run(Arc::clone(&self.db), consumer, self.config.clone(), shutdown)))
    }

    /// Routes everything pending now, in this task: for tools and tests that want the bus
    /// caught up without running the loop.
    pub async fn route_pending(&self) -> Result<usize, EmbeddedError> {
        let mut total = 0;
        loop {
            let n = router::route_batch(&self.db, self.config.router_batch).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Reads, applies and settles one batch of `consumer`'s, in this task; returns how much it
    /// took (archive rows read past its cursor plus retries), zero when it was idle.
    pub async fn drain_once(&self, consumer: &dyn Consumer) -> Result<usize, EmbeddedError> {
        worker::drain_once(&self.db, consumer, &self.config).await
    }

    /// Applies one batch of the oldest replay feeding `consumer`, in this task; returns how
    /// much it took, zero when no replay feeds it.
    pub async fn drain_replay_once(&self, consumer: &dyn Consumer) -> Result<usize, EmbeddedError> {
        worker::drain_replay(&self.db, consumer, &self.config).await
    }

    pub async fn queue_stats(&self, queue: &str) -> Result<QueueStats, EmbeddedError> {
        let queue = queue.to_owned();
        self.db.read(move |conn| queue::stats(conn, &queue)).await
    }

    pub async fn dead_letters(&self, queue: &str) -> Result<Vec<DeadLetter>, EmbeddedError> {
        let queue = queue.to_owned();
        self.db.read(move |conn| queue::dead_letters(conn, &queue)).await
    }

    /// Moves `queue`'s dead letters back to its retries, due at once; returns how many.
    pub async fn redrive(&self, queue: &str) -> Result<usize, EmbeddedError> {
        let queue = queue.to_owned();
        let moved = self.db.write(move |tx| queue::redrive(tx, &queue)).await?;
        Ok(moved)
    }

    /// Change records the router parked, with why.
    pub async fn router_dead_letters(&self) -> Result<Vec<(i64, String)>, EmbeddedError> {
        self.db.read(router::parked).await
    }

    /// Where the router and every consumer stand, and the age of the oldest change not yet
    /// through the pipeline.
    pub async fn progress(&self) -> Result<Progress, EmbeddedError> {
        self.db.read(progress::read).await
    }

    pub async fn change_log_len(&self) -> Result<i64, EmbeddedError> {
        self.db.read(|conn| Ok(conn.query_row("SELECT COUNT(*) FROM change_log", [], |r| r.get(0))?)).await
    }
}
