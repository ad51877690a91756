//! The application the task-api Lambda serves, apart from its wiring so that tests run the
//! same router: the core's routes, with the tenants' escalation policies where the Lambda
//! keeps them (an item of the table).

use std::sync::Arc;

use shared_api::{AppState, EscalationHandle, router};
use shared_core::ports::EscalationPolicies;

/// The core's router over `state`, with `/escalation-policy` answering from `policies`.
pub fn app(state: AppState, policies: Arc<dyn EscalationPolicies>) -> axum::Router {
    router(state).layer(axum::Extension(EscalationHandle(policies)))
}
