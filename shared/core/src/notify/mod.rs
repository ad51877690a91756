//! Notifications: people and their preferences, the rules that pick who is told about an
//! event, and the plan of what to record, each notification with an id that makes it
//! happen once per (event, recipient, channel).

pub mod deliver;
pub mod inline;
pub mod message;
pub mod mime;
mod people;
mod plan;
mod rules;

use events_schema::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use people::{Channel, DEFAULT_CHANNELS, Kind, Person, parse_email, parse_name, parse_slack_url};
pub use plan::{
    NOTIFICATION_ID_NAMESPACE, RENOTIFY_PREFIX, Skip, Wanted, notification_id, plan, renotify_round, summary, wanted,
};
pub use rules::{Audience, RULES, Rule, matching};

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting in the outbox for its channel's sender (email, Slack).
    Pending,
    /// Handed to its channel (in-app: recorded; email: accepted by the mail server; Slack:
    /// a 2xx from the webhook).
    Delivered,
    /// Given up on: the retry schedule is spent, or the channel refused it for good (no
    /// address, an address refused). The reason is on the row.
    Failed,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Status::Pending, Status::Delivered, Status::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// One notification to one person over one channel: a row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// [`notification_id`] of (event, recipient, channel): the dedupe key.
    pub id: Uuid,
    pub tenant: String,
    pub recipient: String,
    pub channel: Channel,
    pub kind: Kind,
    pub event_id: Uuid,
    pub event_type: String,
    pub task_id: Option<String>,
    pub sprint_id: Option<String>,
    pub actor: String,
    pub summary: String,
    pub occurred_at: Timestamp,
    pub status: Status,
    pub read_at: Option<Timestamp>,
    /// Attempts made to send it (in-app: none).
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}
