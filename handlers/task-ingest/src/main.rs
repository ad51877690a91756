//! The task-ingest Lambda: bus events of internal services (every source but taskstream's)
//! from its SQS queue → commands applied to the table as their source's tenant.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared_aws::dynamo::DynamoStore;
use shared_aws::env::{init_tracing, required, sdk_config};
use shared_aws::ingest::{SourceTenants, consume_commands};
use shared_aws::lambda::SqsEvent;
use shared_aws::parking::SqsDeadLetters;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let store = DynamoStore::from_env(&config)?;
    // Unset or empty: no source is mapped, and every command is dead-lettered as unmapped.
    let sources = SourceTenants::parse(&std::env::var("INGEST_SOURCES").unwrap_or_default())?;
    let dead_letters = SqsDeadLetters::from_config(&config, required("DLQ_URL")?);
    let (store, sources, dead_letters) = (&store, &sources, &dead_letters);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(consume_commands(store, sources, dead_letters, event.payload).await)
    }))
    .await
}
