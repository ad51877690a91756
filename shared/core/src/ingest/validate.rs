//! From the wire form to a command that can only hold valid values: every check that needs
//! no store. Pure, so it is what the ingest benchmark measures with [`plan`](super::plan).

use events_schema::commands::{
    Command, CommandData, CommandEnvelope, CommandError, ExpectedVersion, TaskCommentRequested, TaskCreateRequested,
    TaskRef, TaskStatusRequested,
};
use events_schema::events::TaskStatus;
use sha2::{Digest, Sha256};

use super::outcome::{Reason, Rejection};
use crate::context::{Identity, Role};
use crate::domain::{CreateTask, Description, DueDate, EstimatePoints, FieldError, Links, Tag, Title, UserName};

/// A command checked against everything but the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Validated {
    pub command_id: String,
    /// A hash of what the command asks (type, version, payload), to tell a second delivery
    /// of it from another command that reuses its id.
    pub fingerprint: String,
    /// The publisher's tenant: where the command applies.
    pub tenant: String,
    /// Who asked: the command's actor, or the publisher.
    pub actor: String,
    pub role: Role,
    pub correlation_id: String,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Create { external_key: Option<String>, task: CreateTask },
    Status { task: TaskRef, status: TaskStatus, expected: ExpectedVersion },
    Comment { task: TaskRef, body: String },
}

impl Body {
    /// The task a command names, for those that name one.
    pub fn task(&self) -> Option<&TaskRef> {
        match self {
            Body::Create { .. } => None,
            Body::Status { task, .. } | Body::Comment { task, .. } => Some(task),
        }
    }
}

/// The receipt's idempotency key for a command id. The space keeps it apart from every
/// `Idempotency-Key` an API client can send (those are visible ASCII only).
pub fn receipt_key(command_id: &str) -> String {
    format!("command {command_id}")
}

/// One command's JSON (a line of `publish`, an item of `/ingest/batch`, a bus event's detail).
pub fn parse_envelope(bytes: &[u8]) -> Result<CommandEnvelope, Rejection> {
    match serde_json::from_slice(bytes) {
        Ok(envelope) => Ok(envelope),
        // Read again as a value only on the way out, so a sound line is parsed once.
        Err(e) => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(value) => envelope_from_value(value),
            Err(_) => Err(malformed(&e)),
        },
    }
}

/// [`parse_envelope`] for JSON already read. A `schemaVersion` larger than any version can be
/// is an unknown version (`invalid`), as version 7 of a command that has one version would be:
/// the envelope is sound, the publisher named a version this service does not know.
pub fn envelope_from_value(value: serde_json::Value) -> Result<CommandEnvelope, Rejection> {
    if let Some(serde_json::Value::Number(version)) = value.get("schemaVersion")
        && version.as_u64().and_then(|v| u32::try_from(v).ok()).is_none()
    {
        let command = value.get("commandType").and_then(serde_json::Value::as_str).unwrap_or("the command");
        return Err(Rejection::new(Reason::Invalid, format!("{command:?} has no schema version {version}")));
    }
    serde_json::from_value(value).map_err(|e| malformed(&e))
}

fn malformed(e: &serde_json::Error) -> Rejection {
    Rejection::new(Reason::Malformed, format!("not a command envelope: {e}"))
}

/// Checks `envelope` as published by `publisher`.
pub fn validate(envelope: CommandEnvelope, publisher: &Identity) -> Result<Validated, Rejection> {
    if !publisher.role.allows(Role::Member) {
        return Err(Rejection::new(Reason::Forbidden, "publishing commands needs the member role"));
    }
    if let Some(tenant) = &envelope.tenant
        && tenant != &publisher.tenant
    {
        return Err(Rejection::new(
            Reason::WrongTenant,
            format!("the command names tenant {tenant:?}, but its publisher writes to {:?}", publisher.tenant),
        ));
    }
    let mut errors = Vec::new();
    if !visible_ascii(&envelope.command_id, 128) {
        errors.push(FieldError::new("commandId", "must be 1 to 128 visible ASCII characters"));
    }
    let actor = match &envelope.actor {
        None => Some(publisher.actor.clone()),
        Some(raw) => take(&mut errors, UserName::parse("actor", raw).map(UserName::into_inner)),
    };
    let correlation_id = match &envelope.correlation_id {
        None => envelope.command_id.clone(),
        Some(raw) if plain_correlation_id(raw) => raw.clone(),
        Some(_) => {
            errors.push(FieldError::new(
                "correlationId",
                "must be 1 to 128 characters of letters, digits, '-', '_', '.' and ':'",
            ));
            String::new()
        }
    };
    if !errors.is_empty() {
        return Err(Rejection::invalid(errors));
    }
    let fingerprint = fingerprint(&envelope);
    let command_id = envelope.command_id.clone();
    let command = Command::from_envelope(envelope).map_err(decode_error)?;
    let body = match command.data {
        CommandData::TaskCreateRequested(create) => create_body(create)?,
        CommandData::TaskStatusRequested(TaskStatusRequested { task, status, expected_version }) => {
            Body::Status { task: task_ref(task)?, status, expected: expected_version }
        }
        CommandData::TaskCommentRequested(TaskCommentRequested { task, body }) => {
            let task = task_ref(task)?;
            let length = body.chars().count();
            if !(1..=5_000).contains(&length) || body.trim().is_empty() {
                return Err(Rejection::invalid(vec![FieldError::new(
                    "data.body",
                    format!("must be 1 to 5000 characters, not blank, got {length}"),
                )]));
            }
            Body::Comment { task, body }
        }
    };
    Ok(Validated {
        command_id,
        fingerprint,
        tenant: publisher.tenant.clone(),
        actor: actor.unwrap_or_default(),
        role: publisher.role,
        correlation_id,
        body,
    })
}

