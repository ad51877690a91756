//! A consumer's queue, embedded: a cursor over the archive (as a Kafka or Kinesis consumer
//! group reads its stream) and a retry table holding only the events that failed.
//!
//! Every event is archived once by the router; a consumer reads the archive past its cursor,
//! applies what the routing table sends it, and then, in one transaction, moves its cursor
//! past the batch and records the batch's failures. A failed event waits in the retry table
//! for a backoff that doubles with jitter; after `max_receives` failed attempts it moves to
//! the dead letters with the reason of its last failure, and can be redriven from there.
//! Nothing is written per event that succeeds: the cost of a healthy event is its read.
//!
//! Operators keep the view SQS gives: depth (events past the cursor plus retries), oldest
//! age, retries waiting out their backoff (reported as in flight), dead letters with their
//! reasons, and redrive.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::EmbeddedError;
use crate::db::{Db, now_ms};

#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Failed attempts before an event is dead-lettered (SQS's maxReceiveCount).
    pub max_receives: u32,
    /// The first retry delay; each later one doubles, with jitter, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Archived events read at once (and retries taken at once). A batch's writes share
    /// commits, and its settlement is one transaction. Live traffic comes in batches far
    /// smaller than this; only a backlog fills them, and there fewer, larger commits are what
    /// lets the consumers catch up (`BENCHMARKS.md`, "The pipeline").
    pub batch_size: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_receives: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            batch_size: 512,
        }
    }
}

/// An event read for a consumer: from past its cursor, or due again from its retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    /// The event's position in the archive.
    pub seq: i64,
    pub body: String,
    /// Failed attempts so far (0 for an event read past the cursor).
    pub failures: u32,
    /// The replay that delivered it, if one did: its retries are replayed deliveries too.
    pub replay: Option<String>,
}

/// What one read took: the events for the consumer and where its cursor may move.
pub(crate) struct Batch {
    pub cursor: i64,
    /// The archive position the cursor moves to once the batch settles.
    pub next_cursor: i64,
    pub fresh: Vec<Received>,
    pub retries: Vec<Received>,
    /// The read filled the batch: the archive may hold more past it.
    full: bool,
}

impl Batch {
    /// Archive rows read plus retries taken: zero means there was nothing to do.
    pub fn taken(&self) -> usize {
        usize::try_from(self.next_cursor - self.cursor).unwrap_or(0) + self.retries.len()
    }

    /// Where the next batch starts, taken before this one settles, when this one filled up
    /// (a backlog): read it with [`read_following`].
    pub fn following(&self) -> Option<i64> {
        self.full.then_some(self.next_cursor)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: i64,
    pub queue: String,
    /// The event's position in the archive.
    pub seq: i64,
    pub body: String,
    pub receive_count: u32,
    pub reason: String,
    pub failed_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    /// Events waiting: routed to this consumer past its cursor, plus retries that are due.
    pub visible: i64,
    /// Failed events waiting out their retry backoff.
    pub in_flight: i64,
    pub dead: i64,
    /// Age of the oldest event waiting (since it was archived), in milliseconds.
    pub oldest_age_ms: Option<i64>,
}

/// Subscribes `name` from the archive's end on (a durable subscription: it keeps its place
/// whether or not its consumer runs). Registering again changes nothing.
pub(crate) fn register(db: &Db, name: &str) -> Result<(), EmbeddedError> {
    let name = name.to_owned();
    db.write_blocking(move |tx| {
        tx.execute(
            "INSERT OR IGNORE INTO consumer_cursors (name, seq) SELECT ?1, COALESCE(MAX(seq), 0) FROM archive",
            [name],
        )?;
        Ok(())
    })
}

/// Data directories written before consumers read the archive through cursors kept a row
/// per event and queue. Each such queue becomes a cursor just before its oldest waiting event
/// (nothing waiting is skipped; what was applied already is applied again, harmlessly), its
/// dead letters move over (the event found in the archive by its id; the old table stays, so nothing is lost), and
/// the old queue tables go.
pub(crate) fn migrate_queue_tables(db: &Db) -> Result<(), EmbeddedError> {
    db.write_blocking(|tx| {
        let old: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'queue_messages')",
            [],
            |r| r.get(0),
        )?;
        if !old {
            return Ok(());
        }
        tx.execute_batch(
            "INSERT OR IGNORE INTO consumer_cursors (name, seq)
               SELECT q.name, COALESCE(
                 (SELECT MIN(a.seq) - 1 FROM queue_messages m JOIN archive a ON a.event_id = m.dedup_key WHERE m.queue = q.name),
                 (SELECT COALESCE(MAX(seq), 0) FROM archive))
               FROM queues q;
             INSERT INTO consumer_dead_letters (consumer, seq, receive_count, reason, failed_ms)
               SELECT d.queue, a.seq, d.receive_count, d.reason, d.failed_ms
               FROM dead_letters d JOIN archive a ON a.event_id = json_extract(d.body, '$.id') ORDER BY d.id;
             DROP TABLE queue_messages;
             DROP TABLE queues;",
        )?;
        tracing::info!("queues of an earlier layout moved to consumer cursors");
        Ok(())
    })
}

