//! Escalation: late and critical work gets louder on a schedule.
//!
//! The decisions are here, in plain functions: the tenant's [`policy`], the [`plan`] a task
//! gets from it (its levels and when each is due; time is passed in), and the one
//! conditional write that records a level on the task ([`fire`]). Engines only wait and
//! write: `serve` keeps durable timers in SQLite, AWS runs one Step Functions execution per
//! plan. The level reached goes through the store like any other write, so the stream router
//! derives `TaskEscalated` from it and the notifier, history and search see it as usual.

pub mod fire;
pub mod plan;
pub mod policy;

pub use fire::{Outcome, RUNNER_ACTOR, escalate, reach, runner_context};
pub use plan::{Guard, Plan, Step, plan};
pub use policy::{Level, Policy, Problems, ProjectRules, Rules, Target};
