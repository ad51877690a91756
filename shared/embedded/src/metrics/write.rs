//! Idempotent writes of metric records: one point per event, written once.

use rusqlite::{Connection, OptionalExtension, params};
use shared_core::metrics::MetricRecord;
use shared_core::ports::{RecordRejection, Rejected};

use crate::EmbeddedError;

/// A record's identity: with the version in it, two changes of one task in the same
/// millisecond stay two points, while a redelivered event meets its own point again.
const KEY: &str =
    "tenant, aggregate_id, event_type, measure_name, time_ms, project, sprint, assignee, priority, category, version";

/// Writes each record unless its point is stored already, in the caller's transaction. A
/// record not written is answered as already stored, with the stored version: what Timestream
/// answers for a point it holds.
pub(crate) fn upsert(tx: &Connection, records: &[MetricRecord]) -> Result<Vec<Rejected>, EmbeddedError> {
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO metric_records ({KEY}, events, status_from, status_to, seconds_in_previous_status,
             cycle_time_seconds, completed_points, estimate_points, overdue, wip_delta)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
         ON CONFLICT ({KEY}) DO NOTHING"
    ))?;
    let mut stored = tx.prepare_cached(&format!(
        "SELECT version FROM metric_records WHERE ({KEY}) = (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?;
    let mut rejected = Vec::new();
    for (index, r) in records.iter().enumerate() {
        let d = &r.dimensions;
        let m = &r.measures;
        let key = params![
            d.tenant,
            d.aggregate_id,
            d.event_type,
            r.measure_name,
            r.time_ms,
            d.project.as_deref().unwrap_or(""),
            d.sprint.as_deref().unwrap_or(""),
            d.assignee.as_deref().unwrap_or(""),
            d.priority.unwrap_or(""),
            d.category.as_deref().unwrap_or(""),
            r.version,
        ];
        let changed = insert.execute(params![
            d.tenant,
            d.aggregate_id,
            d.event_type,
            r.measure_name,
            r.time_ms,
            d.project.as_deref().unwrap_or(""),
            d.sprint.as_deref().unwrap_or(""),
            d.assignee.as_deref().unwrap_or(""),
            d.priority.unwrap_or(""),
            d.category.as_deref().unwrap_or(""),
            r.version,
            m.events,
            m.status_from,
            m.status_to,
            m.seconds_in_previous_status,
            m.cycle_time_seconds,
            m.completed_points,
            m.estimate_points,
            m.overdue,
            m.wip_delta,
        ])?;
        if changed == 0 {
            let existing_version: Option<u64> = stored.query_row(key, |row| row.get(0)).optional()?;
            rejected.push(Rejected { index, rejection: RecordRejection::AlreadyStored { existing_version } });
        }
    }
    Ok(rejected)
}
