//! The operator's view of the embedded engine: lag, dead letters, replays and traces, over
//! the same tables the router and the consumers keep. Every query takes the tenant scope
//! (`None`: every tenant) and filters by the tenant the archive records for each event, so an
//! API caller never sees or moves another tenant's events.

mod dead_letters;
mod held;
mod lag;
mod pace;
pub(crate) mod replay;
mod router_letters;
mod trace;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use shared_core::ports::{
    DeadLetterView, Lag, Operations, RedriveRequest, ReplayPlan, ReplayRequest, ReplayStatus, RouterRedriven,
    StoreError, Trace,
};

use self::pace::CursorSamples;
use crate::EmbeddedError;
use crate::db::Db;

/// [`Operations`] over one data directory.
#[derive(Clone)]
pub struct Operator {
    db: Arc<Db>,
    /// The consumers' cursors as earlier looks at the lag saw them, for their pace.
    samples: Arc<CursorSamples>,
}

impl Operator {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        Self { db, samples: Arc::default() }
    }

    /// Opens a data directory beside the process that may be serving it (without its lock),
    /// as `taskstream keys` does: SQLite serialises the two processes' writes.
    pub fn open(dir: &Path) -> Result<Self, EmbeddedError> {
        Ok(Self { db: Db::open_beside(dir)?, samples: Arc::default() })
    }

    /// Wakes the workers of `consumers`, so redriven or replayed events go at once rather
    /// than at their next idle poll.
    fn wake<'a>(&self, consumers: impl IntoIterator<Item = &'a str>) {
        for c in consumers {
            self.db.queue_signal(c).notify_one();
        }
    }
}

fn owned(tenant: Option<&str>) -> Option<String> {
    tenant.map(str::to_owned)
}

#[async_trait]
impl Operations for Operator {
    async fn consumers(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .db
            .read(|c| {
                let names = c
                    .prepare_cached("SELECT name FROM consumer_cursors ORDER BY name")?
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(names)
            })
            .await?)
    }

    async fn lag(&self, tenant: Option<&str>) -> Result<Lag, StoreError> {
        let tenant = owned(tenant);
        let samples = Arc::clone(&self.samples);
        Ok(self.db.read(move |c| lag::read(c, tenant.as_deref(), &samples)).await?)
    }

    async fn dead_letters(
        &self,
        tenant: Option<&str>,
        consumer: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DeadLetterView>, StoreError> {
        let (tenant, consumer) = (owned(tenant), consumer.map(str::to_owned));
        Ok(self.db.read(move |c| dead_letters::list(c, tenant.as_deref(), consumer.as_deref(), limit)).await?)
    }

    async fn dead_letter(&self, tenant: Option<&str>, id: i64) -> Result<DeadLetterView, StoreError> {
        let tenant = owned(tenant);
        self.db.read(move |c| dead_letters::show(c, tenant.as_deref(), id)).await?.ok_or(StoreError::NotFound)
    }

    async fn redrive(&self, tenant: Option<&str>, request: &RedriveRequest) -> Result<usize, StoreError> {
        let (tenant, request) = (owned(tenant), request.clone());
        let consumers = self.db.write(move |tx| dead_letters::redrive(tx, tenant.as_deref(), &request)).await?;
        self.wake(consumers.iter().map(|(c, _)| c.as_str()));
        Ok(consumers.iter().map(|(_, n)| n).sum())
    }

    async fn purge(&self, tenant: Option<&str>, consumer: Option<&str>) -> Result<usize, StoreError> {
        let (tenant, consumer) = (owned(tenant), consumer.map(str::to_owned));
        Ok(self.db.write(move |tx| dead_letters::purge(tx, tenant.as_deref(), consumer.as_deref())).await?)
    }

    async fn plan_replay(&self, tenant: Option<&str>, request: &ReplayRequest) -> Result<ReplayPlan, StoreError> {
        let (tenant, request) = (owned(tenant), request.clone());
        Ok(self.db.read(move |c| replay::plan(c, tenant.as_deref(), &request)).await?)
    }

    async fn start_replay(&self, tenant: Option<&str>, request: &ReplayRequest) -> Result<ReplayStatus, StoreError> {
        let (tenant, request) = (owned(tenant), request.clone());
        let consumers = request.consumers.clone();
        let status = self.db.write(move |tx| replay::start(tx, tenant.as_deref(), &request)).await?;
        self.wake(consumers.iter().map(String::as_str));
        Ok(status)
    }

    async fn replays(&self, tenant: Option<&str>) -> Result<Vec<ReplayStatus>, StoreError> {
        let tenant = owned(tenant);
        Ok(self.db.read(move |c| replay::list(c, tenant.as_deref())).await?)
    }

    async fn replay(&self, tenant: Option<&str>, name: &str) -> Result<ReplayStatus, StoreError> {
        let (tenant, name) = (owned(tenant), name.to_owned());
        self.db.read(move |c| replay::status(c, tenant.as_deref(), &name)).await?.ok_or(StoreError::NotFound)
    }

    async fn cancel_replay(&self, tenant: Option<&str>, name: &str) -> Result<ReplayStatus, StoreError> {
        let (tenant, name) = (owned(tenant), name.to_owned());
        self.db.write(move |tx| replay::cancel(tx, tenant.as_deref(), &name)).await?.ok_or(StoreError::NotFound)
    }

    async fn router_dead_letters(&self, tenant: Option<&str>, limit: usize) -> Result<Vec<DeadLetterView>, StoreError> {
        let tenant = owned(tenant);
        Ok(self.db.read(move |c| router_letters::list(c, tenant.as_deref(), limit)).await?)
    }

    /// One parked change record, by its change-log position, with the record.
    async fn router_dead_letter(&self, tenant: Option<&str>, seq: i64) -> Result<DeadLetterView, StoreError> {
        let tenant = owned(tenant);
        self.db.read(move |c| router_letters::show(c, tenant.as_deref(), seq)).await?.ok_or(StoreError::NotFound)
    }

    /// Routes parked change records again (all, the oldest `max`, or one), publishing and
    /// unparking in one transaction; one still poison stays parked with its new reason.
    async fn redrive_router(
        &self,
        tenant: Option<&str>,
        max: Option<usize>,
        id: Option<i64>,
    ) -> Result<RouterRedriven, StoreError> {
        let tenant = owned(tenant);
        let (done, woken) = self.db.write(move |tx| router_letters::redrive(tx, tenant.as_deref(), max, id)).await?;
        self.db.note_archived();
        self.wake(woken);
        Ok(done)
    }

    async fn trace(&self, tenant: Option<&str>, task_id: &str, version: Option<u64>) -> Result<Trace, StoreError> {
        let (tenant, task_id) = (owned(tenant), task_id.to_owned());
        self.db.read(move |c| trace::read(c, tenant.as_deref(), &task_id, version)).await?.ok_or(StoreError::NotFound)
    }
}

/// Unix milliseconds as the API writes times.
fn at(ms: i64) -> String {
    events_schema::Timestamp::from_unix_millis(ms).map(|t| t.to_string()).unwrap_or_default()
}

/// Milliseconds from an RFC 3339 time to `now`, never negative.
fn age(now: i64, at: Option<&str>) -> Option<i64> {
    let at = events_schema::Timestamp::parse(at?).ok()?;
    Some((now - at.unix_millis()).max(0))
}
