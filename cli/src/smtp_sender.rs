//! Sends email notifications from serve to an SMTP server (`--smtp-url`), through lettre.
//!
//! The message is core's (`shared_core::notify::mime`): the same bytes SES sends on AWS. The
//! URL may hold a password, so it is never logged or echoed.

use std::time::Duration;

use async_trait::async_trait;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use shared_core::notify::deliver::{EmailSender, OutgoingEmail};
use shared_core::notify::mime::{self, Mailbox};
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
        let from = mime::parse_from(from).map_err(|e| anyhow::anyhow!("--smtp-from: {e}"))?;
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl EmailSender for SmtpSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let message = mime::message(&self.from, email)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // A 5xx reply: the server refuses this message or address for good.
            Err(e) if e.is_permanent() => Err(SendError::Refused(format!("the mail server refused it: {e}"))),
            Err(e) => Err(SendError::Failed(format!("the mail server did not take it: {e}"))),
        }
    }
}
