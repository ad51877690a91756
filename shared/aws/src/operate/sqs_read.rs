//! Reading what SQS holds for an operator: a queue's attribute, and a received message's
//! parts (its attributes, when it was sent, its JSON body). Shared by the consumers' dead
//! letters and the router's parked records, which are read the same way.

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};

use super::OperateError;

/// One attribute of a queue, as SQS reports it.
pub(super) async fn queue_attribute(
    client: &Client,
    url: &str,
    name: QueueAttributeName,
) -> Result<Option<String>, OperateError> {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .map_err(|e| OperateError::aws("GetQueueAttributes", e))?;
    Ok(out.attributes.and_then(|mut a| a.remove(&name)))
}

/// `ApproximateNumberOfMessages`, as SQS counts (0 when it does not say).
pub(super) async fn depth(client: &Client, url: &str) -> Result<i64, OperateError> {
    let depth = queue_attribute(client, url, QueueAttributeName::ApproximateNumberOfMessages).await?;
    Ok(depth.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// A string message attribute the sender set (`reason`, `consumer`, `receives`).
pub(super) fn attribute(message: &Message, name: &str) -> Option<String> {
    message.message_attributes.as_ref().and_then(|a| a.get(name)).and_then(|v| v.string_value.clone())
}

/// When the message was sent (for a dead-letter queue: when it was dead-lettered), RFC 3339.
pub(super) fn sent_at(message: &Message) -> Option<String> {
    message
        .attributes
        .as_ref()
        .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(events_schema::Timestamp::from_unix_millis)
        .map(|t| t.to_string())
}

/// The body, when it is JSON.
pub(super) fn json_body(message: &Message) -> Option<serde_json::Value> {
    message.body.as_deref().and_then(|b| serde_json::from_str(b).ok())
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::types::MessageAttributeValue;

    use super::*;

    #[test]
    fn a_message_reads_its_attributes_sent_time_and_json_body() {
        let reason = MessageAttributeValue::builder().data_type("String").string_value("bad json").build().unwrap();
        let message = Message::builder()
            .body(r#"{"detail":{"eventId":"e1"}}"#)
            .message_attributes("reason", reason)
            .attributes(MessageSystemAttributeName::SentTimestamp, "1767225600000")
            .build();
        assert_eq!(attribute(&message, "reason").as_deref(), Some("bad json"));
        assert_eq!(attribute(&message, "consumer"), None);
        assert_eq!(sent_at(&message).as_deref(), Some("2026-01-01T00:00:00.000Z"));
        assert_eq!(json_body(&message).and_then(|b| b.pointer("/detail/eventId").cloned()), Some("e1".into()));
        let plain = Message::builder().body("not json").build();
        assert_eq!((json_body(&plain), sent_at(&plain)), (None, None));
    }
}
