//! The search-indexer consumer: bus events from its SQS queue → the OpenSearch task index.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared_aws::env::{init_tracing, max_receives, required, sdk_config};
use shared_aws::lambda::{DeadLettering, SqsEvent, consume_sqs};
use shared_aws::parking::SqsDeadLetters;
use shared_aws::search::{OpenSearchConfig, OpenSearchIndex};
use shared_core::consumers::search::SearchIndexer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let index = OpenSearchIndex::new(OpenSearchConfig::from_env(&config)?)?;
    // Before any write: a write to a missing index would create it with guessed mappings.
    // Failing here fails the cold start; the batch stays on the queue and is retried.
    let created = index.create_index().await?;
    lambda_runtime::tracing::info!(created, "task index ready");
    let consumer = SearchIndexer::new(Arc::new(index));
    let queue = SqsDeadLetters::from_config(&config, required("DLQ_URL")?);
    let dead = DeadLettering { queue: &queue, max_receives: max_receives()? };
    let (consumer, dead) = (&consumer, &dead);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(consume_sqs(consumer, event.payload, Some(dead)).await)
    }))
    .await
}
