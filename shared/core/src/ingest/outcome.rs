//! What a command did, or why it was refused.

use serde::{Deserialize, Serialize};

use crate::domain::FieldError;

/// What an applied command did; also the body of its receipt, so a second delivery reports
/// what the first one did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub command_id: String,
    pub result: Effect,
    /// The task the command created or changed, or commented on.
    pub task_id: String,
    /// The task's version after the command (for a comment: the version it was found at).
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<String>,
    /// This delivery found the command applied before, and did nothing.
    #[serde(default)]
    pub duplicate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The command changed the store.
    Applied,
    /// The task already was as asked (a status it had): nothing to change, no new version.
    Unchanged,
}

/// Why a command was refused. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
    /// The fields at fault, for [`Reason::Invalid`].
    pub fields: Vec<FieldError>,
    /// The task's version, for [`Reason::StaleVersion`].
    pub current_version: Option<u64>,
}

impl Rejection {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into(), fields: Vec::new(), current_version: None }
    }

    pub fn invalid(fields: Vec<FieldError>) -> Self {
        let message = fields.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        Self { reason: Reason::Invalid, message, fields, current_version: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Not a command: bad JSON, or not the command envelope.
    Malformed,
    /// An unknown command type or version, or a payload that breaks its schema or rules.
    Invalid,
    /// The publisher's role may not write tasks.
    Forbidden,
    /// The command names another tenant than its publisher's.
    WrongTenant,
    /// No task of the publisher's tenant has this id or external key.
    TaskNotFound,
    /// The task is not at the version the command expects.
    StaleVersion,
    /// The status rules forbid the move.
    IllegalTransition,
    /// The external key of a create already names a task.
    ExternalKeyTaken,
    /// The command id was used before for another command.
    CommandIdReused,
    /// The store failed or refused for load; the same command may succeed later.
    Unavailable,
    /// Stored data could not be read.
    Internal,
}

impl Reason {
    /// The code a rejection carries on the wire (per-line results, dead-letter reasons).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::Invalid => "invalid",
            Reason::Forbidden => "forbidden",
            Reason::WrongTenant => "wrong_tenant",
            Reason::TaskNotFound => "task_not_found",
            Reason::StaleVersion => "stale_version",
            Reason::IllegalTransition => "illegal_transition",
            Reason::ExternalKeyTaken => "external_key_taken",
            Reason::CommandIdReused => "command_id_reused",
            Reason::Unavailable => "unavailable",
            Reason::Internal => "internal",
        }
    }

    /// Whether delivering the same command again may work: only when the store failed. Every
    /// other rejection is the command's own and repeats.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Reason::Unavailable)
    }
}
