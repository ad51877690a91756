//! Sprint closure: on `SprintClosed`, the sprint's unfinished tasks move to the backlog or
//! to the sprint chosen when it closed, then the sprint's summary is recorded.
//!
//! A plain consumer step: nothing waits, so no state machine. Every write goes through the
//! store's one atomic commit, version-fenced, so the router derives `TaskUpdated` for each
//! moved task and `SprintSummarized` for the summary like for any other write.
//!
//! Exactly once under redelivery: the tasks move in batches of at most 99, each committed
//! together with the sprint itself (its version checked, its count of moved tasks raised),
//! and the last batch records the summary. A second delivery finds the summary and does
//! nothing; a concurrent one loses the sprint's version check, reads again and finds less
//! (or nothing) to do; a step stopped between batches resumes with the count it wrote.

use std::sync::Arc;

use events_schema::events::{SprintSnapshot, SprintStatus, SprintSummary, TaskSnapshot, TaskStatus};
use events_schema::{DomainEvent, EventData, Timestamp};

use crate::context::{Identity, RequestContext, Role};
use crate::domain::{CarryOver, Patch, UpdateTask, apply_update, check_carry_over_target};
use crate::pipeline::{ApplyError, Delivery};
use crate::ports::{Aggregate, Change, MAX_CHANGES_PER_COMMIT, Store, StoreError, TaskFilter, TaskQuery};

/// The actor of the closing step's writes, as events and history show it.
pub const CLOSURE_ACTOR: &str = "sprint-closure";
/// Tasks moved per commit: the sprint's own write takes the last place of a transaction.
const BATCH: usize = MAX_CHANGES_PER_COMMIT - 1;
/// Version conflicts (someone editing a task of the sprint at that moment, or a duplicate
/// delivery running alongside) read again before the event is handed back for a retry.
const CONFLICT_RETRIES: usize = 5;

pub struct SprintClosure {
    store: Arc<dyn Store>,
    clock: fn() -> Timestamp,
}

/// Where one step left the closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// The summary is recorded (now or by an earlier delivery), or there is no sprint.
    Done,
    /// A batch moved; more unfinished tasks remain.
    Moved,
}

