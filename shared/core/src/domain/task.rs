//! Task commands and how they change a task.

use events_schema::Timestamp;

use super::fields::{Description, DueDate, EstimatePoints, FieldError, Tag, Title, UserName};
use super::status::check_transition;
use super::{Priority, Task, TaskStatus};

/// A change to an optional field: leave it, clear it, or set it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    fn apply<U>(self, current: Option<U>, into: impl FnOnce(T) -> U) -> Option<U> {
        match self {
            Patch::Keep => current,
            Patch::Clear => None,
            Patch::Set(v) => Some(into(v)),
        }
    }
}

/// A validated request to create a task.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateTask {
    pub title: Title,
    pub description: Option<Description>,
    pub priority: Priority,
    pub assignee: Option<UserName>,
    pub reporter: Option<UserName>,
    pub tags: Vec<Tag>,
    pub due_date: Option<DueDate>,
    pub estimate_points: Option<EstimatePoints>,
    /// Links, already checked to exist in the caller's tenant.
    pub links: Links,
}

/// What a task is filed under. Ids are checked against the store by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Links {
    pub category_id: Option<String>,
    pub project_id: Option<String>,
    pub sprint_id: Option<String>,
}

/// A validated change to a task; `None` / [`Patch::Keep`] leave a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UpdateTask {
    pub title: Option<Title>,
    pub description: Patch<Description>,
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub assignee: Patch<UserName>,
    pub reporter: Patch<UserName>,
    pub tags: Option<Vec<Tag>>,
    pub due_date: Patch<DueDate>,
    pub estimate_points: Patch<EstimatePoints>,
    pub category_id: Patch<String>,
    pub project_id: Patch<String>,
    pub sprint_id: Patch<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid fields: {}", join(.0))]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    IllegalTransition(String),
}

fn join(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// The task a create command makes: version 1, status `todo`.
pub fn new_task(id: String, cmd: CreateTask, now: Timestamp) -> Task {
    Task {
        id,
        title: cmd.title.into_inner(),
        description: cmd.description.map(Description::into_inner),
        status: TaskStatus::Todo,
        priority: cmd.priority,
        assignee: cmd.assignee.map(UserName::into_inner),
        reporter: cmd.reporter.map(UserName::into_inner),
        category_id: cmd.links.category_id,
        project_id: cmd.links.project_id,
        sprint_id: cmd.links.sprint_id,
        tags: cmd.tags.into_iter().map(Tag::into_inner).collect(),
        due_date: cmd.due_date.map(|d| d.to_string()),
        estimate_points: cmd.estimate_points.map(|p| p.get()),
        created_at: now,
        updated_at: now,
        status_changed_at: now,
        escalation: None,
        version: 1,
    }
}

/// The task after `cmd`, one version up; `None` when the command changes nothing (a write
/// that changes nothing is not a new version and derives no events).
pub fn apply_update(current: &Task, cmd: UpdateTask, now: Timestamp) -> Result<Option<Task>, DomainError> {
    let mut next = current.clone();
    if let Some(status) = cmd.status {
        check_transition(current.status, status).map_err(DomainError::IllegalTransition)?;
        next.status = status;
    }
    if let Some(title) = cmd.title {
        next.title = title.into_inner();
    }
    if let Some(priority) = cmd.priority {
        next.priority = priority;
    }
    if let Some(tags) = cmd.tags {
        next.tags = tags.into_iter().map(Tag::into_inner).collect();
    }
    next.description = cmd.description.apply(next.description, Description::into_inner);
    next.assignee = cmd.assignee.apply(next.assignee, UserName::into_inner);
    next.reporter = cmd.reporter.apply(next.reporter, UserName::into_inner);
    next.due_date = cmd.due_date.apply(next.due_date, |d| d.to_string());
    next.estimate_points = cmd.estimate_points.apply(next.estimate_points, |p| p.get());
    next.category_id = cmd.category_id.apply(next.category_id, |id| id);
    next.project_id = cmd.project_id.apply(next.project_id, |id| id);
    next.sprint_id = cmd.sprint_id.apply(next.sprint_id, |id| id);

    if next == *current {
        return Ok(None);
    }
    if next.status != current.status {
        next.status_changed_at = now;
    }
    next.updated_at = now;
    next.version = current.version + 1;
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created() -> Task {
        let cmd = CreateTask {
            title: Title::parse("Ship it").unwrap(),
            description: None,
            priority: Priority::Medium,
            assignee: None,
            reporter: None,
            tags: vec![],
            due_date: None,
            estimate_points: None,
            links: Links::default(),
        };
        new_task("t1".into(), cmd, Timestamp::parse("2026-01-01T00:00:00Z").unwrap())
    }

    #[test]
    fn a_new_task_starts_in_todo_at_version_one() {
        let t = created();
        assert_eq!((t.status, t.version), (TaskStatus::Todo, 1));
        assert_eq!(t.status_changed_at, t.created_at);
    }

    #[test]
    fn a_status_change_bumps_the_version_and_restarts_the_status_clock() {
        let later = Timestamp::parse("2026-01-02T00:00:00Z").unwrap();
        let cmd = UpdateTask { status: Some(TaskStatus::InProgress), ..Default::default() };
        let next = apply_update(&created(), cmd, later).unwrap().unwrap();
        assert_eq!((next.version, next.status_changed_at, next.updated_at), (2, later, later));
    }

    #[test]
    fn an_illegal_transition_is_refused() {
        let cmd = UpdateTask { status: Some(TaskStatus::Done), ..Default::default() };
        let err = apply_update(&created(), cmd, Timestamp::now()).unwrap_err();
        assert!(matches!(err, DomainError::IllegalTransition(_)));
    }

    #[test]
    fn a_change_to_nothing_is_no_new_version() {
        let cmd = UpdateTask { title: Some(Title::parse("Ship it").unwrap()), ..Default::default() };
        assert_eq!(apply_update(&created(), cmd, Timestamp::now()).unwrap(), None);
    }

    #[test]
    fn patches_keep_clear_and_set() {
        let now = Timestamp::now();
        let set = UpdateTask { assignee: Patch::Set(UserName::parse("a", "li").unwrap()), ..Default::default() };
        let t = apply_update(&created(), set, now).unwrap().unwrap();
        assert_eq!(t.assignee.as_deref(), Some("li"));
        let keep = UpdateTask { priority: Some(Priority::High), ..Default::default() };
        let t = apply_update(&t, keep, now).unwrap().unwrap();
        assert_eq!(t.assignee.as_deref(), Some("li"));
        let clear = UpdateTask { assignee: Patch::Clear, ..Default::default() };
        let t = apply_update(&t, clear, now).unwrap().unwrap();
        assert_eq!((t.assignee, t.version), (None, 4));
    }
}
