//! The notifier: turns events into notifications in the outbox, once per (event, recipient,
//! channel).
//!
//! In-app notifications are delivered by being recorded; a notification for another channel
//! waits in the outbox for that channel's sender (serve's deliverer), or, with
//! [`Notifier::with_inline`] (AWS), is claimed and sent right after it is recorded. Ids are derived from (event, recipient, channel), and the store inserts only
//! what is absent, so a redelivered, duplicated or reordered event records nothing new.
//! A replay records nothing unless its name asks to re-notify (see [`RENOTIFY_PREFIX`]).
//!
//! Webhook subscriptions are served the same way: one delivery per (event, subscription),
//! recorded here with the envelope as its body and sent by the dispatcher. A replay, even
//! a re-notifying one, records no webhook delivery: a subscriber asks for one again with
//! redeliver.
//!
//! [`RENOTIFY_PREFIX`]: crate::notify::RENOTIFY_PREFIX

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use events_schema::DomainEvent;
use tracing::Instrument;
use uuid::Uuid;

use crate::notify::inline::InlineDelivery;
use crate::notify::{Notification, Person, plan, renotify_round, wanted};
use crate::pipeline::{ApplyError, Consumer, Decoded, Delivery};
use crate::ports::{NotificationStore, WebhookStore};
use crate::webhooks::{NewDelivery, delivery_id};

/// Webhook subscribers by (tenant, event type), as a batch looked them up.
type Subscribers<'a> = HashMap<(&'a str, &'static str), Vec<Uuid>>;

/// An event's notifications, and the entries of the people they were planned from (their
/// addresses, for the senders).
struct Planned {
    notifications: Vec<Notification>,
    people: Vec<Person>,
}

pub struct Notifier {
    store: Arc<dyn NotificationStore>,
    webhooks: Option<Arc<dyn WebhookStore>>,
    inline: Option<InlineDelivery>,
}

impl Notifier {
    pub fn new(store: Arc<dyn NotificationStore>) -> Self {
        Self { store, webhooks: None, inline: None }
    }

    /// Also records a webhook delivery for each subscription that wants the event.
    pub fn with_webhooks(mut self, webhooks: Arc<dyn WebhookStore>) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// Also sends each email and Slack notification as it is recorded, claimed first (AWS,
    /// where no sender loop reads the outbox).
    pub fn with_inline(mut self, inline: InlineDelivery) -> Self {
        self.inline = Some(inline);
        self
    }

