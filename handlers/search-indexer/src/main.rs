//! The search-indexer consumer: bus events from its SQS queue → the OpenSearch task index.
//! Nothing goes over the network before the first batch: the index is created by the first
//! write of each process that needs it (`OpenSearchIndex`), not at start.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared_aws::env::{init_tracing, max_receives, max_throttled_receives, required, sdk_config};
use shared_aws::lambda::{Backoff, BackoffSchedule, DeadLettering, SqsEvent, consume_sqs};
use shared_aws::parking::{SqsDeadLetters, SqsVisibility};
use shared_aws::search::{OpenSearchConfig, OpenSearchIndex};
use shared_core::consumers::search::SearchIndexer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let consumer = SearchIndexer::new(Arc::new(OpenSearchIndex::new(OpenSearchConfig::from_env(&config)?)?));
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
