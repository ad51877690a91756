//! What a validated command writes, given the task it names as found: pure, so the same
//! command against the same task always plans the same change.

use events_schema::Timestamp;
use events_schema::commands::{ExpectedVersion, TaskRef};

use super::outcome::{Effect, Outcome, Reason, Rejection};
use super::validate::{Body, Validated};
use crate::domain::{DomainError, Task, UpdateTask, apply_update, new_comment, new_task};
use crate::ports::{Aggregate, Change, ExternalKeyLink};

/// The writes of one command and what it will have done once they commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub link: Option<ExternalKeyLink>,
    pub outcome: Outcome,
}

/// Plans `command` against `found`, the task it names as read from the store (`None` for a
/// create, or when no task has that id or key). `new_id` makes the id of what it creates.
pub fn plan(
    command: &Validated,
    found: Option<&Task>,
    now: Timestamp,
    new_id: impl FnOnce() -> String,
) -> Result<Plan, Rejection> {
    let outcome = |result: Effect, task_id: &str, version: u64, comment_id: Option<String>| Outcome {
        command_id: command.command_id.clone(),
        result,
        task_id: task_id.to_owned(),
        version,
        comment_id,
        duplicate: false,
    };
    match &command.body {
        Body::Create { external_key, task } => {
            let task = new_task(new_id(), task.clone(), now);
            let link = external_key.as_ref().map(|key| ExternalKeyLink { key: key.clone(), task_id: task.id.clone() });
            let outcome = outcome(Effect::Applied, &task.id, task.version, None);
            Ok(Plan {
                changes: vec![Change::Put { new: Aggregate::Task(task), expected_version: None }],
                link,
                outcome,
            })
        }
        Body::Status { task: reference, status, expected } => {
            let current = found.ok_or_else(|| not_found(reference))?;
            if let ExpectedVersion::Exact(version) = expected
                && *version != current.version
            {
                return Err(stale(reference, *version, current.version));
            }
            let update = UpdateTask { status: Some(*status), ..UpdateTask::default() };
            match apply_update(current, update, now) {
                Ok(None) => Ok(Plan {
                    changes: Vec::new(),
                    link: None,
                    outcome: outcome(Effect::Unchanged, &current.id, current.version, None),
                }),
                Ok(Some(next)) => {
                    let outcome = outcome(Effect::Applied, &next.id, next.version, None);
                    let change = Change::Put { new: Aggregate::Task(next), expected_version: Some(current.version) };
                    Ok(Plan { changes: vec![change], link: None, outcome })
                }
                Err(DomainError::IllegalTransition(message)) => Err(Rejection::new(Reason::IllegalTransition, message)),
                Err(DomainError::Invalid(fields)) => Err(Rejection::invalid(fields)),
            }
        }
        Body::Comment { task: reference, body } => {
            let current = found.ok_or_else(|| not_found(reference))?;
            let comment = new_comment(new_id(), current.id.clone(), command.actor.clone(), body, now)
                .map_err(|e| Rejection::invalid(vec![e]))?;
            let outcome = outcome(Effect::Applied, &current.id, current.version, Some(comment.id.clone()));
            Ok(Plan {
                changes: vec![Change::Put { new: Aggregate::Comment(comment), expected_version: None }],
                link: None,
                outcome,
            })
        }
    }
}

pub(super) fn not_found(reference: &TaskRef) -> Rejection {
    Rejection::new(Reason::TaskNotFound, format!("{reference} was not found"))
}

