//! One event, one metric record: the dimensions it is counted under, its time, its version
//! and the figures it contributes. Pure: the same event always builds the same record, so a
//! redelivered or replayed event lands on the same point (see `docs/analytics.md`).

use events_schema::events::{SprintSnapshot, TaskSnapshot, TaskStatus};
use events_schema::{DomainEvent, EventData};
use serde::Serialize;

/// The measure name of records built from task events.
pub const TASK_MEASURE: &str = "task";
/// The measure name of records built from sprint events.
pub const SPRINT_MEASURE: &str = "sprint";

/// What a record is counted under. An absent dimension is `None` (Timestream omits it; the
/// embedded table stores an empty string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dimensions {
    pub tenant: String,
    /// The task or sprint the event is about. With the event type and the time it makes a
    /// record's key unique: two tasks changing in the same millisecond with the same other
    /// dimensions would otherwise be one point.
    pub aggregate_id: String,
    pub event_type: &'static str,
    pub project: Option<String>,
    pub sprint: Option<String>,
    pub assignee: Option<String>,
    pub priority: Option<&'static str>,
    pub category: Option<String>,
}

impl Dimensions {
    /// Every dimension by its name in the table, absent ones left out, in a fixed order.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("tenant", Some(self.tenant.as_str())),
            ("aggregate_id", Some(self.aggregate_id.as_str())),
            ("event_type", Some(self.event_type)),
            ("project", self.project.as_deref()),
            ("sprint", self.sprint.as_deref()),
            ("assignee", self.assignee.as_deref()),
            ("priority", self.priority),
            ("category", self.category.as_deref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
    }
}

/// The figures one event contributes; `None` where the event says nothing about a figure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measures {
    /// Always 1: counting records counts events.
    pub events: u64,
    /// `TaskStatusChanged` from version 2 on (version 1 never knew it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_from: Option<&'static str>,
    /// The status entered: `TaskStatusChanged`, and `TaskCreated` (the first status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_to: Option<&'static str>,
    /// How long the task stayed in `status_from` (version 2 of `TaskStatusChanged`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_in_previous_status: Option<u64>,
    /// `TaskCompleted`: seconds from the task's creation to its completion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle_time_seconds: Option<u64>,
    /// `TaskCompleted`: the task's estimate, 0 when it had none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_points: Option<u64>,
    /// Every task event whose task carries an estimate: the scope of a burndown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate_points: Option<u64>,
    /// `TaskCompleted` of a task with a due date: completed on a later (UTC) day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdue: Option<bool>,
    /// +1 when a task enters work in progress, −1 when it leaves it, 0 when it moves within
    /// or outside it; absent when the previous status is unknown (version 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wip_delta: Option<i64>,
}

/// One point: Timestream's multi-measure record, and a row of the embedded table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricRecord {
    pub dimensions: Dimensions,
    /// [`TASK_MEASURE`] or [`SPRINT_MEASURE`].
    pub measure_name: &'static str,
    /// The event's `occurredAt`, in Unix milliseconds.
    pub time_ms: i64,
    /// The aggregate version: a record is replaced only by one of a higher version.
    pub version: u64,
    pub measures: Measures,
}

/// The statuses that count as work in progress: started and not finished. Blocked work is
/// still work in progress: it occupies someone and will resume.
pub fn is_wip(status: TaskStatus) -> bool {
    matches!(status, TaskStatus::InProgress | TaskStatus::InReview | TaskStatus::Blocked)
}

fn wip(status: TaskStatus) -> i64 {
    i64::from(is_wip(status))
}

