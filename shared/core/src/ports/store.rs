//! The store: every aggregate (tasks, categories, projects, sprints, comments) with
//! optimistic locking, behind typed reads and one atomic `commit`.
//!
//! Every write, single or bulk, goes through [`Store::commit`]: all of its changes commit
//! together or none does, each committed change yields exactly one change record (DynamoDB
//! Streams, or the SQLite change log, in the same transaction), and an idempotency record,
//! when given, commits with them, so a retried POST can never write twice.

use async_trait::async_trait;
use events_schema::AggregateType;
use events_schema::events::{
    CategorySnapshot, CommentSnapshot, Priority, ProjectSnapshot, SprintSnapshot, TaskSnapshot, TaskStatus,
};

use crate::context::RequestContext;

/// DynamoDB's TransactWriteItems limit, which every engine honours so behaviour matches.
/// An idempotency record counts against it: it is an item of the same transaction.
pub const MAX_CHANGES_PER_COMMIT: usize = 100;

/// The most stored items one call of a task list examines, filtered out or not. A call
/// stops there and answers with what it found and a cursor from where it stopped, so a
/// selective filter over a large tenant costs every call the same bounded work (on
/// DynamoDB, about 1 MB of reads) instead of a scan of the tenant in one request.
pub const LIST_READ_CAP: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("version conflict: expected version {expected}, the current version is {current}")]
    Conflict { expected: u64, current: u64 },
    #[error("{0:?} already exists")]
    AlreadyExists(String),
    /// A commit of several changes was refused; nothing was written. One entry per change
    /// that failed its condition (others may be fine).
    #[error("the changes were refused: {}", describe(.0))]
    Rejected(Vec<ChangeFailure>),
    #[error("the idempotency key was used concurrently; retry to read its outcome")]
    IdempotencyRace,
    #[error("too many items in one commit: {0} (at most 100, an idempotency record included)")]
    TooManyChanges(usize),
    #[error("the cursor is not one this list issued")]
    BadCursor,
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The backing service refused for load (DynamoDB throughput, OpenSearch 429, SES
    /// sending rate), after its client's own retries: wait, then try again.
    #[error("the store is throttling requests: {0}")]
    Throttled(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
    /// The store refused this one write for what it holds (a constraint it breaks), not for
    /// its own health: trying again will not help.
    #[error("the store refused the write: {0}")]
    Refused(String),
}

impl StoreError {
    /// The error for a refused commit of `change_count` changes: a single change is reported
    /// by its own kind (what an API answers for one write), several as the whole list.
    pub fn refused(change_count: usize, mut failures: Vec<ChangeFailure>) -> StoreError {
        if change_count == 1
            && failures.len() == 1
            && let Some(only) = failures.pop()
        {
            return match only.reason {
                FailureReason::NotFound => StoreError::NotFound,
                FailureReason::AlreadyExists => StoreError::AlreadyExists(only.id),
                FailureReason::VersionMismatch { expected, current } => {
                    StoreError::Conflict { expected, current: current.unwrap_or(0) }
                }
            };
        }
        StoreError::Rejected(failures)
    }
}

fn describe(failures: &[ChangeFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("{} {}: {:?}", f.aggregate_type.as_str(), f.id, f.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeFailure {
    pub aggregate_type: AggregateType,
    pub id: String,
    pub reason: FailureReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    NotFound,
    AlreadyExists,
    /// `current` is `None` when the engine could not tell (DynamoDB may not return it).
    VersionMismatch {
        expected: u64,
        current: Option<u64>,
    },
}

/// The state of one aggregate, as stored and as events carry it. Serialises as the bare
/// snapshot (untagged): the change record's image.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Aggregate {
    Task(TaskSnapshot),
    Category(CategorySnapshot),
    Project(ProjectSnapshot),
    Sprint(SprintSnapshot),
    Comment(CommentSnapshot),
}

impl Aggregate {
    /// Reads a snapshot of the given type from any serde format: how both engines turn a
    /// stored image into a change record's image without an intermediate value.
    pub fn deserialize_as<'de, D: serde::Deserializer<'de>>(
        aggregate_type: AggregateType,
        deserializer: D,
    ) -> Result<Self, D::Error> {
        use serde::Deserialize;
        Ok(match aggregate_type {
            AggregateType::Task => Aggregate::Task(TaskSnapshot::deserialize(deserializer)?),
            AggregateType::Category => Aggregate::Category(CategorySnapshot::deserialize(deserializer)?),
            AggregateType::Project => Aggregate::Project(ProjectSnapshot::deserialize(deserializer)?),
            AggregateType::Sprint => Aggregate::Sprint(SprintSnapshot::deserialize(deserializer)?),
            AggregateType::Comment => Aggregate::Comment(CommentSnapshot::deserialize(deserializer)?),
        })
    }

    pub fn aggregate_type(&self) -> AggregateType {
        match self {
            Aggregate::Task(_) => AggregateType::Task,
            Aggregate::Category(_) => AggregateType::Category,
            Aggregate::Project(_) => AggregateType::Project,
            Aggregate::Sprint(_) => AggregateType::Sprint,
            Aggregate::Comment(_) => AggregateType::Comment,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Aggregate::Task(t) => &t.id,
            Aggregate::Category(c) => &c.id,
            Aggregate::Project(p) => &p.id,
            Aggregate::Sprint(s) => &s.id,
            Aggregate::Comment(c) => &c.id,
        }
    }

    /// Comments are immutable: always version 1.
    pub fn version(&self) -> u64 {
        match self {
            Aggregate::Task(t) => t.version,
            Aggregate::Category(c) => c.version,
            Aggregate::Project(p) => p.version,
            Aggregate::Sprint(s) => s.version,
            Aggregate::Comment(_) => 1,
        }
    }

    /// When the change happened, as the change record states it.
    pub fn changed_at(&self) -> events_schema::Timestamp {
        match self {
            Aggregate::Task(t) => t.updated_at,
            Aggregate::Project(p) => p.updated_at,
            Aggregate::Comment(c) => c.created_at,
            Aggregate::Sprint(s) => s
                .summary
                .as_ref()
                .map(|summary| summary.summarized_at)
                .or(s.closed_at)
                .or(s.started_at)
                .unwrap_or_else(events_schema::Timestamp::now),
            Aggregate::Category(_) => events_schema::Timestamp::now(),
        }
    }
}

/// One change in a commit.
// A commit holds at most 100 short-lived changes; boxing the snapshot would only add an
// allocation per change.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Writes `new` (already at its next version). `expected_version`: `None` means the
    /// aggregate must not exist yet (a create); `Some(v)` means it must be at `v`.
    Put { new: Aggregate, expected_version: Option<u64> },
    /// Deletes the aggregate, which must be at `expected_version`. The change record's
    /// version is one past it.
    Delete { aggregate_type: AggregateType, id: String, expected_version: u64 },
}

impl Change {
    pub fn target(&self) -> (AggregateType, &str) {
        match self {
            Change::Put { new, .. } => (new.aggregate_type(), new.id()),
            Change::Delete { aggregate_type, id, .. } => (*aggregate_type, id),
        }
    }
}

/// What an `Idempotency-Key` stands for: the request's fingerprint and the response it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: String,
    /// A hash of the method, path and body: the same key with another body is refused.
    pub fingerprint: String,
    pub status: u16,
    pub body: String,
}

/// An external key (a publisher's own name for a task, such as `PR-123`) and the task it
/// names. A key names one task of a tenant for good: it is linked once, when an inbound
/// command creates the task, and never moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalKeyLink {
    pub key: String,
    pub task_id: String,
}