    /// The subscribers of each (tenant, event type) a batch's live events carry, looked up
    /// once for the batch rather than once per event. A lookup that fails is left out: each
    /// of its events then looks up for itself and fails, or not, on its own.
    async fn batch_subscribers<'a>(&self, events: &'a [Decoded]) -> Subscribers<'a> {
        let mut known = Subscribers::new();
        let Some(webhooks) = &self.webhooks else { return known };
        for d in events.iter().filter(|d| d.delivery.replay_name.is_none()) {
            let key = (d.event.meta.tenant.as_str(), d.event.event_type());
            if !known.contains_key(&key)
                && let Ok(ids) = webhooks.subscribers(key.0, key.1).await
            {
                known.insert(key, ids);
            }
        }
        known
    }

    /// What an event asks for: its webhook deliveries are recorded here, its notifications
    /// planned (with the people they were planned from) for the caller to record and send.
    async fn plan_with(
        &self,
        event: &DomainEvent,
        delivery: &Delivery,
        known: &Subscribers<'_>,
    ) -> Result<Option<Planned>, ApplyError> {
        let Ok(round) = renotify_round(delivery.replay_name.as_deref()) else {
            tracing::debug!(event_id = %event.meta.event_id, "replayed event: no notifications");
            return Ok(None);
        };
        if delivery.replay_name.is_none() {
            self.record_webhooks(event, known).await?;
        }
        let wanted = wanted(event);
        if wanted.names.is_empty() && wanted.sprint.is_none() {
            return Ok(None);
        }
        let tenant = &event.meta.tenant;
        let sprint_people = match wanted.sprint {
            Some(id) => self.store.sprint_people(tenant, id).await?,
            None => Vec::new(),
        };
        let mut names: Vec<&str> = wanted.names.clone();
        names.extend(sprint_people.iter().map(String::as_str));
        names.sort_unstable();
        names.dedup();
        let people: Vec<Person> = self.store.people(tenant, &names).await?;
        let notifications = plan(event, round, |name| people.iter().find(|p| p.name == name), &sprint_people);
        if notifications.is_empty() {
            return Ok(None);
        }
        tracing::debug!(event_id = %event.meta.event_id, planned = notifications.len(), "notifications planned");
        Ok(Some(Planned { notifications, people }))
    }

    /// Sends the email and Slack notifications of a recorded plan (AWS; serve's deliverer
    /// sends them from the outbox instead).
    async fn send(&self, planned: &Planned) -> Result<(), ApplyError> {
        match &self.inline {
            Some(inline) => inline.deliver(&planned.notifications, &planned.people).await,
            None => Ok(()),
        }
    }

    async fn record_webhooks(&self, event: &DomainEvent, known: &Subscribers<'_>) -> Result<(), ApplyError> {
        let Some(webhooks) = &self.webhooks else { return Ok(()) };
        let tenant = &event.meta.tenant;
        let subscribers = match known.get(&(tenant.as_str(), event.event_type())) {
            Some(ids) => ids.clone(),
            None => webhooks.subscribers(tenant, event.event_type()).await?,
        };
        if subscribers.is_empty() {
            return Ok(());
        }
        let body = serde_json::to_string(&event.wire())
            .map_err(|e| ApplyError::Rejected(format!("the event could not be written as JSON: {e}")))?;
        let deliveries: Vec<NewDelivery> = subscribers
            .into_iter()
            .map(|webhook_id| NewDelivery {
                id: delivery_id(&event.meta.event_id, &webhook_id),
                tenant: tenant.clone(),
                webhook_id,
                event_id: event.meta.event_id,
                event_type: event.event_type().to_owned(),
                body: body.clone(),
            })
            .collect();
        let new = webhooks.enqueue(&deliveries).await?;
        tracing::debug!(event_id = %event.meta.event_id, subscribers = deliveries.len(), new, "webhook deliveries recorded");
        Ok(())
    }
}

#[async_trait]
impl Consumer for Notifier {
    fn name(&self) -> &'static str {
        events_schema::routing::NOTIFIER
    }

    async fn apply(&self, event: &DomainEvent, delivery: &Delivery) -> Result<(), ApplyError> {
        let Some(planned) = self.plan_with(event, delivery, &Subscribers::new()).await? else { return Ok(()) };
        self.store.record(&planned.notifications).await?;
        self.send(&planned).await
    }

    /// The batch's events are planned side by side, and their notifications recorded in one
    /// write, in the batch's order: a person's list shows a batch's notifications in the
    /// order of their events, even those that occurred in the same millisecond (planned and
    /// recorded per event, they were recorded in whatever order the plans finished).
    async fn apply_batch(&self, events: &[Decoded]) -> Vec<Result<(), ApplyError>> {
        let known = self.batch_subscribers(events).await;
        let planned = futures_util::future::join_all(
            events.iter().map(|d| self.plan_with(&d.event, &d.delivery, &known).instrument(d.span(self.name()))),
        )
        .await;
        let all: Vec<Notification> = planned
            .iter()
            .filter_map(|p| p.as_ref().ok().and_then(Option::as_ref))
            .flat_map(|p| p.notifications.iter().cloned())
            .collect();
        let recorded = match all.is_empty() {
            true => Ok(0),
            false => self.store.record(&all).await,
        };
        tracing::debug!(planned = all.len(), recorded = ?recorded, "a batch's notifications recorded");
        futures_util::future::join_all(events.iter().zip(planned).map(|(d, p)| {
            let recorded = &recorded;
            async move {
                match (p?, recorded) {
                    (None, _) => Ok(()),
                    (Some(_), Err(e)) => Err(ApplyError::Store(e.clone())),
                    (Some(planned), Ok(_)) => self.send(&planned).await,
                }
            }
            .instrument(d.span(self.name()))
        }))
        .await
    }
}
