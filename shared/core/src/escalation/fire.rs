//! Reaching a level: the one conditional write both engines make when a step is due.
//!
//! The condition is the same everywhere (the task is still open, the plan is still current:
//! same due date, and the priority the plan saw where the level raises it; the level is not
//! yet reached), and so is the write: the level (with the time the plan set for it) on the
//! task, the priority raised where the level says so, one version up. On AWS the state machine's `UpdateItem`
//! states it as a `ConditionExpression`; embedded, [`reach`] reads the task, asks
//! [`escalate`] and commits on the version it read. Firing a step twice, or an older step
//! after a newer one, writes nothing the second time.

use events_schema::Timestamp;
use events_schema::events::{Escalation, TaskSnapshot, TaskStatus};

use super::plan::{Guard, Step, is_open};
use crate::context::{Identity, RequestContext, Role};
use crate::ports::{Aggregate, Change, Store, StoreError};

/// The actor of every escalation write, as events and history show it.
pub const RUNNER_ACTOR: &str = "escalation";
/// Version conflicts (a person editing the task at that moment) retried before giving up.
const CONFLICT_RETRIES: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The task to write, one version up.
    Escalated(Box<TaskSnapshot>),
    /// Nothing to do, and why: the plan's work is over for this step.
    NotNeeded(&'static str),
}

/// The write a due step asks for, if its condition holds on `task` as it is now.
pub fn escalate(task: &TaskSnapshot, plan_version: &str, guard: &Guard, step: &Step, now: Timestamp) -> Outcome {
    if !is_open(task.status) {
        return Outcome::NotNeeded("the task is finished");
    }
    if guard.todo_only && task.status != TaskStatus::Todo {
        return Outcome::NotNeeded("the task left todo within its SLA");
    }
    if task.due_date != guard.due_date {
        return Outcome::NotNeeded("the due date changed: a newer plan holds");
    }
    if task.escalation.as_ref().is_some_and(|e| e.level >= step.level) {
        return Outcome::NotNeeded("the level is already reached");
    }
    if step.raise_priority.is_some() && guard.priority.is_some_and(|p| p != task.priority) {
        return Outcome::NotNeeded("the priority changed: a newer plan holds");
    }
    let mut next = task.clone();
    if let Some(raise) = step.raise_priority {
        next.priority = next.priority.max(raise);
    }
    next.escalation = Some(Box::new(Escalation {
        level: step.level,
        name: step.name.clone(),
        notify: step.notify.clone(),
        plan: plan_version.to_owned(),
        at: step.at,
    }));
    next.updated_at = now;
    next.version = task.version + 1;
    Outcome::Escalated(Box::new(next))
}

/// The context escalation writes carry: the runner as actor, a correlation id naming the
/// task and level.
pub fn runner_context(tenant: &str, task_id: &str, level: u32) -> RequestContext {
    RequestContext {
        identity: Identity { tenant: tenant.to_owned(), actor: RUNNER_ACTOR.to_owned(), role: Role::Admin },
        correlation_id: format!("escalation-{task_id}-{level}"),
    }
}

/// Applies a due step to the stored task: read, decide, commit on the version read; a
/// concurrent edit (a version conflict) is read again and decided again. Returns whether
/// the level was written.
pub async fn reach(
    store: &dyn Store,
    tenant: &str,
    task_id: &str,
    plan_version: &str,
    guard: &Guard,
    step: &Step,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let mut conflicts = 0;
    loop {
        let Some(task) = store.get_task(tenant, task_id).await? else {
            return Ok(false);
        };
        let next = match escalate(&task, plan_version, guard, step, now) {
            Outcome::Escalated(next) => *next,
            Outcome::NotNeeded(why) => {
                tracing::debug!(task_id, level = step.level, why, "escalation not needed");
                return Ok(false);
            }
        };
        let change = Change::Put { new: Aggregate::Task(next), expected_version: Some(task.version) };
        match store.commit(&runner_context(tenant, task_id, step.level), vec![change], None).await {
            Ok(()) => {
                tracing::info!(task_id, level = step.level, name = %step.name, "task escalated");
                return Ok(true);
            }
            Err(StoreError::Conflict { .. }) if conflicts < CONFLICT_RETRIES => conflicts += 1,
            // Deleted between the read and the write.
            Err(StoreError::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use events_schema::events::Priority;

    use super::*;
    use crate::escalation::{Policy, plan};

    fn task() -> TaskSnapshot {
        let at = Timestamp::parse("2026-03-01T09:00:00Z").unwrap();
        TaskSnapshot {
            id: "t1".into(),
            title: "Ship".into(),
            description: None,
            status: TaskStatus::InProgress,
            priority: Priority::Medium,
            assignee: Some("li".into()),
            reporter: None,
            category_id: None,
            project_id: None,
            sprint_id: None,
            tags: vec![],
            due_date: Some("2026-03-01".into()),
            estimate_points: None,
            created_at: at,
            updated_at: at,
            status_changed_at: at,
            escalation: None,
            version: 4,
        }
    }

    fn now() -> Timestamp {
        Timestamp::parse("2026-03-05T00:00:00Z").unwrap()
    }

    #[test]
    fn a_due_step_writes_the_level_and_the_raised_priority_one_version_up() {
        let t = task();
        let p = plan::plan(&t, &Policy::default(), now()).unwrap();
        let Outcome::Escalated(next) = escalate(&t, &p.version, &p.guard, &p.steps[0], now()) else {
            panic!("expected a write");
        };
        assert_eq!((next.version, next.priority, next.updated_at), (5, Priority::Critical, now()));
        assert_eq!(next.escalation.as_ref().unwrap().at, p.steps[0].at, "the level's time, as planned");
        let reached = next.escalation.clone().unwrap();
        assert_eq!((reached.level, reached.name.as_str(), reached.plan), (3, "overdue", p.version.clone()));
        assert_eq!(
            escalate(&next, &p.version, &p.guard, &p.steps[0], now()),
            Outcome::NotNeeded("the level is already reached")
        );
    }

    #[test]
    fn a_finished_task_a_moved_due_date_or_a_started_sla_task_needs_nothing() {
        let t = task();
        let p = plan::plan(&t, &Policy::default(), now()).unwrap();
        let mut done = t.clone();
        done.status = TaskStatus::Done;
        assert!(matches!(escalate(&done, &p.version, &p.guard, &p.steps[0], now()), Outcome::NotNeeded(_)));
        let mut moved = t.clone();
        moved.due_date = Some("2026-04-01".into());
        assert!(matches!(escalate(&moved, &p.version, &p.guard, &p.steps[0], now()), Outcome::NotNeeded(_)));
        let sla = Guard { due_date: Some("2026-03-01".into()), todo_only: true, priority: None };
        assert!(matches!(escalate(&t, &p.version, &sla, &p.steps[0], now()), Outcome::NotNeeded(_)));
        let mut raised = t.clone();
        raised.priority = Priority::High;
        assert_eq!(
            escalate(&raised, &p.version, &p.guard, &p.steps[0], now()),
            Outcome::NotNeeded("the priority changed: a newer plan holds")
        );
    }

    #[test]
    fn a_priority_already_above_the_raise_stays() {
        let mut t = task();
        t.priority = Priority::Critical;
        let mut p = plan::plan(&t, &Policy::default(), now()).unwrap();
        p.steps[0].raise_priority = Some(Priority::High);
        let Outcome::Escalated(next) = escalate(&t, &p.version, &p.guard, &p.steps[0], now()) else { panic!() };
        assert_eq!(next.priority, Priority::Critical);
    }
}
