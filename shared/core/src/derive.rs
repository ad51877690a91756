//! Event derivation: a change record in, the semantic events it means out.
//!
//! Pure and deterministic: the same record always yields the same events, with the same ids
//! (see `events_schema::ids`) and the same timestamps, however often it is routed.

use events_schema::envelope::ChangeContext;
use events_schema::events::*;
use events_schema::{AggregateType, DomainEvent, EventData};
use serde::Deserialize;

use crate::ChangeRecord;

#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error("the {which} image of {aggregate_type:?} {aggregate_id} is not a valid snapshot: {source}")]
    Image { which: &'static str, aggregate_type: AggregateType, aggregate_id: String, source: serde_json::Error },
    #[error("a change record of {aggregate_type:?} {aggregate_id} has neither an old nor a new image")]
    Empty { aggregate_type: AggregateType, aggregate_id: String },
}

/// The events one change record derives, in a stable order (possibly none: a comment edit,
/// say, is recorded but announces nothing).
pub fn derive(record: &ChangeRecord) -> Result<Vec<DomainEvent>, DeriveError> {
    let ctx = ChangeContext {
        tenant: record.tenant.clone(),
        aggregate_type: record.aggregate_type,
        aggregate_id: record.aggregate_id.clone(),
        aggregate_version: record.aggregate_version,
        occurred_at: record.at,
        correlation_id: record.correlation_id.clone(),
        actor: record.actor.clone(),
    };
    let data = match record.aggregate_type {
        AggregateType::Task => task_events(images(record)?),
        AggregateType::Comment => comment_events(images(record)?),
        AggregateType::Category => category_events(images(record)?),
        AggregateType::Project => project_events(images(record)?),
        AggregateType::Sprint => sprint_events(images(record)?),
    };
    Ok(data.into_iter().map(|d| DomainEvent::new(&ctx, d)).collect())
}

enum Images<T> {
    Created(T),
    Modified(T, T),
    Removed(T),
}

fn images<'a, T: Deserialize<'a>>(record: &'a ChangeRecord) -> Result<Images<T>, DeriveError> {
    let parse = |which: &'static str, value: &'a serde_json::Value| {
        // Deserialise from the borrowed value: no copy of the image.
        T::deserialize(value).map_err(|source| DeriveError::Image {
            which,
            aggregate_type: record.aggregate_type,
            aggregate_id: record.aggregate_id.clone(),
            source,
        })
    };
    match (&record.old, &record.new) {
        (None, Some(new)) => Ok(Images::Created(parse("new", new)?)),
        (Some(old), Some(new)) => Ok(Images::Modified(parse("old", old)?, parse("new", new)?)),
        (Some(old), None) => Ok(Images::Removed(parse("old", old)?)),
        (None, None) => {
            Err(DeriveError::Empty { aggregate_type: record.aggregate_type, aggregate_id: record.aggregate_id.clone() })
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
    let mut events = Vec::new();
    if old.status != new.status {
        events.push(EventData::TaskStatusChanged(TaskStatusChanged {
            task_id: new.id.clone(),
            status: new.status,
            previous_status: Some(old.status),
            seconds_in_previous_status: Some(new.status_changed_at.seconds_since(old.status_changed_at)),
            task: new.clone(),
        }));
        if new.status == TaskStatus::Done {
            events.push(EventData::TaskCompleted(TaskCompleted {
                task_id: new.id.clone(),
                completed_at: new.status_changed_at,
                lead_time_seconds: new.status_changed_at.seconds_since(new.created_at),
                task: new.clone(),
            }));
        }
    }
    if old.assignee != new.assignee {
        events.push(EventData::TaskAssigned(TaskAssigned {
            task_id: new.id.clone(),
            assignee: new.assignee.clone(),
            previous_assignee: old.assignee.clone(),
            task: new.clone(),
        }));
    }
    let changed_fields = task_field_changes(&old, &new);
    if !changed_fields.is_empty() {
        events.push(EventData::TaskUpdated(TaskUpdated { changed_fields, task: new }));
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
            (SprintStatus::Active, SprintStatus::Closed) => vec![EventData::SprintClosed(SprintClosed { sprint: new })],
            _ => vec![],
        },
        Images::Removed(_) => vec![],
    }
}

#[cfg(test)]
mod tests;
