//! Publishing task commands to taskstream from a Rust service.
//!
//! Build a command with [`create_task`], [`set_status`] or [`comment`], then send it with a
//! [`Publisher`]: onto the EventBridge bus under the service's own source (on AWS, where
//! taskstream's ingest rule picks it up), or straight to a `taskstream serve` URL with an
//! API key. Either way the command's id is its idempotency key: sending the same command
//! again is harmless, so a publisher retries freely.
//!
//! ```no_run
//! # async fn run() -> Result<(), taskstream_client::PublishError> {
//! use taskstream_client::{Publisher, ServePublisher, TaskRef, TaskStatus, create_task, set_status};
//!
//! let publisher = Publisher::Serve(ServePublisher::new("http://127.0.0.1:8080", "tsk_…")?);
//! let commands = [
//!     create_task("Review PR-123").external_key("PR-123").build(),
//!     set_status(TaskRef::external_key("PR-123"), TaskStatus::InReview).build(),
//! ];
//! for delivery in publisher.publish(&commands).await? {
//!     println!("{delivery:?}");
//! }
//! # Ok(()) }
//! ```

mod builders;
mod eventbridge;
mod serve;

pub use builders::{Comment, CreateTask, SetStatus, comment, create_task, set_status};
pub use eventbridge::{Backoff, EventBridgePublisher, TASKSTREAM_SOURCE};
pub use events_schema::commands::{Command, ExpectedVersion, TaskRef};
pub use events_schema::events::{Priority, TaskStatus};
pub use serve::{BatchReport, LineError, LineResult, MAX_BATCH, ServePublisher};

use serde::Deserialize;

/// Where commands go.
#[derive(Debug, Clone)]
pub enum Publisher {
    EventBridge(EventBridgePublisher),
    Serve(ServePublisher),
}

impl Publisher {
    /// Sends `commands`; one delivery per command, in order. `Err` only when nothing could
    /// be said about the commands (no connection, a configuration taskstream refused whole).
    pub async fn publish(&self, commands: &[Command]) -> Result<Vec<Delivery>, PublishError> {
        match self {
            Publisher::EventBridge(p) => p.publish(commands).await,
            Publisher::Serve(p) => p.publish(commands).await,
        }
    }
}

/// What became of one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// serve applied it (or had applied it before: `duplicate`).
    Applied(Applied),
    /// The bus took it; taskstream applies it from its ingest queue (a refusal lands in that
    /// queue's dead letters, with the reason).
    Accepted { event_id: String },
    /// Refused, with taskstream's or the bus's code and reason.
    Rejected { code: String, message: String },
}

/// What serve reports for an applied command.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub command_id: String,
    /// `applied`, or `unchanged` when the task already was as asked.
    pub result: String,
    pub task_id: String,
    pub version: u64,
    #[serde(default)]
    pub comment_id: Option<String>,
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the publisher is misconfigured: {0}")]
    Config(String),
    #[error("a command could not be encoded: {0}")]
    Encode(String),
    #[error("{0}")]
    Http(String),
    #[error("serve refused the batch with {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the answer could not be read: {0}")]
    Decode(String),
}
