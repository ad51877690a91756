//! The search-indexer consumer: bus events from its SQS queue → the OpenSearch task index.
//! Nothing goes over the network before the first batch: the index is created by the first
//! write of each process that needs it (`OpenSearchIndex`), not at start.

use std::sync::Arc;

use lambda_runtime::Error;
use shared_aws::env::{init_tracing, sdk_config};
use shared_aws::lambda::run_sqs_consumer;
use shared_aws::search::{OpenSearchConfig, OpenSearchIndex};
use shared_core::consumers::search::SearchIndexer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let consumer = SearchIndexer::new(Arc::new(OpenSearchIndex::new(OpenSearchConfig::from_env(&config)?)?));
    run_sqs_consumer(&config, &consumer).await
}
