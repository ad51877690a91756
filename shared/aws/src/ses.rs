//! Email notifications through Amazon SES (API v2, `SendEmail`), as the same MIME message
//! serve sends over SMTP (`shared_core::notify::mime`): raw content, so the plain-text and
//! HTML parts and the `Message-ID` are ours, byte for byte.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{DisplayErrorContext, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use shared_core::notify::deliver::{EmailSender, OutgoingEmail};
use shared_core::notify::mime::{self, Mailbox};
use shared_core::webhooks::dispatch::SendError;

pub struct SesSender {
    client: Client,
    from: Mailbox,
}

impl SesSender {
    /// `from`: a verified SES identity (`Name <addr>` or `addr`).
    pub fn new(config: &SdkConfig, from: &str) -> Result<Self, String> {
        Ok(Self { client: Client::new(config), from: mime::parse_from(from)? })
    }
}

/// What SES's refusal says: throttling and SES's own trouble are worth another attempt; a
/// rejected message, an unverified sender, a paused or suspended account are not (an operator
/// has to act first, and the event is better dead-lettered with the reason).
fn classify(err: SdkError<SendEmailError>) -> SendError {
    let retry = match err.as_service_error() {
        Some(e) => e.is_too_many_requests_exception() || e.is_limit_exceeded_exception(),
        // No answer (timeout, connection) or an unexpected one: try again.
        None => true,
    };
    let text = format!("SES SendEmail: {}", DisplayErrorContext(&err));
    if retry { SendError::Failed(text) } else { SendError::Refused(text) }
}

#[async_trait]
impl EmailSender for SesSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let message = mime::message(&self.from, email)?;
        let raw = RawMessage::builder()
            .data(Blob::new(message.formatted()))
            .build()
            .map_err(|e| SendError::Refused(format!("the SES message could not be built: {e}")))?;
        self.client
            .send_email()
            .from_email_address(self.from.email.to_string())
            .destination(Destination::builder().to_addresses(email.to.clone()).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
