//! The audit-history consumer: bus events from its SQS queue → history items in DynamoDB.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared_aws::dynamo::DynamoStore;
use shared_aws::env::{init_tracing, max_receives, required, sdk_config};
use shared_aws::lambda::{DeadLettering, SqsEvent, consume_sqs};
use shared_aws::parking::SqsDeadLetters;
use shared_core::consumers::history::AuditHistory;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let store = DynamoStore::new(&config, required("TABLE_NAME")?);
    let consumer = AuditHistory::new(Arc::new(store));
    let queue = SqsDeadLetters::from_config(&config, required("DLQ_URL")?);
    let dead = DeadLettering { queue: &queue, max_receives: max_receives()? };
    let (consumer, dead) = (&consumer, &dead);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(consume_sqs(consumer, event.payload, Some(dead)).await)
    }))
    .await
}
