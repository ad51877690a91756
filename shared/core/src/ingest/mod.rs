//! Ingest: commands published by internal services (`events_schema::commands`), each
//! validated, planned against the task it names and applied to the store as one conditional
//! write together with the command's receipt. The usual events follow from that change like
//! from any other write; ingest never puts an event on the bus itself.
//!
//! - The tenant is the publisher's, from its identity (an API key, or the bus source's
//!   mapping on AWS). A command may name its tenant, but only to be refused when it is
//!   another one.
//! - The command id is the idempotency key: the receipt (an idempotency record under
//!   [`receipt_key`]) commits in the same transaction as the change, so a second delivery
//!   finds it and does nothing, and two concurrent deliveries cannot both write.
//! - A rejected command writes nothing and says why ([`Rejection`]).
//!
//! [`validate`] and [`plan`] are pure (no store, no clock of their own), which is what the
//! ingest benchmark measures; [`apply`] runs them over a [`Store`](crate::ports::Store).

mod apply;
mod batch;
mod outcome;
mod plan;
mod validate;

pub use apply::apply;
pub use batch::{BATCH_CONCURRENCY, apply_batch, task_key};
pub use outcome::{Effect, Outcome, Reason, Rejection};
pub use plan::{Plan, plan};
pub use validate::{Body, Validated, envelope_from_value, parse_envelope, receipt_key, validate};
