//! Dead letters: listed and shown without being removed, redriven back to their consumers'
//! retries (due at once, their counts reset), or purged.

use rusqlite::{Connection, Row, params};
use shared_core::ports::{DeadLetterView, RedriveRequest};

use crate::EmbeddedError;
use crate::db::now_ms;

/// The columns [`view`] reads, in its order; `a` is the archive, `d` the dead letter.
const COLUMNS: &str = "d.id, d.consumer, a.event_id, a.detail_type, json_extract(a.body, '$.detail.aggregateId'),
     a.occurred_at, d.receive_count, d.reason, d.failed_ms, d.replay";

fn view(row: &Row<'_>) -> rusqlite::Result<DeadLetterView> {
    Ok(DeadLetterView {
        id: row.get(0)?,
        consumer: row.get(1)?,
        event_id: row.get(2)?,
        event_type: row.get(3)?,
        aggregate_id: row.get::<_, Option<String>>(4)?.unwrap_or_default(),
        occurred_at: row.get(5)?,
        receive_count: row.get(6)?,
        reason: row.get(7)?,
        failed_at: super::at(row.get(8)?),
        replay_name: row.get(9)?,
        event: None,
    })
}

pub(super) fn list(
    conn: &Connection,
    tenant: Option<&str>,
    consumer: Option<&str>,
    limit: usize,
) -> Result<Vec<DeadLetterView>, EmbeddedError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM consumer_dead_letters d JOIN archive a ON a.seq = d.seq
         WHERE (?1 IS NULL OR a.tenant = ?1) AND (?2 IS NULL OR d.consumer = ?2) ORDER BY d.id LIMIT ?3"
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows =
        conn.prepare_cached(&sql)?.query_map(params![tenant, consumer, limit], view)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(super) fn show(conn: &Connection, tenant: Option<&str>, id: i64) -> Result<Option<DeadLetterView>, EmbeddedError> {
    let sql = format!(
        "SELECT {COLUMNS}, a.body FROM consumer_dead_letters d JOIN archive a ON a.seq = d.seq
         WHERE d.id = ?1 AND (?2 IS NULL OR a.tenant = ?2)"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![id, tenant])?;
    let Some(row) = rows.next()? else { return Ok(None) };
    let mut letter = view(row)?;
    let body: String = row.get(10)?;
    let body = match &letter.replay_name {
        Some(name) => crate::queue::mark_replayed(&body, name),
        None => body,
    };
    letter.event = Some(serde_json::from_str(&body)?);
    Ok(Some(letter))
}

/// The dead letters a request names, oldest first: `(id, consumer)`.
fn chosen(
    tx: &Connection,
    tenant: Option<&str>,
    consumer: Option<&str>,
    id: Option<i64>,
    max: Option<usize>,
) -> Result<Vec<(i64, String)>, EmbeddedError> {
    let limit = max.map_or(i64::MAX, |m| i64::try_from(m).unwrap_or(i64::MAX));
    let rows = tx
        .prepare_cached(
            "SELECT d.id, d.consumer FROM consumer_dead_letters d JOIN archive a ON a.seq = d.seq
             WHERE (?1 IS NULL OR a.tenant = ?1) AND (?2 IS NULL OR d.consumer = ?2) AND (?3 IS NULL OR d.id = ?3)
             ORDER BY d.id LIMIT ?4",
        )?
        .query_map(params![tenant, consumer, id, limit], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Moves the chosen dead letters to their consumers' retries, due now, counts reset; the
/// replay that delivered one stays with it. Returns how many per consumer.
pub(super) fn redrive(
    tx: &Connection,
    tenant: Option<&str>,
    request: &RedriveRequest,
) -> Result<Vec<(String, usize)>, EmbeddedError> {
    let now = now_ms();
    let mut moved: Vec<(String, usize)> = Vec::new();
    for (id, consumer) in chosen(tx, tenant, request.consumer.as_deref(), request.id, request.max)? {
        tx.prepare_cached(
            "INSERT INTO consumer_retries (consumer, seq, receive_count, visible_ms, last_error, replay)
             SELECT consumer, seq, 0, ?2, reason, replay FROM consumer_dead_letters WHERE id = ?1
             ON CONFLICT (consumer, seq) DO UPDATE SET receive_count = 0, visible_ms = excluded.visible_ms,
                 replay = excluded.replay",
        )?
        .execute(params![id, now])?;
        tx.prepare_cached("DELETE FROM consumer_dead_letters WHERE id = ?1")?.execute([id])?;
        match moved.iter_mut().find(|(c, _)| *c == consumer) {
            Some((_, n)) => *n += 1,
            None => moved.push((consumer, 1)),
        }
    }
    tracing::info!(?moved, tenant, "dead letters redriven");
    Ok(moved)
}

pub(super) fn purge(tx: &Connection, tenant: Option<&str>, consumer: Option<&str>) -> Result<usize, EmbeddedError> {
    let ids = chosen(tx, tenant, consumer, None, None)?;
    for (id, _) in &ids {
        tx.prepare_cached("DELETE FROM consumer_dead_letters WHERE id = ?1")?.execute([id])?;
    }
    tracing::warn!(purged = ids.len(), tenant, consumer, "dead letters purged");
    Ok(ids.len())
}
