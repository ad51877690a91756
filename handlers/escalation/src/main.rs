//! The escalation consumer: task events from its SQS queue → each task's plan as a Step
//! Functions execution (started, superseded, stopped); `SprintClosed` → the sprint's
//! unfinished tasks carried over through the table and its summary recorded.

use std::sync::Arc;

use lambda_runtime::Error;
use shared_aws::dynamo::DynamoStore;
use shared_aws::env::{init_tracing, required, sdk_config};
use shared_aws::escalation::{DynamoPolicies, SfnSchedule, state_machine_arn};
use shared_aws::lambda::run_sqs_consumer;
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
    run_sqs_consumer(&config, &consumer).await
}
