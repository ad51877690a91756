//! The dispatcher: sends the deliveries that are due, signed, and records each outcome.
//!
//! Deciding is apart from sending: [`settle`] turns an attempt's result into the delivery's
//! next state (delivered, retried after the schedule's wait, dead with the reason), and the
//! [`Transport`] only makes the request. An attempt is recorded after it ends, so a process
//! killed mid-attempt sends that delivery again after its restart, with the same
//! `webhook-id`: at least once, never lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use events_schema::Timestamp;
use tokio::sync::watch;

use super::retry::RetrySchedule;
use super::signing::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_header};
use super::{DeliveryStatus, DueDelivery, Settled};
use crate::outbox::{Pace, run_rounds};
use crate::ports::{StoreError, WebhookStore};

/// Why an attempt did not get a 2xx back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The address is one webhooks may not reach: no retry can help.
    #[error("refused: {0}")]
    Refused(String),
    /// No answer (connection refused, reset, timed out, ...): worth another attempt.
    #[error("{0}")]
    Failed(String),
}

/// Makes one POST and answers with its HTTP status.
#[async_trait]
pub trait Transport: Send + Sync {
    async fn post(&self, url: &str, headers: &[(&'static str, String)], body: &str) -> Result<u16, SendError>;
}

/// The headers of one attempt at `now_seconds`: `webhook-id` (the delivery id),
/// `webhook-timestamp`, and `webhook-signature` with one `v1` signature per secret.
pub fn signed_headers(due: &DueDelivery, now_seconds: i64) -> Vec<(&'static str, String)> {
    let id = due.id.hyphenated().to_string();
    let secrets: Vec<_> = due.secrets.iter().collect();
    let signature = signature_header(&secrets, &id, now_seconds, due.body.as_bytes());
    vec![
        (ID_HEADER, id),
        (TIMESTAMP_HEADER, now_seconds.to_string()),
        (SIGNATURE_HEADER, signature),
        ("content-type", "application/json".to_owned()),
    ]
}

/// What an attempt's result makes of its delivery.
pub fn settle(
    due: &DueDelivery,
    result: &Result<u16, SendError>,
    schedule: &RetrySchedule,
    attempted_at: Timestamp,
    latency: Duration,
) -> Settled {
    let attempts = due.attempts.saturating_add(1);
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    let (status_code, error, retry) = match result {
        Ok(code) if (200..300).contains(code) => (Some(*code), None, false),
        Ok(code) => (Some(*code), Some(format!("the receiver answered HTTP {code}")), true),
        Err(e @ SendError::Refused(_)) => (None, Some(e.to_string()), false),
        Err(e @ SendError::Failed(_)) => (None, Some(e.to_string()), true),
    };
    let (status, next_attempt_at) = match (&error, retry) {
        (None, _) => (DeliveryStatus::Delivered, None),
        (Some(_), true) => match schedule.after(attempts) {
            Some(wait) => {
                let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                let at = Timestamp::from_unix_millis(attempted_at.unix_millis().saturating_add(wait_ms));
                (DeliveryStatus::Pending, Some(at.unwrap_or(attempted_at)))
            }
            None => (DeliveryStatus::Dead, None),
        },
        (Some(_), false) => (DeliveryStatus::Dead, None),
    };
    let error = match (status, error) {
        (DeliveryStatus::Dead, Some(e)) if retry => Some(format!("{e} (gave up after {attempts} attempts)")),
        (_, e) => e,
    };
    Settled {
        id: due.id,
        tenant: due.tenant.clone(),
        webhook_id: due.webhook_id,
        status,
        attempts,
        attempted_at,
        next_attempt_at,
        status_code,
        error,
        latency_ms,
    }
}

/// Sends due deliveries until told to stop.
pub struct Dispatcher {
    store: Arc<dyn WebhookStore>,
    transport: Arc<dyn Transport>,
    schedule: RetrySchedule,
    /// Deliveries taken per round; all of a round are in flight at once.
    batch: usize,
    /// How long to wait when nothing is due.
    idle: Duration,
}

impl Dispatcher {
    pub fn new(store: Arc<dyn WebhookStore>, transport: Arc<dyn Transport>, schedule: RetrySchedule) -> Self {
        Self { store, transport, schedule, batch: 128, idle: Duration::from_millis(100) }
    }

    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// One round: the due deliveries, sent at once, their outcomes recorded together.
    /// Returns how many were attempted.
    pub async fn round(&self) -> Result<usize, StoreError> {
        let due = self.store.due(Timestamp::now(), self.batch).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let attempts = due.iter().map(|d| async move {
            let attempted_at = Timestamp::now();
            let headers = signed_headers(d, attempted_at.unix_millis() / 1000);
            let started = Instant::now();
            let result = self.transport.post(&d.url, &headers, &d.body).await;
            let settled = settle(d, &result, &self.schedule, attempted_at, started.elapsed());
            match &settled.error {
                Some(error) => tracing::info!(delivery = %d.id, webhook = %d.webhook_id, status = settled.status.as_str(), %error, "webhook attempt failed"),
                None => tracing::debug!(delivery = %d.id, webhook = %d.webhook_id, "webhook delivered"),
            }
            settled
        });
        let outcomes = futures_util::future::join_all(attempts).await;
        self.store.settle(&outcomes).await?;
        Ok(outcomes.len())
    }

    /// Rounds until `shutdown` turns true; an in-flight round finishes first (each attempt is
    /// bounded by the transport's timeout).
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let pace = Pace { batch: self.batch, idle: self.idle };
        run_rounds("webhook deliveries", pace, shutdown, || self.round()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhooks::signing::{Secret, verify};
    use uuid::Uuid;

    fn due(attempts: u32) -> DueDelivery {
        DueDelivery {
            id: Uuid::from_u128(7),
            tenant: "acme".into(),
            webhook_id: Uuid::from_u128(8),
            url: "http://localhost/".into(),
            body: r#"{"eventId":"x"}"#.into(),
            attempts,
            secrets: vec![Secret::from_bytes(vec![1; 32]).unwrap(), Secret::from_bytes(vec![2; 32]).unwrap()],
        }
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    #[test]
    fn a_2xx_delivers_and_anything_else_waits_its_turn_until_the_schedule_is_spent() {
        let schedule = RetrySchedule::new(vec![Duration::from_secs(5), Duration::from_secs(30)]);
        let ok = settle(&due(0), &Ok(204), &schedule, at(1_000), Duration::from_millis(12));
        assert_eq!(
            (ok.status, ok.attempts, ok.status_code, ok.error, ok.latency_ms),
            (DeliveryStatus::Delivered, 1, Some(204), None, 12)
        );

        let first = settle(&due(0), &Ok(500), &schedule, at(1_000), Duration::ZERO);
        assert_eq!((first.status, first.next_attempt_at), (DeliveryStatus::Pending, Some(at(6_000))));
        assert_eq!(first.error.as_deref(), Some("the receiver answered HTTP 500"));
        let second =
            settle(&due(1), &Err(SendError::Failed("connection refused".into())), &schedule, at(6_000), Duration::ZERO);
        assert_eq!(
            (second.status, second.attempts, second.next_attempt_at),
            (DeliveryStatus::Pending, 2, Some(at(36_000)))
        );
        let last = settle(&due(2), &Ok(410), &schedule, at(36_000), Duration::ZERO);
        assert_eq!((last.status, last.next_attempt_at), (DeliveryStatus::Dead, None));
        assert_eq!(last.error.as_deref(), Some("the receiver answered HTTP 410 (gave up after 3 attempts)"));
    }

    #[test]
    fn a_refused_address_is_dead_at_once() {
        let schedule = RetrySchedule::default();
        let refused = Err(SendError::Refused("127.0.0.1 is a loopback address".into()));
        let s = settle(&due(0), &refused, &schedule, at(0), Duration::ZERO);
        assert_eq!(s.status, DeliveryStatus::Dead);
        assert_eq!(s.error.as_deref(), Some("refused: 127.0.0.1 is a loopback address"));
    }

    #[test]
    fn the_headers_carry_the_delivery_id_and_a_signature_per_secret() {
        let d = due(0);
        let headers = signed_headers(&d, 1_700_000_000);
        let get = |name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(get(ID_HEADER), d.id.hyphenated().to_string());
        assert_eq!(get(TIMESTAMP_HEADER), "1700000000");
        let signature = get(SIGNATURE_HEADER);
        assert_eq!(signature.split(' ').count(), 2);
        for secret in &d.secrets {
            assert_eq!(
                verify(secret, get(ID_HEADER), "1700000000", signature, d.body.as_bytes(), 1_700_000_000),
                Ok(())
            );
        }
    }
}
