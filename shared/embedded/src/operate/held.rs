//! Whether a consumer already holds what an event would write: the version fence each
//! embedded consumer's own records keep, read without applying anything. A replay skips such
//! events (counted as unchanged) and its dry run counts them the same way, so the plan and
//! the run agree. A consumer whose records are not kept here is never assumed to hold one.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use crate::EmbeddedError;

/// The envelope fields the fences read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail<'a> {
    tenant: std::borrow::Cow<'a, str>,
    aggregate_type: std::borrow::Cow<'a, str>,
    aggregate_id: std::borrow::Cow<'a, str>,
    aggregate_version: u64,
    event_type: std::borrow::Cow<'a, str>,
}

#[derive(Deserialize)]
struct Bus<'a> {
    #[serde(borrow)]
    detail: Detail<'a>,
}

/// The event types the search indexer writes for; it ignores the others.
const SEARCH_TYPES: [&str; 6] =
    ["TaskAssigned", "TaskCompleted", "TaskCreated", "TaskDeleted", "TaskStatusChanged", "TaskUpdated"];

/// Per-read state: whether the search index's tables exist yet (made on first use).
pub(crate) struct Fences {
    search_tables: bool,
}

impl Fences {
    pub(crate) fn new(conn: &Connection) -> Result<Self, EmbeddedError> {
        let search_tables = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_tombstones')",
            [],
            |r| r.get(0),
        )?;
        Ok(Self { search_tables })
    }

    /// True when `consumer` already holds `body`'s event at its version or a later one.
    /// An event that cannot be read is not held: the consumer's own decoding rejects it with
    /// a reason.
    pub(crate) fn holds(&self, conn: &Connection, consumer: &str, body: &str) -> Result<bool, EmbeddedError> {
        let Ok(Bus { detail: d }) = serde_json::from_str::<Bus<'_>>(body) else { return Ok(false) };
        let version = i64::try_from(d.aggregate_version).unwrap_or(i64::MAX);
        match consumer {
            events_schema::routing::AUDIT_HISTORY => {
                if d.aggregate_type != "task" {
                    return Ok(true);
                }
                Ok(conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM history WHERE tenant = ?1 AND task_id = ?2 AND version = ?3 AND event_type = ?4)",
                    )?
                    .query_row(params![d.tenant, d.aggregate_id, version, d.event_type], |r| r.get(0))?)
            }
            events_schema::routing::SEARCH_INDEXER => {
                if !SEARCH_TYPES.contains(&d.event_type.as_ref()) {
                    return Ok(true);
                }
                if !self.search_tables {
                    return Ok(false);
                }
                let fence: Option<i64> = conn
                    .prepare_cached(
                        "SELECT MAX(v) FROM (SELECT version AS v FROM search_docs WHERE tenant = ?1 AND id = ?2
                         UNION ALL SELECT version FROM search_tombstones WHERE tenant = ?1 AND id = ?2)",
                    )?
                    .query_row(params![d.tenant, d.aggregate_id], |r| r.get(0))
                    .optional()?
                    .flatten();
                Ok(fence.is_some_and(|f| f >= version))
            }
            _ => Ok(false),
        }
    }
}
