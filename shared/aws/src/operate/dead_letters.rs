//! The consumers' dead-letter queues on AWS: depth and oldest age, the letters with the
//! reasons the consumer runtime attached (message attributes `reason`, `consumer`,
//! `receives`; see `crate::parking::SqsDeadLetters`), and a redrive back to the consumer's
//! queue.
//!
//! Redrive of a whole queue uses SQS's own move task (`StartMessageMoveTask`, polled with
//! `ListMessageMoveTasks`): SQS moves the messages itself, at its pace, and nothing passes
//! through the operator's machine. A selection (`--max`, `--id`) cannot be a move task, and
//! an endpoint without move tasks (the local emulator) falls back to receive-and-resend:
//! each letter is sent to the queue first and deleted from the dead-letter queue only then,
//! so a failure between the two leaves a copy in each (delivered twice, applied once: the
//! consumers hold each aggregate at its version), never none.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use serde::Serialize;

use super::{OperateError, StageNames, sqs_read};

/// How long a listed letter stays hidden from other readers (SQS has no peek); it is made
/// visible again as soon as it has been read.
const READ_VISIBILITY_SECS: i32 = 30;
/// Empty receives in a row after which a queue counts as read to its end.
const EMPTY_RECEIVES: usize = 2;

/// One consumer's dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterQueue {
    pub consumer: String,
    pub queue_url: String,
    /// `ApproximateNumberOfMessages`, as SQS counts.
    pub depth: i64,
}