/// The archived bus event as a replay delivers it: with EventBridge's `replay-name`, which
/// the archive never holds (the router publishes without one). `name` is a checked replay
/// name (letters, digits, `.`, `-`, `_`), so it needs no escaping.
pub(crate) fn mark_replayed(body: &str, name: &str) -> String {
    match body.strip_prefix('{') {
        Some(rest) if rest.trim_start().starts_with('}') => format!("{{\"replay-name\":\"{name}\"}}"),
        Some(rest) => format!("{{\"replay-name\":\"{name}\",{rest}"),
        // Not an object: the consumer's decoding names what is wrong with it.
        None => body.to_owned(),
    }
}

/// Makes every retry due now: used at start-up, so a restart retries at once what a previous
/// process left waiting (its failure counts still lead a poison event to the dead letters).
pub(crate) fn release_retries(db: &Db) -> Result<(), EmbeddedError> {
    db.write_blocking(|tx| {
        let n = tx.execute("UPDATE consumer_retries SET visible_ms = ?1 WHERE visible_ms > ?1", [now_ms()])?;
        if n > 0 {
            tracing::info!(events = n, "retries a previous process left waiting are due now");
        }
        Ok(())
    })
}

pub(crate) fn cursor(conn: &Connection, name: &str) -> Result<Option<i64>, EmbeddedError> {
    Ok(conn
        .prepare_cached("SELECT seq FROM consumer_cursors WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

/// Reads the next batch for `name` (a read: nothing is marked). Only one worker drives a
/// consumer; settlement is fenced on the cursor it read, so a second one would only repeat
/// idempotent effects, never lose or double-settle an event.
pub(crate) fn read_batch(conn: &Connection, name: &str, config: &QueueConfig) -> Result<Batch, EmbeddedError> {
    let Some(cursor) = cursor(conn, name)? else {
        return Err(EmbeddedError::Corrupt(format!("the consumer {name} is not registered")));
    };
    let mut batch = read_fresh(conn, name, cursor, config)?;
    let limit = i64::try_from(config.batch_size).unwrap_or(256);
    let mut stmt = conn.prepare_cached(
        "SELECT r.seq, a.body, r.receive_count, r.replay FROM consumer_retries r JOIN archive a ON a.seq = r.seq
         WHERE r.consumer = ?1 AND r.visible_ms <= ?2 ORDER BY r.seq LIMIT ?3",
    )?;
    batch.retries = stmt
        .query_map(params![name, now_ms(), limit], |r| {
            let replay: Option<String> = r.get(3)?;
            let body: String = r.get(1)?;
            let body = match &replay {
                Some(replay) => mark_replayed(&body, replay),
                None => body,
            };
            Ok(Received { seq: r.get(0)?, body, failures: r.get(2)?, replay })
        })?
        .collect::<Result<_, _>>()?;
    Ok(batch)
}

/// The batch after one still settling, from `cursor` (see [`Batch::following`]): archive rows
/// only. Retries wait for the next ordinary read, which sees the settled batches' retry rows.
pub(crate) fn read_following(
    conn: &Connection,
    name: &str,
    cursor: i64,
    config: &QueueConfig,
) -> Result<Batch, EmbeddedError> {
    read_fresh(conn, name, cursor, config)
}

/// The consumer's events among the archive rows past `cursor`, up to a batch of rows.
fn read_fresh(conn: &Connection, name: &str, cursor: i64, config: &QueueConfig) -> Result<Batch, EmbeddedError> {
    let limit = i64::try_from(config.batch_size).unwrap_or(256);
    let (mut next_cursor, mut read) = (cursor, 0);
    let mut fresh = Vec::new();
    let mut stmt =
        conn.prepare_cached("SELECT seq, detail_type, body FROM archive WHERE seq > ?1 ORDER BY seq LIMIT ?2")?;
    let mut rows = stmt.query(params![cursor, limit])?;
    while let Some(row) = rows.next()? {
        read += 1;
        let seq: i64 = row.get(0)?;
        next_cursor = seq;
        let detail_type = row.get_ref(1)?.as_str().map_err(|e| EmbeddedError::Corrupt(e.to_string()))?;
        if events_schema::routing::consumers_of(detail_type).any(|c| c == name) {
            fresh.push(Received { seq, body: row.get(2)?, failures: 0, replay: None });
        }
    }
    Ok(Batch { cursor, next_cursor, fresh, retries: Vec::new(), full: read == limit })
}

/// Settles a batch in one transaction: the cursor moves past it, each failure is kept for
/// a retry or dead-lettered, each retry that went through is forgotten. `failures` maps an
/// event's archive position to why it failed. Returns false (and changes nothing) when the
/// cursor is no longer where the batch was read from.
pub(crate) fn settle(
    tx: &Connection,
    name: &str,
    batch: &Batch,
    failures: &[(i64, String)],
    config: &QueueConfig,
) -> Result<bool, EmbeddedError> {
    let moved = tx
        .prepare_cached("UPDATE consumer_cursors SET seq = ?3 WHERE name = ?1 AND seq = ?2")?
        .execute(params![name, batch.cursor, batch.next_cursor])?;
    if moved == 0 && batch.next_cursor != batch.cursor {
        return Ok(false);
    }
    let now = now_ms();
    let failed = |seq: i64| failures.iter().find(|(s, _)| *s == seq).map(|(_, reason)| reason.as_str());
    // A retry that went through is forgotten whatever its count: a redriven dead letter
    // comes back with its count reset to zero.
    let read = batch.fresh.iter().map(|e| (e, false)).chain(batch.retries.iter().map(|e| (e, true)));
    for (event, retry) in read {
        match failed(event.seq) {
            None if retry => {
                tx.prepare_cached("DELETE FROM consumer_retries WHERE consumer = ?1 AND seq = ?2")?
                    .execute(params![name, event.seq])?;
            }
            None => {}
            Some(reason) => fail(tx, name, event, reason, config, now)?,
        }
    }
    Ok(true)
}

pub(crate) fn fail(
    tx: &Connection,
    name: &str,
    event: &Received,
    reason: &str,
    config: &QueueConfig,
    now: i64,
) -> Result<(), EmbeddedError> {
    let failures = event.failures + 1;
    if failures >= config.max_receives {
        tx.prepare_cached(
            "INSERT INTO consumer_dead_letters (consumer, seq, receive_count, reason, failed_ms, replay)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![name, event.seq, failures, reason, now, event.replay])?;
        tx.prepare_cached("DELETE FROM consumer_retries WHERE consumer = ?1 AND seq = ?2")?
            .execute(params![name, event.seq])?;
        tracing::warn!(consumer = name, seq = event.seq, receives = failures, %reason, "event dead-lettered");
        return Ok(());
    }
    let delay = backoff(config, failures, event.seq);
    tx.prepare_cached(
        "INSERT INTO consumer_retries (consumer, seq, receive_count, visible_ms, last_error, replay)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (consumer, seq) DO UPDATE SET receive_count = excluded.receive_count,
             visible_ms = excluded.visible_ms, last_error = excluded.last_error, replay = excluded.replay",
    )?
    .execute(params![
        name,
        event.seq,
        failures,
        now + i64::try_from(delay.as_millis()).unwrap_or(0),
        reason,
        event.replay
    ])?;
    Ok(())
}

/// Exponential backoff with "equal jitter": half the step fixed, half spread, so retries of
/// many failing events do not land together.
fn backoff(config: &QueueConfig, failures: u32, salt: i64) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    let step = config.base_backoff.saturating_mul(1u32 << exp).min(config.max_backoff);
    let half = step / 2;
    let spread = u64::try_from(half.as_millis()).unwrap_or(0);
    let jitter = if spread == 0 {
        0
    } else {
        (salt.unsigned_abs().wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(failures)) % spread
    };
    half + Duration::from_millis(jitter)
}

/// Moves `name`'s dead letters back to its retries, due now, with their counts reset.
pub(crate) fn redrive(tx: &Connection, name: &str) -> Result<usize, EmbeddedError> {
    let now = now_ms();
    tx.prepare_cached(
        "INSERT INTO consumer_retries (consumer, seq, receive_count, visible_ms, last_error, replay)
         SELECT consumer, seq, 0, ?2, reason, replay FROM consumer_dead_letters WHERE consumer = ?1
         ON CONFLICT (consumer, seq) DO UPDATE SET receive_count = 0, visible_ms = excluded.visible_ms,
             replay = excluded.replay",
    )?
    .execute(params![name, now])?;
    Ok(tx.prepare_cached("DELETE FROM consumer_dead_letters WHERE consumer = ?1")?.execute([name])?)
}

pub(crate) fn stats(conn: &Connection, name: &str) -> Result<QueueStats, EmbeddedError> {
    let now = now_ms();
    let cursor = cursor(conn, name)?.unwrap_or(i64::MAX);
    let types: Vec<&str> = events_schema::routing::route(name).map(|r| r.detail_types.to_vec()).unwrap_or_default();
    // Past the cursor, only this consumer's detail-types count (a short scan: the backlog).
    let (mut visible, mut oldest): (i64, Option<i64>) = (0, None);
    {
        let mut stmt =
            conn.prepare_cached("SELECT detail_type, archived_ms FROM archive WHERE seq > ?1 ORDER BY seq")?;
        let mut rows = stmt.query([cursor])?;
        while let Some(row) = rows.next()? {
            let t = row.get_ref(0)?.as_str().map_err(|e| EmbeddedError::Corrupt(e.to_string()))?;
            if types.contains(&t) {
                visible += 1;
                oldest.get_or_insert(row.get(1)?);
            }
        }
    }
    let (due, waiting, oldest_retry): (i64, i64, Option<i64>) = conn.query_row(
        "SELECT COALESCE(SUM(r.visible_ms <= ?2), 0), COALESCE(SUM(r.visible_ms > ?2), 0), MIN(a.archived_ms)
         FROM consumer_retries r JOIN archive a ON a.seq = r.seq WHERE r.consumer = ?1",
        params![name, now],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    visible += due;
    let oldest = [oldest, oldest_retry].into_iter().flatten().min();
    let dead =
        conn.query_row("SELECT COUNT(*) FROM consumer_dead_letters WHERE consumer = ?1", [name], |r| r.get(0))?;
    Ok(QueueStats { visible, in_flight: waiting, dead, oldest_age_ms: oldest.map(|t| now - t) })
}

pub(crate) fn dead_letters(conn: &Connection, name: &str) -> Result<Vec<DeadLetter>, EmbeddedError> {
    let mut stmt = conn.prepare(
        "SELECT d.id, d.consumer, d.seq, a.body, d.receive_count, d.reason, d.failed_ms
         FROM consumer_dead_letters d JOIN archive a ON a.seq = d.seq WHERE d.consumer = ?1 ORDER BY d.id",
    )?;
    let rows = stmt
        .query_map([name], |r| {
            Ok(DeadLetter {
                id: r.get(0)?,
                queue: r.get(1)?,
                seq: r.get(2)?,
                body: r.get(3)?,
                receive_count: r.get(4)?,
                reason: r.get(5)?,
                failed_ms: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_makes_every_waiting_retry_due_and_keeps_its_count() {
        // A consumer the routing table sends task creations to.
        const Q: &str = events_schema::routing::AUDIT_HISTORY;
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        register(&db, Q).unwrap();
        let slow = QueueConfig {
            base_backoff: Duration::from_secs(3600),
            max_backoff: Duration::from_secs(3600),
            ..Default::default()
        };
        db.write_blocking(|tx| {
            tx.execute(
                "INSERT INTO archive (event_id, detail_type, tenant, occurred_at, archived_ms, body)
                 VALUES ('e', 'TaskCreated', 't', '2026-01-01T00:00:00.000Z', 0, '{}')",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        let config = slow.clone();
        db.write_blocking(move |tx| {
            let batch = read_batch(tx, Q, &config)?;
            assert_eq!(batch.fresh.len(), 1);
            settle(tx, Q, &batch, &[(batch.fresh[0].seq, "boom".into())], &config)
        })
        .unwrap();
        let waiting = |db: &Db| db.read_blocking(|c| stats(c, Q)).unwrap();
        assert_eq!((waiting(&db).visible, waiting(&db).in_flight), (0, 1), "waiting out an hour's backoff");

        release_retries(&db).unwrap();
        assert_eq!((waiting(&db).visible, waiting(&db).in_flight), (1, 0));
        let batch = db.read_blocking(|c| read_batch(c, Q, &slow)).unwrap();
        assert_eq!(batch.retries.iter().map(|r| r.failures).collect::<Vec<_>>(), [1], "its count is kept");
        assert!(batch.fresh.is_empty(), "the cursor moved past it");
    }

    #[test]
    fn a_replayed_delivery_carries_the_replay_name_and_stays_json() {
        let body = r#"{"id":"e","detail-type":"TaskCreated","detail":{}}"#;
        let marked: serde_json::Value = serde_json::from_str(&mark_replayed(body, "r-1")).unwrap();
        assert_eq!((marked["replay-name"].as_str(), marked["id"].as_str()), (Some("r-1"), Some("e")));
        assert_eq!(mark_replayed("{ }", "r"), r#"{"replay-name":"r"}"#);
        assert_eq!(mark_replayed("[1]", "r"), "[1]", "not an object: left for the decoder to refuse");
    }

    #[test]
    fn backoff_grows_is_jittered_and_capped() {
        let config = QueueConfig {
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            ..Default::default()
        };
        for (count, lo, hi) in [(1, 500, 1000), (2, 1000, 2000), (3, 2000, 4000), (9, 4000, 8000)] {
            for salt in 0..50 {
                let d = backoff(&config, count, salt).as_millis();
                assert!((lo..hi).contains(&d), "attempt {count}: {d} ms outside {lo}..{hi}");
            }
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|s| backoff(&config, 3, s)).collect();
        assert!(spread.len() > 10, "jitter spreads retries");
    }
}
