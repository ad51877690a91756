//! Sends email notifications from serve to an SMTP server (`--smtp-url`), through lettre.
//!
//! Each message has a plain-text and an HTML part (multipart/alternative), both base64: the
//! words are users' (any script, any line length), and base64 carries anything through any
//! server without asking for 8BITMIME. Its `Message-ID` is the notification's id, the same
//! on every attempt. The URL may hold a password, so it is never logged or echoed.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use shared_core::notify::deliver::{EmailSender, OutgoingEmail};
use shared_core::webhooks::dispatch::SendError;

pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpSender {
    /// `url`: `smtp://host:port` (no TLS), `smtp://host:port?tls=required` (STARTTLS),
    /// `smtps://host:port` (TLS from the start), with `user:password@` for a server that
    /// wants a login. `from` is the sender's address (`Name <addr>` or `addr`).
    pub fn new(url: &str, from: &str, timeout: Duration) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| {
                anyhow::anyhow!(
                    "--smtp-url is not a mail server URL (smtp://host:port, smtp://host:port?tls=required \
                     or smtps://host:port): {e}"
                )
            })?
            .timeout(Some(timeout))
            .build();
        let from: Mailbox =
            from.parse().map_err(|e| anyhow::anyhow!("--smtp-from {from:?} is not an email address: {e}"))?;
        Ok(Self { transport, from })
    }

    fn message(&self, email: &OutgoingEmail) -> Result<Message, SendError> {
        let to: Mailbox =
            email.to.parse().map_err(|e| SendError::Refused(format!("{:?} is not an email address: {e}", email.to)))?;
        let part = |kind: ContentType, body: &str| {
            SinglePart::builder().header(kind).header(ContentTransferEncoding::Base64).body(body.to_owned())
        };
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.email.subject.clone())
            .message_id(Some(email.message_id()))
            .multipart(
                MultiPart::alternative()
                    .singlepart(part(ContentType::TEXT_PLAIN, &email.email.text))
                    .singlepart(part(ContentType::TEXT_HTML, &email.email.html)),
            )
            .map_err(|e| SendError::Refused(format!("the message could not be built: {e}")))
    }
}

#[async_trait]
impl EmailSender for SmtpSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let message = self.message(email)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // A 5xx reply: the server refuses this message or address for good.
            Err(e) if e.is_permanent() => Err(SendError::Refused(format!("the mail server refused it: {e}"))),
            Err(e) => Err(SendError::Failed(format!("the mail server did not take it: {e}"))),
        }
    }
}