fn take<T>(errors: &mut Vec<FieldError>, result: Result<T, FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

fn visible_ascii(text: &str, max: usize) -> bool {
    !text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_graphic())
}

/// What the API accepts as a correlation id, so it is as safe in logs and headers.
fn plain_correlation_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 128
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// Type, version and payload in canonical JSON (keys sorted), hashed: when and by whom the
/// command was issued does not make it another command.
fn fingerprint(envelope: &CommandEnvelope) -> String {
    let mut hash = Sha256::new();
    hash.update(envelope.command_type.as_bytes());
    hash.update(b"\n");
    hash.update(envelope.schema_version.to_string().as_bytes());
    hash.update(b"\n");
    hash.update(envelope.data.to_string().as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_error(err: CommandError) -> Rejection {
    let fields = match &err {
        CommandError::UnknownCommandType(_) => vec![FieldError::new("commandType", err.to_string())],
        CommandError::UnsupportedVersion { .. } => vec![FieldError::new("schemaVersion", err.to_string())],
        CommandError::Decode { .. } | CommandError::Encode { .. } => vec![FieldError::new("data", err.to_string())],
    };
    Rejection::invalid(fields)
}

/// A task id is a UUID, kept in its hyphenated lower-case form (as the API stores it); an
/// external key is 1 to 200 visible characters without white space.
fn task_ref(task: TaskRef) -> Result<TaskRef, Rejection> {
    match task {
        TaskRef::Id(raw) => match uuid::Uuid::parse_str(&raw) {
            Ok(id) => Ok(TaskRef::Id(id.hyphenated().to_string())),
            Err(_) => {
                Err(Rejection::invalid(vec![FieldError::new("data.task.id", format!("{raw:?} is not a task id"))]))
            }
        },
        TaskRef::ExternalKey(key) => {
            external_key(&key, "data.task.externalKey").map_err(|e| Rejection::invalid(vec![e]))?;
            Ok(TaskRef::ExternalKey(key))
        }
    }
}

fn external_key(key: &str, field: &str) -> Result<(), FieldError> {
    let length = key.chars().count();
    if !(1..=200).contains(&length) || key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(field, "must be 1 to 200 visible characters without white space"));
    }
    Ok(())
}

