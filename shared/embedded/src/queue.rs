//! Durable queues with SQS semantics: a received message is hidden for the visibility
//! timeout; a failed one comes back after a backoff; after `max_receives` receives it moves
//! to the dead-letter table with the reason of its last failure.

use std::time::Duration;

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::EmbeddedError;
use crate::db::{Db, now_ms};

#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// How long a received message stays hidden while its consumer works on it.
    pub visibility_timeout: Duration,
    /// Receives before a failing message is dead-lettered (SQS's maxReceiveCount).
    pub max_receives: u32,
    /// The first retry delay; each later one doubles, with jitter, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Messages received at once. Larger than SQS's 10: a local queue has no such limit,
    /// and a batch's writes share commits.
    pub batch_size: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            visibility_timeout: Duration::from_secs(30),
            max_receives: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            batch_size: 100,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: i64,
    pub body: String,
    pub receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub id: i64,
    pub queue: String,
    pub body: String,
    pub receive_count: u32,
    pub reason: String,
    pub failed_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub visible: i64,
    pub in_flight: i64,
    pub dead: i64,
    /// Age of the oldest message waiting, in milliseconds.
    pub oldest_age_ms: Option<i64>,
}

pub(crate) fn register(db: &Db, name: &str) -> Result<(), EmbeddedError> {
    let name = name.to_owned();
    db.write_blocking(move |tx| {
        tx.execute("INSERT OR IGNORE INTO queues (name) VALUES (?1)", [name])?;
        Ok(())
    })
}

/// Makes every hidden message visible: used at start-up, when no receiver can be alive.
/// That includes messages received again after a failure, and those waiting out a retry
/// backoff: a restart retries them at once, and their receive counts still lead a message
/// that keeps failing to the dead letters.
pub(crate) fn release_in_flight(db: &Db) -> Result<(), EmbeddedError> {
    db.write_blocking(|tx| {
        let now = now_ms();
        let n = tx.execute("UPDATE queue_messages SET visible_ms = ?1 WHERE visible_ms > ?1", [now])?;
        if n > 0 {
            tracing::info!(messages = n, "released messages left in flight by a previous process");
        }
        Ok(())
    })
}

/// Enqueues unless the same `dedup_key` is already waiting in that queue.
pub(crate) fn enqueue(
    tx: &Connection,
    queue: &str,
    dedup_key: &str,
    body: &str,
    now: i64,
) -> Result<(), EmbeddedError> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO queue_messages (queue, dedup_key, body, enqueued_ms, visible_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![queue, dedup_key, body, now])?;
    Ok(())
}

pub(crate) fn receive(tx: &Connection, queue: &str, config: &QueueConfig) -> Result<Vec<Received>, EmbeddedError> {
    let now = now_ms();
    let hidden_until = now + i64::try_from(config.visibility_timeout.as_millis()).unwrap_or(i64::MAX / 2);
    let mut stmt = tx.prepare_cached(
        "UPDATE queue_messages SET visible_ms = ?1, receive_count = receive_count + 1
         WHERE id IN (SELECT id FROM queue_messages WHERE queue = ?2 AND visible_ms <= ?3 ORDER BY id LIMIT ?4)
         RETURNING id, body, receive_count",
    )?;
    let mut batch: Vec<Received> = stmt
        .query_map(params![hidden_until, queue, now, i64::try_from(config.batch_size).unwrap_or(10)], |r| {
            Ok(Received { id: r.get(0)?, body: r.get(1)?, receive_count: r.get(2)? })
        })?
        .collect::<Result<_, _>>()?;
    // RETURNING does not promise an order; the queue is FIFO per enqueue.
    batch.sort_by_key(|m| m.id);
    Ok(batch)
}

