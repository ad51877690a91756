//! The audit history table.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::params;
use shared_core::ports::{HistoryRecord, HistoryStore, StoreError};

use crate::EmbeddedError;
use crate::db::Db;

pub struct SqliteHistoryStore {
    db: Arc<Db>,
}

impl SqliteHistoryStore {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

#[async_trait]
impl HistoryStore for SqliteHistoryStore {
    async fn append(&self, record: &HistoryRecord) -> Result<bool, StoreError> {
        let r = record.clone();
        Ok(self
            .db
            .write(move |tx| {
                let inserted = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO history (tenant, task_id, version, event_type, event_id, schema_version, occurred_at, actor, correlation_id, data)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )?
                    .execute(params![
                        r.tenant,
                        r.task_id,
                        r.version,
                        r.event_type,
                        r.event_id.to_string(),
                        r.schema_version,
                        r.occurred_at.to_string(),
                        r.actor,
                        r.correlation_id,
                        serde_json::to_string(&r.data)?
                    ])?;
                Ok(inserted == 1)
            })
            .await?)
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
