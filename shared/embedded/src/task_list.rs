//! Tasks in SQLite: the row (snapshot JSON plus the columns lists filter and sort on) and the
//! list query with its cursors.
//!
//! A list call examines at most [`LIST_READ_CAP`] rows in its order, as the DynamoDB engine
//! does: a selective filter over a large tenant answers a short page (even an empty one) and
//! a cursor from the last row examined, so clients meet the same contract on both engines.

use events_schema::events::{Priority, TaskSnapshot};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use shared_core::ports::{LIST_READ_CAP, Page, StoreError, TaskQuery, TaskSort};

use crate::EmbeddedError;

/// Sorts after every `YYYY-MM-DD`, so undated tasks come last in due-date order.
const NO_DUE_DATE: &str = "~";

pub(crate) fn priority_rank(priority: Priority) -> i64 {
    match priority {
        Priority::Critical => 0,
        Priority::High => 1,
        Priority::Medium => 2,
        Priority::Low => 3,
    }
}

pub(crate) fn get_task(conn: &Connection, tenant: &str, id: &str) -> Result<Option<TaskSnapshot>, EmbeddedError> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM tasks WHERE tenant = ?1 AND id = ?2")?
        .query_row(params![tenant, id], |r| r.get(0))
        .optional()?;
    Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
}

pub(crate) fn put_task(tx: &Connection, tenant: &str, task: &TaskSnapshot, body: &str) -> Result<(), EmbeddedError> {
    tx.prepare_cached(
        "INSERT INTO tasks (tenant, id, version, status, created_ms, priority_rank, assignee, category_id, project_id, sprint_id, due_key, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (tenant, id) DO UPDATE SET version = excluded.version, status = excluded.status,
           priority_rank = excluded.priority_rank, assignee = excluded.assignee, category_id = excluded.category_id,
           project_id = excluded.project_id, sprint_id = excluded.sprint_id, due_key = excluded.due_key, body = excluded.body",
    )?
    .execute(params![
        tenant,
        task.id,
        task.version,
        task.status.as_str(),
        task.created_at.unix_millis(),
        priority_rank(task.priority),
        task.assignee,
        task.category_id,
        task.project_id,
        task.sprint_id,
        task.due_date.as_deref().unwrap_or(NO_DUE_DATE),
        body
    ])?;
    Ok(())
}

/// An opaque position in a list: the sort key and id of the last item served, bound by a
/// hash to the scope (tenant, filter, sort) it was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub key: String,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self, scope: &str) -> String {
        hex(format!("c1|{:016x}|{}|{}", fnv1a(scope), self.key, self.id).as_bytes())
    }

    pub fn decode(text: &str, scope: &str) -> Result<Self, StoreError> {
        let bytes = unhex(text).ok_or(StoreError::BadCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)?;
        let mut parts = text.splitn(4, '|');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("c1"), Some(hash), Some(key), Some(id)) if hash == format!("{:016x}", fnv1a(scope)) => {
                Ok(Self { key: key.to_owned(), id: id.to_owned() })
            }
            _ => Err(StoreError::BadCursor),
        }
    }
}

/// FNV-1a: a stable hash (unlike std's), so cursors survive restarts and upgrades.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 4096 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

fn scope(tenant: &str, query: &TaskQuery) -> String {
    format!("tasks|{tenant}|{:?}|{:?}", query.filter, query.sort)
}

/// The sort key column of each order, and how to page past a cursor.
fn order(sort: TaskSort) -> (&'static str, &'static str, &'static str) {
    match sort {
        TaskSort::Created => ("''", "id DESC", "id < ?"),
        TaskSort::DueDate => ("due_key", "due_key ASC, id ASC", "(due_key > ? OR (due_key = ? AND id > ?))"),
        TaskSort::Priority => (
            "CAST(priority_rank AS TEXT)",
            "priority_rank ASC, id DESC",
            "(priority_rank > ? OR (priority_rank = ? AND id < ?))",
        ),
    }
}

pub(crate) fn list(conn: &Connection, tenant: &str, query: &TaskQuery) -> Result<Page<TaskSnapshot>, EmbeddedError> {
    list_within(conn, tenant, query, LIST_READ_CAP)
}

