//! Webhook subscriptions and their deliveries over the one table (layout in
//! `dynamo/README.md`), each subscription's signing secrets in Secrets Manager
//! ([`secrets`]).
//!
//! - A subscription is an item of its tenant's webhook partition (a settings-like kind: a
//!   handful, written by admins); its secrets are not in the table.
//! - A delivery is an item of its own partition, keyed by its id (one per event and
//!   subscription, so recording it is a put if absent). It is listed newest first on `gsi2`
//!   under its subscription, and while pending it is on `gsi1` under one of
//!   [`DUE_SHARDS`] due partitions, sorted by when it is due: the dispatcher's queue.
//!
//! Writes that span the table and Secrets Manager are ordered so that a failure between
//! them leaves nothing half-done that a retry cannot finish (see each method).

pub mod admins;
mod deliveries;
pub mod secrets;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use events_schema::Timestamp;
use shared_core::ports::{DeliveryQuery, Page, StoreError, WebhookStore};
use shared_core::webhooks::{Delivery, DueDelivery, NewDelivery, Settled, Subscription, SubscriptionSpec};
use uuid::Uuid;

use crate::dynamo::item::{self, Item, get_n, get_s, key, s};
use crate::dynamo::{DynamoStore, keys, unavailable};
use secrets::{SigningSecrets, WebhookSecrets};

/// How many due partitions pending deliveries spread over (a stable hash of the id picks
/// one): each is an index partition every enqueue and settle writes to.
pub const DUE_SHARDS: u32 = 4;

const ENTITY: &str = "webhook";
const ID: &str = "id";
const URL: &str = "url";
const EVENT_TYPES: &str = "eventTypes";
const ACTIVE: &str = "active";
const CREATED_AT: &str = "createdAt";
const UPDATED_AT: &str = "updatedAt";
const FAILING_SINCE_MS: &str = "failingSinceMs";
const DISABLED_AT: &str = "disabledAt";
const DISABLED_REASON: &str = "disabledReason";

pub struct DynamoWebhooks {
    client: Client,
    table: String,
    /// `gsi1`: pending deliveries by when they are due.
    due_index: String,
    /// `gsi2`: each subscription's deliveries, newest first.
    list_index: String,
    secrets: WebhookSecrets,
    /// Who is told when a subscription is turned off for failing (the notifier's; the API
    /// never turns one off).
    notice: Option<admins::AdminNotice>,
}

impl DynamoWebhooks {
    /// Over `store`'s table and index names, the secrets in `secrets`.
    pub fn new(store: &DynamoStore, secrets: WebhookSecrets) -> Self {
        Self {
            client: store.client().clone(),
            table: store.table().to_owned(),
            due_index: store.layout().gsi_due.clone(),
            list_index: store.layout().gsi_priority.clone(),
            secrets,
            notice: None,
        }
    }

    /// Tells the tenant's admins when a subscription is turned off for failing; without it,
    /// the function's log alone says so.
    pub fn with_admin_notice(mut self, notice: admins::AdminNotice) -> Self {
        self.notice = Some(notice);
        self
    }

    fn sub_key(tenant: &str, id: Uuid) -> Item {
        key(keys::webhooks_pk(tenant), id.hyphenated().to_string())
    }

    async fn get_item(&self, tenant: &str, id: Uuid) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::sub_key(tenant, id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(out.item.filter(|it| !item::is_deleted(it)))
    }

    /// Marks an item deleted, out of every index, for the table's TTL to remove: the
    /// functions may not call DeleteItem (deletes are soft, `cdk/lib/constructs/data.ts`).
    /// `false` when it was absent or deleted already.
    pub(crate) async fn soft_delete(&self, key: Item) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET #deleted = :yes, #expires = :now REMOVE #g1pk, #g1sk, #g2pk, #g2sk")
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#deleted)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#deleted", item::DELETED)
            .expression_attribute_names("#expires", item::EXPIRES_AT)
            .expression_attribute_names("#g1pk", keys::GSI1PK)
            .expression_attribute_names("#g1sk", keys::GSI1SK)
            .expression_attribute_names("#g2pk", keys::GSI2PK)
            .expression_attribute_names("#g2sk", keys::GSI2SK)
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":now", item::n(item::epoch_seconds()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable("UpdateItem", e)),
        }
    }

    /// The subscription an item holds, with its secrets; `None` when its secret is gone
    /// (a delete half done: the item goes next).
    async fn with_secrets(&self, it: &Item) -> Result<Option<Subscription>, StoreError> {
        let (tenant, id) = (text(it, item::TENANT)?, uuid(it, ID)?);
        let Some(secrets) = self.secrets.get(tenant, id).await? else {
            tracing::warn!(%tenant, webhook = %id, "a webhook subscription without its secret is skipped");
            return Ok(None);
        };
        subscription_of(it, secrets).map(Some)
    }
}

fn corrupt(detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("a stored webhook: {detail}"))
}

fn text<'a>(it: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    get_s(it, name).ok_or_else(|| corrupt(format!("no {name}")))
}

fn uuid(it: &Item, name: &str) -> Result<Uuid, StoreError> {
    text(it, name)?.parse().map_err(|_| corrupt(format!("an unreadable {name}")))
}