/// A page of a list, with the opaque cursor of the next page.
///
/// A page holds at most the limit asked for, and may hold fewer, even none, while
/// `next_cursor` is set: a list stops when it has examined [`LIST_READ_CAP`] items. Only a
/// page without a cursor ends the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub assignee: Option<String>,
    pub category_id: Option<String>,
    pub project_id: Option<String>,
    pub sprint_id: Option<String>,
    pub tag: Option<String>,
    /// Inclusive `YYYY-MM-DD` bounds; tasks without a due date never match a range.
    pub due_from: Option<String>,
    pub due_to: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskSort {
    /// Newest first.
    #[default]
    Created,
    /// Soonest first, tasks without a due date last; oldest first within a date.
    DueDate,
    /// Critical first, then newest first within a priority.
    Priority,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskQuery {
    pub filter: TaskFilter,
    pub sort: TaskSort,
    /// 1 to 100.
    pub limit: usize,
    pub cursor: Option<String>,
}

/// Reads are tenant-scoped by argument; writes by the context's tenant.
#[async_trait]
pub trait Store: Send + Sync {
    async fn get_task(&self, tenant: &str, id: &str) -> Result<Option<TaskSnapshot>, StoreError>;
    /// A cursor is bound to the tenant, filter and sort it was issued for; any other use is
    /// [`StoreError::BadCursor`]. The page may be short (see [`Page`]); the limit may change
    /// from one page to the next.
    async fn list_tasks(&self, tenant: &str, query: &TaskQuery) -> Result<Page<TaskSnapshot>, StoreError>;

    async fn get_category(&self, tenant: &str, id: &str) -> Result<Option<CategorySnapshot>, StoreError>;
    /// By name.
    async fn list_categories(&self, tenant: &str) -> Result<Vec<CategorySnapshot>, StoreError>;
    async fn get_project(&self, tenant: &str, id: &str) -> Result<Option<ProjectSnapshot>, StoreError>;
    /// Newest first.
    async fn list_projects(&self, tenant: &str) -> Result<Vec<ProjectSnapshot>, StoreError>;
    async fn get_sprint(&self, tenant: &str, id: &str) -> Result<Option<SprintSnapshot>, StoreError>;
    /// A project's sprints, oldest first.
    async fn list_sprints(&self, tenant: &str, project_id: &str) -> Result<Vec<SprintSnapshot>, StoreError>;
    /// A task's comments, oldest first, paged.
    async fn list_comments(
        &self,
        tenant: &str,
        task_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<CommentSnapshot>, StoreError>;

    async fn get_idempotency(&self, tenant: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Commits `changes` (0 to 100; none only to record an idempotency key of a request that
    /// changed nothing) atomically, one change record each, with `idempotency` when given (which must not exist yet: a concurrent use is [`StoreError::IdempotencyRace`]).
    /// A single refused change is reported as `NotFound`, `Conflict` or `AlreadyExists`;
    /// several changes as `Rejected` with every failure.
    async fn commit(
        &self,
        ctx: &RequestContext,
        changes: Vec<Change>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<(), StoreError>;

    /// The id of the task `key` names in `tenant`, if the key was linked (the task itself
    /// may have been deleted since).
    async fn task_for_external_key(&self, tenant: &str, key: &str) -> Result<Option<String>, StoreError>;

    /// Commits what one inbound command does, atomically: `changes` as [`Store::commit`]
    /// does, the command's `receipt` (an idempotency record under the command's key, so a
    /// second delivery finds it: a concurrent one is [`StoreError::IdempotencyRace`]), and
    /// `link` when the command creates a task under an external key. A key already linked
    /// is [`StoreError::AlreadyExists`] with the key; then nothing is written.
    async fn commit_command(
        &self,
        ctx: &RequestContext,
        changes: Vec<Change>,
        receipt: IdempotencyRecord,
        link: Option<ExternalKeyLink>,
    ) -> Result<(), StoreError>;
}