/// [`list`], examining at most `cap` rows.
fn list_within(
    conn: &Connection,
    tenant: &str,
    query: &TaskQuery,
    cap: usize,
) -> Result<Page<TaskSnapshot>, EmbeddedError> {
    let scope = scope(tenant, query);
    let f = &query.filter;
    let (key_column, order_by, after) = order(query.sort);
    // The rows in the list's order, up to the cap, each with whether the filter takes it;
    // only those it takes bring their body.
    let mut matches: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut filter = |clause: &str, value: Option<Value>| {
        if let Some(v) = value {
            matches.push(clause.to_owned());
            args.push(v);
        }
    };
    filter("status = ?", f.status.map(|s| Value::Text(s.as_str().to_owned())));
    filter("priority_rank = ?", f.priority.map(|p| Value::Integer(priority_rank(p))));
    filter("assignee = ?", f.assignee.clone().map(Value::Text));
    filter("category_id = ?", f.category_id.clone().map(Value::Text));
    filter("project_id = ?", f.project_id.clone().map(Value::Text));
    filter("sprint_id = ?", f.sprint_id.clone().map(Value::Text));
    filter("EXISTS (SELECT 1 FROM json_each(tasks.body, '$.tags') WHERE value = ?)", f.tag.clone().map(Value::Text));
    filter("due_key >= ?", f.due_from.clone().map(Value::Text));
    filter("due_key <= ?", f.due_to.clone().map(Value::Text));
    if f.due_from.is_some() || f.due_to.is_some() {
        filter("due_key <> ?", Some(Value::Text(NO_DUE_DATE.to_owned())));
    }
    let taken = if matches.is_empty() { "1".to_owned() } else { matches.join(" AND ") };
    let mut sql = format!("SELECT {key_column}, id, CASE WHEN {taken} THEN body END FROM tasks WHERE tenant = ?");
    args.push(Value::Text(tenant.to_owned()));
    if let Some(cursor) = &query.cursor {
        let c = Cursor::decode(cursor, &scope)?;
        sql.push_str(" AND ");
        sql.push_str(after);
        match query.sort {
            TaskSort::Created => args.push(Value::Text(c.id)),
            TaskSort::DueDate => args.extend([Value::Text(c.key.clone()), Value::Text(c.key), Value::Text(c.id)]),
            TaskSort::Priority => {
                let rank: i64 = c.key.parse().map_err(|_| StoreError::BadCursor)?;
                args.extend([Value::Integer(rank), Value::Integer(rank), Value::Text(c.id)]);
            }
        }
    }
    sql.push_str(" ORDER BY ");
    sql.push_str(order_by);
    sql.push_str(" LIMIT ?");
    args.push(Value::Integer(i64::try_from(cap).unwrap_or(i64::MAX)));

    let limit = query.limit.max(1);
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args))?;
    let mut items = Vec::with_capacity(limit.min(100));
    let mut examined = 0;
    // The last row served, or (at the cap) examined: where the next page starts.
    let mut last: Option<Cursor> = None;
    while let Some(row) = rows.next()? {
        examined += 1;
        let (key, id, body): (String, String, Option<String>) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let Some(body) = body else {
            last = Some(Cursor { key, id });
            continue;
        };
        if items.len() == limit {
            // A next item exists: the page is full and the cursor worth giving.
            return Ok(Page { items, next_cursor: last.map(|c| c.encode(&scope)) });
        }
        items.push(serde_json::from_str::<TaskSnapshot>(&body)?);
        last = Some(Cursor { key, id });
    }
    // Every row examined: either the list ends here, or the cap was reached.
    let next_cursor = if examined == cap { last.map(|c| c.encode(&scope)) } else { None };
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_within_their_scope_only() {
        let c = Cursor { key: "2026-01-01".into(), id: "abc".into() };
        let text = c.encode("tasks|acme|x");
        assert_eq!(Cursor::decode(&text, "tasks|acme|x").unwrap(), c);
        assert_eq!(Cursor::decode(&text, "tasks|globex|x"), Err(StoreError::BadCursor));
        assert_eq!(Cursor::decode("zz", "tasks|acme|x"), Err(StoreError::BadCursor));
        assert_eq!(Cursor::decode(&text[2..], "tasks|acme|x"), Err(StoreError::BadCursor));
    }
}
