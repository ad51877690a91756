//! Sends what waits in the outbox: email through an [`EmailSender`] (SMTP embedded, SES on
//! AWS), Slack by a POST of the Block Kit message to the person's incoming-webhook URL.
//!
//! Deciding is apart from sending, as for webhooks: [`settle`] turns an attempt's result into
//! the notification's next state (delivered, retried after the schedule's wait, failed with
//! the reason), each channel's classifier ([`slack_outcome`], the email sender's own error)
//! says whether a failure is worth another attempt, and the senders only make the call.
//!
//! An attempt is recorded after it ends (send, then mark). Between attempts nothing can be
//! lost or doubled: the outbox row says what is left to do. A process killed after the
//! channel accepted a message but before its status was written sends it once more after the
//! restart, with the same notification id as the email's `Message-ID`, which is what a mail
//! system can collapse a repeat by (see docs/notifications.md for why this and not a mark
//! before the send).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use events_schema::Timestamp;
use tokio::sync::watch;
use uuid::Uuid;

use super::message::{Email, email, slack};
use super::{Channel, Notification, Status};
use crate::outbox::{Pace, run_rounds};
use crate::ports::{NotificationOutbox, StoreError};
use crate::webhooks::dispatch::{SendError, Transport};
use crate::webhooks::retry::RetrySchedule;

/// A notification due for sending, with the address its person has now (`None`: they have
/// none for its channel any more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub notification: Notification,
    pub address: Option<String>,
}

/// One email to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The notification's id: the message's `Message-ID`, the same on every attempt.
    pub id: Uuid,
    pub to: String,
    pub email: Email,
}

impl OutgoingEmail {
    /// `<id@taskstream>`: the same for every attempt at one notification.
    pub fn message_id(&self) -> String {
        format!("<{}@taskstream>", self.id.hyphenated())
    }
}

/// Hands an email to a mail system. `Err(SendError::Refused)` when no retry can help (the
/// server refused the address or the message for good), `Err(SendError::Failed)` when
/// another attempt may.
#[async_trait]
pub trait EmailSender: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError>;
}

/// What became of one attempt, and so of its notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    pub id: Uuid,
    pub status: Status,
    /// Attempts made, this one included.
    pub attempts: u32,
    pub attempted_at: Timestamp,
    /// When pending: the next attempt.
    pub next_attempt_at: Option<Timestamp>,
    pub error: Option<String>,
}

/// What Slack's answer to a POST says: a 2xx is delivered; 408, 429 and 5xx are worth
/// another attempt; anything else (403 invalid token, 404 no such hook, 410 channel
/// archived, …) will not change by asking again.
pub fn slack_outcome(answer: Result<u16, SendError>) -> Result<(), SendError> {
    match answer? {
        code if (200..300).contains(&code) => Ok(()),
        code @ (408 | 429 | 500..=599) => Err(SendError::Failed(format!("Slack answered HTTP {code}"))),
        code => Err(SendError::Refused(format!("Slack answered HTTP {code}"))),
    }
}

/// One attempt at `n`, rendered for its channel and sent to `address` (its person's address
/// for the channel; `None`: they have none, which no retry mends).
pub async fn send_one(
    email_sender: Option<&dyn EmailSender>,
    slack_transport: Option<&dyn Transport>,
    n: &Notification,
    address: Option<&str>,
) -> Result<(), SendError> {
    let Some(address) = address else {
        return Err(SendError::Refused(format!("{} has no {} address", n.recipient, n.channel.as_str())));
    };
    match (n.channel, email_sender, slack_transport) {
        (Channel::Email, Some(sender), _) => {
            sender.send(&OutgoingEmail { id: n.id, to: address.to_owned(), email: email(n) }).await
        }
        (Channel::Slack, _, Some(transport)) => {
            let body = slack(n).to_string();
            let headers = [("content-type", "application/json".to_owned())];
            slack_outcome(transport.post(address, &headers, &body).await)
        }
        // Not asked for by the callers; refused rather than looped on.
        (channel, _, _) => Err(SendError::Refused(format!("no sender for {}", channel.as_str()))),
    }
}

/// What an attempt's result makes of its notification.
pub fn settle(
    n: &Notification,
    result: &Result<(), SendError>,
    schedule: &RetrySchedule,
    attempted_at: Timestamp,
) -> Attempted {
    let attempts = n.attempts.saturating_add(1);
    let (status, next_attempt_at, error) = match result {
        Ok(()) => (Status::Delivered, None, None),
        Err(e @ SendError::Refused(_)) => (Status::Failed, None, Some(e.to_string())),
        Err(e @ SendError::Failed(_)) => match schedule.after(attempts) {
            Some(wait) => {
                let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                let at = Timestamp::from_unix_millis(attempted_at.unix_millis().saturating_add(wait_ms));
                (Status::Pending, Some(at.unwrap_or(attempted_at)), Some(e.to_string()))
            }
            None => (Status::Failed, None, Some(format!("{e} (gave up after {attempts} attempts)"))),
        },
    };
    Attempted { id: n.id, status, attempts, attempted_at, next_attempt_at, error }
}

