//! Replays, embedded: a window of the archive sent again to chosen consumers, as EventBridge
//! replays an archive onto a bus limited to some rules.
//!
//! A replay is a cursor per consumer over a fixed range of the archive, drained by that
//! consumer's own worker beside its ordinary cursor, one batch at a time: nothing is loaded
//! whole, nothing is copied, and the router never sees a replayed event (it reads the change
//! log, not the archive). Each delivery carries the replay's name as `replay-name`, so
//! consumers with outside effects stay silent. Events the consumer already holds at their
//! version (see `held`) are counted and skipped; a dry run counts with the same test.

use rusqlite::{Connection, OptionalExtension, params};
use shared_core::ports::{
    ConsumerPlan, ReplayPlan, ReplayProgress, ReplayRequest, ReplayState, ReplayStatus, StoreError,
};

use super::held::Fences;
use crate::EmbeddedError;
use crate::db::now_ms;
use crate::queue::{Received, mark_replayed};

/// What the archive is called in a plan.
const ARCHIVE: &str = "embedded archive";

fn scope(tenant: Option<&str>) -> &str {
    tenant.unwrap_or("")
}

/// The archive rows of a window, past `after` up to `last`, in order.
const WINDOW: &str = "SELECT seq, detail_type, body FROM archive
     WHERE seq > ?1 AND seq <= ?2 AND occurred_at >= ?3 AND occurred_at < ?4 AND (?5 = '' OR tenant = ?5)
     ORDER BY seq LIMIT ?6";

fn routed(detail_type: &str, consumer: &str) -> bool {
    events_schema::routing::consumers_of(detail_type).any(|c| c == consumer)
}

pub(super) fn plan(
    conn: &Connection,
    tenant: Option<&str>,
    request: &ReplayRequest,
) -> Result<ReplayPlan, EmbeddedError> {
    let snapshot = conn.unchecked_transaction()?;
    let (from, to) = (request.from.to_string(), request.to.to_string());
    let last: i64 = snapshot.query_row("SELECT COALESCE(MAX(seq), 0) FROM archive", [], |r| r.get(0))?;
    let fences = Fences::new(&snapshot)?;
    let mut counts: Vec<ConsumerPlan> = request
        .consumers
        .iter()
        .map(|c| ConsumerPlan { consumer: c.clone(), events: 0, would_apply: 0, unchanged: 0 })
        .collect();
    {
        let mut stmt = snapshot.prepare(WINDOW)?;
        let mut rows = stmt.query(params![0, last, from, to, scope(tenant), i64::MAX])?;
        while let Some(row) = rows.next()? {
            let detail_type = row.get_ref(1)?.as_str().map_err(|e| EmbeddedError::Corrupt(e.to_string()))?;
            let body = row.get_ref(2)?.as_str().map_err(|e| EmbeddedError::Corrupt(e.to_string()))?;
            for plan in counts.iter_mut().filter(|p| routed(detail_type, &p.consumer)) {
                plan.events += 1;
                if fences.holds(&snapshot, &plan.consumer, body)? {
                    plan.unchanged += 1;
                } else {
                    plan.would_apply += 1;
                }
            }
        }
    }
    snapshot.finish()?;
    Ok(ReplayPlan { archive: ARCHIVE.to_owned(), from, to, consumers: counts })
}

pub(super) fn start(
    tx: &Connection,
    tenant: Option<&str>,
    request: &ReplayRequest,
) -> Result<ReplayStatus, EmbeddedError> {
    let now = now_ms();
    let name = request.name.clone().unwrap_or_else(|| format!("replay-{now}"));
    let last: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM archive", [], |r| r.get(0))?;
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO replays (scope, name, from_at, to_at, first_seq, last_seq, created_ms)
             VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)",
        )?
        .execute(params![scope(tenant), name, request.from.to_string(), request.to.to_string(), last, now])?;
    if inserted == 0 {
        return Err(StoreError::AlreadyExists(name).into());
    }
    for consumer in &request.consumers {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO replay_cursors (scope, replay, consumer, seq) VALUES (?1, ?2, ?3, 0)",
        )?
        .execute(params![scope(tenant), name, consumer])?;
    }
    tracing::info!(replay = %name, tenant, consumers = ?request.consumers, from = %request.from, to = %request.to,
        last_seq = last, "replay started");
    status(tx, tenant, &name)?.ok_or_else(|| EmbeddedError::Corrupt(format!("the replay {name} vanished")))
}

