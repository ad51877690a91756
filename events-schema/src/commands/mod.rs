//! Inbound commands: what internal services ask of taskstream (create a task, move it to a
//! status, comment on it), published on the bus under their own source, sent to `POST
//! /ingest`, or written one a line for `taskstream publish`.
//!
//! Commands are not events. Nothing downstream reads them: ingest validates each one and
//! applies it to the store as a conditional write, and the usual events follow from that
//! change like from any other. They are versioned like events all the same (a payload struct
//! is frozen once shipped; a change that would break a publisher is a new version), with
//! committed JSON Schemas and golden fixtures of their own.

mod refs;
mod task;

pub use refs::{ExpectedVersion, TaskRef};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
pub use task::{TaskCommentRequested, TaskCreateRequested, TaskStatusRequested};

use crate::Timestamp;

/// A command payload type: its name on the wire (also the bus `detail-type`) and its version.
pub trait CommandPayload: serde::Serialize + serde::de::DeserializeOwned + schemars::JsonSchema {
    const COMMAND_TYPE: &'static str;
    const VERSION: u32;
}

/// Implements [`CommandPayload`] for a payload struct.
macro_rules! payload {
    ($ty:ty, $name:literal, $version:literal) => {
        impl $crate::commands::CommandPayload for $ty {
            const COMMAND_TYPE: &'static str = $name;
            const VERSION: u32 = $version;
        }
    };
}
pub(crate) use payload;

/// What went wrong reading or writing a command, naming the command type and version.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("unknown command type {0:?} (known: {known})", known = CommandData::TYPES.join(", "))]
    UnknownCommandType(String),
    #[error("{command_type} has no schema version {version} (supported: {latest})")]
    UnsupportedVersion { command_type: String, version: u32, latest: u32 },
    #[error("{command_type} v{version} payload does not match its schema: {source}")]
    Decode { command_type: String, version: u32, source: serde_json::Error },
    #[error("{command_type} could not be encoded: {source}")]
    Encode { command_type: String, source: serde_json::Error },
}

macro_rules! command_data {
    ($($variant:ident),+ $(,)?) => {
        /// The latest version of every command.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum CommandData {
            $($variant($variant),)+
        }

        impl CommandData {
            /// Every command type, in a stable order.
            pub const TYPES: &'static [&'static str] = &[$(<$variant as CommandPayload>::COMMAND_TYPE,)+];

            pub fn command_type(&self) -> &'static str {
                match self { $(CommandData::$variant(_) => <$variant as CommandPayload>::COMMAND_TYPE,)+ }
            }

            pub fn schema_version(&self) -> u32 {
                match self { $(CommandData::$variant(_) => <$variant as CommandPayload>::VERSION,)+ }
            }

            /// The latest version of `command_type`, if it is one of ours.
            pub fn latest_version(command_type: &str) -> Option<u32> {
                match command_type {
                    $(<$variant as CommandPayload>::COMMAND_TYPE => Some(<$variant as CommandPayload>::VERSION),)+
                    _ => None,
                }
            }

            pub fn to_json(&self) -> Result<serde_json::Value, CommandError> {
                let value = match self { $(CommandData::$variant(d) => serde_json::to_value(d),)+ };
                value.map_err(|source| CommandError::Encode { command_type: self.command_type().to_owned(), source })
            }

            /// Reads `data`, written as `version` of `command_type`. Every command is at its
            /// first version, so only the latest is accepted; a second version will come with
            /// an upcaster from the first, as events do (`upcast.rs`).
            pub fn decode(command_type: &str, version: u32, data: serde_json::Value) -> Result<Self, CommandError> {
                fn parse<T: CommandPayload>(data: serde_json::Value) -> Result<T, CommandError> {
                    serde_json::from_value(data).map_err(|source| CommandError::Decode {
                        command_type: T::COMMAND_TYPE.to_owned(),
                        version: T::VERSION,
                        source,
                    })
                }
                let latest = Self::latest_version(command_type)
                    .ok_or_else(|| CommandError::UnknownCommandType(command_type.to_owned()))?;
                if version != latest {
                    return Err(CommandError::UnsupportedVersion {
                        command_type: command_type.to_owned(),
                        version,
                        latest,
                    });
                }
                match command_type {
                    $(<$variant as CommandPayload>::COMMAND_TYPE => parse::<$variant>(data).map(CommandData::$variant),)+
                    other => Err(CommandError::UnknownCommandType(other.to_owned())),
                }
            }
        }

        $(impl From<$variant> for CommandData {
            fn from(payload: $variant) -> Self {
                CommandData::$variant(payload)
            }
        })+
    };
}

command_data!(TaskCreateRequested, TaskStatusRequested, TaskCommentRequested);

