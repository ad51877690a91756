//! Where one task's changes went: each change record, the events the router derives from it
//! (derived again here: derivation is deterministic, ids included, so they are the events it
//! published), whether the archive holds each, and for every consumer the routing table sends
//! it to whether it was applied, is pending, retrying or dead-lettered, with the reason.

use rusqlite::{Connection, OptionalExtension, params};
use shared_core::derive;
use shared_core::ports::{ChangeState, DeliveryState, Trace, TraceChange, TraceDelivery, TraceEvent};

use crate::EmbeddedError;
use crate::router::RawRecord;

pub(super) fn read(
    conn: &Connection,
    tenant: Option<&str>,
    task_id: &str,
    version: Option<u64>,
) -> Result<Option<Trace>, EmbeddedError> {
    let snapshot = conn.unchecked_transaction()?;
    let trace = read_in(&snapshot, tenant, task_id, version)?;
    snapshot.finish()?;
    Ok(trace)
}

fn read_in(
    conn: &Connection,
    tenant: Option<&str>,
    task_id: &str,
    version: Option<u64>,
) -> Result<Option<Trace>, EmbeddedError> {
    let records: Vec<(i64, RawRecord)> = conn
        .prepare_cached(
            "SELECT seq, tenant, aggregate_type, aggregate_id, aggregate_version, at, correlation_id, actor, old_image, new_image
             FROM change_log WHERE aggregate_id = ?1 AND aggregate_type = 'task' AND (?2 IS NULL OR tenant = ?2)
             AND (?3 IS NULL OR aggregate_version = ?3) ORDER BY seq",
        )?
        .query_map(params![task_id, tenant, version.map(|v| i64::try_from(v).unwrap_or(i64::MAX))], |r| {
            Ok((r.get(0)?, RawRecord::from_row(r)?))
        })?
        .collect::<Result<_, _>>()?;
    if records.is_empty() {
        return Ok(None);
    }
    let routed: i64 =
        conn.query_row("SELECT seq FROM cursors WHERE name = 'router'", [], |r| r.get(0)).optional()?.unwrap_or(0);
    let cursors: Vec<(String, i64)> = conn
        .prepare_cached("SELECT name, seq FROM consumer_cursors ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut changes = Vec::with_capacity(records.len());
    for (seq, raw) in records {
        let (version, at, correlation_id, actor) =
            (raw.aggregate_version, raw.at.clone(), raw.correlation_id.clone(), raw.actor.clone());
        let parked: Option<String> = conn
            .prepare_cached("SELECT reason FROM router_dead_letters WHERE seq = ?1")?
            .query_row([seq], |r| r.get(0))
            .optional()?;
        let (state, reason) = match parked {
            Some(reason) => (ChangeState::Parked, Some(reason)),
            None if seq > routed => (ChangeState::Pending, None),
            None => (ChangeState::Routed, None),
        };
        // A record the router could not derive from has no events; its reason says why.
        let derived = raw.decode().and_then(|r| derive(r).map_err(|e| e.to_string()));
        let mut events = Vec::new();
        for event in derived.unwrap_or_default() {
            let envelope = event.to_envelope().map_err(|e| EmbeddedError::Corrupt(e.to_string()))?;
            let event_id = envelope.event_id.to_string();
            let archived: Option<i64> = conn
                .prepare_cached("SELECT seq FROM archive WHERE event_id = ?1")?
                .query_row([&event_id], |r| r.get(0))
                .optional()?;
            let mut deliveries = Vec::new();
            if let Some(at_seq) = archived {
                for consumer in events_schema::routing::consumers_of(&envelope.event_type) {
                    let Some((_, cursor)) = cursors.iter().find(|(n, _)| n == consumer) else { continue };
                    deliveries.push(delivery(conn, consumer, at_seq, *cursor)?);
                }
            }
            events.push(TraceEvent {
                event_id,
                event_type: envelope.event_type,
                schema_version: envelope.schema_version,
                archived: archived.is_some(),
                deliveries,
            });
        }
        changes.push(TraceChange { version, at, correlation_id, actor, state, reason, events });
    }
    Ok(Some(Trace { task_id: task_id.to_owned(), changes }))
}

/// Where the event at archive position `seq` stands for `consumer`, whose cursor is at
/// `cursor`: a dead letter or a retry wins over the cursor having moved past it.
fn delivery(conn: &Connection, consumer: &str, seq: i64, cursor: i64) -> Result<TraceDelivery, EmbeddedError> {
    let dead: Option<String> = conn
        .prepare_cached(
            "SELECT reason FROM consumer_dead_letters WHERE consumer = ?1 AND seq = ?2 ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![consumer, seq], |r| r.get(0))
        .optional()?;
    let retrying: Option<String> = conn
        .prepare_cached("SELECT last_error FROM consumer_retries WHERE consumer = ?1 AND seq = ?2")?
        .query_row(params![consumer, seq], |r| r.get(0))
        .optional()?;
    let (state, reason) = match (retrying, dead) {
        (Some(reason), _) => (DeliveryState::Retrying, Some(reason)),
        (None, Some(reason)) => (DeliveryState::DeadLettered, Some(reason)),
        (None, None) if cursor >= seq => (DeliveryState::Applied, None),
        (None, None) => (DeliveryState::Pending, None),
    };
    Ok(TraceDelivery { consumer: consumer.to_owned(), state, reason })
}