fn time(it: &Item, name: &str) -> Result<Option<Timestamp>, StoreError> {
    get_s(it, name).map(|t| Timestamp::parse(t).map_err(|_| corrupt(format!("an unreadable {name}")))).transpose()
}

fn is_active(it: &Item) -> bool {
    matches!(it.get(ACTIVE), Some(AttributeValue::Bool(true)))
}

fn subscription_of(it: &Item, secrets: SigningSecrets) -> Result<Subscription, StoreError> {
    let mut event_types = match it.get(EVENT_TYPES) {
        Some(AttributeValue::Ss(types)) => types.clone(),
        _ => return Err(corrupt("no eventTypes")),
    };
    event_types.sort_unstable();
    Ok(Subscription {
        id: uuid(it, ID)?,
        tenant: text(it, item::TENANT)?.to_owned(),
        url: text(it, URL)?.to_owned(),
        event_types,
        active: is_active(it),
        created_at: time(it, CREATED_AT)?.ok_or_else(|| corrupt("no createdAt"))?,
        updated_at: time(it, UPDATED_AT)?.ok_or_else(|| corrupt("no updatedAt"))?,
        secret: secrets.current,
        previous_secret: secrets.previous,
        failing_since: get_n::<i64>(it, FAILING_SINCE_MS).and_then(Timestamp::from_unix_millis),
        disabled: time(it, DISABLED_AT)?.map(|at| (at, get_s(it, DISABLED_REASON).unwrap_or_default().to_owned())),
    })
}

fn is_condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