/// The wire form of a command: the bus event's `detail` (whose `detail-type` is the
/// `commandType`), one line of `taskstream publish`'s input, one item of `POST /ingest`.
/// `data` is whatever version `schemaVersion` names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandEnvelope {
    /// Chosen by the publisher, unique per command: the idempotency key. A command whose id
    /// was applied before does nothing (deduplicated for at least 24 hours).
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[\x21-\x7e]+$"))]
    pub command_id: String,
    pub command_type: String,
    /// The version of `data`'s shape, numbered as the command schemas are (1, 2, …).
    // The bound is declared so that clients generated from the schema never send a number
    // the field cannot hold (`format: uint32` alone is not enforced by most validators).
    #[schemars(range(max = 4_294_967_295u32))]
    pub schema_version: u32,
    /// When the publisher issued the command; informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_at: Option<Timestamp>,
    /// The tenant the publisher means. Never the source of the tenant (that is the
    /// publisher's identity): a command naming another tenant than its publisher's is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Who asked, at the publisher (a user name, recorded as the change's actor and a
    /// comment's author); the publisher's own name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Carried into the change and every event it derives; the command id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    pub data: serde_json::Value,
}

/// Everything about a command but its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandMeta {
    pub command_id: String,
    pub issued_at: Option<Timestamp>,
    pub tenant: Option<String>,
    pub actor: Option<String>,
    pub correlation_id: Option<String>,
}

impl CommandMeta {
    pub fn new(command_id: impl Into<String>) -> Self {
        Self { command_id: command_id.into(), issued_at: None, tenant: None, actor: None, correlation_id: None }
    }
}

/// A decoded command in its latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub meta: CommandMeta,
    pub data: CommandData,
}

impl Command {
    pub fn command_type(&self) -> &'static str {
        self.data.command_type()
    }

    /// Reads a command of any supported version.
    pub fn from_envelope(envelope: CommandEnvelope) -> Result<Self, CommandError> {
        let data = CommandData::decode(&envelope.command_type, envelope.schema_version, envelope.data)?;
        Ok(Self {
            meta: CommandMeta {
                command_id: envelope.command_id,
                issued_at: envelope.issued_at,
                tenant: envelope.tenant,
                actor: envelope.actor,
                correlation_id: envelope.correlation_id,
            },
            data,
        })
    }

    /// The wire form, always in the latest schema version.
    pub fn to_envelope(&self) -> Result<CommandEnvelope, CommandError> {
        let m = &self.meta;
        Ok(CommandEnvelope {
            command_id: m.command_id.clone(),
            command_type: self.command_type().to_owned(),
            schema_version: self.data.schema_version(),
            issued_at: m.issued_at,
            tenant: m.tenant.clone(),
            actor: m.actor.clone(),
            correlation_id: m.correlation_id.clone(),
            data: self.data.to_json()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::TaskStatus;
    use serde_json::json;

    fn envelope(command_type: &str, version: u32, data: serde_json::Value) -> CommandEnvelope {
        CommandEnvelope {
            command_id: "c-1".into(),
            command_type: command_type.into(),
            schema_version: version,
            issued_at: None,
            tenant: None,
            actor: None,
            correlation_id: None,
            data,
        }
    }

    #[test]
    fn a_command_reads_back_as_it_was_written() {
        let command = Command {
            meta: CommandMeta::new("c-1"),
            data: TaskStatusRequested {
                task: TaskRef::external_key("PR-123"),
                status: TaskStatus::InReview,
                expected_version: ExpectedVersion::Latest,
            }
            .into(),
        };
        let wire = command.to_envelope().unwrap();
        assert_eq!(wire.command_type, "TaskStatusRequested");
        assert_eq!(
            wire.data,
            json!({ "task": { "externalKey": "PR-123" }, "status": "in_review", "expectedVersion": "latest" })
        );
        assert_eq!(Command::from_envelope(wire).unwrap(), command);
    }

    #[test]
    fn unknown_types_versions_and_fields_are_named() {
        let err = Command::from_envelope(envelope("TaskExplodeRequested", 1, json!({}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown command type \"TaskExplodeRequested\" (known: TaskCreateRequested, TaskStatusRequested, \
             TaskCommentRequested)"
        );
        let err = Command::from_envelope(envelope("TaskCommentRequested", 2, json!({}))).unwrap_err();
        assert_eq!(err.to_string(), "TaskCommentRequested has no schema version 2 (supported: 1)");
        let data = json!({ "task": { "id": "t1" }, "body": "hi", "author": "me" });
        let err = Command::from_envelope(envelope("TaskCommentRequested", 1, data)).unwrap_err();
        assert!(err.to_string().contains("unknown field `author`"), "{err}");
    }
}
