//! Who is told about what: one row per rule, read off the event alone.
//!
//! A rule names the event type it answers, the kind of notification (which the person's
//! preferences are set by) and the audience. Whether someone is then told, and where, is
//! the planner's business (own actions, preferences, mute): see `plan.rs`.

use events_schema::EventData;
use events_schema::events::TaskStatus;

use super::people::Kind;

/// Who a rule addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience<'a> {
    /// One person, by name.
    One(&'a str),
    /// Several people, by name (a comment's @mentions).
    Many(&'a [String]),
    /// The people of a sprint: whoever its tasks are assigned to or reported by, looked up
    /// when the event is handled (the sprint's event carries no members).
    Sprint(&'a str),
}

/// One row of the table.
pub struct Rule {
    pub event_type: &'static str,
    pub kind: Kind,
    /// Who, in words, for the docs and for test names.
    pub audience_doc: &'static str,
    /// The audience of one event of `event_type`, or `None` when this event asks for no one
    /// (a status change to anything but `blocked`, a task unassigned, no reporter).
    pub audience: fn(&EventData) -> Option<Audience<'_>>,
}

/// The rules. An event type may have several rows; each answers on its own.
pub const RULES: &[Rule] = &[
    Rule {
        event_type: "TaskCreated",
        kind: Kind::Assigned,
        audience_doc: "the assignee, when the task is created assigned",
        audience: |data| match data {
            EventData::TaskCreated(e) => e.task.assignee.as_deref().map(Audience::One),
            _ => None,
        },
    },
    Rule {
        event_type: "TaskAssigned",
        kind: Kind::Assigned,
        audience_doc: "the new assignee",
        audience: |data| match data {
            EventData::TaskAssigned(e) => e.assignee.as_deref().map(Audience::One),
            _ => None,
        },
    },
    Rule {
        event_type: "TaskCompleted",
        kind: Kind::Completed,
        audience_doc: "the reporter",
        audience: |data| match data {
            EventData::TaskCompleted(e) => e.task.reporter.as_deref().map(Audience::One),
            _ => None,
        },
    },
    Rule {
        event_type: "TaskStatusChanged",
        kind: Kind::Blocked,
        audience_doc: "the reporter, when the status became blocked",
        audience: |data| match data {
            EventData::TaskStatusChanged(e) if e.status == TaskStatus::Blocked => {
                e.task.reporter.as_deref().map(Audience::One)
            }
            _ => None,
        },
    },
    Rule {
        event_type: "TaskEscalated",
        kind: Kind::Escalated,
        audience_doc: "the people the escalation level names (assignee, reporter, lead)",
        audience: |data| match data {
            EventData::TaskEscalated(e) if !e.notify.is_empty() => Some(Audience::Many(&e.notify)),
            _ => None,
        },
    },
    Rule {
        event_type: "CommentAdded",
        kind: Kind::Mentioned,
        audience_doc: "each @mentioned person",
        audience: |data| match data {
            EventData::CommentAdded(e) if !e.comment.mentions.is_empty() => Some(Audience::Many(&e.comment.mentions)),
            _ => None,
        },
    },
    Rule {
        event_type: "SprintStarted",
        kind: Kind::Sprint,
        audience_doc: "the sprint's people",
        audience: |data| match data {
            EventData::SprintStarted(e) => Some(Audience::Sprint(&e.sprint.id)),
            _ => None,
        },
    },
    Rule {
        event_type: "SprintClosed",
        kind: Kind::Sprint,
        audience_doc: "the sprint's people",
        audience: |data| match data {
            EventData::SprintClosed(e) => Some(Audience::Sprint(&e.sprint.id)),
            _ => None,
        },
    },
    Rule {
        event_type: "SprintSummarized",
        kind: Kind::Sprint,
        audience_doc: "the sprint's people",
        audience: |data| match data {
            EventData::SprintSummarized(e) => Some(Audience::Sprint(&e.sprint.id)),
            _ => None,
        },
    },
];

/// Every rule that addresses someone for this event, with its audience.
pub fn matching(data: &EventData) -> impl Iterator<Item = (&'static Rule, Audience<'_>)> + '_ {
    let event_type = data.event_type();
    RULES.iter().filter(move |r| r.event_type == event_type).filter_map(move |r| (r.audience)(data).map(|a| (r, a)))
}

#[cfg(test)]
mod tests;
