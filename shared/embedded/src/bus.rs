//! The embedded bus: every event is archived, inside the caller's transaction. Consumers
//! read the archive through their own cursors (see `queue`), so fanning an event out costs
//! nothing per consumer; the routing table decides, at read time, who takes which event.

use events_schema::{BridgeEvent, DomainEvent, routing};
use rusqlite::{Connection, params};

use crate::EmbeddedError;
use crate::db::now_ms;

/// Archives `events`; returns the consumers the routing table sends them to, to wake.
pub(crate) fn publish(tx: &Connection, events: &[DomainEvent]) -> Result<Vec<&'static str>, EmbeddedError> {
    let now = now_ms();
    let mut touched: Vec<&'static str> = Vec::new();
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO archive (event_id, detail_type, tenant, occurred_at, archived_ms, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for event in events {
        let envelope = event.to_envelope().map_err(|e| EmbeddedError::Corrupt(e.to_string()))?;
        let body = serde_json::to_string(&BridgeEvent::wrap(&envelope)?)?;
        insert.execute(params![
            envelope.event_id.to_string(),
            envelope.event_type,
            envelope.tenant,
            envelope.occurred_at.to_string(),
            now,
            body
        ])?;
        for consumer in routing::consumers_of(&envelope.event_type) {
            if !touched.contains(&consumer) {
                touched.push(consumer);
            }
        }
    }
    Ok(touched)
}
