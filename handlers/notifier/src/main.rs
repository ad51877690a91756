//! The notifier consumer: task events from its SQS queue → notifications, each once: in-app
//! ones recorded in the table, email through SES, Slack to each person's incoming webhook,
//! each email and Slack message claimed in the table before it is sent; and a webhook
//! delivery recorded per subscription that wants the event, sent signed after the batch and
//! retried on the clock of a scheduled rule that invokes the function every minute. A
//! subscription failing for three days is turned off and the tenant's admins (the user pool's
//! `admin` group, `USER_POOL_ID`) are told.

use std::sync::Arc;

use lambda_runtime::Error;
use shared_aws::dynamo::DynamoStore;
use shared_aws::env::{init_tracing, required, sdk_config};
use shared_aws::http_sender::HttpSender;
use shared_aws::notifications::DynamoNotifications;
use shared_aws::notifier_lambda::run_notifier;
use shared_aws::ses::SesSender;
use shared_aws::webhooks::DynamoWebhooks;
use shared_aws::webhooks::admins::{AdminNotice, CognitoAdmins};
use shared_aws::webhooks::secrets::WebhookSecrets;
use shared_core::consumers::notifier::Notifier;
use shared_core::notify::inline::InlineDelivery;
use shared_core::webhooks::dispatch::Dispatcher;
use shared_core::webhooks::retry::{ATTEMPT_TIMEOUT, RetrySchedule};

/// Deliveries attempted at once in a round.
const DELIVERY_BATCH: usize = 32;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let store = Arc::new(DynamoStore::from_env(&config)?);
    let notifications = Arc::new(DynamoNotifications::new(&config, required("TABLE_NAME")?, store.clone()));
    let email = Arc::new(SesSender::new(&config, &required("SENDER_EMAIL")?)?);
    // Slack and webhooks go to public addresses only (the metadata service is link-local).
    let http = Arc::new(HttpSender::new(ATTEMPT_TIMEOUT, false)?);
    let inline = || InlineDelivery::new(notifications.clone()).with_email(email.clone()).with_slack(http.clone());
    let admins = CognitoAdmins::new(&config, required("USER_POOL_ID")?);
    let notice = AdminNotice::new(admins, notifications.clone()).with_inline(inline());
    let webhooks = Arc::new(DynamoWebhooks::new(&store, WebhookSecrets::from_env(&config)?).with_admin_notice(notice));
    let inline = inline();
    let consumer = Notifier::new(notifications).with_inline(inline).with_webhooks(webhooks.clone());
    let dispatcher = Dispatcher::new(webhooks, http, RetrySchedule::default()).with_batch(DELIVERY_BATCH);
    run_notifier(&config, &consumer, &dispatcher).await
}