/// The record an event contributes, or `None` for events that carry no task metric
/// (comments, categories, projects, a sprint's creation, a task's reassignment).
pub fn build(event: &DomainEvent) -> Option<MetricRecord> {
    let measures = Measures { events: 1, ..Measures::default() };
    let (task, measures) = match &event.data {
        EventData::TaskCreated(e) => {
            let status = e.task.status;
            (&e.task, Measures { status_to: Some(status.as_str()), wip_delta: Some(wip(status)), ..measures })
        }
        EventData::TaskStatusChanged(e) => (
            &e.task,
            Measures {
                status_from: e.previous_status.map(|s| s.as_str()),
                status_to: Some(e.status.as_str()),
                seconds_in_previous_status: e.seconds_in_previous_status,
                wip_delta: e.previous_status.map(|from| wip(e.status) - wip(from)),
                ..measures
            },
        ),
        EventData::TaskCompleted(e) => (
            &e.task,
            Measures {
                cycle_time_seconds: Some(e.lead_time_seconds),
                completed_points: Some(u64::from(e.task.estimate_points.unwrap_or(0))),
                overdue: e.task.due_date.as_deref().map(|due| completed_after(due, e.completed_at)),
                ..measures
            },
        ),
        EventData::TaskUpdated(e) => (&e.task, measures),
        EventData::TaskDeleted(e) => (&e.task, Measures { wip_delta: Some(-wip(e.task.status)), ..measures }),
        EventData::SprintStarted(e) => return Some(sprint_record(event, &e.sprint)),
        EventData::SprintClosed(e) => return Some(sprint_record(event, &e.sprint)),
        _ => return None,
    };
    Some(task_record(event, task, measures))
}

fn task_record(event: &DomainEvent, task: &TaskSnapshot, mut measures: Measures) -> MetricRecord {
    measures.estimate_points = task.estimate_points.map(u64::from);
    let meta = &event.meta;
    MetricRecord {
        dimensions: Dimensions {
            tenant: meta.tenant.clone(),
            aggregate_id: meta.aggregate_id.clone(),
            event_type: event.event_type(),
            project: task.project_id.clone(),
            sprint: task.sprint_id.clone(),
            assignee: task.assignee.clone(),
            priority: Some(task.priority.as_str()),
            category: task.category_id.clone(),
        },
        measure_name: TASK_MEASURE,
        time_ms: meta.occurred_at.unix_millis(),
        version: meta.aggregate_version,
        measures,
    }
}

fn sprint_record(event: &DomainEvent, sprint: &SprintSnapshot) -> MetricRecord {
    let meta = &event.meta;
    MetricRecord {
        dimensions: Dimensions {
            tenant: meta.tenant.clone(),
            aggregate_id: meta.aggregate_id.clone(),
            event_type: event.event_type(),
            project: Some(sprint.project_id.clone()),
            sprint: Some(sprint.id.clone()),
            assignee: None,
            priority: None,
            category: None,
        },
        measure_name: SPRINT_MEASURE,
        time_ms: meta.occurred_at.unix_millis(),
        version: meta.aggregate_version,
        measures: Measures { events: 1, ..Measures::default() },
    }
}

/// Whether a task due on `due` (`YYYY-MM-DD`) completed at `at` on a later UTC day. Both
/// are fixed-width ISO dates, so text order is date order.
fn completed_after(due: &str, at: events_schema::Timestamp) -> bool {
    let date = at.as_offset().date();
    let day = format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day());
    day.as_str() > due
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_is_overdue_only_from_the_day_after_its_due_date() {
        let at = |text: &str| events_schema::Timestamp::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(!completed_after("2026-03-20", at("2026-03-20T23:59:59.999Z")));
        assert!(completed_after("2026-03-20", at("2026-03-21T00:00:00.000Z")));
        assert!(!completed_after("2026-03-20", at("2026-03-19T12:00:00.000Z")));
        assert!(completed_after("2025-12-31", at("2026-01-01T00:00:00.000Z")));
    }

    #[test]
    fn work_in_progress_is_started_and_unfinished_work() {
        let wip: Vec<_> = TaskStatus::ALL.into_iter().filter(|s| is_wip(*s)).collect();
        assert_eq!(wip, vec![TaskStatus::InProgress, TaskStatus::InReview, TaskStatus::Blocked]);
    }
}
