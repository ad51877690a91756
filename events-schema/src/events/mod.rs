//! Every event the backbone emits, in every version it has had.
//!
//! A payload struct is frozen once shipped: a change that would break a reader is a new
//! version (a new struct) plus an upcaster from the previous one (see `upcast.rs`). The
//! committed JSON Schemas and golden fixtures make the build fail when a shipped shape drifts.

mod category;
mod comment;
mod project;
mod snapshots;
mod sprint;
mod task;

pub use category::{CategoryCreated, CategoryDeleted, CategoryUpdated};
pub use comment::CommentAdded;
pub use project::{ProjectCreated, ProjectUpdated};
pub use snapshots::{
    CategorySnapshot, CommentSnapshot, Escalation, Priority, ProjectSnapshot, SprintSnapshot, SprintStatus,
    SprintSummary, TaskSnapshot, TaskStatus,
};
pub use sprint::{SprintClosed, SprintCreated, SprintStarted, SprintSummarized};
pub use task::{
    TaskAssigned, TaskCompleted, TaskCreated, TaskDeleted, TaskEscalated, TaskStatusChanged, TaskStatusChangedV1,
    TaskUpdated,
};

use crate::AggregateType;
use crate::upcast::SchemaError;

/// A payload type: its name on the wire, its version and the aggregate it belongs to.
pub trait EventPayload: serde::Serialize + serde::de::DeserializeOwned + schemars::JsonSchema {
    const EVENT_TYPE: &'static str;
    const VERSION: u32;
    const AGGREGATE: AggregateType;
}

macro_rules! event_data {
    ($($variant:ident),+ $(,)?) => {
        /// The latest version of every event.
        #[derive(Debug, Clone, PartialEq)]
        pub enum EventData {
            $($variant($variant),)+
        }

        impl EventData {
            /// Every event type, in a stable order.
            pub const TYPES: &'static [&'static str] = &[$(<$variant as EventPayload>::EVENT_TYPE,)+];

            pub fn event_type(&self) -> &'static str {
                match self { $(EventData::$variant(_) => <$variant as EventPayload>::EVENT_TYPE,)+ }
            }

            pub fn schema_version(&self) -> u32 {
                match self { $(EventData::$variant(_) => <$variant as EventPayload>::VERSION,)+ }
            }

            pub fn aggregate_type(&self) -> AggregateType {
                match self { $(EventData::$variant(_) => <$variant as EventPayload>::AGGREGATE,)+ }
            }

            /// Writes the payload itself (not a tagged enum): the envelope's `data`.
            pub(crate) fn serialize_payload<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self { $(EventData::$variant(d) => serde::Serialize::serialize(d, serializer),)+ }
            }

            pub fn to_json(&self) -> Result<serde_json::Value, SchemaError> {
                let value = match self { $(EventData::$variant(d) => serde_json::to_value(d),)+ };
                value.map_err(|source| SchemaError::Encode {
                    event_type: self.event_type().to_owned(),
                    source,
                })
            }

            /// The latest version of `event_type`, if it is one of ours.
            pub fn latest_version(event_type: &str) -> Option<u32> {
                match event_type {
                    $(<$variant as EventPayload>::EVENT_TYPE => Some(<$variant as EventPayload>::VERSION),)+
                    _ => None,
                }
            }

            /// Decodes a payload that is already in the latest version.
            pub(crate) fn decode_latest(
                event_type: &str,
                data: serde_json::Value,
            ) -> Result<Self, SchemaError> {
                fn parse<T: EventPayload>(data: serde_json::Value) -> Result<T, SchemaError> {
                    serde_json::from_value(data).map_err(|source| SchemaError::Decode {
                        event_type: T::EVENT_TYPE.to_owned(),
                        version: T::VERSION,
                        source,
                    })
                }
                match event_type {
                    $(<$variant as EventPayload>::EVENT_TYPE => parse::<$variant>(data).map(EventData::$variant),)+
                    other => Err(SchemaError::UnknownEventType(other.to_owned())),
                }
            }
        }
    };
}

event_data!(
    TaskCreated,
    TaskUpdated,
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

/// Implements [`EventPayload`] for a payload struct.
macro_rules! payload {
    ($ty:ty, $name:literal, $version:literal, $aggregate:ident) => {
        impl $crate::events::EventPayload for $ty {
            const EVENT_TYPE: &'static str = $name;
            const VERSION: u32 = $version;
            const AGGREGATE: $crate::AggregateType = $crate::AggregateType::$aggregate;
        }
    };
}
pub(crate) use payload;
