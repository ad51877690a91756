//! The application the task-api Lambda serves, apart from its wiring so that tests run the
//! same router: the core's routes, with what the Lambda keeps as items of the table besides
//! tasks: the tenants' escalation policies, people, each person's in-app notifications
//! (written by the notifier Lambda), and webhook subscriptions (their secrets in Secrets
//! Manager).

use std::sync::Arc;

use shared_api::{AppState, EscalationHandle, NotificationsHandle, WebhooksHandle, router};
use shared_core::ports::{EscalationPolicies, NotificationStore, WebhookStore};

/// The core's router over `state`, with `/escalation-policy` answering from `policies`,
/// `/people/{name}`, `/notifications` from `notifications` and `/webhooks…` from
/// `webhooks`. Subscription URLs must point at public addresses: the Lambda runs in the
/// account's network, next to the metadata service.
pub fn app(
    state: AppState,
    policies: Arc<dyn EscalationPolicies>,
    notifications: Arc<dyn NotificationStore>,
    webhooks: Arc<dyn WebhookStore>,
) -> axum::Router {
    router(state)
        .layer(axum::Extension(EscalationHandle(policies)))
        .layer(axum::Extension(NotificationsHandle(notifications)))
        .layer(axum::Extension(WebhooksHandle { store: webhooks, allow_private: false }))
}
