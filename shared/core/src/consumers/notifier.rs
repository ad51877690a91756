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
use crate::notify::{Person, plan, renotify_round, wanted};
use crate::pipeline::{ApplyError, Consumer, Decoded, Delivery};
use crate::ports::{NotificationStore, WebhookStore};
use crate::webhooks::{NewDelivery, delivery_id};

/// Webhook subscribers by (tenant, event type), as a batch looked them up.
type Subscribers<'a> = HashMap<(&'a str, &'static str), Vec<Uuid>>;

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

    async fn apply_with(
        &self,
        event: &DomainEvent,
        delivery: &Delivery,
        known: &Subscribers<'_>,
    ) -> Result<(), ApplyError> {
        let Ok(round) = renotify_round(delivery.replay_name.as_deref()) else {
            tracing::debug!(event_id = %event.meta.event_id, "replayed event: no notifications");
            return Ok(());
        };
        if delivery.replay_name.is_none() {
            self.record_webhooks(event, known).await?;
        }
        let wanted = wanted(event);
        if wanted.names.is_empty() && wanted.sprint.is_none() {
            return Ok(());
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
        let planned = plan(event, round, |name| people.iter().find(|p| p.name == name), &sprint_people);
        if planned.is_empty() {
            return Ok(());
        }
        let new = self.store.record(&planned).await?;
        tracing::debug!(event_id = %event.meta.event_id, planned = planned.len(), new, "notifications recorded");
        if let Some(inline) = &self.inline {
            inline.deliver(&planned, &people).await?;
        }
        Ok(())
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
        self.apply_with(event, delivery, &Subscribers::new()).await
    }

    async fn apply_batch(&self, events: &[Decoded]) -> Vec<Result<(), ApplyError>> {
        let known = self.batch_subscribers(events).await;
        futures_util::future::join_all(
            events.iter().map(|d| self.apply_with(&d.event, &d.delivery, &known).instrument(d.span(self.name()))),
        )
        .await
    }
}
