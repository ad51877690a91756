//! The notifier consumer: task events from its SQS queue → notifications, each once: in-app
//! ones recorded in the table, email through SES, Slack to each person's incoming webhook,
//! each email and Slack message claimed in the table before it is sent.

use std::sync::Arc;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared_aws::dynamo::DynamoStore;
use shared_aws::env::{init_tracing, max_receives, max_throttled_receives, required, sdk_config};
use shared_aws::http_sender::HttpSender;
use shared_aws::lambda::{Backoff, BackoffSchedule, DeadLettering, SqsEvent, consume_sqs};
use shared_aws::notifications::DynamoNotifications;
use shared_aws::parking::{SqsDeadLetters, SqsVisibility};
use shared_aws::ses::SesSender;
use shared_core::consumers::notifier::Notifier;
use shared_core::notify::inline::InlineDelivery;
use shared_core::webhooks::retry::ATTEMPT_TIMEOUT;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let store = Arc::new(DynamoStore::from_env(&config)?);
    let notifications = Arc::new(DynamoNotifications::new(&config, required("TABLE_NAME")?, store));
    let email = SesSender::new(&config, &required("SENDER_EMAIL")?)?;
    // Slack webhooks go to public addresses only (the metadata service is link-local).
    let slack = HttpSender::new(ATTEMPT_TIMEOUT, false)?;
    let inline = InlineDelivery::new(notifications.clone()).with_email(Arc::new(email)).with_slack(Arc::new(slack));
    let consumer = Notifier::new(notifications).with_inline(inline);
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
