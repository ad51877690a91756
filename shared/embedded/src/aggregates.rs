//! The [`Store`] port over SQLite: typed reads, and `commit`, which checks every change's
//! condition, writes them with one change record each and the idempotency record, all in one
//! transaction.

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::events::{CategorySnapshot, CommentSnapshot, ProjectSnapshot, SprintSnapshot, TaskSnapshot};
use events_schema::{AggregateType, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};
use serde::de::DeserializeOwned;
use shared_core::context::RequestContext;
use shared_core::ports::{
    Aggregate, Change, ChangeFailure, ExternalKeyLink, FailureReason, IdempotencyRecord, MAX_CHANGES_PER_COMMIT, Page,
    Store, StoreError, TaskQuery,
};

use crate::EmbeddedError;
use crate::change_log::{ChangeRow, append_change};
use crate::db::{Db, now_ms};
use crate::task_list::{self, Cursor};

pub struct SqliteStore {
    db: Arc<Db>,
}

impl SqliteStore {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

/// The `entities.kind` of a non-task aggregate.
fn kind(aggregate_type: AggregateType) -> &'static str {
    aggregate_type.as_str()
}

fn read_entity<T: DeserializeOwned>(
    conn: &Connection,
    tenant: &str,
    kind: &str,
    id: &str,
) -> Result<Option<T>, EmbeddedError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM entities WHERE tenant = ?1 AND kind = ?2 AND id = ?3")?
        .query_row(params![tenant, kind, id], |r| r.get(0))
        .optional()?;
    Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
}

fn read_entities<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<T>, EmbeddedError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let bodies: Vec<String> = stmt.query_map(args, |r| r.get(0))?.collect::<Result<_, _>>()?;
    bodies.iter().map(|b| serde_json::from_str(b).map_err(EmbeddedError::from)).collect()
}

