//! The task API: API Gateway (REST, Cognito authorizer) → the core's axum router over
//! DynamoDB (tasks, the tenants' escalation policies, people and their in-app
//! notifications, webhook subscriptions with their secrets in Secrets Manager), reading
//! search results from OpenSearch and writing CSV exports to S3.

use std::sync::Arc;
use std::time::Duration;

use lambda_http::Error;
use shared_api::AppState;
use shared_aws::api::lambda_service;
use shared_aws::auth::{CognitoAuthenticator, TenantKeys};
use shared_aws::dynamo::DynamoStore;
use shared_aws::env::{init_tracing, sdk_config};
use shared_aws::escalation::DynamoPolicies;
use shared_aws::export::{ExportConfig, S3Exports};
use shared_aws::notifications::DynamoNotifications;
use shared_aws::search::{OpenSearchConfig, OpenSearchIndex};
use shared_aws::webhooks::DynamoWebhooks;
use shared_aws::webhooks::secrets::WebhookSecrets;

/// The function may run 10 s (`cdk/lib/handlers.ts`): a slow search answers with our 503
/// well before that, rather than a gateway timeout without the error shape.
const SEARCH_TIMEOUT: Duration = Duration::from_secs(4);

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let store = Arc::new(DynamoStore::from_env(&config)?);
    let policies = Arc::new(DynamoPolicies::new(&config, store.table()));
    let notifications = Arc::new(DynamoNotifications::new(&config, store.table(), store.clone()));
    let webhooks = Arc::new(DynamoWebhooks::new(&store, WebhookSecrets::from_env(&config)?));
    let search =
        OpenSearchIndex::new(OpenSearchConfig { timeout: SEARCH_TIMEOUT, ..OpenSearchConfig::from_env(&config)? })?;
    let state = AppState {
        store: store.clone(),
        history: store,
        search: Arc::new(search),
        // The Lambda API serves no metrics yet: dashboards read Timestream directly.
        metrics: None,
        auth: Arc::new(CognitoAuthenticator::new(TenantKeys::from_env()?)),
        // A Lambda response is at most 6 MB: exports go to S3, answered with a link.
        exports: Some(Arc::new(S3Exports::new(&config, ExportConfig::from_env()?))),
    };
    lambda_http::run(lambda_service(task_api::app(state, policies, notifications, webhooks))).await
}
