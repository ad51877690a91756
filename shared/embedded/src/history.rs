//! The audit history table.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, params};
use shared_core::ports::{HistoryRecord, HistoryStore, StoreError};

use crate::EmbeddedError;
use crate::batch_unit::{self, Staged};
use crate::db::Db;

pub struct SqliteHistoryStore {
    db: Arc<Db>,
}

impl SqliteHistoryStore {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

const INSERT: &str = "INSERT OR IGNORE INTO history (tenant, task_id, version, event_type, event_id, schema_version, occurred_at, actor, correlation_id, data)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

/// A record as the columns take it: made before the write, so the writer thread only binds
/// and steps.
struct Row {
    tenant: String,
    task_id: String,
    version: u64,
    event_type: String,
    event_id: String,
    schema_version: u32,
    occurred_at: String,
    actor: String,
    correlation_id: String,
    data: String,
}

impl Row {
    fn of(r: &HistoryRecord) -> Result<Self, serde_json::Error> {
        Ok(Self {
            tenant: r.tenant.clone(),
            task_id: r.task_id.clone(),
            version: r.version,
            event_type: r.event_type.clone(),
            event_id: r.event_id.to_string(),
            schema_version: r.schema_version,
            occurred_at: r.occurred_at.to_string(),
            actor: r.actor.clone(),
            correlation_id: r.correlation_id.clone(),
            data: serde_json::to_string(&r.data)?,
        })
    }

    /// Inserts unless the key exists; true when it was new.
    fn insert(&self, tx: &Connection) -> Result<bool, EmbeddedError> {
        let inserted = tx.prepare_cached(INSERT)?.execute(params![
            self.tenant,
            self.task_id,
            self.version,
            self.event_type,
            self.event_id,
            self.schema_version,
            self.occurred_at,
            self.actor,
            self.correlation_id,
            self.data
        ])?;
        Ok(inserted == 1)
    }
}

#[async_trait]
impl HistoryStore for SqliteHistoryStore {
    async fn append(&self, record: &HistoryRecord) -> Result<bool, StoreError> {
        let row = Row::of(record).map_err(EmbeddedError::from)?;
        Ok(self.db.write(move |tx| row.insert(tx)).await?)
    }

    /// The records in one write: held for the batch's own transaction when a worker applies
    /// a batch (see `batch_unit`), written at once otherwise. Should the one write be refused
    /// (a constraint on one record, say), each record is written alone, so only the records
    /// at fault fail.
    async fn append_many(&self, records: &[HistoryRecord]) -> Vec<Result<(), StoreError>> {
        let mut outcomes: Vec<Result<(), StoreError>> = Vec::with_capacity(records.len());
        let mut rows = Vec::with_capacity(records.len());
        for record in records {
            match Row::of(record) {
                Ok(row) => {
                    rows.push(row);
                    outcomes.push(Ok(()));
                }
                Err(e) => outcomes.push(Err(EmbeddedError::from(e).into())),
            }
        }
        let write: Staged = Box::new(move |tx: &Connection| {
            for row in &rows {
                row.insert(tx)?;
            }
            Ok(())
        });
        let Err(write) = batch_unit::stage(write) else { return outcomes };
        match self.db.write(write).await {
            Ok(()) => outcomes,
            Err(e) if batch_unit::is_refusal(&e) => {
                tracing::warn!(error = %e, records = records.len(), "a history write was refused; writing its records one by one");
                let rows: Vec<Option<Row>> = records.iter().map(|r| Row::of(r).ok()).collect();
                match self.db.write(move |tx| one_by_one(tx, &rows)).await {
                    Ok(each) => each
                        .into_iter()
                        .zip(outcomes)
                        .map(|(refused, before)| match refused {
                            Some(reason) => Err(StoreError::Refused(reason)),
                            None => before,
                        })
                        .collect(),
                    Err(e) => unavailable(records.len(), &e),
                }
            }
            Err(e) => unavailable(records.len(), &e),
        }
    }

    async fn list(&self, tenant: &str, task_id: &str) -> Result<Vec<HistoryRecord>, StoreError> {
        let (tenant, task_id) = (tenant.to_owned(), task_id.to_owned());
        Ok(self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT version, event_type, event_id, schema_version, occurred_at, actor, correlation_id, data
                     FROM history WHERE tenant = ?1 AND task_id = ?2 ORDER BY version, event_type",
                )?;
                let rows = stmt.query_map(params![tenant, task_id], |r| {
                    Ok((
                        r.get::<_, u64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, u32>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                    ))
                })?;
                let mut out = Vec::new();
                for row in rows {
                    let (version, event_type, event_id, schema_version, occurred_at, actor, correlation_id, data) =
                        row?;
                    out.push(HistoryRecord {
                        tenant: tenant.clone(),
                        task_id: task_id.clone(),
                        version,
                        event_type,
                        event_id: event_id.parse().map_err(|e| EmbeddedError::Corrupt(format!("event id: {e}")))?,
                        schema_version,
                        occurred_at: events_schema::Timestamp::parse(&occurred_at)
                            .map_err(|e| EmbeddedError::Corrupt(format!("occurred_at: {e}")))?,
                        actor,
                        correlation_id,
                        data: serde_json::from_str(&data)?,
                    });
                }
                Ok(out)
            })
            .await?)
    }
}

/// Each row in a savepoint of its own: a row its statement refuses rolls back alone and
/// comes back with why (`Some`); `None` for a row written or already there, and for a row
/// that could not be made (its outcome is already known).
fn one_by_one(tx: &Connection, rows: &[Option<Row>]) -> Result<Vec<Option<String>>, EmbeddedError> {
    let mut refused = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(row) = row else {
            refused.push(None);
            continue;
        };
        tx.execute_batch("SAVEPOINT history_record")?;
        match row.insert(tx) {
            Ok(_) => {
                tx.execute_batch("RELEASE history_record")?;
                refused.push(None);
            }
            Err(e) if batch_unit::is_refusal(&e) => {
                tx.execute_batch("ROLLBACK TO history_record; RELEASE history_record")?;
                refused.push(Some(e.to_string()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(refused)
}

/// The store failed, not the records: every record's outcome says so, and the batch comes
/// back once the store works.
fn unavailable(n: usize, e: &EmbeddedError) -> Vec<Result<(), StoreError>> {
    (0..n).map(|_| Err(StoreError::Unavailable(e.to_string()))).collect()
}
