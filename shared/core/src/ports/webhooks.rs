//! Webhook subscriptions and their deliveries (the webhook half of the notifier's outbox).

use async_trait::async_trait;
use events_schema::Timestamp;
use uuid::Uuid;

use super::{Page, StoreError};
use crate::webhooks::{Delivery, DueDelivery, NewDelivery, Settled, Subscription, SubscriptionSpec};

/// A page of a subscription's deliveries, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuery {
    pub limit: usize,
    pub cursor: Option<String>,
}

/// Calls naming a tenant see only that tenant's subscriptions; another tenant's ids do not
/// exist here (`None`, `false`).
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new subscription with a fresh id and a fresh secret; the secret is in the
    /// answer, which is the one time it leaves the store through the API.
    async fn create(&self, tenant: &str, spec: &SubscriptionSpec) -> Result<Subscription, StoreError>;
    /// The tenant's subscriptions, oldest first.
    async fn list(&self, tenant: &str) -> Result<Vec<Subscription>, StoreError>;
    async fn get(&self, tenant: &str, id: Uuid) -> Result<Option<Subscription>, StoreError>;
    async fn update(&self, tenant: &str, id: Uuid, spec: &SubscriptionSpec)
    -> Result<Option<Subscription>, StoreError>;
    /// Removes the subscription and its deliveries, sent or not.
    async fn delete(&self, tenant: &str, id: Uuid) -> Result<bool, StoreError>;
    /// A new secret; the old one keeps signing until `old_until`.
    async fn rotate_secret(
        &self,
        tenant: &str,
        id: Uuid,
        old_until: Timestamp,
    ) -> Result<Option<Subscription>, StoreError>;

    /// The active subscriptions of `tenant` that want `event_type`.
    async fn subscribers(&self, tenant: &str, event_type: &str) -> Result<Vec<Uuid>, StoreError>;
    /// Records each delivery unless its id is recorded already (insert-if-absent, in one
    /// transaction), due at once; returns how many were new.
    async fn enqueue(&self, deliveries: &[NewDelivery]) -> Result<usize, StoreError>;
    /// Up to `limit` pending deliveries of active subscriptions due by `now`, oldest due
    /// first, each with its subscription's URL and the secrets to sign with.
    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<DueDelivery>, StoreError>;
    /// Records what became of attempts, all in one transaction.
    async fn settle(&self, outcomes: &[Settled]) -> Result<(), StoreError>;
    /// A subscription's deliveries, newest first; `None` when the subscription is not the
    /// tenant's.
    async fn deliveries(
        &self,
        tenant: &str,
        webhook_id: Uuid,
        query: &DeliveryQuery,
    ) -> Result<Option<Page<Delivery>>, StoreError>;
    /// Makes a delivery pending and due now, its attempts counted from zero again (a fresh
    /// schedule); `None` when it is not one of the subscription's.
    async fn redeliver(
        &self,
        tenant: &str,
        webhook_id: Uuid,
        delivery_id: Uuid,
    ) -> Result<Option<Delivery>, StoreError>;
}
