//! Upcasters: each lifts a payload one version up; [`decode`] chains them to the latest.

use crate::AggregateType;
use crate::events::{EventData, EventPayload, TaskStatusChanged, TaskStatusChangedV1};

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("unknown event type {0:?}")]
    UnknownEventType(String),
    #[error("{event_type} has no schema version {version} (supported: 1 to {latest})")]
    UnsupportedVersion { event_type: String, version: u32, latest: u32 },
    #[error("{event_type} v{version} payload does not match its schema: {source}")]
    Decode { event_type: String, version: u32, source: serde_json::Error },
    #[error("{event_type} could not be encoded: {source}")]
    Encode { event_type: String, source: serde_json::Error },
    #[error("no upcaster from {event_type} v{version}")]
    MissingUpcaster { event_type: String, version: u32 },
    #[error("{event_type} belongs to aggregate {expected:?}, but the envelope says {found:?}")]
    AggregateMismatch { event_type: String, expected: AggregateType, found: AggregateType },
}

/// Decodes `data`, written as `version` of `event_type`, into the latest version.
pub fn decode(event_type: &str, version: u32, data: serde_json::Value) -> Result<EventData, SchemaError> {
    let latest =
        EventData::latest_version(event_type).ok_or_else(|| SchemaError::UnknownEventType(event_type.to_owned()))?;
    if version == 0 || version > latest {
        return Err(SchemaError::UnsupportedVersion { event_type: event_type.to_owned(), version, latest });
    }
    let mut data = data;
    for from in version..latest {
        data = step(event_type, from, data)?;
    }
    EventData::decode_latest(event_type, data)
}

/// One version up. Every (type, version) below the latest must have an arm here; the
/// catalog test walks all of them.
fn step(event_type: &str, from: u32, data: serde_json::Value) -> Result<serde_json::Value, SchemaError> {
    match (event_type, from) {
        (TaskStatusChangedV1::EVENT_TYPE, 1) => lift::<TaskStatusChangedV1, TaskStatusChanged>(data),
        _ => Err(SchemaError::MissingUpcaster { event_type: event_type.to_owned(), version: from }),
    }
}

fn lift<From, To>(data: serde_json::Value) -> Result<serde_json::Value, SchemaError>
where
    From: EventPayload,
    To: EventPayload + std::convert::From<From>,
{
    let old: From = serde_json::from_value(data).map_err(|source| SchemaError::Decode {
        event_type: From::EVENT_TYPE.to_owned(),
        version: From::VERSION,
        source,
    })?;
    serde_json::to_value(To::from(old))
        .map_err(|source| SchemaError::Encode { event_type: To::EVENT_TYPE.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn snapshot() -> serde_json::Value {
        json!({
            "id": "t1", "title": "Ship it", "status": "in_progress", "priority": "high", "tags": [],
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-02T00:00:00Z",
            "statusChangedAt": "2026-01-02T00:00:00Z", "version": 2
        })
    }

    #[test]
    fn status_changed_v1_upcasts_to_v2_without_inventing_history() {
        let v1 = json!({ "taskId": "t1", "status": "in_progress", "task": snapshot() });
        let EventData::TaskStatusChanged(v2) = decode("TaskStatusChanged", 1, v1).unwrap() else {
            panic!("wrong variant");
        };
        assert_eq!(v2.task_id, "t1");
        assert_eq!(v2.previous_status, None);
        assert_eq!(v2.seconds_in_previous_status, None);
    }

    #[test]
    fn a_v1_payload_is_not_accepted_as_v2_when_it_lacks_v2_fields() {
        let v1 = json!({ "taskId": "t1", "status": "in_progress", "task": snapshot() });
        let v2 = json!({ "taskId": "t1", "status": "in_progress", "task": snapshot(),
                         "previousStatus": "todo", "secondsInPreviousStatus": 30 });
        assert!(decode("TaskStatusChanged", 2, v2).is_ok());
        // Options without serde(default) are required keys: a producer that forgot them fails.
        assert!(matches!(decode("TaskStatusChanged", 2, v1), Err(SchemaError::Decode { .. })));
    }

    #[test]
    fn unknown_types_and_versions_are_named_in_the_error() {
        let err = decode("TaskExploded", 1, json!({})).unwrap_err();
        assert!(err.to_string().contains("TaskExploded"));
        let err = decode("TaskCreated", 7, json!({})).unwrap_err();
        assert_eq!(err.to_string(), "TaskCreated has no schema version 7 (supported: 1 to 1)");
        assert!(matches!(decode("TaskCreated", 0, json!({})), Err(SchemaError::UnsupportedVersion { .. })));
    }
}