pub(super) fn cancel(tx: &Connection, tenant: Option<&str>, name: &str) -> Result<Option<ReplayStatus>, EmbeddedError> {
    tx.prepare_cached("UPDATE replays SET cancelled = 1 WHERE scope = ?1 AND name = ?2")?
        .execute(params![scope(tenant), name])?;
    status(tx, tenant, name)
}

pub(super) fn list(conn: &Connection, tenant: Option<&str>) -> Result<Vec<ReplayStatus>, EmbeddedError> {
    let names: Vec<String> = conn
        .prepare_cached("SELECT name FROM replays WHERE scope = ?1 ORDER BY created_ms, name")?
        .query_map([scope(tenant)], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    names.iter().filter_map(|n| status(conn, tenant, n).transpose()).collect()
}

pub(super) fn status(
    conn: &Connection,
    tenant: Option<&str>,
    name: &str,
) -> Result<Option<ReplayStatus>, EmbeddedError> {
    let head: Option<(String, String, i64, i64, i64, bool)> = conn
        .prepare_cached(
            "SELECT from_at, to_at, first_seq, last_seq, created_ms, cancelled FROM replays WHERE scope = ?1 AND name = ?2",
        )?
        .query_row(params![scope(tenant), name], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()?;
    let Some((from, to, first, last, created_ms, cancelled)) = head else { return Ok(None) };
    let span = (last - first).max(1);
    let consumers: Vec<ReplayProgress> = conn
        .prepare_cached(
            "SELECT consumer, seq, applied, unchanged, failed FROM replay_cursors WHERE scope = ?1 AND replay = ?2 ORDER BY consumer",
        )?
        .query_map(params![scope(tenant), name], |r| {
            let seq: i64 = r.get(1)?;
            Ok(ReplayProgress {
                consumer: r.get(0)?,
                progress_permille: if seq >= last { 1000 } else { ((seq - first).max(0) * 1000 / span).min(999) },
                applied: r.get(2)?,
                unchanged: r.get(3)?,
                failed: r.get(4)?,
                done: seq >= last,
            })
        })?
        .collect::<Result<_, _>>()?;
    let state = if cancelled {
        ReplayState::Cancelled
    } else if consumers.iter().all(|c| c.done) {
        ReplayState::Completed
    } else {
        ReplayState::Running
    };
    Ok(Some(ReplayStatus { name: name.to_owned(), from, to, state, created_at: super::at(created_ms), consumers }))
}

/// One batch of a replay, read for a consumer's worker.
pub(crate) struct ReplayBatch {
    scope: String,
    pub name: String,
    cursor: i64,
    next_cursor: i64,
    /// The replay's last archive position and its window.
    last: i64,
    from: String,
    to: String,
    /// The events to apply, marked as replayed.
    pub events: Vec<Received>,
    /// Events of the batch the consumer already holds.
    unchanged: i64,
}

/// The next batch of the oldest replay still feeding `consumer`, if any.
pub(crate) fn read_batch(
    conn: &Connection,
    consumer: &str,
    limit: usize,
) -> Result<Option<ReplayBatch>, EmbeddedError> {
    let active: Option<(String, String, i64, i64, String, String)> = conn
        .prepare_cached(
            "SELECT c.scope, c.replay, c.seq, r.last_seq, r.from_at, r.to_at FROM replay_cursors c
             JOIN replays r ON r.scope = c.scope AND r.name = c.replay
             WHERE c.consumer = ?1 AND c.seq < r.last_seq AND r.cancelled = 0 ORDER BY r.created_ms LIMIT 1",
        )?
        .query_row([consumer], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .optional()?;
    let Some((scope, name, cursor, last, from, to)) = active else { return Ok(None) };
    let head =
        ReplayBatch { scope, name, cursor, next_cursor: cursor, last, from, to, events: Vec::new(), unchanged: 0 };
    read_window(conn, consumer, head, limit).map(Some)
}

impl ReplayBatch {
    /// Where the batch after this one starts, taken before this one is settled (its cursor is
    /// where this batch will leave it); `None` when the replay ends with this batch. Read it
    /// with [`read_following`]; the settlement's cursor check keeps the two in order.
    pub(crate) fn following(&self) -> Option<ReplayBatch> {
        (self.next_cursor < self.last).then(|| ReplayBatch {
            scope: self.scope.clone(),
            name: self.name.clone(),
            cursor: self.next_cursor,
            next_cursor: self.next_cursor,
            last: self.last,
            from: self.from.clone(),
            to: self.to.clone(),
            events: Vec::new(),
            unchanged: 0,
        })
    }
}

/// The batch that starts at `head` (see [`ReplayBatch::following`]), unless the replay was
/// cancelled meanwhile.
pub(crate) fn read_following(
    conn: &Connection,
    consumer: &str,
    head: ReplayBatch,
    limit: usize,
) -> Result<Option<ReplayBatch>, EmbeddedError> {
    let cancelled: Option<bool> = conn
        .prepare_cached("SELECT cancelled FROM replays WHERE scope = ?1 AND name = ?2")?
        .query_row(params![head.scope, head.name], |r| r.get(0))
        .optional()?;
    if cancelled != Some(false) {
        return Ok(None);
    }
    read_window(conn, consumer, head, limit).map(Some)
}

/// Up to `limit` archive rows of `head`'s window past its cursor: the consumer's events it
/// does not hold yet, marked as replayed, and the count of those it holds.
fn read_window(
    conn: &Connection,
    consumer: &str,
    mut head: ReplayBatch,
    limit: usize,
) -> Result<ReplayBatch, EmbeddedError> {
    let fences = Fences::new(conn)?;
    let limit = i64::try_from(limit).unwrap_or(256);
    let (mut read, mut last_read) = (0, head.cursor);
    let mut stmt = conn.prepare_cached(WINDOW)?;
    let mut rows = stmt.query(params![head.cursor, head.last, head.from, head.to, head.scope, limit])?;
    while let Some(row) = rows.next()? {
        read += 1;
        last_read = row.get(0)?;
        let detail_type = row.get_ref(1)?.as_str().map_err(|e| EmbeddedError::Corrupt(e.to_string()))?;
        if !routed(detail_type, consumer) {
            continue;
        }
        let body = row.get_ref(2)?.as_str().map_err(|e| EmbeddedError::Corrupt(e.to_string()))?;
        if fences.holds(conn, consumer, body)? {
            head.unchanged += 1;
        } else {
            head.events.push(Received {
                seq: last_read,
                body: mark_replayed(body, &head.name),
                failures: 0,
                replay: Some(head.name.clone()),
            });
        }
    }
    // A short read means the window holds nothing more up to the range's end.
    head.next_cursor = if read < limit { head.last } else { last_read };
    Ok(head)
}

/// Moves the replay's cursor past the batch and counts what it did; failed events go to the
/// consumer's retries as replayed deliveries. False (nothing changed) when another worker
/// moved the cursor first.
pub(crate) fn settle(
    tx: &Connection,
    consumer: &str,
    batch: &ReplayBatch,
    failures: &[(i64, String)],
    config: &crate::QueueConfig,
) -> Result<bool, EmbeddedError> {
    let failed = i64::try_from(failures.len()).unwrap_or(0);
    let applied = i64::try_from(batch.events.len()).unwrap_or(0) - failed;
    let moved = tx
        .prepare_cached(
            "UPDATE replay_cursors SET seq = ?5, applied = applied + ?6, unchanged = unchanged + ?7, failed = failed + ?8
             WHERE scope = ?1 AND replay = ?2 AND consumer = ?3 AND seq = ?4",
        )?
        .execute(params![batch.scope, batch.name, consumer, batch.cursor, batch.next_cursor, applied, batch.unchanged, failed])?;
    if moved == 0 {
        return Ok(false);
    }
    let now = now_ms();
    for (seq, reason) in failures {
        if let Some(event) = batch.events.iter().find(|e| e.seq == *seq) {
            crate::queue::fail(tx, consumer, event, reason, config, now)?;
        }
    }
    Ok(true)
}
