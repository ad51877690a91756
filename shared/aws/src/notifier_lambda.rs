//! The notifier Lambda's two kinds of invocation. Its queue's batches go through the
//! consumer (notifications, and a webhook delivery recorded per subscription that wants the
//! event), after which what is due is sent at once; the schedule's tick (an EventBridge rule,
//! every minute) sends what has come due since: the clock that retries take their turn on.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;
use shared_core::pipeline::Consumer;
use shared_core::ports::StoreError;
use shared_core::webhooks::dispatch::Dispatcher;

use crate::lambda::{ConsumerQueues, consume_sqs};

/// How long a tick keeps starting rounds of due deliveries: a round ends within an attempt's
/// timeout (10 s) and the function may run 60 s (`cdk/lib/handlers.ts`).
pub const TICK_BUDGET: Duration = Duration::from_secs(40);

/// What invoked the function.
#[derive(Debug)]
pub enum Invocation {
    /// A batch of its queue's messages.
    Batch(SqsEvent),
    /// The schedule's tick (`source` `aws.events`, `detail-type` `Scheduled Event`).
    Tick,
}

#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("the notifier was invoked with neither an SQS batch nor a scheduled event: {0}")]
    Unknown(String),
    #[error("the SQS batch could not be read: {0}")]
    BadBatch(serde_json::Error),
    #[error("webhook deliveries could not be read or settled: {0}")]
    Store(#[from] StoreError),
}

impl Invocation {
    /// Tells the two apart by their shape.
    pub fn of(payload: Value) -> Result<Self, InvocationError> {
        if payload.get("Records").is_some() {
            return serde_json::from_value(payload).map(Invocation::Batch).map_err(InvocationError::BadBatch);
        }
        let scheduled = payload.get("source").and_then(Value::as_str) == Some("aws.events")
            && payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event");
        if scheduled {
            return Ok(Invocation::Tick);
        }
        let mut shown = payload.to_string();
        shown.truncate(200);
        Err(InvocationError::Unknown(shown))
    }
}

/// Rounds of due deliveries until one finds nothing due or `budget` has passed; returns how
/// many attempts were made.
pub async fn drain(dispatcher: &Dispatcher, budget: Duration) -> Result<usize, StoreError> {
    let started = Instant::now();
    let mut attempted = 0;
    while started.elapsed() < budget {
        match dispatcher.round().await? {
            0 => break,
            n => attempted += n,
        }
    }
    Ok(attempted)
}

/// One invocation: a batch is consumed (its answer the partial batch response) and then one
/// round of due deliveries is sent; a tick drains for [`TICK_BUDGET`]. A batch's answer
/// does not wait on the webhooks: a round that fails is logged, and the next tick sends
/// what it left.
pub async fn handle(
    consumer: &dyn Consumer,
    dispatcher: &Dispatcher,
    queues: Option<&ConsumerQueues>,
    payload: Value,
) -> Result<Value, InvocationError> {
    match Invocation::of(payload)? {
        Invocation::Batch(batch) => {
            let (dead, backoff) = (queues.map(ConsumerQueues::dead), queues.map(ConsumerQueues::backoff));
            let response = consume_sqs(consumer, batch, dead.as_ref(), backoff.as_ref()).await;
            match dispatcher.round().await {
                Ok(attempted) => tracing::debug!(attempted, "webhook deliveries sent after the batch"),
                Err(error) => {
                    tracing::warn!(%error, "webhook deliveries not sent after the batch; the next tick sends them")
                }
            }
            serde_json::to_value(response).map_err(InvocationError::BadBatch)
        }
        Invocation::Tick => {
            let attempted = drain(dispatcher, TICK_BUDGET).await?;
            tracing::info!(attempted, "webhook deliveries due sent");
            Ok(Value::Null)
        }
    }
}

/// Runs the notifier until the runtime stops.
pub async fn run_notifier(
    config: &aws_config::SdkConfig,
    consumer: &dyn Consumer,
    dispatcher: &Dispatcher,
) -> Result<(), lambda_runtime::Error> {
    let queues = ConsumerQueues::from_env(config)?;
    let queues = &queues;
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| async move {
        handle(consumer, dispatcher, Some(queues), event.payload).await.map_err(lambda_runtime::Error::from)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_batch_and_a_tick_are_told_apart_and_anything_else_is_refused() {
        let batch = json!({"Records": [{"messageId": "m1", "body": "{}", "eventSource": "aws:sqs"}]});
        assert!(matches!(Invocation::of(batch), Ok(Invocation::Batch(b)) if b.records.len() == 1));
        let tick = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        assert!(matches!(Invocation::of(tick), Ok(Invocation::Tick)));
        for other in [json!({}), json!({"source": "aws.events", "detail-type": "TaskAssigned"}), json!(null)] {
            assert!(matches!(Invocation::of(other.clone()), Err(InvocationError::Unknown(_))), "{other}");
        }
        assert!(matches!(Invocation::of(json!({"Records": 3})), Err(InvocationError::BadBatch(_))));
    }
}
