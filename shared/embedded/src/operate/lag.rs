//! Lag per consumer, and the router's: what waits, how old the oldest is, what is retrying
//! and what is dead, and how fast each consumer goes. Only what is past a cursor is scanned
//! (the backlog, short when healthy), and for the pace what a cursor passed since an earlier look.

use rusqlite::{Connection, OptionalExtension, params};
use shared_core::ports::{ConsumerLag, Lag};

use super::pace::{CursorSamples, per_second};
use crate::EmbeddedError;
use crate::db::now_ms;

pub(super) fn read(conn: &Connection, tenant: Option<&str>, samples: &CursorSamples) -> Result<Lag, EmbeddedError> {
    // One snapshot: every stage seen at one instant.
    let snapshot = conn.unchecked_transaction()?;
    let lag = read_in(&snapshot, tenant, samples)?;
    snapshot.finish()?;
    Ok(lag)
}

fn read_in(conn: &Connection, tenant: Option<&str>, samples: &CursorSamples) -> Result<Lag, EmbeddedError> {
    let now = now_ms();
    let routed: i64 =
        conn.query_row("SELECT seq FROM cursors WHERE name = 'router'", [], |r| r.get(0)).optional()?.unwrap_or(0);
    let (router_pending, router_oldest): (i64, Option<String>) = conn.query_row(
        "SELECT COUNT(*), MIN(at) FROM change_log WHERE seq > ?1 AND (?2 IS NULL OR tenant = ?2)",
        params![routed, tenant],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let router_parked: i64 = conn.query_row(
        "SELECT COUNT(*) FROM router_dead_letters d JOIN change_log c ON c.seq = d.seq WHERE ?1 IS NULL OR c.tenant = ?1",
        [tenant],
        |r| r.get(0),
    )?;
    let cursors: Vec<(String, i64)> = conn
        .prepare("SELECT name, seq FROM consumer_cursors ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut consumers = Vec::with_capacity(cursors.len());
    for (name, cursor) in cursors {
        let types = events_schema::routing::route(&name).map(|r| r.detail_types).unwrap_or_default();
        let (mut depth, mut oldest): (i64, Option<String>) = (0, None);
        let mut stmt = conn.prepare_cached(
            "SELECT detail_type, occurred_at FROM archive WHERE seq > ?1 AND (?2 IS NULL OR tenant = ?2) ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![cursor, tenant])?;
        while let Some(row) = rows.next()? {
            let t = row.get_ref(0)?.as_str().map_err(|e| EmbeddedError::Corrupt(e.to_string()))?;
            if types.contains(&t) {
                depth += 1;
                if oldest.is_none() {
                    oldest = Some(row.get(1)?);
                }
            }
        }
        let retrying: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM consumer_retries r JOIN archive a ON a.seq = r.seq
             WHERE r.consumer = ?1 AND (?2 IS NULL OR a.tenant = ?2)",
            )?
            .query_row(params![name, tenant], |r| r.get(0))?;
        let dead_letters: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM consumer_dead_letters d JOIN archive a ON a.seq = d.seq
                 WHERE d.consumer = ?1 AND (?2 IS NULL OR a.tenant = ?2)",
            )?
            .query_row(params![name, tenant], |r| r.get(0))?;
        let replays_running: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM replay_cursors c JOIN replays r ON r.scope = c.scope AND r.name = c.replay
                 WHERE c.consumer = ?1 AND c.seq < r.last_seq AND r.cancelled = 0 AND (?2 IS NULL OR r.scope = ?2)",
            )?
            .query_row(params![name, tenant], |r| r.get(0))?;
        let events_per_second = match samples.record(&name, now, cursor) {
            Some(since) => Some(per_second(routed_between(conn, types, since.seq, cursor, tenant)?, since.span_ms)),
            None => None,
        };
        consumers.push(ConsumerLag {
            oldest_age_ms: super::age(now, oldest.as_deref()),
            consumer: name,
            depth,
            retrying,
            dead_letters,
            replays_running,
            events_per_second,
        });
    }
    Ok(Lag {
        router_pending,
        router_oldest_age_ms: super::age(now, router_oldest.as_deref()),
        router_parked,
        consumers,
    })
}

/// Events of `types` (in `tenant`, or all) archived after `from` up to `to`: what a cursor
/// that moved from `from` to `to` took.
fn routed_between(
    conn: &Connection,
    types: &[&str],
    from: i64,
    to: i64,
    tenant: Option<&str>,
) -> Result<i64, EmbeddedError> {
    let mut stmt = conn.prepare_cached(
        "SELECT detail_type FROM archive WHERE seq > ?1 AND seq <= ?2 AND (?3 IS NULL OR tenant = ?3)",
    )?;
    let mut rows = stmt.query(params![from, to, tenant])?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        let t = row.get_ref(0)?.as_str().map_err(|e| EmbeddedError::Corrupt(e.to_string()))?;
        n += i64::from(types.contains(&t));
    }
    Ok(n)
}
