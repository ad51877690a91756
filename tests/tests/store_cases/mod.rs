//! The store contract: what every engine behind the `Store` and `HistoryStore` ports must
//! do, written once over the ports and run against each engine by `store_contract.rs`.

pub mod ingest;
pub mod lists;
pub mod stream;
pub mod writes;

use std::sync::Arc;

use events_schema::events::{
    CategorySnapshot, CommentSnapshot, Priority, ProjectSnapshot, SprintSnapshot, SprintStatus, TaskSnapshot,
    TaskStatus,
};
use events_schema::{AggregateType, Timestamp};
use shared_core::context::{Identity, RequestContext, Role};
use shared_core::ports::{Aggregate, Change, HistoryStore, Store, StoreError};

/// One engine under test, with whatever keeps it alive (its emulator, its directory).
pub struct Subject {
    pub store: Arc<dyn Store>,
    pub history: Arc<dyn HistoryStore>,
    pub _keep: Box<dyn std::any::Any + Send + Sync>,
}

pub const ACME: &str = "acme";
pub const GLOBEX: &str = "globex";

pub fn ctx(tenant: &str) -> RequestContext {
    ctx_as(tenant, &format!("corr-{}", uuid::Uuid::new_v4().simple()))
}

pub fn ctx_as(tenant: &str, correlation_id: &str) -> RequestContext {
    RequestContext {
        identity: Identity { tenant: tenant.into(), actor: "maria".into(), role: Role::Admin },
        correlation_id: correlation_id.into(),
    }
}

pub fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

/// A time-ordered id, as the domain makes them.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn task(id: &str) -> TaskSnapshot {
    let at = ts("2026-03-01T09:30:00.250Z");
    TaskSnapshot {
        id: id.into(),
        title: "Write the release notes".into(),
        description: None,
        status: TaskStatus::Todo,
        priority: Priority::Medium,
        assignee: None,
        reporter: Some("maria".into()),
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
        version: 1,
    }
}

pub fn category(id: &str, name: &str) -> CategorySnapshot {
    CategorySnapshot { id: id.into(), name: name.into(), color: Some("#ff8800".into()), icon: None, version: 1 }
}

pub fn project(id: &str) -> ProjectSnapshot {
    let at = ts("2026-03-01T09:30:00Z");
    ProjectSnapshot {
        id: id.into(),
        name: "Apollo".into(),
        description: None,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}

pub fn sprint(id: &str, project_id: &str) -> SprintSnapshot {
    SprintSnapshot {
        id: id.into(),
        project_id: project_id.into(),
        name: "Sprint".into(),
        status: SprintStatus::Planned,
        started_at: None,
        closed_at: None,
        carry_over_to: None,
        moved_out: 0,
        summary: None,
        version: 1,
    }
}

pub fn comment(id: &str, task_id: &str) -> CommentSnapshot {
    CommentSnapshot {
        id: id.into(),
        task_id: task_id.into(),
        author: "li".into(),
        body: "Looks good @maria".into(),
        mentions: vec!["maria".into()],
        created_at: ts("2026-03-01T10:00:00Z"),
    }
}

pub fn create(new: Aggregate) -> Change {
    Change::Put { new, expected_version: None }
}

pub fn update(new: Aggregate, expected: u64) -> Change {
    Change::Put { new, expected_version: Some(expected) }
}

pub fn delete(aggregate_type: AggregateType, id: &str, expected: u64) -> Change {
    Change::Delete { aggregate_type, id: id.into(), expected_version: expected }
}

impl Subject {
    pub async fn commit(&self, tenant: &str, changes: Vec<Change>) -> Result<(), StoreError> {
        self.store.commit(&ctx(tenant), changes, None).await
    }

    pub async fn commit_ok(&self, tenant: &str, changes: Vec<Change>) {
        self.commit(tenant, changes).await.unwrap();
    }
}
