//! The consumers' decisions, written once over the ports.

pub mod escalation;
pub mod history;
pub mod metrics;
pub mod notifier;
pub mod search;
pub mod sprint_closure;
