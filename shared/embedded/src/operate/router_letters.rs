//! The router's dead letters: change records it could not derive events from, parked whole
//! with the reason (`router_dead_letters`). Listed and shown without being removed, and
//! redriven: derived again with the router's own code and, if that now works, published to
//! the bus (which keeps one copy per event id) and unparked in the same transaction.
//!
//! They are shown as dead letters of `stream-router`, numbered by their change-log position;
//! their "event" is the change (`task v3`), since no event could be derived from it.

use rusqlite::{Connection, Row, params};
use shared_core::ports::{DeadLetterView, RouterRedriven, StillPoison};

use crate::EmbeddedError;

/// The name the router's dead letters go under, as on AWS (the stream-router Lambda).
const STREAM_ROUTER: &str = "stream-router";

/// The columns [`view`] reads, in its order; `d` is the dead letter, `c` its change record.
const COLUMNS: &str =
    "d.seq, c.aggregate_type, c.aggregate_version, c.aggregate_id, c.at, d.reason, d.parked_ms, d.record";

fn view(row: &Row<'_>) -> rusqlite::Result<DeadLetterView> {
    let aggregate_type: String = row.get(1)?;
    let version: i64 = row.get(2)?;
    Ok(DeadLetterView {
        id: row.get(0)?,
        consumer: STREAM_ROUTER.to_owned(),
        event_id: String::new(),
        event_type: format!("{aggregate_type} v{version}"),
        aggregate_id: row.get(3)?,
        occurred_at: row.get(4)?,
        receive_count: 0,
        reason: row.get(5)?,
        failed_at: super::at(row.get(6)?),
        replay_name: None,
        event: None,
    })
}

pub(super) fn list(
    conn: &Connection,
    tenant: Option<&str>,
    limit: usize,
) -> Result<Vec<DeadLetterView>, EmbeddedError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM router_dead_letters d JOIN change_log c ON c.seq = d.seq
         WHERE ?1 IS NULL OR c.tenant = ?1 ORDER BY d.seq LIMIT ?2"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = conn.prepare_cached(&sql)?.query_map(params![tenant, limit], view)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// One of them, with the change record as it was parked.
pub(super) fn show(conn: &Connection, tenant: Option<&str>, seq: i64) -> Result<Option<DeadLetterView>, EmbeddedError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM router_dead_letters d JOIN change_log c ON c.seq = d.seq
         WHERE d.seq = ?1 AND (?2 IS NULL OR c.tenant = ?2)"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![seq, tenant])?;
    let Some(row) = rows.next()? else { return Ok(None) };
    let mut letter = view(row)?;
    let record: String = row.get(7)?;
    letter.event = Some(serde_json::from_str(&record)?);
    Ok(Some(letter))
}

/// Routes the chosen parked records again, oldest first.
pub(super) fn redrive(
    tx: &Connection,
    tenant: Option<&str>,
    max: Option<usize>,
    id: Option<i64>,
) -> Result<(RouterRedriven, Vec<&'static str>), EmbeddedError> {
    let limit = max.map_or(i64::MAX, |m| i64::try_from(m).unwrap_or(i64::MAX));
    let chosen: Vec<i64> = tx
        .prepare_cached(
            "SELECT d.seq FROM router_dead_letters d JOIN change_log c ON c.seq = d.seq
             WHERE (?1 IS NULL OR c.tenant = ?1) AND (?2 IS NULL OR d.seq = ?2) ORDER BY d.seq LIMIT ?3",
        )?
        .query_map(params![tenant, id, limit], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = RouterRedriven::default();
    let mut woken: Vec<&'static str> = Vec::new();
    for seq in chosen {
        match crate::router::reroute(tx, seq)? {
            Ok((events, consumers)) => {
                tx.prepare_cached("DELETE FROM router_dead_letters WHERE seq = ?1")?.execute([seq])?;
                out.routed += 1;
                out.events += events;
                for c in consumers {
                    if !woken.contains(&c) {
                        woken.push(c);
                    }
                }
            }
            Err(reason) => {
                tx.prepare_cached("UPDATE router_dead_letters SET reason = ?2 WHERE seq = ?1")?
                    .execute(params![seq, reason])?;
                out.still_poison.push(StillPoison { id: seq, reason });
            }
        }
    }
    tracing::info!(
        routed = out.routed,
        events = out.events,
        still_poison = out.still_poison.len(),
        tenant,
        "router dead letters redriven"
    );
    Ok((out, woken))
}
