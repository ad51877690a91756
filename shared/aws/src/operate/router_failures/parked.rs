//! A record the router parked in its parking queue: the message's body is `{"reason",
//! "record"}` (see [`SqsParking`](crate::parking::SqsParking)), shown without being removed and
//! routed again as a one-record stream event.

use serde::Serialize;

use crate::operate::sqs_read;

/// One record the router parked, read without removing it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParkedRecord {
    /// The SQS message id.
    pub id: String,
    pub reason: String,
    pub parked_at: Option<String>,
    pub sequence_number: Option<String>,
    pub event_name: Option<String>,
    /// The item's key (`pk`), which names the tenant and the task.
    pub item: Option<String>,
    /// The stream record, with `dlq show`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
}

/// The record of a parked message, as a one-record stream event.
pub(super) fn parked_payload(body: Option<&str>) -> Option<String> {
    let body: serde_json::Value = serde_json::from_str(body?).ok()?;
    let record = body.get("record")?;
    Some(serde_json::json!({ "Records": [record] }).to_string())
}

pub(super) fn parked_of(message: &aws_sdk_sqs::types::Message) -> (ParkedRecord, serde_json::Value) {
    let body = sqs_read::json_body(message).unwrap_or(serde_json::Value::Null);
    let record = body.get("record").cloned().unwrap_or(serde_json::Value::Null);
    let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_owned);
    let attribute = sqs_read::attribute(message, "reason");
    let parked_at = sqs_read::sent_at(message);
    let parked = ParkedRecord {
        id: message.message_id.clone().unwrap_or_default(),
        reason: text(body.get("reason")).or(attribute).unwrap_or_else(|| "no reason recorded".to_owned()),
        parked_at,
        sequence_number: text(record.pointer("/dynamodb/SequenceNumber")),
        event_name: text(record.get("eventName")),
        item: text(record.pointer("/dynamodb/Keys/pk/S")),
        record: None,
    };
    (parked, record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_without_a_record_routes_nothing() {
        assert_eq!(parked_payload(Some("not json")), None);
        assert_eq!(parked_payload(Some(r#"{"reason":"r"}"#)), None);
        let routed = parked_payload(Some(r#"{"reason":"r","record":{"eventID":"1"}}"#));
        assert_eq!(routed.as_deref(), Some(r#"{"Records":[{"eventID":"1"}]}"#));
    }
}
