//! The change log: one row per committed write, appended in the write's own transaction.

use rusqlite::{Connection, params};
use shared_core::ChangeRecord;

use crate::EmbeddedError;

pub(crate) fn append_change(tx: &Connection, record: &ChangeRecord) -> Result<(), EmbeddedError> {
    let old = record.old.as_ref().map(serde_json::to_string).transpose()?;
    let new = record.new.as_ref().map(serde_json::to_string).transpose()?;
    tx.prepare_cached(
        "INSERT INTO change_log (tenant, aggregate_type, aggregate_id, aggregate_version, at, correlation_id, actor, old_image, new_image)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        record.tenant,
        record.aggregate_type.as_str(),
        record.aggregate_id,
        record.aggregate_version,
        record.at.to_string(),
        record.correlation_id,
        record.actor,
        old,
        new
    ])?;
    Ok(())
}
