//! The escalation planner: on every task event, the task's plan under its tenant's policy,
//! handed to the engine's schedule (timers embedded, an execution on AWS). A task with
//! nothing left to escalate, finished or deleted, has its schedule dropped.
//!
//! Replayed events change nothing: a replay re-sends the past, and the past's plans are
//! either in place already or superseded.
//!
//! The same consumer carries a closed sprint's unfinished tasks over
//! ([`SprintClosure`]): both are follow-ups the backbone makes on its own after a change,
//! writing back through the store, and one queue and one Lambda serve both.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use events_schema::events::TaskSnapshot;
use events_schema::{AggregateType, DomainEvent, EventData, Timestamp};
use tracing::Instrument;

use super::sprint_closure::SprintClosure;
use crate::escalation::{Policy, plan};
use crate::pipeline::{ApplyError, Consumer, Decoded, Delivery};
use crate::ports::{EscalationPolicies, EscalationSchedule};

pub struct EscalationPlanner {
    policies: Arc<dyn EscalationPolicies>,
    schedule: Arc<dyn EscalationSchedule>,
    sprints: Option<SprintClosure>,
    clock: fn() -> Timestamp,
}

impl EscalationPlanner {
    pub fn new(policies: Arc<dyn EscalationPolicies>, schedule: Arc<dyn EscalationSchedule>) -> Self {
        Self { policies, schedule, sprints: None, clock: Timestamp::now }
    }

    /// Also carries closed sprints' tasks over. Both engines build the consumer with it; one
    /// without it refuses `SprintClosed` (to its dead letters) rather than drop it.
    pub fn with_sprint_closure(mut self, sprints: SprintClosure) -> Self {
        self.sprints = Some(sprints);
        self
    }

    /// With another clock, for tests.
    pub fn with_clock(mut self, clock: fn() -> Timestamp) -> Self {
        self.clock = clock;
        self
    }
}

/// Tenants' policies, as a batch looked them up.
type Policies<'a> = HashMap<&'a str, Policy>;

impl EscalationPlanner {
    /// The policy of each tenant whose live task events the batch carries, looked up once
    /// for the batch rather than once per event. A lookup that fails is left out: each of
    /// its events then looks up for itself and fails, or not, on its own.
    async fn batch_policies<'a>(&self, events: &'a [Decoded]) -> Policies<'a> {
        let mut known = Policies::new();
        for d in events {
            let meta = &d.event.meta;
            if meta.aggregate_type != AggregateType::Task
                || d.delivery.replay_name.is_some()
                || known.contains_key(meta.tenant.as_str())
            {
                continue;
            }
            if let Ok(policy) = self.policies.policy(&meta.tenant).await {
                known.insert(meta.tenant.as_str(), policy.unwrap_or_default());
            }
        }
        known
    }
}

/// The task an event leaves behind; `None` for a deletion (and for non-task events).
fn task_of(data: &EventData) -> Option<&TaskSnapshot> {
    match data {
        EventData::TaskCreated(e) => Some(&e.task),
        EventData::TaskUpdated(e) => Some(&e.task),
        EventData::TaskStatusChanged(e) => Some(&e.task),
        EventData::TaskAssigned(e) => Some(&e.task),
        EventData::TaskCompleted(e) => Some(&e.task),
        EventData::TaskEscalated(e) => Some(&e.task),
        _ => None,
    }
}

#[async_trait]
impl Consumer for EscalationPlanner {
    fn name(&self) -> &'static str {
        events_schema::routing::ESCALATION
    }

    async fn apply(&self, event: &DomainEvent, delivery: &Delivery) -> Result<(), ApplyError> {
        self.apply_with(event, delivery, &Policies::new()).await
    }

    async fn apply_batch(&self, events: &[Decoded]) -> Vec<Result<(), ApplyError>> {
        let known = self.batch_policies(events).await;
        futures_util::future::join_all(
            events.iter().map(|d| self.apply_with(&d.event, &d.delivery, &known).instrument(d.span(self.name()))),
        )
        .await
    }
}

