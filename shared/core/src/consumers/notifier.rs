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

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::DomainEvent;

use crate::notify::inline::InlineDelivery;
use crate::notify::{Person, plan, renotify_round, wanted};
use crate::pipeline::{ApplyError, Consumer, Delivery};
use crate::ports::{NotificationStore, WebhookStore};
use crate::webhooks::{NewDelivery, delivery_id};

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

    async fn record_webhooks(&self, event: &DomainEvent) -> Result<(), ApplyError> {
        let Some(webhooks) = &self.webhooks else { return Ok(()) };
        let tenant = &event.meta.tenant;
        let subscribers = webhooks.subscribers(tenant, event.event_type()).await?;
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
        let Ok(round) = renotify_round(delivery.replay_name.as_deref()) else {
            tracing::debug!(event_id = %event.meta.event_id, "replayed event: no notifications");
            return Ok(());
        };
        if delivery.replay_name.is_none() {
            self.record_webhooks(event).await?;
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
}
