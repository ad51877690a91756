//! The notifier: turns events into notifications in the outbox, once per (event, recipient,
//! channel).
//!
//! Recording is the whole of its work here: in-app notifications are delivered by being
//! recorded, and a notification for another channel waits in the outbox for that channel's
//! sender. Ids are derived from (event, recipient, channel), and the store inserts only
//! what is absent, so a redelivered, duplicated or reordered event records nothing new.
//! A replay records nothing unless its name asks to re-notify (see [`RENOTIFY_PREFIX`]).
//!
//! [`RENOTIFY_PREFIX`]: crate::notify::RENOTIFY_PREFIX

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::DomainEvent;

use crate::notify::{Person, plan, renotify_round, wanted};
use crate::pipeline::{ApplyError, Consumer, Delivery};
use crate::ports::NotificationStore;

pub struct Notifier {
    store: Arc<dyn NotificationStore>,
}

impl Notifier {
    pub fn new(store: Arc<dyn NotificationStore>) -> Self {
        Self { store }
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
        Ok(())
    }
}