/// The stored version and body of an aggregate, if it exists.
fn current(
    tx: &Connection,
    tenant: &str,
    aggregate_type: AggregateType,
    id: &str,
) -> Result<Option<(u64, String)>, EmbeddedError> {
    let row = if aggregate_type == AggregateType::Task {
        tx.prepare_cached("SELECT version, body FROM tasks WHERE tenant = ?1 AND id = ?2")?
            .query_row(params![tenant, id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
    } else {
        tx.prepare_cached("SELECT version, body FROM entities WHERE tenant = ?1 AND kind = ?2 AND id = ?3")?
            .query_row(params![tenant, kind(aggregate_type), id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
    };
    Ok(row)
}

fn put(tx: &Connection, tenant: &str, aggregate: &Aggregate, body: &str) -> Result<(), EmbeddedError> {
    match aggregate {
        Aggregate::Task(task) => task_list::put_task(tx, tenant, task, body),
        other => {
            let parent = match other {
                Aggregate::Sprint(s) => Some(s.project_id.as_str()),
                Aggregate::Comment(c) => Some(c.task_id.as_str()),
                _ => None,
            };
            tx.prepare_cached(
                "INSERT INTO entities (tenant, kind, id, version, parent, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tenant, kind, id) DO UPDATE SET version = excluded.version, body = excluded.body",
            )?
            .execute(params![
                tenant,
                kind(other.aggregate_type()),
                other.id(),
                other.version(),
                parent,
                body
            ])?;
            Ok(())
        }
    }
}

fn remove(tx: &Connection, tenant: &str, aggregate_type: AggregateType, id: &str) -> Result<(), EmbeddedError> {
    if aggregate_type == AggregateType::Task {
        tx.prepare_cached("DELETE FROM tasks WHERE tenant = ?1 AND id = ?2")?.execute(params![tenant, id])?;
    } else {
        tx.prepare_cached("DELETE FROM entities WHERE tenant = ?1 AND kind = ?2 AND id = ?3")?.execute(params![
            tenant,
            kind(aggregate_type),
            id
        ])?;
    }
    Ok(())
}

/// Why `change` cannot apply to the current state, if it cannot.
fn check(change: &Change, stored: Option<u64>) -> Option<FailureReason> {
    let expected = match change {
        Change::Put { expected_version: None, .. } => {
            return stored.map(|_| FailureReason::AlreadyExists);
        }
        Change::Put { expected_version: Some(v), .. } | Change::Delete { expected_version: v, .. } => *v,
    };
    match stored {
        None => Some(FailureReason::NotFound),
        Some(current) if current != expected => {
            Some(FailureReason::VersionMismatch { expected, current: Some(current) })
        }
        Some(_) => None,
    }
}

fn commit_in(
    tx: &Connection,
    ctx: &RequestContext,
    changes: &[Change],
    idempotency: Option<&IdempotencyRecord>,
    link: Option<&ExternalKeyLink>,
) -> Result<(), EmbeddedError> {
    let tenant = ctx.tenant();
    if let Some(record) = idempotency {
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO idempotency (tenant, key, fingerprint, status, body, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![tenant, record.key, record.fingerprint, record.status, record.body, now_ms()])?;
        if inserted == 0 {
            return Err(StoreError::IdempotencyRace.into());
        }
    }
    // After the receipt: a second delivery of a create is a duplicate, not a taken key.
    if let Some(link) = link {
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO external_keys (tenant, key, task_id, created_ms) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![tenant, link.key, link.task_id, now_ms()])?;
        if inserted == 0 {
            return Err(StoreError::AlreadyExists(link.key.clone()).into());
        }
    }
    // Check every condition before writing anything, to report every failure at once.
    let mut olds = Vec::with_capacity(changes.len());
    let mut failures = Vec::new();
    for change in changes {
        let (aggregate_type, id) = change.target();
        let stored = current(tx, tenant, aggregate_type, id)?;
        if let Some(reason) = check(change, stored.as_ref().map(|(v, _)| *v)) {
            failures.push(ChangeFailure { aggregate_type, id: id.to_owned(), reason });
        }
        olds.push(stored.map(|(_, body)| body));
    }
    if !failures.is_empty() {
        return Err(StoreError::refused(changes.len(), failures).into());
    }
    for (change, old) in changes.iter().zip(olds) {
        let (aggregate_type, id) = change.target();
        let (version, at, new_image) = match change {
            Change::Put { new, .. } => {
                let image = serde_json::to_string(new)?;
                put(tx, tenant, new, &image)?;
                (new.version(), new.changed_at(), Some(image))
            }
            Change::Delete { expected_version, .. } => {
                remove(tx, tenant, aggregate_type, id)?;
                (expected_version + 1, Timestamp::now(), None)
            }
        };
        append_change(
            tx,
            &ChangeRow {
                tenant,
                aggregate_type,
                aggregate_id: id,
                aggregate_version: version,
                at,
                correlation_id: &ctx.correlation_id,
                actor: &ctx.identity.actor,
                old: old.as_deref(),
                new: new_image.as_deref(),
            },
        )?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn get_task(&self, tenant: &str, id: &str) -> Result<Option<TaskSnapshot>, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        Ok(self.db.lookup(move |conn| task_list::get_task(conn, &tenant, &id)).await?)
    }

    async fn list_tasks(&self, tenant: &str, query: &TaskQuery) -> Result<Page<TaskSnapshot>, StoreError> {
        let (tenant, query) = (tenant.to_owned(), query.clone());
        Ok(self.db.read(move |conn| task_list::list(conn, &tenant, &query)).await?)
    }

    async fn get_category(&self, tenant: &str, id: &str) -> Result<Option<CategorySnapshot>, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        Ok(self.db.read(move |conn| read_entity(conn, &tenant, "category", &id)).await?)
    }

    async fn list_categories(&self, tenant: &str) -> Result<Vec<CategorySnapshot>, StoreError> {
        let tenant = tenant.to_owned();
        Ok(self
            .db
            .read(move |conn| {
                read_entities(
                    conn,
                    "SELECT body FROM entities WHERE tenant = ?1 AND kind = 'category' ORDER BY json_extract(body, '$.name'), id",
                    [tenant],
                )
            })
            .await?)
    }

    async fn get_project(&self, tenant: &str, id: &str) -> Result<Option<ProjectSnapshot>, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        Ok(self.db.read(move |conn| read_entity(conn, &tenant, "project", &id)).await?)
    }

    async fn list_projects(&self, tenant: &str) -> Result<Vec<ProjectSnapshot>, StoreError> {
        let tenant = tenant.to_owned();
        Ok(self
            .db
            .read(move |conn| {
                read_entities(
                    conn,
                    "SELECT body FROM entities WHERE tenant = ?1 AND kind = 'project' ORDER BY id DESC",
                    [tenant],
                )
            })
            .await?)
    }

    async fn get_sprint(&self, tenant: &str, id: &str) -> Result<Option<SprintSnapshot>, StoreError> {
        let (tenant, id) = (tenant.to_owned(), id.to_owned());
        Ok(self.db.read(move |conn| read_entity(conn, &tenant, "sprint", &id)).await?)
    }

    async fn list_sprints(&self, tenant: &str, project_id: &str) -> Result<Vec<SprintSnapshot>, StoreError> {
        let (tenant, project_id) = (tenant.to_owned(), project_id.to_owned());
        Ok(self
            .db
            .read(move |conn| {
                read_entities(
                    conn,
                    "SELECT body FROM entities WHERE tenant = ?1 AND kind = 'sprint' AND parent = ?2 ORDER BY id",
                    params![tenant, project_id],
                )
            })
            .await?)
    }

    async fn list_comments(
        &self,
        tenant: &str,
        task_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<CommentSnapshot>, StoreError> {
        let scope = format!("comments|{tenant}|{task_id}");
        let after = cursor.map(|c| Cursor::decode(c, &scope)).transpose()?.map(|c| c.id).unwrap_or_default();
        let (tenant, task_id) = (tenant.to_owned(), task_id.to_owned());
        let fetch = i64::try_from(limit).unwrap_or(100) + 1;
        let mut items: Vec<CommentSnapshot> = self
            .db
            .read(move |conn| {
                read_entities(
                    conn,
                    "SELECT body FROM entities WHERE tenant = ?1 AND kind = 'comment' AND parent = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
                    params![tenant, task_id, after, fetch],
                )
            })
            .await?;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|c| Cursor { key: String::new(), id: c.id.clone() }.encode(&scope))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn get_idempotency(&self, tenant: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let (tenant, key) = (tenant.to_owned(), key.to_owned());
        Ok(self
            .db
            .lookup(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT fingerprint, status, body FROM idempotency WHERE tenant = ?1 AND key = ?2")?
                    .query_row(params![tenant, key], |r| {
                        Ok(IdempotencyRecord {
                            key: key.clone(),
                            fingerprint: r.get(0)?,
                            status: r.get(1)?,
                            body: r.get(2)?,
                        })
                    })
                    .optional()?)
            })
            .await?)
    }

    async fn commit(
        &self,
        ctx: &RequestContext,
        changes: Vec<Change>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let items = changes.len() + usize::from(idempotency.is_some());
        if items > MAX_CHANGES_PER_COMMIT {
            return Err(StoreError::TooManyChanges(items));
        }
        let ctx = ctx.clone();
        self.db.write(move |tx| commit_in(tx, &ctx, &changes, idempotency.as_ref(), None)).await?;
        self.db.changes.notify_one();
        Ok(())
    }

    async fn task_for_external_key(&self, tenant: &str, key: &str) -> Result<Option<String>, StoreError> {
        let (tenant, key) = (tenant.to_owned(), key.to_owned());
        Ok(self
            .db
            .lookup(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT task_id FROM external_keys WHERE tenant = ?1 AND key = ?2")?
                    .query_row(params![tenant, key], |r| r.get(0))
                    .optional()?)
            })
            .await?)
    }

    async fn commit_command(
        &self,
        ctx: &RequestContext,
        changes: Vec<Change>,
        receipt: IdempotencyRecord,
        link: Option<ExternalKeyLink>,
    ) -> Result<(), StoreError> {
        // The receipt is an item of the transaction as on DynamoDB; the link is one more there.
        let items = changes.len() + 1 + usize::from(link.is_some());
        if items > MAX_CHANGES_PER_COMMIT {
            return Err(StoreError::TooManyChanges(items));
        }
        let ctx = ctx.clone();
        self.db.write(move |tx| commit_in(tx, &ctx, &changes, Some(&receipt), link.as_ref())).await?;
        self.db.changes.notify_one();
        Ok(())
    }
}
