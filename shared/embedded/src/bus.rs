//! The embedded bus: every event is archived, inside the caller's transaction. Consumers
//! read the archive through their own cursors (see `queue`), so fanning an event out costs
//! nothing per consumer; the routing table decides, at read time, who takes which event.
//!
//! Encoding an event is the costly half of archiving it, so it is done apart ([`encode`],
//! on any thread) from the insert ([`archive`], on the writer).

use events_schema::{BridgeEvent, DomainEvent, routing};
use rusqlite::{Connection, params};

use crate::EmbeddedError;
use crate::db::now_ms;

/// An event as the archive stores it, encoded and ready to insert.
pub(crate) struct ArchiveRow {
    event_id: String,
    detail_type: String,
    tenant: String,
    occurred_at: String,
    body: String,
}

/// Encodes `events` for the archive; adds the consumers the routing table sends them to
/// (to wake once they are archived) to `touched`.
pub(crate) fn encode(events: &[DomainEvent], touched: &mut Vec<&'static str>) -> Result<Vec<ArchiveRow>, String> {
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let body = BridgeEvent::encode(event).map_err(|e| e.to_string())?;
        let event_type = event.event_type();
        for consumer in routing::consumers_of(event_type) {
            if !touched.contains(&consumer) {
                touched.push(consumer);
            }
        }
        rows.push(ArchiveRow {
            event_id: event.meta.event_id.to_string(),
            detail_type: event_type.to_owned(),
            tenant: event.meta.tenant.clone(),
            occurred_at: event.meta.occurred_at.to_string(),
            body,
        });
    }
    Ok(rows)
}

/// Archives encoded events; an event archived before (same id) is left as it was.
pub(crate) fn archive(tx: &Connection, rows: &[ArchiveRow]) -> Result<(), EmbeddedError> {
    let now = now_ms();
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO archive (event_id, detail_type, tenant, occurred_at, archived_ms, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for row in rows {
        insert.execute(params![row.event_id, row.detail_type, row.tenant, row.occurred_at, now, row.body])?;
    }
    Ok(())
}
