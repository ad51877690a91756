//! Tasks and their change log, written in one transaction (invariant 1: one committed write,
//! one change record; a refused write, none).

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::{AggregateType, Timestamp};
use rusqlite::{OptionalExtension, Transaction, params};
use shared_core::ChangeRecord;
use shared_core::context::RequestContext;
use shared_core::domain::Task;
use shared_core::ports::{Page, StoreError, TaskQuery, TaskStore};

use crate::EmbeddedError;
use crate::db::Db;

pub struct SqliteTaskStore {
    db: Arc<Db>,
}

impl SqliteTaskStore {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

pub(crate) fn append_change(tx: &Transaction<'_>, record: &ChangeRecord) -> Result<(), EmbeddedError> {
    let old = record.old.as_ref().map(serde_json::to_string).transpose()?;
    let new = record.new.as_ref().map(serde_json::to_string).transpose()?;
    tx.prepare_cached(
        "INSERT INTO change_log (tenant, aggregate_type, aggregate_id, aggregate_version, at, correlation_id, actor, old_image, new_image)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        record.tenant,
        record.aggregate_type.as_str(),
        record.aggregate_id,
        record.aggregate_version,
        record.at.to_string(),
        record.correlation_id,
        record.actor,
        old,
        new
    ])?;
    Ok(())
}

fn change(
    ctx: &RequestContext,
    id: &str,
    version: u64,
    at: Timestamp,
    old: Option<&Task>,
    new: Option<&Task>,
) -> Result<ChangeRecord, EmbeddedError> {
    Ok(ChangeRecord {
        tenant: ctx.tenant().to_owned(),
        aggregate_type: AggregateType::Task,
        aggregate_id: id.to_owned(),
        aggregate_version: version,
        at,
        correlation_id: ctx.correlation_id.clone(),
        actor: ctx.identity.actor.clone(),
        old: old.map(serde_json::to_value).transpose()?,
        new: new.map(serde_json::to_value).transpose()?,
    })
}

fn get_task(conn: &rusqlite::Connection, tenant: &str, id: &str) -> Result<Option<Task>, EmbeddedError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM tasks WHERE tenant = ?1 AND id = ?2")?
        .query_row(params![tenant, id], |r| r.get(0))
        .optional()?;
    Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
}

fn put_task(tx: &Transaction<'_>, tenant: &str, task: &Task) -> Result<(), EmbeddedError> {
    tx.prepare_cached(
        "INSERT INTO tasks (tenant, id, version, status, created_ms, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant, id) DO UPDATE SET version = excluded.version, status = excluded.status, body = excluded.body",
    )?
    .execute(params![tenant, task.id, task.version, task.status.as_str(), task.created_at.unix_millis(), serde_json::to_string(task)?])?;
    Ok(())
}

fn current_version(tx: &Transaction<'_>, tenant: &str, id: &str) -> Result<Option<u64>, EmbeddedError> {
    Ok(tx
        .prepare_cached("SELECT version FROM tasks WHERE tenant = ?1 AND id = ?2")?
        .query_row(params![tenant, id], |r| r.get(0))
        .optional()?)
}

#[async_trait]
impl TaskStore for SqliteTaskStore {
    async fn create(&self, ctx: &RequestContext, task: &Task) -> Result<(), StoreError> {
        let (ctx, task) = (ctx.clone(), task.clone());
        self.db
            .write(move |tx| {
                if current_version(tx, ctx.tenant(), &task.id)?.is_some() {
                    return Err(StoreError::AlreadyExists(task.id.clone()).into());
                }
                put_task(tx, ctx.tenant(), &task)?;
                append_change(tx, &change(&ctx, &task.id, task.version, task.updated_at, None, Some(&task))?)
            })
            .await?;
        self.db.changes.notify_one();
        Ok(())
    }

