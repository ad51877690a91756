//! The application the task-api Lambda serves, apart from its wiring so that tests run the
//! same router: the core's routes, with what the Lambda keeps as items of the table besides
//! tasks: the tenants' escalation policies, people, and each person's in-app notifications
//! (written by the notifier Lambda).

use std::sync::Arc;

use shared_api::{AppState, EscalationHandle, NotificationsHandle, router};
use shared_core::ports::{EscalationPolicies, NotificationStore};

/// The core's router over `state`, with `/escalation-policy` answering from `policies` and
/// `/people/{name}`, `/notifications` from `notifications`.
pub fn app(
    state: AppState,
    policies: Arc<dyn EscalationPolicies>,
    notifications: Arc<dyn NotificationStore>,
) -> axum::Router {
    router(state)
        .layer(axum::Extension(EscalationHandle(policies)))
        .layer(axum::Extension(NotificationsHandle(notifications)))
}
