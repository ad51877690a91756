//! Escalation's seams: where a tenant's policy is kept, and where plans wait for their time
//! (SQLite timers embedded, Step Functions executions on AWS).

use async_trait::async_trait;

use super::StoreError;
use crate::escalation::{Plan, Policy};

/// Every call is scoped to `tenant`.
#[async_trait]
pub trait EscalationPolicies: Send + Sync {
    /// The tenant's stored policy; `None` when it never stored one (it has the defaults).
    async fn policy(&self, tenant: &str) -> Result<Option<Policy>, StoreError>;
    /// Replaces the tenant's policy if it is at version `expected` (0: none stored yet) and
    /// returns it as stored, one version up; otherwise [`StoreError::Conflict`] with the
    /// version it is at.
    async fn put_policy(&self, tenant: &str, policy: &Policy, expected: u64) -> Result<Policy, StoreError>;
}

/// Where plans wait. Both calls are fenced by the task version the plan (or the end) comes
/// from: what a newer version decided is never undone by an older event arriving late.
#[async_trait]
pub trait EscalationSchedule: Send + Sync {
    /// Makes `plan` the task's schedule, replacing the one in place (its pending steps are
    /// dropped, an execution is stopped). Returns `false` when a newer version's decision is
    /// in place and nothing changed.
    async fn schedule(&self, tenant: &str, plan: &Plan) -> Result<bool, StoreError>;
    /// Drops the task's schedule: the task was finished, deleted, or has nothing left to
    /// escalate as of `task_version`.
    async fn cancel(&self, tenant: &str, task_id: &str, task_version: u64) -> Result<bool, StoreError>;
}
