//! Event derivation: a change record in, the semantic events it means out.
//!
//! Pure and deterministic: the same record always yields the same events, with the same ids
//! (see `events_schema::ids`) and the same timestamps, however often it is routed.

use events_schema::envelope::ChangeContext;
use events_schema::events::*;
use events_schema::{AggregateType, DomainEvent, EventData};

use crate::ChangeRecord;
use crate::ports::Aggregate;

#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error("the {which} image of {aggregate_type:?} {aggregate_id} is a {found:?} snapshot")]
    Image { which: &'static str, aggregate_type: AggregateType, aggregate_id: String, found: AggregateType },
    #[error("a change record of {aggregate_type:?} {aggregate_id} has neither an old nor a new image")]
    Empty { aggregate_type: AggregateType, aggregate_id: String },
}

/// The snapshot inside an image if it is of the named kind, or the kind it is.
macro_rules! as_variant {
    ($aggregate:expr, $variant:ident) => {
        match $aggregate {
            Aggregate::$variant(snapshot) => Ok(snapshot),
            other => Err(other.aggregate_type()),
        }
    };
}

/// The events one change record derives, in a stable order (possibly none: a comment edit,
/// say, is recorded but announces nothing). The record is consumed: its new image moves into
/// the last event that carries it, so a snapshot is copied only when two events need it.
pub fn derive(record: ChangeRecord) -> Result<Vec<DomainEvent>, DeriveError> {
    let ChangeRecord { tenant, aggregate_type, aggregate_id, aggregate_version, at, correlation_id, actor, old, new } =
        record;
    let images = Pair { aggregate_type, aggregate_id: &aggregate_id, old, new };
    let data = match aggregate_type {
        AggregateType::Task => task_events(images.typed(|a| as_variant!(a, Task))?),
        AggregateType::Comment => comment_events(images.typed(|a| as_variant!(a, Comment))?),
        AggregateType::Category => category_events(images.typed(|a| as_variant!(a, Category))?),
        AggregateType::Project => project_events(images.typed(|a| as_variant!(a, Project))?),
        AggregateType::Sprint => sprint_events(images.typed(|a| as_variant!(a, Sprint))?),
    };
    let ctx = ChangeContext {
        tenant,
        aggregate_type,
        aggregate_id,
        aggregate_version,
        occurred_at: at,
        correlation_id,
        actor,
    };
    Ok(data.into_iter().map(|d| DomainEvent::new(&ctx, d)).collect())
}

enum Images<T> {
    Created(T),
    Modified(T, T),
    Removed(T),
}

/// A record's two images before they are known to be of its own aggregate type.
struct Pair<'a> {
    aggregate_type: AggregateType,
    aggregate_id: &'a str,
    old: Option<Aggregate>,
    new: Option<Aggregate>,
}

impl Pair<'_> {
    fn typed<T>(self, typed: impl Fn(Aggregate) -> Result<T, AggregateType>) -> Result<Images<T>, DeriveError> {
        let (aggregate_type, aggregate_id) = (self.aggregate_type, self.aggregate_id);
        let check = |which: &'static str, image: Aggregate| {
            typed(image).map_err(|other| DeriveError::Image {
                which,
                aggregate_type,
                aggregate_id: aggregate_id.to_owned(),
                found: other,
            })
        };
        match (self.old, self.new) {
            (None, Some(new)) => Ok(Images::Created(check("new", new)?)),
            (Some(old), Some(new)) => Ok(Images::Modified(check("old", old)?, check("new", new)?)),
            (Some(old), None) => Ok(Images::Removed(check("old", old)?)),
            (None, None) => Err(DeriveError::Empty { aggregate_type, aggregate_id: aggregate_id.to_owned() }),
        }
    }
}