impl EscalationPlanner {
    async fn apply_with(
        &self,
        event: &DomainEvent,
        delivery: &Delivery,
        known: &Policies<'_>,
    ) -> Result<(), ApplyError> {
        let meta = &event.meta;
        if let EventData::SprintClosed(_) = &event.data {
            return match &self.sprints {
                Some(sprints) => sprints.apply(event, delivery).await,
                None => Err(ApplyError::Rejected("this escalation consumer was built without sprint closure".into())),
            };
        }
        if meta.aggregate_type != AggregateType::Task {
            return Ok(());
        }
        if delivery.replay_name.is_some() {
            tracing::debug!(event_id = %meta.event_id, "replayed event: no escalation scheduled");
            return Ok(());
        }
        let tenant = &meta.tenant;
        let Some(task) = task_of(&event.data) else {
            if matches!(event.data, EventData::TaskDeleted(_)) {
                self.schedule.cancel(tenant, &meta.aggregate_id, meta.aggregate_version).await?;
            }
            return Ok(());
        };
        if task.id != meta.aggregate_id {
            return Err(ApplyError::Rejected(format!(
                "{} names task {} but carries a snapshot of task {}",
                event.event_type(),
                meta.aggregate_id,
                task.id
            )));
        }
        let looked_up;
        let policy = match known.get(tenant.as_str()) {
            Some(policy) => policy,
            None => {
                looked_up = self.policies.policy(tenant).await?.unwrap_or_default();
                &looked_up
            }
        };
        match plan(task, policy, (self.clock)()) {
            Some(plan) => {
                let placed = self.schedule.schedule(tenant, &plan).await?;
                tracing::debug!(task_id = %task.id, plan = %plan.version, steps = plan.steps.len(), placed, "escalation planned");
            }
            None => {
                self.schedule.cancel(tenant, &task.id, task.version).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use events_schema::envelope::ChangeContext;
    use events_schema::events::{Priority, TaskCreated, TaskDeleted, TaskStatus};

    use super::*;
    use crate::escalation::{Plan, Policy};
    use crate::ports::StoreError;

    #[derive(Default)]
    struct Recorded {
        scheduled: Mutex<Vec<(String, String, u64)>>,
        cancelled: Mutex<Vec<(String, u64)>>,
        /// Every policy lookup, by tenant; the tenant "down" has a store that fails.
        lookups: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl EscalationPolicies for Recorded {
        async fn policy(&self, tenant: &str) -> Result<Option<Policy>, StoreError> {
            self.lookups.lock().unwrap().push(tenant.to_owned());
            if tenant == "down" {
                return Err(StoreError::Unavailable("the policy table is gone".into()));
            }
            Ok(None)
        }
        async fn put_policy(&self, _: &str, p: &Policy, _: u64) -> Result<Policy, StoreError> {
            Ok(p.clone())
        }
    }

    #[async_trait]
    impl EscalationSchedule for Recorded {
        async fn schedule(&self, _: &str, plan: &Plan) -> Result<bool, StoreError> {
            self.scheduled.lock().unwrap().push((plan.task_id.clone(), plan.version.clone(), plan.task_version));
            Ok(true)
        }
        async fn cancel(&self, _: &str, task_id: &str, version: u64) -> Result<bool, StoreError> {
            self.cancelled.lock().unwrap().push((task_id.to_owned(), version));
            Ok(true)
        }
    }

    fn now() -> Timestamp {
        Timestamp::parse("2026-03-02T00:00:00Z").unwrap()
    }

    fn task(status: TaskStatus, version: u64) -> TaskSnapshot {
        let at = Timestamp::parse("2026-03-01T00:00:00Z").unwrap();
        TaskSnapshot {
            id: "t1".into(),
            title: "Ship".into(),
            description: None,
            status,
            priority: Priority::High,
            assignee: Some("li".into()),
            reporter: None,
            category_id: None,
            project_id: None,
            sprint_id: None,
            tags: vec![],
            due_date: Some("2026-03-20".into()),
            estimate_points: None,
            created_at: at,
            updated_at: at,
            status_changed_at: at,
            escalation: None,
            version,
        }
    }

    fn event(version: u64, data: EventData) -> DomainEvent {
        event_in("acme", version, data)
    }

    fn event_in(tenant: &str, version: u64, data: EventData) -> DomainEvent {
        let ctx = ChangeContext {
            tenant: tenant.into(),
            aggregate_type: AggregateType::Task,
            aggregate_id: "t1".into(),
            aggregate_version: version,
            occurred_at: now(),
            correlation_id: "c".into(),
            actor: "li".into(),
        };
        DomainEvent::new(&ctx, data)
    }

    fn planner(r: &Arc<Recorded>) -> EscalationPlanner {
        EscalationPlanner::new(r.clone(), r.clone()).with_clock(now)
    }

    #[tokio::test]
    async fn an_open_task_is_scheduled_and_a_redelivery_schedules_the_same_plan() {
        let r = Arc::new(Recorded::default());
        let created = event(1, EventData::TaskCreated(TaskCreated { task: task(TaskStatus::Todo, 1) }));
        planner(&r).apply(&created, &Delivery::default()).await.unwrap();
        planner(&r).apply(&created, &Delivery::default()).await.unwrap();
        let scheduled = r.scheduled.lock().unwrap().clone();
        assert_eq!(scheduled.len(), 2);
        assert_eq!(scheduled[0], scheduled[1], "same task, same plan version, same task version");
    }

    #[tokio::test]
    async fn a_replayed_event_schedules_nothing() {
        let r = Arc::new(Recorded::default());
        let created = event(1, EventData::TaskCreated(TaskCreated { task: task(TaskStatus::Todo, 1) }));
        planner(&r).apply(&created, &Delivery { replay_name: Some("r1".into()) }).await.unwrap();
        let deleted =
            event(3, EventData::TaskDeleted(TaskDeleted { task_id: "t1".into(), task: task(TaskStatus::Todo, 2) }));
        planner(&r).apply(&deleted, &Delivery { replay_name: Some("r1".into()) }).await.unwrap();
        assert!(r.scheduled.lock().unwrap().is_empty());
        assert!(r.cancelled.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_finished_or_deleted_task_has_its_schedule_dropped_at_its_version() {
        let r = Arc::new(Recorded::default());
        let done = event(4, EventData::TaskCreated(TaskCreated { task: task(TaskStatus::Done, 4) }));
        planner(&r).apply(&done, &Delivery::default()).await.unwrap();
        let deleted =
            event(6, EventData::TaskDeleted(TaskDeleted { task_id: "t1".into(), task: task(TaskStatus::Todo, 5) }));
        planner(&r).apply(&deleted, &Delivery::default()).await.unwrap();
        assert_eq!(*r.cancelled.lock().unwrap(), [("t1".to_owned(), 4), ("t1".to_owned(), 6)]);
        assert!(r.scheduled.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_batch_looks_each_tenants_policy_up_once_and_a_failed_lookup_fails_only_its_tenants_events() {
        let r = Arc::new(Recorded::default());
        let created = |tenant: &str, version| Decoded {
            message_id: format!("{tenant}-{version}"),
            event: event_in(
                tenant,
                version,
                EventData::TaskCreated(TaskCreated { task: task(TaskStatus::Todo, version) }),
            ),
            delivery: Delivery::default(),
        };
        let batch =
            [created("acme", 1), created("globex", 1), created("acme", 2), created("down", 1), created("globex", 2)];
        let outcomes = planner(&r).apply_batch(&batch).await;
        let failed: Vec<bool> = outcomes.iter().map(Result::is_err).collect();
        assert_eq!(failed, [false, false, false, true, false]);
        assert!(matches!(&outcomes[3], Err(ApplyError::Store(StoreError::Unavailable(_)))));
        assert_eq!(r.scheduled.lock().unwrap().len(), 4, "every other tenant's task is planned");
        let mut lookups = r.lookups.lock().unwrap().clone();
        lookups.sort();
        // Once each for the batch; the failed tenant once more, by its own event.
        assert_eq!(lookups, ["acme", "down", "down", "globex"]);
    }
}
