//! The escalation consumer: task events from its SQS queue → each task's plan as a Step
//! Functions execution (started, superseded, stopped); `SprintClosed` → the sprint's
//! unfinished tasks carried over through the table and its summary recorded.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared_aws::dynamo::DynamoStore;
use shared_aws::env::{init_tracing, max_receives, max_throttled_receives, required, sdk_config};
use shared_aws::escalation::{DynamoPolicies, SfnSchedule, state_machine_arn};
use shared_aws::lambda::{Backoff, BackoffSchedule, DeadLettering, SqsEvent, consume_sqs};
use shared_aws::parking::{SqsDeadLetters, SqsVisibility};
use shared_core::consumers::escalation::EscalationPlanner;
use shared_core::consumers::sprint_closure::SprintClosure;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let table = required("TABLE_NAME")?;
    let policies = Arc::new(DynamoPolicies::new(&config, &table));
    let schedule = Arc::new(SfnSchedule::new(&config, &table, state_machine_arn()?));
    let store = Arc::new(DynamoStore::from_env(&config)?);
    let consumer = EscalationPlanner::new(policies, schedule).with_sprint_closure(SprintClosure::new(store));
    let dead_letters = SqsDeadLetters::from_config(&config, required("DLQ_URL")?);
    let dead = DeadLettering { queue: &dead_letters, max_receives: max_receives()? };
    let queue = SqsVisibility::from_config(&config, required("QUEUE_URL")?);
    let backoff = Backoff {
        queue: &queue,
        max_throttled_receives: max_throttled_receives()?,
        schedule: BackoffSchedule::default(),
    };
    let (consumer, dead, backoff) = (&consumer, &dead, &backoff);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(consume_sqs(consumer, event.payload, Some(dead), Some(backoff)).await)
    }))
    .await
}
