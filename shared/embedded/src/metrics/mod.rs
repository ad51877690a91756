//! The embedded metrics store: the metric records in one SQLite table, written by the
//! metrics consumer and read by `GET /metrics/{name}` and `taskstream metrics`.
//!
//! A record's key is its dimensions, measure name and time, as in Timestream; absent
//! dimensions are stored as empty strings so that the key is always complete. A write of an
//! existing key replaces the row only with a higher version (see `write.rs`).
//!
//! The table is created on first use, by this module (`schema.sql` is the store's). The
//! partial indexes cover what the queries read: completions, and the records that move work
//! in progress, each by tenant and time, so a query over a million records reads only its
//! own kind of rows and never the table.

mod read;
mod write;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use shared_core::metrics::{MetricName, MetricRecord, MetricsAnswer, MetricsQuery};
use shared_core::ports::{MetricsReader, MetricsSink, Rejected, StoreError};
use tokio::sync::OnceCell;

use crate::db::{DB_FILE, Db};
use crate::{EmbeddedError, batch_unit};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS metric_records (
    tenant                     TEXT    NOT NULL,
    aggregate_id               TEXT    NOT NULL,
    event_type                 TEXT    NOT NULL,
    project                    TEXT    NOT NULL,
    sprint                     TEXT    NOT NULL,
    assignee                   TEXT    NOT NULL,
    priority                   TEXT    NOT NULL,
    category                   TEXT    NOT NULL,
    measure_name               TEXT    NOT NULL,
    time_ms                    INTEGER NOT NULL,
    version                    INTEGER NOT NULL,
    events                     INTEGER NOT NULL,
    status_from                TEXT,
    status_to                  TEXT,
    seconds_in_previous_status INTEGER,
    cycle_time_seconds         INTEGER,
    completed_points           INTEGER,
    estimate_points            INTEGER,
    overdue                    INTEGER,
    wip_delta                  INTEGER,
    UNIQUE (tenant, aggregate_id, event_type, measure_name, time_ms, project, sprint, assignee, priority, category, version)
);
CREATE INDEX IF NOT EXISTS metric_completions ON metric_records
    (tenant, time_ms, project, sprint, assignee, cycle_time_seconds, completed_points, overdue)
    WHERE event_type = 'TaskCompleted';
CREATE INDEX IF NOT EXISTS metric_wip ON metric_records
    (tenant, time_ms, project, sprint, assignee, wip_delta)
    WHERE wip_delta IS NOT NULL;
CREATE INDEX IF NOT EXISTS metric_by_sprint ON metric_records (tenant, sprint, aggregate_id);
";

/// The metrics sink and reader over the engine's database.
pub struct SqliteMetrics {
    db: Arc<Db>,
    schema: OnceCell<()>,
}

impl SqliteMetrics {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db, schema: OnceCell::new() }
    }

    async fn ready(&self) -> Result<(), EmbeddedError> {
        self.schema
            .get_or_try_init(|| async {
                self.db.write(|tx| Ok(tx.execute_batch(SCHEMA)?)).await?;
                Ok::<_, EmbeddedError>(())
            })
            .await?;
        Ok(())
    }
}

#[async_trait]
impl MetricsSink for SqliteMetrics {
    /// Inside a consumer worker's batch the records join the batch's one write (see
    /// `batch_unit`) and commit with its cursor move; a record already stored is then not
    /// reported back (it is a repeat, and only a debug line reads it).
    async fn write(&self, records: &[MetricRecord]) -> Result<Vec<Rejected>, StoreError> {
        self.ready().await?;
        let records = records.to_vec();
        if batch_unit::active() {
            let staged: batch_unit::Staged = Box::new(move |tx| write::upsert(tx, &records).map(drop));
            return batch_unit::stage_checked(staged).map(|()| Vec::new());
        }
        Ok(self.db.write(move |tx| write::upsert(tx, &records)).await?)
    }
}

#[async_trait]
impl MetricsReader for SqliteMetrics {
    async fn query(&self, tenant: &str, name: MetricName, query: &MetricsQuery) -> Result<MetricsAnswer, StoreError> {
        self.ready().await?;
        let (tenant, query) = (tenant.to_owned(), query.clone());
        let now = crate::db::now_ms();
        Ok(self.db.read(move |conn| read::answer(conn, &tenant, name, &query, now)).await?)
    }
}

/// Answers a query from a data directory's file directly, read-only, without the engine:
/// `taskstream metrics` works while `serve` holds the directory. A directory whose metrics
/// table does not exist yet (nothing recorded) answers with no rows.
pub fn query_file(
    dir: &Path,
    tenant: &str,
    name: MetricName,
    query: &MetricsQuery,
) -> Result<MetricsAnswer, EmbeddedError> {
    let path = dir.join(DB_FILE);
    if !path.is_file() {
        return Err(EmbeddedError::DataDir(
            dir.to_owned(),
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("no {DB_FILE} in it: is it a data directory?")),
        ));
    }
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'metric_records')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(read::empty(name));
    }
    read::answer(&conn, tenant, name, query, crate::db::now_ms())
}

#[cfg(test)]
mod tests;
