//! The notifier consumer: task events from its SQS queue → notifications, each once: in-app
//! ones recorded in the table, email through SES, Slack to each person's incoming webhook,
//! each email and Slack message claimed in the table before it is sent.

use std::sync::Arc;

use lambda_runtime::Error;
use shared_aws::dynamo::DynamoStore;
use shared_aws::env::{init_tracing, required, sdk_config};
use shared_aws::http_sender::HttpSender;
use shared_aws::lambda::run_sqs_consumer;
use shared_aws::notifications::DynamoNotifications;
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
    run_sqs_consumer(&config, &consumer).await
}