    async fn get(&self, tenant: &str, id: &str) -> Result<Option<Task>, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        Ok(self.db.read(move |conn| get_task(conn, &tenant, &id)).await?)
    }

    async fn update(&self, ctx: &RequestContext, task: &Task, expected_version: u64) -> Result<(), StoreError> {
        let (ctx, task) = (ctx.clone(), task.clone());
        self.db
            .write(move |tx| {
                let old = get_task(tx, ctx.tenant(), &task.id)?.ok_or(StoreError::NotFound)?;
                if old.version != expected_version {
                    return Err(StoreError::Conflict { expected: expected_version, current: old.version }.into());
                }
                put_task(tx, ctx.tenant(), &task)?;
                append_change(tx, &change(&ctx, &task.id, task.version, task.updated_at, Some(&old), Some(&task))?)
            })
            .await?;
        self.db.changes.notify_one();
        Ok(())
    }

    async fn delete(&self, ctx: &RequestContext, id: &str, expected_version: Option<u64>) -> Result<Task, StoreError> {
        let (ctx, id) = (ctx.clone(), id.to_owned());
        let last = self
            .db
            .write(move |tx| {
                let old = get_task(tx, ctx.tenant(), &id)?.ok_or(StoreError::NotFound)?;
                if let Some(expected) = expected_version.filter(|v| *v != old.version) {
                    return Err(StoreError::Conflict { expected, current: old.version }.into());
                }
                tx.prepare_cached("DELETE FROM tasks WHERE tenant = ?1 AND id = ?2")?
                    .execute(params![ctx.tenant(), id])?;
                append_change(tx, &change(&ctx, &id, old.version + 1, Timestamp::now(), Some(&old), None)?)?;
                Ok(old)
            })
            .await?;
        self.db.changes.notify_one();
        Ok(last)
    }

    async fn list(&self, tenant: &str, query: &TaskQuery) -> Result<Page<Task>, StoreError> {
        let (tenant, query) = (tenant.to_owned(), query.clone());
        Ok(self.db.read(move |conn| list_tasks(conn, &tenant, &query)).await?)
    }
}

/// Cursor: the (created, id) of the last item served, bound to the tenant and the filter,
/// so a cursor from another list or tenant is refused rather than misread.
fn encode_cursor(tenant: &str, status: Option<&str>, created_ms: i64, id: &str) -> String {
    hex(format!("1|{tenant}|{}|{created_ms}|{id}", status.unwrap_or("")).as_bytes())
}

fn decode_cursor(cursor: &str, tenant: &str, status: Option<&str>) -> Result<(i64, String), StoreError> {
    let bytes = unhex(cursor).ok_or(StoreError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)?;
    let mut parts = text.splitn(5, '|');
    let (Some("1"), Some(t), Some(s), Some(created), Some(id)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(StoreError::BadCursor);
    };
    if t != tenant || s != status.unwrap_or("") {
        return Err(StoreError::BadCursor);
    }
    let created = created.parse().map_err(|_| StoreError::BadCursor)?;
    Ok((created, id.to_owned()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 2048 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

fn list_tasks(conn: &rusqlite::Connection, tenant: &str, query: &TaskQuery) -> Result<Page<Task>, EmbeddedError> {
    let status = query.status.map(|s| s.as_str());
    let (after_created, after_id) = match &query.cursor {
        Some(c) => decode_cursor(c, tenant, status)?,
        None => (i64::MAX, String::new()),
    };
    // Fetch one more than asked to learn whether a next page exists.
    let limit = i64::try_from(query.limit).unwrap_or(100) + 1;
    let first_page = query.cursor.is_none();
    let mut stmt = conn.prepare_cached(
        "SELECT body, created_ms FROM tasks
         WHERE tenant = ?1 AND (?2 IS NULL OR status = ?2)
           AND (?5 OR created_ms < ?3 OR (created_ms = ?3 AND id < ?4))
         ORDER BY created_ms DESC, id DESC LIMIT ?6",
    )?;
    let rows = stmt.query_map(params![tenant, status, after_created, after_id, first_page, limit], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut items = Vec::new();
    let mut created = Vec::new();
    for row in rows {
        let (body, created_ms) = row?;
        items.push(serde_json::from_str::<Task>(&body)?);
        created.push(created_ms);
    }
    let mut next_cursor = None;
    if items.len() > query.limit {
        items.truncate(query.limit);
        if let (Some(last), Some(created_ms)) = (items.last(), created.get(query.limit - 1)) {
            next_cursor = Some(encode_cursor(tenant, status, *created_ms, &last.id));
        }
    }
    Ok(Page { items, next_cursor })
}
