//! Typed builders for the inbound commands: a command is made whole (its id drawn, its
//! payload typed) before it goes anywhere, so only taskstream's rules can refuse it.

use events_schema::Timestamp;
use events_schema::commands::{
    Command, CommandData, CommandMeta, ExpectedVersion, TaskCommentRequested, TaskCreateRequested, TaskRef,
    TaskStatusRequested,
};
use events_schema::events::{Priority, TaskStatus};

/// Asks for a new task titled `title`.
pub fn create_task(title: impl Into<String>) -> CreateTask {
    CreateTask {
        meta: meta(),
        data: TaskCreateRequested {
            external_key: None,
            title: title.into(),
            description: None,
            priority: None,
            assignee: None,
            reporter: None,
            tags: Vec::new(),
            due_date: None,
            estimate_points: None,
        },
    }
}

/// Asks for `task` to move to `status`, at whatever version it has unless
/// [`SetStatus::at_version`] says otherwise.
pub fn set_status(task: TaskRef, status: TaskStatus) -> SetStatus {
    SetStatus { meta: meta(), data: TaskStatusRequested { task, status, expected_version: ExpectedVersion::Latest } }
}

/// Asks for a comment on `task`, written by the command's actor.
pub fn comment(task: TaskRef, body: impl Into<String>) -> Comment {
    Comment { meta: meta(), data: TaskCommentRequested { task, body: body.into() } }
}

/// A fresh command id (a random UUID): unique per command, kept when the command is sent
/// again, which is what makes a resend harmless.
fn meta() -> CommandMeta {
    let mut meta = CommandMeta::new(uuid::Uuid::new_v4().to_string());
    meta.issued_at = Some(Timestamp::now());
    meta
}

/// What every builder takes beside its payload.
macro_rules! common {
    ($builder:ident) => {
        impl $builder {
            /// The idempotency key, when the publisher has one of its own (a webhook delivery
            /// id, say): the same id is applied once, however often it is sent.
            pub fn command_id(mut self, id: impl Into<String>) -> Self {
                self.meta.command_id = id.into();
                self
            }

            /// Who asked, at the publisher (recorded as the change's actor).
            pub fn actor(mut self, actor: impl Into<String>) -> Self {
                self.meta.actor = Some(actor.into());
                self
            }

            pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
                self.meta.correlation_id = Some(id.into());
                self
            }

            /// The tenant the publisher means; refused unless it is the publisher's own.
            pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
                self.meta.tenant = Some(tenant.into());
                self
            }

            pub fn build(self) -> Command {
                Command { meta: self.meta, data: CommandData::from(self.data) }
            }
        }

        impl From<$builder> for Command {
            fn from(builder: $builder) -> Command {
                builder.build()
            }
        }
    };
}

#[derive(Debug, Clone)]
pub struct CreateTask {
    meta: CommandMeta,
    data: TaskCreateRequested,
}
common!(CreateTask);

impl CreateTask {
    /// Links the new task to the publisher's own name for it, so later commands can name it
    /// by that key.
    pub fn external_key(mut self, key: impl Into<String>) -> Self {
        self.data.external_key = Some(key.into());
        self
    }

    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.data.description = Some(text.into());
        self
    }

    pub fn priority(mut self, priority: Priority) -> Self {
        self.data.priority = Some(priority);
        self
    }

    pub fn assignee(mut self, name: impl Into<String>) -> Self {
        self.data.assignee = Some(name.into());
        self
    }

    pub fn reporter(mut self, name: impl Into<String>) -> Self {
        self.data.reporter = Some(name.into());
        self
    }

    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.data.tags.push(tag.into());
        self
    }

    /// `YYYY-MM-DD`.
    pub fn due_date(mut self, date: impl Into<String>) -> Self {
        self.data.due_date = Some(date.into());
        self
    }

    pub fn estimate_points(mut self, points: u32) -> Self {
        self.data.estimate_points = Some(points);
        self
    }
}

#[derive(Debug, Clone)]
pub struct SetStatus {
    meta: CommandMeta,
    data: TaskStatusRequested,
}
common!(SetStatus);

impl SetStatus {
    /// Applies only if the task is at `version` (optimistic locking); otherwise the command
    /// is refused as stale.
    pub fn at_version(mut self, version: u64) -> Self {
        self.data.expected_version = ExpectedVersion::Exact(version);
        self
    }
}

#[derive(Debug, Clone)]
pub struct Comment {
    meta: CommandMeta,
    data: TaskCommentRequested,
}
common!(Comment);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builders_make_the_wire_form_of_each_command() {
        let create = create_task("Review PR-123").external_key("PR-123").priority(Priority::High).tag("git").build();
        let wire = create.to_envelope().unwrap();
        assert_eq!(wire.command_type, "TaskCreateRequested");
        assert_eq!(
            wire.data,
            json!({ "externalKey": "PR-123", "title": "Review PR-123", "priority": "high", "tags": ["git"] })
        );
        assert!(uuid::Uuid::parse_str(&wire.command_id).is_ok());

        let status = set_status(TaskRef::external_key("PR-123"), TaskStatus::InReview)
            .at_version(2)
            .command_id("delivery-77")
            .actor("maria")
            .build();
        let wire = status.to_envelope().unwrap();
        assert_eq!((wire.command_id.as_str(), wire.actor.as_deref()), ("delivery-77", Some("maria")));
        assert_eq!(wire.data["expectedVersion"], 2);

        let note: Command = comment(TaskRef::id("t1"), "CI is green").into();
        assert_eq!(note.to_envelope().unwrap().data, json!({ "task": { "id": "t1" }, "body": "CI is green" }));
    }

    #[test]
    fn every_command_has_its_own_id() {
        let a = create_task("a").build();
        let b = create_task("a").build();
        assert_ne!(a.meta.command_id, b.meta.command_id);
    }
}
