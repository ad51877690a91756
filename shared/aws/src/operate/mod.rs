//! What an operator does to a deployed stage: replay a window of the bus archive into
//! chosen consumers, and read and redrive the consumers' dead-letter queues. The CLI's
//! `--aws` commands use these; the embedded engine has its own (`shared_embedded::Operator`).
//!
//! Resources are found by the names the CDK app gives them for a stage (see [`StageNames`]),
//! so an operator needs only the stage name and credentials, not the stack's outputs.

pub mod dead_letters;
pub mod lag;
pub mod logs;
pub mod replay;
pub mod router_failures;
mod sqs_read;
pub mod trace;

pub use dead_letters::{AwsDeadLetter, DeadLetterQueue, MoveMethod, Redriven, SqsDeadLetterQueues};
pub use lag::{AwsLag, AwsLagReader};
pub use logs::{LogLine, LogSearch, LogsInsights};
pub use replay::{AwsReplay, AwsReplayPlan, AwsReplays};
pub use router_failures::{RedriveSelection, RouterFailures, RouterRedrive};
pub use trace::{AwsTrace, AwsTracer};

/// An operator-facing failure: what was asked, and what AWS said.
#[derive(Debug, thiserror::Error)]
pub enum OperateError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{call} failed: {message}")]
    Aws { call: &'static str, message: String },
}

impl OperateError {
    pub(crate) fn aws(call: &'static str, err: impl std::error::Error) -> Self {
        Self::Aws { call, message: aws_sdk_sqs::error::DisplayErrorContext(err).to_string() }
    }

    pub(crate) fn aws_missing(call: &'static str, field: &str) -> Self {
        Self::Aws { call, message: format!("the answer has no {field}") }
    }
}

/// The names the CDK app gives a stage's resources (cdk/lib/constructs: events.ts,
/// consumer.ts): the bus and its archive `<stage>-taskstream`, a consumer's rule
/// `<bus>-<consumer>`, its queue `<stage>-taskstream-<consumer>` and dead-letter queue
/// `<queue>-dlq`. The stream router's parking queue is its `dead_letter_queue`, and its
/// failure bucket `<stage>-taskstream-stream-router-failures-<account>` (buckets.ts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageNames {
    pub stage: String,
}

impl StageNames {
    pub fn new(stage: impl Into<String>) -> Self {
        Self { stage: stage.into() }
    }

    pub fn bus(&self) -> String {
        format!("{}-{}", self.stage, events_schema::routing::BUS_NAME)
    }

    /// The archive has the bus's name.
    pub fn archive(&self) -> String {
        self.bus()
    }

    /// EventBridge rule names are at most 64 characters; the CDK app cuts them there too.
    pub fn rule(&self, consumer: &str) -> String {
        format!("{}-{consumer}", self.bus()).chars().take(64).collect()
    }

    pub fn queue(&self, consumer: &str) -> String {
        format!("{}-taskstream-{consumer}", self.stage)
    }

    pub fn dead_letter_queue(&self, consumer: &str) -> String {
        format!("{}-dlq", self.queue(consumer))
    }

    /// The table (data.ts); it has the bus's name.
    pub fn table(&self) -> String {
        self.bus()
    }

    /// A handler's Lambda function (rust-function.ts).
    pub fn function(&self, handler: &str) -> String {
        format!("{}-taskstream-{handler}", self.stage)
    }

    /// The failure bucket's name up to the account id, which keeps S3 names globally unique.
    pub fn router_failure_bucket_prefix(&self) -> String {
        format!("{}-taskstream-{}-failures-", self.stage, crate::lambda::STREAM_ROUTER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_cdk_apps() {
        let names = StageNames::new("prod");
        assert_eq!(names.bus(), "prod-taskstream");
        assert_eq!(names.archive(), "prod-taskstream");
        assert_eq!(names.rule("audit-history"), "prod-taskstream-audit-history");
        assert_eq!(names.queue("search-indexer"), "prod-taskstream-search-indexer");
        assert_eq!(names.dead_letter_queue("notifier"), "prod-taskstream-notifier-dlq");
        assert_eq!(names.dead_letter_queue("stream-router"), "prod-taskstream-stream-router-dlq");
        assert_eq!(names.router_failure_bucket_prefix(), "prod-taskstream-stream-router-failures-");
        assert_eq!(names.function("stream-router"), "prod-taskstream-stream-router");
        let long = StageNames::new("x".repeat(60));
        assert_eq!(long.rule("metrics").chars().count(), 64);
    }
}
