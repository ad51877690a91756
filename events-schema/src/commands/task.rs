use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::payload;
use super::refs::{ExpectedVersion, TaskRef};
use crate::events::{Priority, TaskStatus};

/// Asks for a new task. With `externalKey`, the task is linked to that key in the same write,
/// so later commands can name it by the key (a key names one task of a tenant, for good).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskCreateRequested {
    /// The publisher's own name for the task (`PR-123`, `github:acme/web#123`): 1 to 200
    /// visible characters, no white space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_key: Option<String>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `medium` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporter: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// A calendar date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub due_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_points: Option<u32>,
}
payload!(TaskCreateRequested, "TaskCreateRequested", 1);

/// Asks for a task to move to a status (a Git integration: "pull request opened" →
/// `in_review`). Applied only if the task is at `expectedVersion` (or at whatever version it
/// has, for `"latest"`), and only along the allowed status moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskStatusRequested {
    pub task: TaskRef,
    pub status: TaskStatus,
    pub expected_version: ExpectedVersion,
}
payload!(TaskStatusRequested, "TaskStatusRequested", 1);

/// Asks for a comment on a task, written by the command's actor; `@name` mentions are picked
/// out as for comments made through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskCommentRequested {
    pub task: TaskRef,
    /// 1 to 5 000 characters, not blank.
    pub body: String,
}
payload!(TaskCommentRequested, "TaskCommentRequested", 1);
