//! The search indexer: keeps the search index at the latest version of every task.
//!
//! Every task event carries the whole snapshot after its change, so each one is applied on
//! its own as an upsert at the event's aggregate version; the index's version fence makes
//! repeats and out-of-order arrivals harmless. A deletion removes at its version and leaves
//! a tombstone, so an older event arriving after it cannot resurrect the task.

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::events::TaskSnapshot;
use events_schema::{DomainEvent, EventData};

use crate::pipeline::{ApplyError, Consumer, Delivery};
use crate::ports::SearchIndex;

pub struct SearchIndexer {
    index: Arc<dyn SearchIndex>,
}

impl SearchIndexer {
    pub fn new(index: Arc<dyn SearchIndex>) -> Self {
        Self { index }
    }
}

/// What an event asks of the index.
enum Action<'a> {
    Upsert(&'a TaskSnapshot),
    Remove,
    Nothing,
}

fn action(data: &EventData) -> Action<'_> {
    match data {
        EventData::TaskCreated(e) => Action::Upsert(&e.task),
        EventData::TaskUpdated(e) => Action::Upsert(&e.task),
        EventData::TaskStatusChanged(e) => Action::Upsert(&e.task),
        EventData::TaskAssigned(e) => Action::Upsert(&e.task),
        EventData::TaskCompleted(e) => Action::Upsert(&e.task),
        EventData::TaskEscalated(e) => Action::Upsert(&e.task),
        EventData::TaskDeleted(_) => Action::Remove,
        _ => Action::Nothing,
    }
}

#[async_trait]
impl Consumer for SearchIndexer {
    fn name(&self) -> &'static str {
        events_schema::routing::SEARCH_INDEXER
    }

    async fn apply(&self, event: &DomainEvent, _: &Delivery) -> Result<(), ApplyError> {
        let meta = &event.meta;
        match action(&event.data) {
            Action::Upsert(task) => {
                // The snapshot must be the aggregate the envelope names: an event that
                // disagrees with itself would index one task under another's key.
                if task.id != meta.aggregate_id {
                    return Err(ApplyError::Rejected(format!(
                        "{} names task {} but carries a snapshot of task {}",
                        event.event_type(),
                        meta.aggregate_id,
                        task.id
                    )));
                }
                let applied = self.index.upsert(&meta.tenant, task, meta.aggregate_version).await?;
                tracing::debug!(task_id = %task.id, version = meta.aggregate_version, applied, "search upsert");
            }
            Action::Remove => {
                let applied = self.index.remove(&meta.tenant, &meta.aggregate_id, meta.aggregate_version).await?;
                tracing::debug!(task_id = %meta.aggregate_id, version = meta.aggregate_version, applied, "search remove");
            }
            Action::Nothing => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use events_schema::envelope::ChangeContext;
    use events_schema::events::{CommentAdded, CommentSnapshot, Priority, TaskCreated, TaskDeleted, TaskStatus};
    use events_schema::{AggregateType, Timestamp};

    use super::*;
    use crate::ports::{SearchQuery, SearchResults, StoreError};

    /// Records what the indexer asked for.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    #[async_trait]
    impl SearchIndex for Recorder {
        async fn upsert(&self, tenant: &str, task: &TaskSnapshot, version: u64) -> Result<bool, StoreError> {
            self.0.lock().unwrap().push(format!("upsert {tenant} {} v{version}", task.id));
            Ok(true)
        }
        async fn remove(&self, tenant: &str, task_id: &str, version: u64) -> Result<bool, StoreError> {
            self.0.lock().unwrap().push(format!("remove {tenant} {task_id} v{version}"));
            Ok(true)
        }
        async fn search(&self, _: &str, _: &SearchQuery) -> Result<SearchResults, StoreError> {
            Ok(SearchResults::default())
        }
        async fn suggest(&self, _: &str, _: &str, _: usize) -> Result<Vec<String>, StoreError> {
            Ok(vec![])
        }
    }

    fn task(id: &str, version: u64) -> TaskSnapshot {
        let at = Timestamp::from_unix_millis(1_767_225_600_000).unwrap();
        TaskSnapshot {
            id: id.into(),
            title: "Ship it".into(),
            description: None,
            status: TaskStatus::Todo,
            priority: Priority::Medium,
            assignee: None,
            reporter: None,
            category_id: None,
            project_id: None,
            sprint_id: None,
            tags: vec![],
            due_date: None,
            estimate_points: None,
            created_at: at,
            updated_at: at,
            status_changed_at: at,
            escalation: None,
            version,
        }
    }

    fn event(aggregate_type: AggregateType, id: &str, version: u64, data: EventData) -> DomainEvent {
        let ctx = ChangeContext {
            tenant: "acme".into(),
            aggregate_type,
            aggregate_id: id.into(),
            aggregate_version: version,
            occurred_at: Timestamp::from_unix_millis(1_767_225_600_000).unwrap(),
            correlation_id: "corr".into(),
            actor: "maria".into(),
        };
        DomainEvent::new(&ctx, data)
    }

    async fn applied(events: &[DomainEvent]) -> (Vec<String>, Vec<bool>) {
        let recorder = Arc::new(Recorder::default());
        let indexer = SearchIndexer::new(recorder.clone());
        let mut oks = Vec::new();
        for e in events {
            oks.push(indexer.apply(e, &Delivery::default()).await.is_ok());
        }
        let calls = recorder.0.lock().unwrap().clone();
        (calls, oks)
    }

    #[tokio::test]
    async fn given_task_events_then_upserts_at_their_version_and_a_removal_for_a_deletion() {
        let created = event(AggregateType::Task, "t1", 1, EventData::TaskCreated(TaskCreated { task: task("t1", 1) }));
        let deleted = event(
            AggregateType::Task,
            "t1",
            3,
            EventData::TaskDeleted(TaskDeleted { task_id: "t1".into(), task: task("t1", 2) }),
        );
        let (calls, oks) = applied(&[created, deleted]).await;
        assert_eq!(calls, ["upsert acme t1 v1", "remove acme t1 v3"]);
        assert_eq!(oks, [true, true]);
    }

    #[tokio::test]
    async fn given_a_comment_event_then_nothing_is_indexed() {
        let comment = CommentSnapshot {
            id: "c1".into(),
            task_id: "t1".into(),
            author: "li".into(),
            body: "hi".into(),
            mentions: vec![],
            created_at: Timestamp::from_unix_millis(0).unwrap(),
        };
        let e = event(AggregateType::Comment, "c1", 1, EventData::CommentAdded(CommentAdded { comment }));
        let (calls, oks) = applied(&[e]).await;
        assert!(calls.is_empty());
        assert_eq!(oks, [true]);
    }

    #[tokio::test]
    async fn given_a_snapshot_of_another_task_then_the_event_is_rejected() {
        let e = event(AggregateType::Task, "t1", 1, EventData::TaskCreated(TaskCreated { task: task("t2", 1) }));
        let (calls, oks) = applied(&[e]).await;
        assert!(calls.is_empty());
        assert_eq!(oks, [false]);
    }
}