/// Sends due notifications until told to stop.
pub struct Deliverer {
    outbox: Arc<dyn NotificationOutbox>,
    email: Option<Arc<dyn EmailSender>>,
    slack: Option<Arc<dyn Transport>>,
    schedule: RetrySchedule,
    /// Notifications taken per round; all of a round are in flight at once.
    batch: usize,
    /// How long to wait when nothing is due.
    idle: Duration,
}

impl Deliverer {
    pub fn new(outbox: Arc<dyn NotificationOutbox>, schedule: RetrySchedule) -> Self {
        Self { outbox, email: None, slack: None, schedule, batch: 32, idle: Duration::from_millis(100) }
    }

    /// Sends email through `sender`; without one, email notifications stay in the outbox.
    pub fn with_email(mut self, sender: Arc<dyn EmailSender>) -> Self {
        self.email = Some(sender);
        self
    }

    /// Posts Slack messages through `transport`; without one, they stay in the outbox.
    pub fn with_slack(mut self, transport: Arc<dyn Transport>) -> Self {
        self.slack = Some(transport);
        self
    }

    /// The channels this deliverer sends.
    pub fn channels(&self) -> Vec<Channel> {
        let mut out = Vec::with_capacity(2);
        if self.email.is_some() {
            out.push(Channel::Email);
        }
        if self.slack.is_some() {
            out.push(Channel::Slack);
        }
        out
    }

    async fn attempt(&self, out: &Outgoing) -> Result<(), SendError> {
        send_one(self.email.as_deref(), self.slack.as_deref(), &out.notification, out.address.as_deref()).await
    }

    /// One round: the due notifications, sent at once, their outcomes recorded together.
    /// Returns how many were attempted.
    pub async fn round(&self) -> Result<usize, StoreError> {
        let channels = self.channels();
        if channels.is_empty() {
            return Ok(0);
        }
        let due = self.outbox.due(Timestamp::now(), &channels, self.batch).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let attempts = due.iter().map(|out| async move {
            let result = self.attempt(out).await;
            let n = &out.notification;
            let settled = settle(n, &result, &self.schedule, Timestamp::now());
            match &settled.error {
                Some(error) => tracing::info!(
                    notification = %n.id, channel = n.channel.as_str(), status = settled.status.as_str(), %error,
                    "notification attempt failed"
                ),
                None => tracing::debug!(notification = %n.id, channel = n.channel.as_str(), "notification sent"),
            }
            settled
        });
        let outcomes = futures_util::future::join_all(attempts).await;
        self.outbox.settle(&outcomes).await?;
        Ok(outcomes.len())
    }

    /// Rounds until `shutdown` turns true; an in-flight round finishes first (each attempt is
    /// bounded by its sender's timeout).
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let pace = Pace { batch: self.batch, idle: self.idle };
        run_rounds("notifications", pace, shutdown, || self.round()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Kind;

    fn pending(attempts: u32) -> Notification {
        Notification {
            id: Uuid::from_u128(9),
            tenant: "acme".into(),
            recipient: "li".into(),
            channel: Channel::Slack,
            kind: Kind::Assigned,
            event_id: Uuid::from_u128(2),
            event_type: "TaskAssigned".into(),
            task_id: None,
            sprint_id: None,
            actor: "sam".into(),
            summary: "sam assigned you".into(),
            occurred_at: at(0),
            status: Status::Pending,
            read_at: None,
            attempts,
            last_error: None,
        }
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    #[test]
    fn slack_answers_are_classified() {
        assert_eq!(slack_outcome(Ok(200)), Ok(()));
        for retry in [408, 429, 500, 503] {
            assert!(matches!(slack_outcome(Ok(retry)), Err(SendError::Failed(_))), "{retry}");
        }
        for refused in [400, 403, 404, 410] {
            assert!(matches!(slack_outcome(Ok(refused)), Err(SendError::Refused(_))), "{refused}");
        }
        let down = SendError::Failed("connection refused".into());
        assert_eq!(slack_outcome(Err(down.clone())), Err(down));
    }

    #[test]
    fn a_failure_waits_its_turn_until_the_schedule_is_spent_and_a_refusal_fails_at_once() {
        let schedule = RetrySchedule::new(vec![Duration::from_secs(5), Duration::from_secs(30)]);
        let ok = settle(&pending(0), &Ok(()), &schedule, at(1_000));
        assert_eq!((ok.status, ok.attempts, ok.next_attempt_at, ok.error), (Status::Delivered, 1, None, None));

        let down = Err(SendError::Failed("connection refused".into()));
        let first = settle(&pending(0), &down, &schedule, at(1_000));
        assert_eq!((first.status, first.attempts, first.next_attempt_at), (Status::Pending, 1, Some(at(6_000))));
        let second = settle(&pending(1), &down, &schedule, at(6_000));
        assert_eq!(second.next_attempt_at, Some(at(36_000)));
        let last = settle(&pending(2), &down, &schedule, at(36_000));
        assert_eq!((last.status, last.next_attempt_at), (Status::Failed, None));
        assert_eq!(last.error.as_deref(), Some("connection refused (gave up after 3 attempts)"));

        let refused = settle(&pending(0), &Err(SendError::Refused("no address".into())), &schedule, at(0));
        assert_eq!((refused.status, refused.error.as_deref()), (Status::Failed, Some("refused: no address")));
    }
}
