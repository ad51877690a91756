//! Writes to the index, each version-fenced: a document is replaced only by a higher
//! version, and a removal leaves a tombstone that fences older upserts out.

use events_schema::events::TaskSnapshot;
use rusqlite::{Connection, OptionalExtension, params};
use shared_core::ports::suggestion_inputs;

use crate::EmbeddedError;

/// The tenant's document for a task: its docid and fence version.
fn doc(tx: &Connection, tenant: &str, id: &str) -> Result<Option<(i64, u64)>, EmbeddedError> {
    Ok(tx
        .prepare_cached("SELECT docid, version FROM search_docs WHERE tenant = ?1 AND id = ?2")?
        .query_row(params![tenant, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// The version a task was removed at, if it was.
fn tombstone(tx: &Connection, tenant: &str, id: &str) -> Result<Option<u64>, EmbeddedError> {
    Ok(tx
        .prepare_cached("SELECT version FROM search_tombstones WHERE tenant = ?1 AND id = ?2")?
        .query_row(params![tenant, id], |r| r.get(0))
        .optional()?)
}

/// The indexed text of a document, as FTS5 keeps it.
#[derive(PartialEq, Eq)]
struct Text {
    title: String,
    description: String,
    tags: String,
}

fn stored_text(tx: &Connection, docid: i64) -> Result<Option<Text>, EmbeddedError> {
    Ok(tx
        .prepare_cached("SELECT title, description, tags FROM search_text WHERE rowid = ?1")?
        .query_row([docid], |r| Ok(Text { title: r.get(0)?, description: r.get(1)?, tags: r.get(2)? }))
        .optional()?)
}

/// Drops the text and suggestions of a doc (before rewriting or removing it).
fn clear_derived(tx: &Connection, docid: i64) -> Result<(), EmbeddedError> {
    tx.prepare_cached("DELETE FROM search_text WHERE rowid = ?1")?.execute([docid])?;
    tx.prepare_cached("DELETE FROM search_suggestions WHERE docid = ?1")?.execute([docid])?;
    Ok(())
}

pub(super) fn upsert(tx: &Connection, tenant: &str, task: &TaskSnapshot, version: u64) -> Result<bool, EmbeddedError> {
    if tombstone(tx, tenant, &task.id)?.is_some_and(|t| t >= version) {
        return Ok(false);
    }
    let body = serde_json::to_string(task)?;
    let text = Text {
        title: task.title.clone(),
        description: task.description.clone().unwrap_or_default(),
        tags: task.tags.join(" "),
    };
    let (status, priority) = (task.status.as_str(), task.priority.as_str());
    let docid = match doc(tx, tenant, &task.id)? {
        Some((_, stored)) if stored >= version => return Ok(false),
        Some((docid, _)) => {
            tx.prepare_cached(
                "UPDATE search_docs SET version = ?1, status = ?2, priority = ?3, assignee = ?4, project_id = ?5,
                   sprint_id = ?6, body = ?7 WHERE docid = ?8",
            )?
            .execute(params![
                version,
                status,
                priority,
                task.assignee,
                task.project_id,
                task.sprint_id,
                body,
                docid
            ])?;
            // Most changes (a status, an assignee) leave the text alone: its postings and
            // suggestions stay as they are.
            if stored_text(tx, docid)?.is_some_and(|stored| stored == text) {
                return Ok(true);
            }
            clear_derived(tx, docid)?;
            docid
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO search_docs (tenant, id, version, status, priority, assignee, project_id, sprint_id, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                tenant,
                task.id,
                version,
                status,
                priority,
                task.assignee,
                task.project_id,
                task.sprint_id,
                body
            ])?;
            tx.last_insert_rowid()
        }
    };
    tx.prepare_cached("INSERT INTO search_text (rowid, title, description, tags) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![docid, text.title, text.description, text.tags])?;
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO search_suggestions (tenant, input, docid, title) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for input in suggestion_inputs(&task.title) {
        insert.execute(params![tenant, input.to_lowercase(), docid, task.title])?;
    }
    Ok(true)
}

pub(super) fn remove(tx: &Connection, tenant: &str, id: &str, version: u64) -> Result<bool, EmbeddedError> {
    let document = doc(tx, tenant, id)?;
    // Stale when the index already holds this version or a later one, as a document or as a
    // tombstone: the same test OpenSearch applies to an external version.
    if document.is_some_and(|(_, stored)| stored >= version) || tombstone(tx, tenant, id)?.is_some_and(|t| t >= version)
    {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT INTO search_tombstones (tenant, id, version) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant, id) DO UPDATE SET version = excluded.version",
    )?
    .execute(params![tenant, id, version])?;
    if let Some((docid, _)) = document {
        clear_derived(tx, docid)?;
        tx.prepare_cached("DELETE FROM search_docs WHERE docid = ?1")?.execute([docid])?;
    }
    Ok(true)
}
