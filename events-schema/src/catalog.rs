//! Every (event type, version) ever shipped, with its JSON Schema: the source of the
//! committed schema files and the list the golden-fixture tests walk.

use schemars::{Schema, schema_for};

use crate::Envelope;
use crate::events::*;

pub struct CatalogEntry {
    pub event_type: &'static str,
    pub version: u32,
    pub schema: fn() -> Schema,
    /// Parses a payload as exactly this version (no upcasting): a golden of this version
    /// that stops parsing means a shipped shape was broken.
    pub parse_exact: fn(serde_json::Value) -> Result<(), serde_json::Error>,
}

impl CatalogEntry {
    /// The file stem used for this entry's schema and golden fixture.
    pub fn file_stem(&self) -> String {
        format!("{}.v{}", self.event_type, self.version)
    }
}

macro_rules! catalog {
    ($($ty:ty),+ $(,)?) => {
        /// Every payload version, old ones included.
        pub fn entries() -> Vec<CatalogEntry> {
            vec![$(CatalogEntry {
                event_type: <$ty as EventPayload>::EVENT_TYPE,
                version: <$ty as EventPayload>::VERSION,
                schema: || schema_for!($ty),
                parse_exact: |v| serde_json::from_value::<$ty>(v).map(|_| ()),
            },)+]
        }
    };
}

catalog!(
    TaskCreated,
    TaskUpdated,
    TaskStatusChangedV1,
    TaskStatusChanged,
    TaskAssigned,
    TaskCompleted,
    TaskDeleted,
    CommentAdded,
    CategoryCreated,
    CategoryUpdated,
    CategoryDeleted,
    ProjectCreated,
    ProjectUpdated,
    SprintCreated,
    SprintStarted,
    SprintClosed,
);

pub fn envelope_schema() -> Schema {
    schema_for!(Envelope)
}

/// The schema of one payload version, if it exists.
pub fn schema_of(event_type: &str, version: u32) -> Option<Schema> {
    entries().into_iter().find(|e| e.event_type == event_type && e.version == version).map(|e| (e.schema)())
}
