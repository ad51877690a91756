//! The embedded bus: every event is archived, then fanned out by the routing table to the
//! registered queues, all inside the caller's transaction.

use events_schema::{BridgeEvent, DomainEvent, routing};
use rusqlite::{Connection, params};

use crate::EmbeddedError;
use crate::db::now_ms;

/// Archives and enqueues `events`; returns the queues that received something.
pub(crate) fn publish(tx: &Connection, events: &[DomainEvent]) -> Result<Vec<String>, EmbeddedError> {
    let registered: Vec<String> = {
        let mut stmt = tx.prepare_cached("SELECT name FROM queues")?;
        stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    let now = now_ms();
    let mut touched = Vec::new();
    for event in events {
        let envelope = event.to_envelope().map_err(|e| EmbeddedError::Corrupt(e.to_string()))?;
        let body = serde_json::to_string(&BridgeEvent::wrap(&envelope)?)?;
        let id = envelope.event_id.to_string();
        tx.prepare_cached(
            "INSERT OR IGNORE INTO archive (event_id, detail_type, tenant, occurred_at, archived_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            id,
            envelope.event_type,
            envelope.tenant,
            envelope.occurred_at.to_string(),
            now,
            body
        ])?;
        for consumer in routing::consumers_of(&envelope.event_type) {
            if !registered.iter().any(|q| q == consumer) {
                continue;
            }
            crate::queue::enqueue(tx, consumer, &id, &body, now)?;
            if !touched.iter().any(|q: &String| q == consumer) {
                touched.push(consumer.to_owned());
            }
        }
    }
    Ok(touched)
}
