//! The metrics consumer: bus events from its SQS queue → metric records, written together
//! (at most 100 a WriteRecords) into Timestream, or as EMF lines when the stack keeps no store.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared_aws::env::{init_tracing, max_receives, max_throttled_receives, required, sdk_config};
use shared_aws::lambda::{Backoff, BackoffSchedule, DeadLettering, SqsEvent, consume_metrics};
use shared_aws::parking::{SqsDeadLetters, SqsVisibility};
use shared_aws::timestream::metrics_sink;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let sink = metrics_sink(&config).await?;
    let dead_letters = SqsDeadLetters::from_config(&config, required("DLQ_URL")?);
    let dead = DeadLettering { queue: &dead_letters, max_receives: max_receives()? };
    let queue = SqsVisibility::from_config(&config, required("QUEUE_URL")?);
    let backoff = Backoff {
        queue: &queue,
        max_throttled_receives: max_throttled_receives()?,
        schedule: BackoffSchedule::default(),
    };
    let (sink, dead, backoff) = (sink.as_ref(), &dead, &backoff);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(consume_metrics(sink, event.payload, Some(dead), Some(backoff)).await)
    }))
    .await
}