pub(crate) fn delete(tx: &Connection, id: i64) -> Result<(), EmbeddedError> {
    tx.prepare_cached("DELETE FROM queue_messages WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// Records a failure: back to the queue after a backoff, or to the dead letters when the
/// message has used its receives.
pub(crate) fn fail(
    tx: &Connection,
    queue: &str,
    message: &Received,
    reason: &str,
    config: &QueueConfig,
) -> Result<bool, EmbeddedError> {
    let now = now_ms();
    if message.receive_count >= config.max_receives {
        tx.prepare_cached(
            "INSERT OR REPLACE INTO dead_letters (id, queue, body, receive_count, reason, enqueued_ms, failed_ms)
             SELECT id, queue, body, receive_count, ?2, enqueued_ms, ?3 FROM queue_messages WHERE id = ?1",
        )?
        .execute(params![message.id, reason, now])?;
        delete(tx, message.id)?;
        tracing::warn!(queue, message_id = message.id, receives = message.receive_count, %reason, "message dead-lettered");
        return Ok(true);
    }
    let delay = backoff(config, message.receive_count, message.id);
    tx.prepare_cached("UPDATE queue_messages SET visible_ms = ?1, last_error = ?2 WHERE id = ?3")?.execute(params![
        now + i64::try_from(delay.as_millis()).unwrap_or(0),
        reason,
        message.id
    ])?;
    Ok(false)
}

/// Exponential backoff with "equal jitter": half the step fixed, half spread, so retries of
/// many failing messages do not land together.
fn backoff(config: &QueueConfig, receive_count: u32, salt: i64) -> Duration {
    let exp = receive_count.saturating_sub(1).min(20);
    let step = config.base_backoff.saturating_mul(1u32 << exp).min(config.max_backoff);
    let half = step / 2;
    let spread = u64::try_from(half.as_millis()).unwrap_or(0);
    let jitter = if spread == 0 {
        0
    } else {
        (salt.unsigned_abs().wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(receive_count)) % spread
    };
    half + Duration::from_millis(jitter)
}

pub(crate) fn stats(conn: &Connection, queue: &str) -> Result<QueueStats, EmbeddedError> {
    let now = now_ms();
    let (visible, in_flight, oldest): (i64, i64, Option<i64>) = conn.query_row(
        "SELECT COALESCE(SUM(visible_ms <= ?2), 0), COALESCE(SUM(visible_ms > ?2), 0), MIN(enqueued_ms)
         FROM queue_messages WHERE queue = ?1",
        params![queue, now],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let dead = conn.query_row("SELECT COUNT(*) FROM dead_letters WHERE queue = ?1", [queue], |r| r.get(0))?;
    Ok(QueueStats { visible, in_flight, dead, oldest_age_ms: oldest.map(|t| now - t) })
}

pub(crate) fn dead_letters(conn: &Connection, queue: &str) -> Result<Vec<DeadLetter>, EmbeddedError> {
    let mut stmt = conn.prepare(
        "SELECT id, queue, body, receive_count, reason, failed_ms FROM dead_letters WHERE queue = ?1 ORDER BY id",
    )?;
    let rows = stmt
        .query_map([queue], |r| {
            Ok(DeadLetter {
                id: r.get(0)?,
                queue: r.get(1)?,
                body: r.get(2)?,
                receive_count: r.get(3)?,
                reason: r.get(4)?,
                failed_ms: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_releases_every_hidden_message_failed_before_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let config = QueueConfig { visibility_timeout: Duration::from_secs(3600), ..Default::default() };
        let failing = QueueConfig { base_backoff: Duration::ZERO, max_backoff: Duration::ZERO, ..config.clone() };
        let first = config.clone();
        let received = db
            .write_blocking(move |tx| {
                for key in ["a", "b"] {
                    enqueue(tx, "q", key, key, now_ms())?;
                }
                receive(tx, "q", &first)
            })
            .unwrap();
        assert_eq!(received.len(), 2);
        // "a" fails and is received again (in flight with an error on record); "b" is in flight.
        let again = db
            .write_blocking(move |tx| {
                fail(tx, "q", &received[0], "boom", &failing)?;
                receive(tx, "q", &failing)
            })
            .unwrap();
        assert_eq!(again.iter().map(|m| (m.body.as_str(), m.receive_count)).collect::<Vec<_>>(), [("a", 2)]);
        let hidden = |db: &Db| db.read_blocking(|c| stats(c, "q")).unwrap().in_flight;
        assert_eq!(hidden(&db), 2);

        release_in_flight(&db).unwrap();
        assert_eq!(hidden(&db), 0);
        let next = db.write_blocking(move |tx| receive(tx, "q", &config)).unwrap();
        assert_eq!(next.iter().map(|m| (m.body.as_str(), m.receive_count)).collect::<Vec<_>>(), [("a", 3), ("b", 2)]);
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
                assert!((lo..hi).contains(&d), "receive {count}: {d} ms outside {lo}..{hi}");
            }
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|s| backoff(&config, 3, s)).collect();
        assert!(spread.len() > 10, "jitter spreads retries");
    }
}