pub(super) fn stale(reference: &TaskRef, expected: u64, current: u64) -> Rejection {
    let mut rejection = Rejection::new(
        Reason::StaleVersion,
        format!("{reference} is at version {current}, not {expected}: the command is stale"),
    );
    rejection.current_version = Some(current);
    rejection
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Identity, Role};
    use crate::ingest::{parse_envelope, validate};
    use events_schema::events::TaskStatus;
    use serde_json::json;

    fn command(data: serde_json::Value, command_type: &str) -> Validated {
        let wire = json!({ "commandId": "c-1", "commandType": command_type, "schemaVersion": 1, "data": data });
        let publisher = Identity { tenant: "acme".into(), actor: "git-bot".into(), role: Role::Member };
        validate(parse_envelope(wire.to_string().as_bytes()).unwrap(), &publisher).unwrap()
    }

    fn at(text: &str) -> Timestamp {
        Timestamp::parse(text).unwrap()
    }

    fn created() -> Task {
        let create = command(json!({ "title": "Review PR-123", "externalKey": "PR-123" }), "TaskCreateRequested");
        let plan = plan(&create, None, at("2026-03-01T08:00:00Z"), || "t1".into()).unwrap();
        assert_eq!(plan.link, Some(ExternalKeyLink { key: "PR-123".into(), task_id: "t1".into() }));
        match plan.changes.as_slice() {
            [Change::Put { new: Aggregate::Task(task), expected_version: None }] => task.clone(),
            other => panic!("a create plans one task put, got {other:?}"),
        }
    }

    fn status(to: &str, expected: serde_json::Value) -> Validated {
        command(
            json!({ "task": { "externalKey": "PR-123" }, "status": to, "expectedVersion": expected }),
            "TaskStatusRequested",
        )
    }

    #[test]
    fn a_status_command_is_a_conditional_write_on_the_version_found_or_named() {
        let task = created();
        let later = at("2026-03-01T09:00:00Z");
        let p = plan(&status("in_progress", json!("latest")), Some(&task), later, || unreachable!()).unwrap();
        let [Change::Put { new: Aggregate::Task(next), expected_version: Some(1) }] = p.changes.as_slice() else {
            panic!("{:?}", p.changes)
        };
        assert_eq!((next.status, next.version, next.status_changed_at), (TaskStatus::InProgress, 2, later));
        assert_eq!((p.outcome.result, p.outcome.version), (Effect::Applied, 2));
        assert!(plan(&status("in_progress", json!(1)), Some(&task), later, || unreachable!()).is_ok());
    }

    #[test]
    fn stale_unknown_and_forbidden_moves_are_refused_with_the_reason() {
        let task = created();
        let now = Timestamp::now();
        let err = plan(&status("in_progress", json!(3)), Some(&task), now, || unreachable!()).unwrap_err();
        assert_eq!((err.reason, err.current_version), (Reason::StaleVersion, Some(1)));
        assert_eq!(err.message, "the task of external key \"PR-123\" is at version 1, not 3: the command is stale");
        let err = plan(&status("in_progress", json!(1)), None, now, || unreachable!()).unwrap_err();
        assert_eq!(err.reason, Reason::TaskNotFound);
        let err = plan(&status("done", json!("latest")), Some(&task), now, || unreachable!()).unwrap_err();
        assert_eq!(err.reason, Reason::IllegalTransition);
    }

    #[test]
    fn a_status_the_task_has_is_no_change() {
        let p = plan(&status("todo", json!(1)), Some(&created()), Timestamp::now(), || unreachable!()).unwrap();
        assert!(p.changes.is_empty());
        assert_eq!((p.outcome.result, p.outcome.version), (Effect::Unchanged, 1));
    }

    #[test]
    fn a_comment_is_written_by_the_commands_actor() {
        let comment = command(
            json!({ "task": { "id": "0195f0e4-7c3a-7000-8000-000000000001" }, "body": "CI green, @maria" }),
            "TaskCommentRequested",
        );
        let p = plan(&comment, Some(&created()), Timestamp::now(), || "c9".into()).unwrap();
        let [Change::Put { new: Aggregate::Comment(c), expected_version: None }] = p.changes.as_slice() else {
            panic!("{:?}", p.changes)
        };
        assert_eq!(
            (c.author.as_str(), c.task_id.as_str(), c.mentions.clone()),
            ("git-bot", "t1", vec!["maria".to_owned()])
        );
        assert_eq!(p.outcome.comment_id.as_deref(), Some("c9"));
    }
}
