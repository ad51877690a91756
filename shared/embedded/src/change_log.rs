//! The change log: one row per committed write, appended in the write's own transaction.

use events_schema::{AggregateType, Timestamp};
use rusqlite::{Connection, params};

use crate::EmbeddedError;

/// A change record as the log stores it: the images are the snapshot texts the write already
/// produced (new) or read (old), so logging a write encodes nothing a second time.
pub(crate) struct ChangeRow<'a> {
    pub tenant: &'a str,
    pub aggregate_type: AggregateType,
    pub aggregate_id: &'a str,
    pub aggregate_version: u64,
    pub at: Timestamp,
    pub correlation_id: &'a str,
    pub actor: &'a str,
    pub old: Option<&'a str>,
    pub new: Option<&'a str>,
}

pub(crate) fn append_change(tx: &Connection, row: &ChangeRow<'_>) -> Result<(), EmbeddedError> {
    tx.prepare_cached(
        "INSERT INTO change_log (tenant, aggregate_type, aggregate_id, aggregate_version, at, correlation_id, actor, old_image, new_image)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        row.tenant,
        row.aggregate_type.as_str(),
        row.aggregate_id,
        row.aggregate_version,
        row.at.to_string(),
        row.correlation_id,
        row.actor,
        row.old,
        row.new
    ])?;
    Ok(())
}
