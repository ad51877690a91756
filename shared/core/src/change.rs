//! A change record: what one committed write did to one aggregate. The store writes exactly
//! one per committed write, in the same transaction (DynamoDB Streams or the SQLite change
//! log); the router derives events from it.

use events_schema::{AggregateType, Timestamp};

use crate::ports::Aggregate;

/// The images are typed snapshots: each engine decodes its own stored form (DynamoDB
/// attribute maps, SQLite JSON text) straight into them, so derivation never re-parses.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub tenant: String,
    pub aggregate_type: AggregateType,
    pub aggregate_id: String,
    /// The aggregate's version after the change; a delete is one past the last version.
    pub aggregate_version: u64,
    pub at: Timestamp,
    pub correlation_id: String,
    pub actor: String,
    /// The image before the write (`None` for a create).
    pub old: Option<Aggregate>,
    /// The image after the write (`None` for a delete).
    pub new: Option<Aggregate>,
}
