//! The audit-history consumer: bus events from its SQS queue → history items in DynamoDB.

use std::sync::Arc;

use lambda_runtime::Error;
use shared_aws::dynamo::DynamoStore;
use shared_aws::env::{init_tracing, sdk_config};
use shared_aws::lambda::run_sqs_consumer;
use shared_core::consumers::history::AuditHistory;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let consumer = AuditHistory::new(Arc::new(DynamoStore::from_env(&config)?));
    run_sqs_consumer(&config, &consumer).await
}
