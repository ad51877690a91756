use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::payload;
use super::snapshots::{Priority, TaskSnapshot, TaskStatus};
use crate::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskCreated {
    pub task: TaskSnapshot,
}
payload!(TaskCreated, "TaskCreated", 1, Task);

/// Fields other than status and assignee changed (those have their own events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskUpdated {
    /// The wire names of the fields that changed, sorted.
    pub changed_fields: Vec<String>,
    pub task: TaskSnapshot,
}
payload!(TaskUpdated, "TaskUpdated", 1, Task);

/// Version 1, as first shipped: the new status only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatusChangedV1 {
    pub task_id: String,
    pub status: TaskStatus,
    pub task: TaskSnapshot,
}
payload!(TaskStatusChangedV1, "TaskStatusChanged", 1, Task);

/// Version 2 adds where the task came from and how long it stayed there, which cycle-time
/// metrics need. Both are absent on an event upcast from version 1, which never knew them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatusChanged {
    pub task_id: String,
    pub status: TaskStatus,
    // Present but possibly null: `deserialize_with` keeps serde from treating a missing key
    // as `None`, so a producer that forgets the v2 fields is caught.
    #[serde(deserialize_with = "Option::deserialize")]
    pub previous_status: Option<TaskStatus>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub seconds_in_previous_status: Option<u64>,
    pub task: TaskSnapshot,
}
payload!(TaskStatusChanged, "TaskStatusChanged", 2, Task);

impl From<TaskStatusChangedV1> for TaskStatusChanged {
    fn from(v1: TaskStatusChangedV1) -> Self {
        Self {
            task_id: v1.task_id,
            status: v1.status,
            previous_status: None,
            seconds_in_previous_status: None,
            task: v1.task,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskAssigned {
    pub task_id: String,
    /// `None` when the task was unassigned.
    pub assignee: Option<String>,
    pub previous_assignee: Option<String>,
    pub task: TaskSnapshot,
}
payload!(TaskAssigned, "TaskAssigned", 1, Task);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskCompleted {
    pub task_id: String,
    pub completed_at: Timestamp,
    /// Seconds from creation to completion.
    pub lead_time_seconds: u64,
    pub task: TaskSnapshot,
}
payload!(TaskCompleted, "TaskCompleted", 1, Task);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDeleted {
    pub task_id: String,
    /// The state the task was in when it was deleted.
    pub task: TaskSnapshot,
}
payload!(TaskDeleted, "TaskDeleted", 1, Task);

/// A task reached a level of its escalation plan: the escalation runner's conditional write
/// recorded the level (and, where the level says so, a higher priority) on the task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskEscalated {
    pub task_id: String,
    pub level: u32,
    /// The level's name in the policy.
    pub name: String,
    /// Who the level tells.
    pub notify: Vec<String>,
    /// The priority before the level raised it; `None` when the level left it alone.
    #[serde(deserialize_with = "Option::deserialize")]
    pub previous_priority: Option<Priority>,
    pub task: TaskSnapshot,
}
payload!(TaskEscalated, "TaskEscalated", 1, Task);