#[async_trait]
impl WebhookStore for DynamoWebhooks {
    /// The secret is stored first, then the item. If the item's write fails the secret is
    /// deleted again; were that to fail too, what is left is a secret no item names (its id
    /// was never answered), which nothing reads.
    async fn create(&self, tenant: &str, spec: &SubscriptionSpec) -> Result<Subscription, StoreError> {
        let now = Timestamp::now();
        let id = Uuid::new_v4();
        let secrets = SigningSecrets { current: SigningSecrets::fresh()?, previous: None };
        self.secrets.create(tenant, id, &secrets).await?;
        let mut it = Self::sub_key(tenant, id);
        it.insert(item::ENTITY.into(), s(ENTITY));
        it.insert(item::TENANT.into(), s(tenant));
        it.insert(ID.into(), s(id.hyphenated().to_string()));
        it.insert(URL.into(), s(&spec.url));
        it.insert(EVENT_TYPES.into(), AttributeValue::Ss(spec.event_types.clone()));
        it.insert(ACTIVE.into(), AttributeValue::Bool(spec.active));
        it.insert(CREATED_AT.into(), s(now.to_string()));
        it.insert(UPDATED_AT.into(), s(now.to_string()));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(it.clone()))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .send()
            .await;
        if let Err(e) = put {
            let error = unavailable("PutItem", e);
            if let Err(cleanup) = self.secrets.delete(tenant, id).await {
                tracing::warn!(%tenant, webhook = %id, error = %cleanup, "the secret of a subscription not stored is left behind");
            }
            return Err(error);
        }
        subscription_of(&it, secrets)
    }

    async fn list(&self, tenant: &str) -> Result<Vec<Subscription>, StoreError> {
        let items = self.query_subscriptions(tenant).await?;
        let found = futures_util::future::try_join_all(items.iter().map(|it| self.with_secrets(it))).await?;
        let mut all: Vec<Subscription> = found.into_iter().flatten().collect();
        all.sort_by_key(|s| (s.created_at, s.id));
        Ok(all)
    }

    async fn get(&self, tenant: &str, id: Uuid) -> Result<Option<Subscription>, StoreError> {
        match self.get_item(tenant, id).await? {
            Some(it) => self.with_secrets(&it).await,
            None => Ok(None),
        }
    }

    async fn update(
        &self,
        tenant: &str,
        id: Uuid,
        spec: &SubscriptionSpec,
    ) -> Result<Option<Subscription>, StoreError> {
        let Some(before) = self.get_item(tenant, id).await? else { return Ok(None) };
        let set = ["#url = :url", "#types = :types", "#active = :active", "#updated = :updated"];
        let mut remove = Vec::new();
        if spec.active {
            // Turned on again after being turned off for failing: a fresh start.
            if before.contains_key(DISABLED_AT) {
                remove.push("#failing");
            }
            remove.extend(["#disabledAt", "#disabledReason"]);
        }
        let expression = match remove.is_empty() {
            true => format!("SET {}", set.join(", ")),
            false => format!("SET {} REMOVE {}", set.join(", "), remove.join(", ")),
        };
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::sub_key(tenant, id)))
            .update_expression(expression)
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#deleted)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#deleted", item::DELETED)
            .expression_attribute_names("#url", URL)
            .expression_attribute_names("#types", EVENT_TYPES)
            .expression_attribute_names("#active", ACTIVE)
            .expression_attribute_names("#updated", UPDATED_AT)
            .expression_attribute_values(":url", s(&spec.url))
            .expression_attribute_values(":types", AttributeValue::Ss(spec.event_types.clone()))
            .expression_attribute_values(":active", AttributeValue::Bool(spec.active))
            .expression_attribute_values(":updated", s(Timestamp::now().to_string()))
            .return_values(ReturnValue::AllNew);
        for name in remove {
            let attribute = match name {
                "#failing" => FAILING_SINCE_MS,
                "#disabledAt" => DISABLED_AT,
                _ => DISABLED_REASON,
            };
            request = request.expression_attribute_names(name, attribute);
        }
        match request.send().await {
            Ok(out) => match out.attributes {
                Some(it) => self.with_secrets(&it).await,
                None => Ok(None),
            },
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(unavailable("UpdateItem", e)),
        }
    }

    /// The item goes first (from then on nothing is sent for it), then its deliveries, then
    /// its secret. A failure after the item is gone answers an error, and the retried delete
    /// finishes the job: it finds no item but the leftover secret, deletes it and answers
    /// `true`. Deliveries left behind are dropped by the dispatcher when it meets them. Every
    /// delete is soft: the item is marked and expires (TTL).
    async fn delete(&self, tenant: &str, id: Uuid) -> Result<bool, StoreError> {
        let existed = self.soft_delete(Self::sub_key(tenant, id)).await?;
        if existed {
            self.delete_deliveries(tenant, id).await?;
        } else if self.secrets.get(tenant, id).await?.is_none() {
            return Ok(false);
        }
        self.secrets.delete(tenant, id).await?;
        Ok(true)
    }

    /// The item is touched first (which also proves it is the tenant's), then the secret
    /// is replaced. If the replacement fails, nothing was rotated and a retry is safe; had
    /// the secret been replaced first and the item's write failed, a retry would rotate the
    /// unseen secret away.
    async fn rotate_secret(
        &self,
        tenant: &str,
        id: Uuid,
        old_until: Timestamp,
    ) -> Result<Option<Subscription>, StoreError> {
        let touched = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::sub_key(tenant, id)))
            .update_expression("SET #updated = :updated")
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#deleted)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#deleted", item::DELETED)
            .expression_attribute_names("#updated", UPDATED_AT)
            .expression_attribute_values(":updated", s(Timestamp::now().to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let it = match touched {
            Ok(out) => out.attributes.ok_or_else(|| corrupt("no attributes after an update"))?,
            Err(e) if is_condition_failed(&e) => return Ok(None),
            Err(e) => return Err(unavailable("UpdateItem", e)),
        };
        let Some(old) = self.secrets.get(tenant, id).await? else { return Ok(None) };
        let rotated = SigningSecrets { current: SigningSecrets::fresh()?, previous: Some((old.current, old_until)) };
        self.secrets.put(tenant, id, &rotated).await?;
        subscription_of(&it, rotated).map(Some)
    }

    async fn subscribers(&self, tenant: &str, event_type: &str) -> Result<Vec<Uuid>, StoreError> {
        let items = self.query_subscriptions(tenant).await?;
        let mut wanted: Vec<(Timestamp, Uuid)> = Vec::new();
        for it in items.iter().filter(|it| is_active(it)) {
            let wants =
                matches!(it.get(EVENT_TYPES), Some(AttributeValue::Ss(types)) if types.iter().any(|t| t == event_type));
            if wants {
                wanted.push((time(it, CREATED_AT)?.ok_or_else(|| corrupt("no createdAt"))?, uuid(it, ID)?));
            }
        }
        wanted.sort_unstable();
        Ok(wanted.into_iter().map(|(_, id)| id).collect())
    }

    async fn enqueue(&self, deliveries: &[NewDelivery]) -> Result<usize, StoreError> {
        self.put_deliveries(deliveries).await
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<DueDelivery>, StoreError> {
        self.due_deliveries(now, limit).await
    }

    async fn settle(&self, outcomes: &[Settled]) -> Result<(), StoreError> {
        self.settle_deliveries(outcomes).await
    }

    async fn deliveries(
        &self,
        tenant: &str,
        webhook_id: Uuid,
        query: &DeliveryQuery,
    ) -> Result<Option<Page<Delivery>>, StoreError> {
        if self.get_item(tenant, webhook_id).await?.is_none() {
            return Ok(None);
        }
        self.list_deliveries(tenant, webhook_id, query).await.map(Some)
    }

    async fn redeliver(
        &self,
        tenant: &str,
        webhook_id: Uuid,
        delivery_id: Uuid,
    ) -> Result<Option<Delivery>, StoreError> {
        if self.get_item(tenant, webhook_id).await?.is_none() {
            return Ok(None);
        }
        self.redeliver_one(tenant, webhook_id, delivery_id).await
    }
}

impl DynamoWebhooks {
    /// Every subscription item of the tenant (one partition: a handful).
    async fn query_subscriptions(&self, tenant: &str) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_values(":pk", s(keys::webhooks_pk(tenant)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            found.extend(out.items.unwrap_or_default().into_iter().filter(|it| !item::is_deleted(it)));
            match out.last_evaluated_key {
                Some(last) => start = Some(last),
                None => return Ok(found),
            }
        }
    }
}