impl SprintClosure {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, clock: Timestamp::now }
    }

    /// With another clock, for tests.
    pub fn with_clock(mut self, clock: fn() -> Timestamp) -> Self {
        self.clock = clock;
        self
    }

    /// Carries a closed sprint's unfinished tasks over and summarizes it. Any other event,
    /// and every replayed one, changes nothing: a replay re-sends the past, and what the
    /// past asked for is done already.
    pub async fn apply(&self, event: &DomainEvent, delivery: &Delivery) -> Result<(), ApplyError> {
        let EventData::SprintClosed(closed) = &event.data else {
            return Ok(());
        };
        let meta = &event.meta;
        if delivery.replay_name.is_some() {
            tracing::debug!(event_id = %meta.event_id, "replayed SprintClosed: no task moves");
            return Ok(());
        }
        if closed.sprint.id != meta.aggregate_id {
            return Err(ApplyError::Rejected(format!(
                "SprintClosed names sprint {} but carries a snapshot of sprint {}",
                meta.aggregate_id, closed.sprint.id
            )));
        }
        let ctx = RequestContext {
            identity: Identity { tenant: meta.tenant.clone(), actor: CLOSURE_ACTOR.to_owned(), role: Role::Admin },
            correlation_id: meta.correlation_id.clone(),
        };
        let mut conflicts = 0;
        loop {
            match self.step(&ctx, &meta.aggregate_id).await {
                Ok(Progress::Done) => return Ok(()),
                Ok(Progress::Moved) => {}
                Err(StoreError::Conflict { .. } | StoreError::Rejected(_)) if conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    tracing::debug!(sprint_id = %meta.aggregate_id, conflicts, "sprint closure raced a write: reading again");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads the sprint and its tasks, and commits the next batch (the last one with the
    /// summary).
    async fn step(&self, ctx: &RequestContext, sprint_id: &str) -> Result<Progress, StoreError> {
        let tenant = ctx.tenant();
        let Some(sprint) = self.store.get_sprint(tenant, sprint_id).await? else {
            tracing::warn!(%sprint_id, "a closed sprint is gone: nothing to carry over");
            return Ok(Progress::Done);
        };
        if sprint.summary.is_some() {
            return Ok(Progress::Done);
        }
        if sprint.status != SprintStatus::Closed {
            // Sprints never reopen: the read is older than the event, which a retry outlives.
            return Err(StoreError::Unavailable(format!("sprint {sprint_id} does not read as closed yet")));
        }
        let tasks = self.sprint_tasks(tenant, sprint_id).await?;
        let target = self.target(tenant, &sprint).await?;
        let (done, unfinished): (Vec<&TaskSnapshot>, Vec<&TaskSnapshot>) =
            tasks.iter().filter(|t| t.status != TaskStatus::Cancelled).partition(|t| t.status == TaskStatus::Done);
        let now = (self.clock)();
        let mut changes = Vec::with_capacity(BATCH + 1);
        let mut moved = 0u32;
        for listed in unfinished.iter().take(BATCH) {
            // Read again: a list may lag behind the table (a DynamoDB index does).
            let Some(task) = self.store.get_task(tenant, &listed.id).await? else {
                continue;
            };
            if task.sprint_id.as_deref() != Some(sprint_id)
                || matches!(task.status, TaskStatus::Done | TaskStatus::Cancelled)
            {
                continue;
            }
            let sprint_patch = match &target {
                CarryOver::Backlog => Patch::Clear,
                CarryOver::Sprint(id) => Patch::Set(id.clone()),
            };
            let cmd = UpdateTask { sprint_id: sprint_patch, ..Default::default() };
            // Moving between sprints changes no status: it cannot be refused, only be a no-op.
            if let Ok(Some(next)) = apply_update(&task, cmd, now) {
                changes.push(Change::Put { new: Aggregate::Task(next), expected_version: Some(task.version) });
                moved += 1;
            }
        }
        let last = unfinished.len() <= BATCH;
        if moved == 0 && !last {
            // Every listed task had moved on already: the list lags; a later retry reads it again.
            return Err(StoreError::Unavailable(format!("the task list of sprint {sprint_id} lags behind the tasks")));
        }
        let next = next_sprint(&sprint, moved, last.then(|| (&done[..], &target)), now);
        changes.push(Change::Put { new: Aggregate::Sprint(next), expected_version: Some(sprint.version) });
        self.store.commit(ctx, changes, None).await?;
        tracing::info!(%sprint_id, moved, to = target.as_str(), summarized = last, "sprint closure step");
        Ok(if last { Progress::Done } else { Progress::Moved })
    }

    /// Every task filed under the sprint, through every page of the list.
    async fn sprint_tasks(&self, tenant: &str, sprint_id: &str) -> Result<Vec<TaskSnapshot>, StoreError> {
        let filter = TaskFilter { sprint_id: Some(sprint_id.to_owned()), ..Default::default() };
        let mut query = TaskQuery { filter, limit: 100, ..Default::default() };
        let mut tasks = Vec::new();
        loop {
            let page = self.store.list_tasks(tenant, &query).await?;
            tasks.extend(page.items);
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => return Ok(tasks),
            }
        }
    }

    /// The sprint's choice, if it can still take the tasks; the backlog when the named
    /// sprint has closed (or gone) since: the tasks must leave a closed sprint either way.
    async fn target(&self, tenant: &str, sprint: &SprintSnapshot) -> Result<CarryOver, StoreError> {
        let chosen = CarryOver::of(sprint);
        let CarryOver::Sprint(id) = &chosen else {
            return Ok(chosen);
        };
        let refusal = match self.store.get_sprint(tenant, id).await? {
            Some(target) => match check_carry_over_target(sprint, &target) {
                Ok(()) => return Ok(chosen),
                Err(why) => why,
            },
            None => format!("sprint {id} is gone"),
        };
        tracing::warn!(sprint_id = %sprint.id, reason = %refusal, "carrying over to the backlog instead");
        Ok(CarryOver::Backlog)
    }
}

/// The sprint after a batch of `moved` tasks, one version up; with its summary when
/// `summarize` gives the done tasks and where the unfinished ones went.
fn next_sprint(
    sprint: &SprintSnapshot,
    moved: u32,
    summarize: Option<(&[&TaskSnapshot], &CarryOver)>,
    now: Timestamp,
) -> SprintSnapshot {
    let moved_out = sprint.moved_out + moved;
    let summary = summarize.map(|(done, target)| SprintSummary {
        completed_count: u32::try_from(done.len()).unwrap_or(u32::MAX),
        completed_points: done.iter().filter_map(|t| t.estimate_points).fold(0u32, u32::saturating_add),
        carried_over_count: moved_out,
        carried_over_to: target.as_str().to_owned(),
        summarized_at: now,
    });
    SprintSnapshot { moved_out, summary, version: sprint.version + 1, ..sprint.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{close_sprint, new_sprint, start_sprint};

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn task(id: &str, status: TaskStatus, points: Option<u32>) -> TaskSnapshot {
        let t = at("2026-03-01T00:00:00Z");
        TaskSnapshot {
            id: id.into(),
            title: "Ship".into(),
            description: None,
            status,
            priority: events_schema::events::Priority::Medium,
            assignee: None,
            reporter: None,
            category_id: None,
            project_id: Some("p".into()),
            sprint_id: Some("s1".into()),
            tags: vec![],
            due_date: None,
            estimate_points: points,
            created_at: t,
            updated_at: t,
            status_changed_at: t,
            escalation: None,
            version: 2,
        }
    }

    fn closed() -> SprintSnapshot {
        let now = at("2026-03-14T00:00:00Z");
        let s = start_sprint(&new_sprint("s1".into(), "p".into(), "One").unwrap(), now).unwrap();
        close_sprint(&s, &CarryOver::Backlog, now).unwrap()
    }

    #[test]
    fn a_middle_batch_counts_its_moves_and_summarizes_nothing() {
        let next = next_sprint(&closed(), 99, None, at("2026-03-15T00:00:00Z"));
        assert_eq!((next.moved_out, next.summary.clone(), next.version), (99, None, 4));
    }

    #[test]
    fn the_last_batch_summarizes_every_move_and_the_done_points() {
        let mut sprint = closed();
        sprint.moved_out = 99;
        let done = [
            task("a", TaskStatus::Done, Some(3)),
            task("b", TaskStatus::Done, None),
            task("c", TaskStatus::Done, Some(5)),
        ];
        let done: Vec<&TaskSnapshot> = done.iter().collect();
        let now = at("2026-03-15T00:00:00Z");
        let target = CarryOver::Sprint("s2".into());
        let next = next_sprint(&sprint, 2, Some((&done, &target)), now);
        let summary = next.summary.unwrap();
        assert_eq!((summary.completed_count, summary.completed_points, summary.carried_over_count), (3, 8, 101));
        assert_eq!((summary.carried_over_to.as_str(), summary.summarized_at), ("s2", now));
    }
}
