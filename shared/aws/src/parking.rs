//! The stream router's parking queue: poison records, whole, with the reason.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use shared_core::stream_router::PoisonParking;

pub struct SqsParking {
    client: Client,
    queue_url: String,
}

impl SqsParking {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }

    pub fn from_config(config: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::new(Client::new(config), queue_url)
    }
}

#[async_trait]
impl PoisonParking for SqsParking {
    /// The body is `{"reason", "record"}` with the stream record exactly as received, so it
    /// can be inspected and re-driven through `taskstream route` after a fix; the reason is
    /// also a message attribute, for filtering without parsing.
    async fn park(&self, record: &serde_json::Value, reason: &str) -> Result<(), String> {
        let body = serde_json::json!({ "reason": reason, "record": record }).to_string();
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason.chars().take(1024).collect::<String>())
            .build()
            .map_err(|e| e.to_string())?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes("reason", attribute)
            .send()
            .await
            .map_err(|e| format!("SendMessage failed: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
        Ok(())
    }
}

/// A consumer's dead-letter queue, written by the consumer runtime itself so the message
/// arrives with why it failed. The body stays exactly as received, so a redrive returns it
/// to its queue unchanged; the reason travels as message attributes.
pub struct SqsDeadLetters {
    client: Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }

    pub fn from_config(config: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::new(Client::new(config), queue_url)
    }

    pub async fn send(&self, body: &str, consumer: &str, reason: &str, receives: u32) -> Result<(), String> {
        let text = |value: String| MessageAttributeValue::builder().data_type("String").string_value(value).build();
        let number = MessageAttributeValue::builder().data_type("Number").string_value(receives.to_string()).build();
        let (reason, consumer, number) = (
            text(reason.chars().take(1024).collect()).map_err(|e| e.to_string())?,
            text(consumer.to_owned()).map_err(|e| e.to_string())?,
            number.map_err(|e| e.to_string())?,
        );
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes("reason", reason)
            .message_attributes("consumer", consumer)
            .message_attributes("receives", number)
            .send()
            .await
            .map_err(|e| format!("SendMessage failed: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
        Ok(())
    }
}

/// A consumer's own queue, for backing a message off: its visibility is set to the delay,
/// so it is received again only then.
pub struct SqsVisibility {
    client: Client,
    queue_url: String,
}

impl SqsVisibility {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }

    pub fn from_config(config: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::new(Client::new(config), queue_url)
    }

    /// Hides the message received with `receipt_handle` for `seconds` (SQS allows up to 12 hours).
    pub async fn delay(&self, receipt_handle: &str, seconds: u64) -> Result<(), String> {
        let seconds = i32::try_from(seconds.min(12 * 3600)).unwrap_or(12 * 3600);
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| format!("ChangeMessageVisibility failed: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
        Ok(())
    }
}
