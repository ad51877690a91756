//! Every (event type, version) and every (command type, version) ever shipped, with its
//! JSON Schema: the source of the committed schema files, of `taskstream schema export`,
//! and the list the golden-fixture tests walk.

use schemars::{Schema, schema_for};

use crate::Envelope;
use crate::commands::{
    CommandEnvelope, CommandPayload, TaskCommentRequested, TaskCreateRequested, TaskStatusRequested,
};
use crate::events::*;

/// Whether an entry is an event taskstream emits or a command it takes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Event,
    Command,
}

impl Kind {
    /// The folder of this kind's schemas and goldens: events at the top, commands in
    /// `commands/`.
    pub fn folder(&self) -> &'static str {
        match self {
            Kind::Event => "",
            Kind::Command => "commands/",
        }
    }
}

pub struct CatalogEntry {
    pub kind: Kind,
    /// The event type, or the command type: on the bus, either is the `detail-type`.
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

    /// The entry's schema file, relative to the schema folder.
    pub fn schema_path(&self) -> String {
        format!("{}{}.schema.json", self.kind.folder(), self.file_stem())
    }

    /// The entry's golden fixture, relative to the fixture folder.
    pub fn golden_path(&self) -> String {
        format!("{}{}.json", self.kind.folder(), self.file_stem())
    }
}

macro_rules! catalog {
    ($name:ident, $kind:ident, $trait:ident, $type_const:ident: $($ty:ty),+ $(,)?) => {
        pub fn $name() -> Vec<CatalogEntry> {
            vec![$(CatalogEntry {
                kind: Kind::$kind,
                event_type: <$ty as $trait>::$type_const,
                version: <$ty as $trait>::VERSION,
                schema: || schema_for!($ty),
                parse_exact: |v| serde_json::from_value::<$ty>(v).map(|_| ()),
            },)+]
        }
    };
}

// Every event payload version, old ones included.
catalog!(
    entries, Event, EventPayload, EVENT_TYPE:
    TaskCreated,
    TaskUpdated,
    TaskStatusChangedV1,
    TaskStatusChanged,
    TaskAssigned,
    TaskCompleted,
    TaskDeleted,
    TaskEscalated,
    CommentAdded,
    CategoryCreated,
    CategoryUpdated,
    CategoryDeleted,
    ProjectCreated,
    ProjectUpdated,
    SprintCreated,
    SprintStarted,
    SprintClosed,
    SprintSummarized,
);

// Every command payload version, old ones included.
catalog!(
    command_entries, Command, CommandPayload, COMMAND_TYPE:
    TaskCreateRequested,
    TaskStatusRequested,
    TaskCommentRequested,
);

pub fn envelope_schema() -> Schema {
    schema_for!(Envelope)
}

pub fn command_envelope_schema() -> Schema {
    schema_for!(CommandEnvelope)
}

/// The envelope schema files, relative to the schema folder, with their schemas.
pub fn envelope_schemas() -> Vec<(String, Schema)> {
    vec![
        ("envelope.schema.json".to_owned(), envelope_schema()),
        (format!("{}envelope.schema.json", Kind::Command.folder()), command_envelope_schema()),
    ]
}

/// Every schema file of the contract, relative to the schema folder, in a stable order:
/// what `schemas/` holds and what `taskstream schema export --format jsonschema` writes.
pub fn schema_files() -> Vec<(String, Schema)> {
    let entries = entries().into_iter().chain(command_entries());
    let mut files: Vec<(String, Schema)> = entries.map(|e| (e.schema_path(), (e.schema)())).collect();
    files.extend(envelope_schemas());
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// The schema of one payload version, if it exists.
pub fn schema_of(event_type: &str, version: u32) -> Option<Schema> {
    entries().into_iter().find(|e| e.event_type == event_type && e.version == version).map(|e| (e.schema)())
}