/// A dead letter, read without removing it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsDeadLetter {
    /// The SQS message id (`dlq show` and `dlq redrive --id` take it).
    pub id: String,
    pub consumer: String,
    pub reason: String,
    /// Receives before the consumer gave up.
    pub receives: Option<u32>,
    pub dead_lettered_at: Option<String>,
    pub event_type: Option<String>,
    pub event_id: Option<String>,
    pub aggregate_id: Option<String>,
    /// The message body (the EventBridge event, as the consumer's queue received it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// How a redrive moves letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MoveMethod {
    MoveTask,
    Resend,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Redriven {
    pub consumer: String,
    pub method: MoveMethod,
    pub moved: i64,
    /// Why the move task was not used, when it was tried and refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}

pub struct SqsDeadLetterQueues {
    client: Client,
    names: StageNames,
    /// Seconds between `ListMessageMoveTasks` polls.
    poll: Duration,
}

struct Queues {
    queue_url: String,
    dlq_url: String,
}

impl SqsDeadLetterQueues {
    pub fn new(client: Client, names: StageNames) -> Self {
        Self { client, names, poll: Duration::from_secs(2) }
    }

    pub fn from_config(config: &aws_config::SdkConfig, names: StageNames) -> Self {
        Self::new(Client::new(config), names)
    }

    /// Polls move tasks this often (tests poll faster).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Each consumer that has queues in this stage, with its dead-letter queue's depth.
    /// Consumers of the routing table that are not deployed are left out.
    pub async fn queues(&self, consumer: Option<&str>) -> Result<Vec<DeadLetterQueue>, OperateError> {
        let mut out = Vec::new();
        for name in consumers(consumer)? {
            let Some(queues) = self.find(&name).await? else {
                if consumer.is_some() {
                    return Err(not_deployed(&self.names, &name));
                }
                continue;
            };
            let depth = self.depth(&queues.dlq_url).await?;
            out.push(DeadLetterQueue { consumer: name, queue_url: queues.dlq_url, depth });
        }
        Ok(out)
    }

    /// Up to `limit` letters of each queue (or of one consumer's), oldest first, with their
    /// reasons; each is visible again once its queue has been read.
    pub async fn letters(&self, consumer: Option<&str>, limit: usize) -> Result<Vec<AwsDeadLetter>, OperateError> {
        let mut out = Vec::new();
        for name in consumers(consumer)? {
            let Some(queues) = self.find(&name).await? else {
                if consumer.is_some() {
                    return Err(not_deployed(&self.names, &name));
                }
                continue;
            };
            let mut letters = self.read(&name, &queues.dlq_url, limit, false).await?;
            letters.sort_by(|a, b| a.dead_lettered_at.cmp(&b.dead_lettered_at));
            out.extend(letters);
        }
        Ok(out)
    }

    /// One letter, with its body.
    pub async fn letter(&self, consumer: Option<&str>, id: &str) -> Result<AwsDeadLetter, OperateError> {
        for name in consumers(consumer)? {
            let Some(queues) = self.find(&name).await? else { continue };
            let letters = self.read(&name, &queues.dlq_url, usize::MAX, true).await?;
            if let Some(letter) = letters.into_iter().find(|l| l.id == id) {
                return Ok(letter);
            }
        }
        Err(OperateError::NotFound(format!("no dead letter with id {id}")))
    }

    /// Sends `consumer`'s letters back to its queue: all of them by a move task where the
    /// endpoint has them, else (and for a selection) by receive-and-resend.
    pub async fn redrive(
        &self,
        consumer: &str,
        max: Option<usize>,
        id: Option<&str>,
    ) -> Result<Redriven, OperateError> {
        let queues = self.find(consumer).await?.ok_or_else(|| not_deployed(&self.names, consumer))?;
        let mut fallback_reason = None;
        if max.is_none() && id.is_none() {
            match self.move_task(&queues).await {
                Ok(moved) => {
                    return Ok(Redriven {
                        consumer: consumer.to_owned(),
                        method: MoveMethod::MoveTask,
                        moved,
                        fallback_reason: None,
                    });
                }
                Err(MoveTaskError::Unavailable(reason)) => {
                    tracing::warn!(%reason, "no move task; redriving by receive-and-resend");
                    fallback_reason = Some(reason);
                }
                Err(MoveTaskError::Failed(e)) => return Err(e),
            }
        }
        let moved = self.resend(&queues, max.unwrap_or(usize::MAX), id).await?;
        Ok(Redriven { consumer: consumer.to_owned(), method: MoveMethod::Resend, moved, fallback_reason })
    }

    /// Deletes every letter of `consumer`'s dead-letter queue (SQS `PurgeQueue`); answers the
    /// depth it had just before.
    pub async fn purge(&self, consumer: &str) -> Result<i64, OperateError> {
        let queues = self.find(consumer).await?.ok_or_else(|| not_deployed(&self.names, consumer))?;
        let depth = self.depth(&queues.dlq_url).await?;
        self.client
            .purge_queue()
            .queue_url(&queues.dlq_url)
            .send()
            .await
            .map_err(|e| OperateError::aws("PurgeQueue", e))?;
        Ok(depth)
    }

    async fn move_task(&self, queues: &Queues) -> Result<i64, MoveTaskError> {
        let source = self.arn(&queues.dlq_url).await.map_err(MoveTaskError::Failed)?;
        let destination = self.arn(&queues.queue_url).await.map_err(MoveTaskError::Failed)?;
        let started = self
            .client
            .start_message_move_task()
            .source_arn(&source)
            .destination_arn(&destination)
            .send()
            .await
            .map_err(|e| {
                // Access and throttling are real refusals; anything else means this endpoint
                // cannot move (an unknown action, a 5xx without an SQS error).
                let code = e.as_service_error().and_then(|s| aws_sdk_sqs::error::ProvideErrorMetadata::code(s));
                match code {
                    Some("AccessDenied" | "AccessDeniedException" | "RequestThrottled" | "ThrottlingException") => {
                        MoveTaskError::Failed(OperateError::aws("StartMessageMoveTask", e))
                    }
                    _ => MoveTaskError::Unavailable(format!(
                        "StartMessageMoveTask: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    )),
                }
            })?;
        let handle = started.task_handle.unwrap_or_default();
        loop {
            let tasks = self
                .client
                .list_message_move_tasks()
                .source_arn(&source)
                .max_results(10)
                .send()
                .await
                .map_err(|e| MoveTaskError::Failed(OperateError::aws("ListMessageMoveTasks", e)))?;
            let task = tasks
                .results
                .unwrap_or_default()
                .into_iter()
                .find(|t| handle.is_empty() || t.task_handle.as_deref() == Some(handle.as_str()));
            if let Some(task) = task {
                let moved = task.approximate_number_of_messages_moved;
                match task.status.as_deref() {
                    Some("COMPLETED") => return Ok(moved),
                    Some(status @ ("FAILED" | "CANCELLED")) => {
                        return Err(MoveTaskError::Failed(OperateError::Aws {
                            call: "StartMessageMoveTask",
                            message: format!(
                                "the move task ended {status} after {moved} messages: {}",
                                task.failure_reason.unwrap_or_default()
                            ),
                        }));
                    }
                    _ => {}
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Receive-and-resend: each selected letter is sent to the queue (its body unchanged),
    /// then deleted from the dead-letter queue; letters not selected are made visible again
    /// once the queue has been read through.
    async fn resend(&self, queues: &Queues, max: usize, id: Option<&str>) -> Result<i64, OperateError> {
        let mut moved = 0i64;
        let mut held = Vec::new();
        let mut empty = 0;
        let done = |moved: i64| (moved as usize) >= max || (id.is_some() && moved > 0);
        while !done(moved) && empty < EMPTY_RECEIVES {
            let batch = receive(&self.client, &queues.dlq_url, 10).await?;
            if batch.is_empty() {
                empty += 1;
                continue;
            }
            empty = 0;
            for message in batch {
                let receipt = message.receipt_handle.clone().unwrap_or_default();
                let wanted = id.is_none_or(|id| message.message_id.as_deref() == Some(id));
                if !wanted || done(moved) {
                    held.push(receipt);
                    continue;
                }
                self.client
                    .send_message()
                    .queue_url(&queues.queue_url)
                    .message_body(message.body.clone().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| OperateError::aws("SendMessage", e))?;
                self.client
                    .delete_message()
                    .queue_url(&queues.dlq_url)
                    .receipt_handle(&receipt)
                    .send()
                    .await
                    .map_err(|e| OperateError::aws("DeleteMessage", e))?;
                moved += 1;
            }
        }
        for receipt in &held {
            release(&self.client, &queues.dlq_url, receipt).await?;
        }
        if let Some(id) = id
            && moved == 0
        {
            return Err(OperateError::NotFound(format!("no dead letter with id {id}")));
        }
        Ok(moved)
    }

    /// Reads a queue to its end (or `limit`). Each message stays hidden while the read goes
    /// on (so the receives move through the queue) and is made visible again at the end.
    async fn read(
        &self,
        consumer: &str,
        dlq_url: &str,
        limit: usize,
        with_body: bool,
    ) -> Result<Vec<AwsDeadLetter>, OperateError> {
        let mut out = Vec::new();
        let mut held = Vec::new();
        let mut empty = 0;
        while out.len() < limit && empty < EMPTY_RECEIVES {
            let batch = receive(&self.client, dlq_url, 10).await?;
            if batch.is_empty() {
                empty += 1;
                continue;
            }
            empty = 0;
            for message in batch {
                let receipt = message.receipt_handle.clone().unwrap_or_default();
                held.push(receipt);
                if out.len() < limit {
                    out.push(letter_of(consumer, &message, with_body));
                }
            }
        }
        for receipt in &held {
            release(&self.client, dlq_url, receipt).await?;
        }
        Ok(out)
    }

    async fn find(&self, consumer: &str) -> Result<Option<Queues>, OperateError> {
        let Some(queue_url) = self.url(&self.names.queue(consumer)).await? else { return Ok(None) };
        let Some(dlq_url) = self.url(&self.names.dead_letter_queue(consumer)).await? else { return Ok(None) };
        Ok(Some(Queues { queue_url, dlq_url }))
    }

    async fn url(&self, name: &str) -> Result<Option<String>, OperateError> {
        match self.client.get_queue_url().queue_name(name).send().await {
            Ok(out) => Ok(out.queue_url),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_does_not_exist()) => Ok(None),
            Err(e) => Err(OperateError::aws("GetQueueUrl", e)),
        }
    }

    async fn arn(&self, url: &str) -> Result<String, OperateError> {
        self.attribute(url, QueueAttributeName::QueueArn)
            .await?
            .ok_or_else(|| OperateError::aws_missing("GetQueueAttributes", "QueueArn"))
    }

    async fn depth(&self, url: &str) -> Result<i64, OperateError> {
        sqs_read::depth(&self.client, url).await
    }

    async fn attribute(&self, url: &str, name: QueueAttributeName) -> Result<Option<String>, OperateError> {
        sqs_read::queue_attribute(&self.client, url, name).await
    }
}

enum MoveTaskError {
    /// The endpoint cannot move messages: fall back.
    Unavailable(String),
    Failed(OperateError),
}

fn consumers(only: Option<&str>) -> Result<Vec<String>, OperateError> {
    let all: Vec<&str> = events_schema::routing::ROUTES.iter().map(|r| r.name).collect();
    match only {
        Some(name) if all.contains(&name) => Ok(vec![name.to_owned()]),
        Some(name) => Err(OperateError::Invalid(format!("{name:?} is not a consumer; known: {}", all.join(", ")))),
        None => Ok(all.into_iter().map(str::to_owned).collect()),
    }
}

fn not_deployed(names: &StageNames, consumer: &str) -> OperateError {
    OperateError::NotFound(format!(
        "{consumer} has no queues in stage {} ({} and its -dlq; is it deployed?)",
        names.stage,
        names.queue(consumer)
    ))
}

fn letter_of(consumer: &str, message: &aws_sdk_sqs::types::Message, with_body: bool) -> AwsDeadLetter {
    let attribute = |name: &str| sqs_read::attribute(message, name);
    let body = sqs_read::json_body(message);
    let detail = body.as_ref().and_then(|b| b.get("detail"));
    let field = |name: &str| detail.and_then(|d| d.get(name)).and_then(|v| v.as_str()).map(str::to_owned);
    let sent = sqs_read::sent_at(message);
    AwsDeadLetter {
        id: message.message_id.clone().unwrap_or_default(),
        consumer: attribute("consumer").unwrap_or_else(|| consumer.to_owned()),
        reason: attribute("reason").unwrap_or_else(|| {
            "no reason recorded (dead-lettered by the queue's redrive policy; see the consumer's log)".to_owned()
        }),
        receives: attribute("receives").and_then(|r| r.parse().ok()),
        dead_lettered_at: sent,
        event_type: field("eventType")
            .or_else(|| body.as_ref().and_then(|b| b.get("detail-type")).and_then(|v| v.as_str()).map(str::to_owned)),
        event_id: field("eventId"),
        aggregate_id: field("aggregateId"),
        body: if with_body { body } else { None },
    }
}

/// Reads up to `max` messages of a queue without deleting them, hidden from other readers for
/// [`READ_VISIBILITY_SECS`], with their attributes and sent time (what `show` and a redrive need).
pub(super) async fn receive(
    client: &aws_sdk_sqs::Client,
    url: &str,
    max: i32,
) -> Result<Vec<aws_sdk_sqs::types::Message>, OperateError> {
    let out = client
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(max)
        .visibility_timeout(READ_VISIBILITY_SECS)
        .wait_time_seconds(1)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .send()
        .await
        .map_err(|e| OperateError::aws("ReceiveMessage", e))?;
    Ok(out.messages.unwrap_or_default())
}

/// Makes a message read by [`receive`] visible again at once: it stays where it was.
pub(super) async fn release(client: &aws_sdk_sqs::Client, url: &str, receipt: &str) -> Result<(), OperateError> {
    client
        .change_message_visibility()
        .queue_url(url)
        .receipt_handle(receipt)
        .visibility_timeout(0)
        .send()
        .await
        .map_err(|e| OperateError::aws("ChangeMessageVisibility", e))?;
    Ok(())
}
