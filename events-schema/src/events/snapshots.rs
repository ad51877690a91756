//! The state of an aggregate as events carry it.
//!
//! Events carry the whole state after the change, not only a delta: a consumer such as the
//! search indexer can then apply any single event on its own, in any order, keeping the
//! highest version, without reading the store back.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Todo,
    InProgress,
    InReview,
    Blocked,
    Done,
    Cancelled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 6] = [
        TaskStatus::Todo,
        TaskStatus::InProgress,
        TaskStatus::InReview,
        TaskStatus::Blocked,
        TaskStatus::Done,
        TaskStatus::Cancelled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            TaskStatus::Todo => "todo",
            TaskStatus::InProgress => "in_progress",
            TaskStatus::InReview => "in_review",
            TaskStatus::Blocked => "blocked",
            TaskStatus::Done => "done",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Medium,
    High,
    Critical,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Medium, Priority::High, Priority::Critical];

    pub fn as_str(&self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskSnapshot {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub status: TaskStatus,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sprint_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// A calendar date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub due_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_points: Option<u32>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When the task entered its current status; cycle-time metrics start from it.
    pub status_changed_at: Timestamp,
    /// The last escalation level the task reached; absent until one is. Only the escalation
    /// runner's conditional write sets it, never the API.
    // Boxed: most tasks never escalate, and snapshots are moved and copied often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<Box<Escalation>>,
    pub version: u64,
}

/// An escalation level a task reached, as the runner wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Escalation {
    /// 1 for the policy's first level, counting up; a task never goes back down.
    pub level: u32,
    /// The level's name in the policy (`reminder`, `due`, `overdue`, `sla`, …).
    pub name: String,
    /// The people the level tells, named when the plan was made.
    #[serde(default)]
    pub notify: Vec<String>,
    /// The version of the plan that reached it.
    pub plan: String,
    /// When the level was due, as its plan set it.
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentSnapshot {
    pub id: String,
    pub task_id: String,
    pub author: String,
    pub body: String,
    /// The user names mentioned as `@name` in the body, in order of first mention.
    #[serde(default)]
    pub mentions: Vec<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategorySnapshot {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSnapshot {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SprintStatus {
    Planned,
    Active,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SprintSnapshot {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub status: SprintStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Timestamp>,
    /// Where the sprint's unfinished tasks go when it closes: `backlog`, or the id of a
    /// planned or active sprint of the same project. Chosen when the sprint is closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carry_over_to: Option<String>,
    /// How many unfinished tasks the closing step has moved out so far. The step moves them
    /// in batches, each written together with this count, so a step that stops half-way
    /// and runs again still counts every task once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub moved_out: u32,
    /// What the sprint achieved, recorded once its unfinished tasks have moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SprintSummary>,
    pub version: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A closed sprint's outcome, as the closing step recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SprintSummary {
    /// Tasks of the sprint that were done when it closed.
    pub completed_count: u32,
    /// Their estimate points: the sprint's velocity. Tasks without an estimate count 0.
    pub completed_points: u32,
    /// Unfinished tasks moved out of the sprint (cancelled tasks stay and count nowhere).
    pub carried_over_count: u32,
    /// Where they went: `backlog`, or the id of the sprint that took them.
    pub carried_over_to: String,
    pub summarized_at: Timestamp,
}
