//! The metrics consumer: bus events from its SQS queue → metric records, written together
//! (at most 100 a WriteRecords) into Timestream, or as EMF lines when the stack keeps no store.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared_aws::env::{init_tracing, sdk_config};
use shared_aws::lambda::{ConsumerQueues, SqsEvent, consume_metrics};
use shared_aws::timestream::metrics_sink;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let sink = metrics_sink(&config).await?;
    let queues = ConsumerQueues::from_env(&config)?;
    let (sink, queues) = (sink.as_ref(), &queues);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let (dead, backoff) = (queues.dead(), queues.backoff());
        Ok::<_, Error>(consume_metrics(sink, event.payload, Some(&dead), Some(&backoff)).await)
    }))
    .await
}