fn create_body(create: TaskCreateRequested) -> Result<Body, Rejection> {
    let mut e = Vec::new();
    if let Some(key) = &create.external_key {
        take(&mut e, external_key(key, "data.externalKey"));
    }
    let title = take(&mut e, Title::parse(&create.title));
    let description = create.description.and_then(|d| take(&mut e, Description::parse(&d)));
    let assignee = create.assignee.and_then(|a| take(&mut e, UserName::parse("assignee", &a)));
    let reporter = create.reporter.and_then(|r| take(&mut e, UserName::parse("reporter", &r)));
    let tags = take(&mut e, Tag::parse_set(&create.tags));
    let due_date = create.due_date.and_then(|d| take(&mut e, DueDate::parse(&d)));
    let estimate_points = create.estimate_points.and_then(|p| take(&mut e, EstimatePoints::parse(p)));
    let (Some(title), Some(tags), true) = (title, tags, e.is_empty()) else {
        // The domain's field names, under the payload.
        for field in &mut e {
            if !field.field.starts_with("data.") {
                field.field = format!("data.{}", field.field);
            }
        }
        return Err(Rejection::invalid(e));
    };
    Ok(Body::Create {
        external_key: create.external_key,
        task: CreateTask {
            title,
            description,
            priority: create.priority.unwrap_or(events_schema::events::Priority::Medium),
            assignee,
            reporter,
            tags,
            due_date,
            estimate_points,
            links: Links::default(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn publisher(role: Role) -> Identity {
        Identity { tenant: "acme".into(), actor: "git-bot".into(), role }
    }

    fn envelope(value: serde_json::Value) -> CommandEnvelope {
        parse_envelope(value.to_string().as_bytes()).unwrap()
    }

    fn status(id: &str) -> serde_json::Value {
        json!({ "commandId": id, "commandType": "TaskStatusRequested", "schemaVersion": 1,
                "data": { "task": { "externalKey": "PR-123" }, "status": "in_review", "expectedVersion": "latest" } })
    }

    #[test]
    fn a_command_takes_its_tenant_and_actor_from_the_publisher() {
        let v = validate(envelope(status("c-1")), &publisher(Role::Member)).unwrap();
        assert_eq!((v.tenant.as_str(), v.actor.as_str(), v.correlation_id.as_str()), ("acme", "git-bot", "c-1"));
        assert_eq!(v.body.task(), Some(&TaskRef::external_key("PR-123")));
    }

    #[test]
    fn another_tenant_and_a_weak_role_are_refused() {
        let mut foreign = status("c-1");
        foreign["tenant"] = json!("globex");
        let err = validate(envelope(foreign), &publisher(Role::Admin)).unwrap_err();
        assert_eq!(err.reason, Reason::WrongTenant);
        let mut own = status("c-1");
        own["tenant"] = json!("acme");
        assert!(validate(envelope(own), &publisher(Role::Member)).is_ok());
        let err = validate(envelope(status("c-1")), &publisher(Role::Viewer)).unwrap_err();
        assert_eq!(err.reason, Reason::Forbidden);
    }

    #[test]
    fn the_fingerprint_is_what_is_asked_not_when_or_by_whom() {
        let first = validate(envelope(status("c-1")), &publisher(Role::Member)).unwrap();
        let mut later = status("c-1");
        later["issuedAt"] = json!("2026-03-01T08:00:00.000Z");
        later["actor"] = json!("maria");
        let second = validate(envelope(later), &publisher(Role::Member)).unwrap();
        assert_eq!(first.fingerprint, second.fingerprint);
        let mut other = status("c-1");
        other["data"]["status"] = json!("blocked");
        let third = validate(envelope(other), &publisher(Role::Member)).unwrap();
        assert_ne!(first.fingerprint, third.fingerprint);
    }

    #[test]
    fn bad_fields_are_named() {
        assert_eq!(parse_envelope(b"{not json").unwrap_err().reason, Reason::Malformed);
        assert_eq!(parse_envelope(br#"{"commandId": "c"}"#).unwrap_err().reason, Reason::Malformed);
    }

    #[test]
    fn a_version_past_any_version_is_an_unknown_version_not_a_malformed_envelope() {
        let line = br#"{"commandId":"c1","commandType":"TaskStatusRequested","schemaVersion":82065814879,"data":{}}"#;
        let rejection = parse_envelope(line).unwrap_err();
        assert_eq!(rejection.reason, Reason::Invalid);
        assert!(rejection.message.contains("82065814879"), "{}", rejection.message);
        let value = serde_json::from_slice(line).unwrap();
        assert_eq!(envelope_from_value(value).unwrap_err().reason, Reason::Invalid);
        // Past u64 too (JSON reads it as a float), negative, or not whole.
        for version in ["11050594199258759707334209961984", "-1", "1.5"] {
            let line = format!(
                r#"{{"commandId":"c1","commandType":"TaskStatusRequested","schemaVersion":{version},"data":{{}}}}"#
            );
            assert_eq!(parse_envelope(line.as_bytes()).unwrap_err().reason, Reason::Invalid, "{version}");
        }
        let create = json!({ "commandId": "c 1", "commandType": "TaskCreateRequested", "schemaVersion": 1,
                             "data": { "title": "x" } });
        let err = validate(envelope(create), &publisher(Role::Member)).unwrap_err();
        assert_eq!(err.fields[0].field, "commandId");
        let create = json!({ "commandId": "c-1", "commandType": "TaskCreateRequested", "schemaVersion": 1,
                             "data": { "title": " ", "externalKey": "PR 1", "dueDate": "2026-02-30" } });
        let err = validate(envelope(create), &publisher(Role::Member)).unwrap_err();
        let fields: Vec<&str> = err.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["data.externalKey", "data.title", "data.dueDate"]);
        let mut unknown = status("c-1");
        unknown["schemaVersion"] = json!(9);
        let err = validate(envelope(unknown), &publisher(Role::Member)).unwrap_err();
        assert_eq!((err.reason, err.fields[0].field.as_str()), (Reason::Invalid, "schemaVersion"));
        let mut not_an_id = status("c-1");
        not_an_id["data"]["task"] = json!({ "id": "42" });
        let err = validate(envelope(not_an_id), &publisher(Role::Member)).unwrap_err();
        assert_eq!(err.fields[0].field, "data.task.id");
    }

    #[test]
    fn task_ids_are_kept_in_their_stored_form() {
        let mut upper = status("c-1");
        upper["data"]["task"] = json!({ "id": "0195F0E4-7C3A-7000-8000-000000000001" });
        let v = validate(envelope(upper), &publisher(Role::Member)).unwrap();
        assert_eq!(v.body.task(), Some(&TaskRef::id("0195f0e4-7c3a-7000-8000-000000000001")));
    }
}
