//! Sending as the event is handled, for a notifier whose outbox shares no transaction with
//! its senders (AWS: DynamoDB, SES, Slack over HTTP, inside one SQS batch).
//!
//! Each email or Slack notification is claimed before its send by a conditional put of its
//! dedupe record ([`SendClaims`]), so a redelivered or replayed event, or a second worker
//! with the same event, sends nothing: the record exists. The claim is a lease: a holder that
//! dies between claim and outcome leaves it to run out, and the event's next delivery (the
//! queue's, after its visibility timeout) takes it over and sends. A failure worth another
//! attempt releases the claim and fails the event, so the queue brings it back after its
//! backoff and dead-letters it with the reason once its receives are spent; the event's
//! other notifications, settled already, are not sent again.

use std::sync::Arc;
use std::time::Duration;

use events_schema::Timestamp;

use super::deliver::{Attempted, EmailSender, send_one};
use super::{Channel, Notification, Person, Status};
use crate::pipeline::ApplyError;
use crate::ports::{SendClaims, StoreError};
use crate::webhooks::dispatch::{SendError, Transport};

/// How long a claim is held before another delivery of the event may take it over: longer
/// than one attempt (a sender's timeout), shorter than the queue's visibility timeout, so the
/// redelivery of an event whose worker died finds the lease run out.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

pub struct InlineDelivery {
    claims: Arc<dyn SendClaims>,
    email: Option<Arc<dyn EmailSender>>,
    slack: Option<Arc<dyn Transport>>,
    lease: Duration,
}

impl InlineDelivery {
    pub fn new(claims: Arc<dyn SendClaims>) -> Self {
        Self { claims, email: None, slack: None, lease: DEFAULT_LEASE }
    }

    pub fn with_email(mut self, sender: Arc<dyn EmailSender>) -> Self {
        self.email = Some(sender);
        self
    }

    pub fn with_slack(mut self, transport: Arc<dyn Transport>) -> Self {
        self.slack = Some(transport);
        self
    }

    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    fn sends(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email.is_some(),
            Channel::Slack => self.slack.is_some(),
            Channel::InApp => false,
        }
    }

    /// Sends the email and Slack notifications among `planned`, each once; `people` are the
    /// entries the plan was made from (their addresses). Returns an error when one failed in
    /// a way worth another attempt, after every other one was settled.
    pub async fn deliver(&self, planned: &[Notification], people: &[Person]) -> Result<(), ApplyError> {
        let mut retry: Option<String> = None;
        for n in planned.iter().filter(|n| self.sends(n.channel)) {
            let now = Timestamp::now();
            let lease_ms = i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX);
            let until = Timestamp::from_unix_millis(now.unix_millis().saturating_add(lease_ms)).unwrap_or(now);
            if !self.claims.claim(n, now, until).await? {
                tracing::debug!(notification = %n.id, "sent or being sent already");
                continue;
            }
            let address = people.iter().find(|p| p.name == n.recipient).and_then(|p| match n.channel {
                Channel::Email => p.email.as_deref(),
                Channel::Slack => p.slack_webhook_url.as_deref(),
                Channel::InApp => None,
            });
            let result = send_one(self.email.as_deref(), self.slack.as_deref(), n, address).await;
            let attempted_at = Timestamp::now();
            let (status, error) = match &result {
                Ok(()) => (Status::Delivered, None),
                Err(e @ SendError::Refused(_)) => (Status::Failed, Some(e.to_string())),
                Err(e @ SendError::Failed(_)) => (Status::Pending, Some(e.to_string())),
            };
            let outcome = Attempted {
                id: n.id,
                status,
                attempts: n.attempts.saturating_add(1),
                attempted_at,
                next_attempt_at: None,
                error: error.clone(),
            };
            self.claims.settle_claim(n, &outcome).await?;
            match (status, error) {
                (Status::Pending, Some(e)) => {
                    tracing::info!(notification = %n.id, channel = n.channel.as_str(), error = %e, "notification attempt failed; the event comes back");
                    retry = Some(e);
                }
                (Status::Failed, Some(e)) => {
                    tracing::info!(notification = %n.id, channel = n.channel.as_str(), error = %e, "notification failed for good");
                }
                _ => tracing::debug!(notification = %n.id, channel = n.channel.as_str(), "notification sent"),
            }
        }
        match retry {
            Some(e) => {
                Err(ApplyError::Store(StoreError::Unavailable(format!("a notification could not be sent: {e}"))))
            }
            None => Ok(()),
        }
    }
}