fn task_events(images: Images<TaskSnapshot>) -> Vec<EventData> {
    let (old, new) = match images {
        Images::Created(task) => return vec![EventData::TaskCreated(TaskCreated { task })],
        Images::Removed(task) => {
            return vec![EventData::TaskDeleted(TaskDeleted { task_id: task.id.clone(), task })];
        }
        Images::Modified(old, new) => (old, new),
    };
    let status_changed = old.status != new.status;
    let completed = status_changed && new.status == TaskStatus::Done;
    let assigned = old.assignee != new.assignee;
    // Only a level reached above the old one is an escalation; the runner never lowers it.
    let escalated = match (&old.escalation, &new.escalation) {
        (None, Some(_)) => true,
        (Some(was), Some(now)) => now.level > was.level,
        _ => false,
    };
    let changed_fields = task_field_changes(&old, &new);
    // Every event carries the new snapshot: copies for all but the last, which takes it.
    let wanted =
        [status_changed, completed, assigned, escalated, !changed_fields.is_empty()].iter().filter(|w| **w).count();
    let (id, status, status_changed_at, created_at) =
        (new.id.clone(), new.status, new.status_changed_at, new.created_at);
    let assignee = new.assignee.clone();
    let reached = new.escalation.clone();
    let previous_priority = (old.priority != new.priority).then_some(old.priority);
    let mut snapshots: Vec<TaskSnapshot> = (1..wanted).map(|_| new.clone()).collect();
    snapshots.push(new);
    let mut snapshots = snapshots.into_iter();

    let mut events = Vec::with_capacity(wanted);
    if status_changed && let Some(task) = snapshots.next() {
        events.push(EventData::TaskStatusChanged(TaskStatusChanged {
            task_id: id.clone(),
            status,
            previous_status: Some(old.status),
            seconds_in_previous_status: Some(status_changed_at.seconds_since(old.status_changed_at)),
            task,
        }));
    }
    if completed && let Some(task) = snapshots.next() {
        events.push(EventData::TaskCompleted(TaskCompleted {
            task_id: id.clone(),
            completed_at: status_changed_at,
            lead_time_seconds: status_changed_at.seconds_since(created_at),
            task,
        }));
    }
    if assigned && let Some(task) = snapshots.next() {
        events.push(EventData::TaskAssigned(TaskAssigned {
            task_id: id.clone(),
            assignee,
            previous_assignee: old.assignee,
            task,
        }));
    }
    if escalated
        && let Some(level) = reached
        && let Some(task) = snapshots.next()
    {
        let level = *level;
        events.push(EventData::TaskEscalated(TaskEscalated {
            task_id: id,
            level: level.level,
            name: level.name,
            notify: level.notify,
            previous_priority,
            task,
        }));
    }
    if !changed_fields.is_empty()
        && let Some(task) = snapshots.next()
    {
        events.push(EventData::TaskUpdated(TaskUpdated { changed_fields, task }));
    }
    events
}

/// The fields other than status and assignee that differ, by wire name, sorted.
fn task_field_changes(old: &TaskSnapshot, new: &TaskSnapshot) -> Vec<String> {
    let checks: [(&str, bool); 10] = [
        ("categoryId", old.category_id != new.category_id),
        ("description", old.description != new.description),
        ("dueDate", old.due_date != new.due_date),
        ("estimatePoints", old.estimate_points != new.estimate_points),
        ("priority", old.priority != new.priority),
        ("projectId", old.project_id != new.project_id),
        ("reporter", old.reporter != new.reporter),
        ("sprintId", old.sprint_id != new.sprint_id),
        ("tags", old.tags != new.tags),
        ("title", old.title != new.title),
    ];
    checks.into_iter().filter(|(_, changed)| *changed).map(|(name, _)| name.to_owned()).collect()
}

fn comment_events(images: Images<CommentSnapshot>) -> Vec<EventData> {
    match images {
        Images::Created(comment) => vec![EventData::CommentAdded(CommentAdded { comment })],
        Images::Modified(..) | Images::Removed(_) => vec![],
    }
}

fn category_events(images: Images<CategorySnapshot>) -> Vec<EventData> {
    match images {
        Images::Created(category) => vec![EventData::CategoryCreated(CategoryCreated { category })],
        Images::Modified(old, new) => {
            let checks =
                [("color", old.color != new.color), ("icon", old.icon != new.icon), ("name", old.name != new.name)];
            let changed_fields: Vec<String> =
                checks.into_iter().filter(|(_, c)| *c).map(|(n, _)| n.to_owned()).collect();
            if changed_fields.is_empty() {
                return vec![];
            }
            vec![EventData::CategoryUpdated(CategoryUpdated { changed_fields, category: new })]
        }
        Images::Removed(old) => vec![EventData::CategoryDeleted(CategoryDeleted { category_id: old.id })],
    }
}

fn project_events(images: Images<ProjectSnapshot>) -> Vec<EventData> {
    match images {
        Images::Created(project) => vec![EventData::ProjectCreated(ProjectCreated { project })],
        Images::Modified(old, new) => {
            let checks = [("description", old.description != new.description), ("name", old.name != new.name)];
            let changed_fields: Vec<String> =
                checks.into_iter().filter(|(_, c)| *c).map(|(n, _)| n.to_owned()).collect();
            if changed_fields.is_empty() {
                return vec![];
            }
            vec![EventData::ProjectUpdated(ProjectUpdated { changed_fields, project: new })]
        }
        Images::Removed(_) => vec![],
    }
}

fn sprint_events(images: Images<SprintSnapshot>) -> Vec<EventData> {
    match images {
        Images::Created(sprint) => vec![EventData::SprintCreated(SprintCreated { sprint })],
        Images::Modified(old, new) => match (old.status, new.status) {
            (SprintStatus::Planned, SprintStatus::Active) => {
                vec![EventData::SprintStarted(SprintStarted { sprint: new })]
            }
            (SprintStatus::Active, SprintStatus::Closed) => {
                vec![EventData::SprintClosed(SprintClosed { sprint: new })]
            }
            // The closing step's last write; its earlier batches (moved tasks counted, no
            // summary yet) announce nothing of the sprint: each moved task has its own event.
            (SprintStatus::Closed, SprintStatus::Closed) if old.summary.is_none() => match new.summary.clone() {
                Some(summary) => vec![EventData::SprintSummarized(SprintSummarized { summary, sprint: new })],
                None => vec![],
            },
            _ => vec![],
        },
        Images::Removed(_) => vec![],
    }
}

#[cfg(test)]
mod tests;
