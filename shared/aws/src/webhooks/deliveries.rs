//! Webhook deliveries as items: recorded once per (event, subscription), taken from the due
//! index by the dispatcher, settled after each attempt, listed and redelivered by admins.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use events_schema::Timestamp;
use shared_core::ports::{DeliveryQuery, Page, StoreError};
use shared_core::webhooks::health::{self, Verdict};
use shared_core::webhooks::{Delivery, DeliveryStatus, DueDelivery, NewDelivery, Settled, Subscription};
use uuid::Uuid;

use super::{ACTIVE, DISABLED_AT, DISABLED_REASON, DUE_SHARDS, DynamoWebhooks, FAILING_SINCE_MS, is_condition_failed};
use crate::dynamo::item::{self, Item, epoch_seconds, get_n, get_s, key, n, s};
use crate::dynamo::{keys, unavailable};

const ENTITY: &str = "webhook_delivery";
const DELIVERY_SK: &str = "DELIVERY";
const ID: &str = "id";
const WEBHOOK_ID: &str = "webhookId";
const EVENT_ID: &str = "eventId";
const EVENT_TYPE: &str = "eventType";
const BODY: &str = "body";
const STATUS: &str = "status";
const ATTEMPTS: &str = "attempts";
const CREATED_AT: &str = "createdAt";
const NEXT_ATTEMPT_MS: &str = "nextAttemptMs";
const LAST_ATTEMPT_AT: &str = "lastAttemptAt";
const LAST_STATUS_CODE: &str = "lastStatusCode";
const LAST_ERROR: &str = "lastError";
const LAST_LATENCY_MS: &str = "lastLatencyMs";

/// How long a delivery taken by [`DynamoWebhooks::due`] is the taker's: no other dispatcher
/// (each notifier invocation drains) takes it meanwhile, and if the taker dies mid-attempt
/// it is due again once this runs out. Far longer than an attempt (10 s).
pub const LEASE_MS: i64 = 2 * 60 * 1000;

/// How long a delivered or dead delivery stays listed (and can be redelivered).
pub const SETTLED_TTL_SECS: i64 = 30 * 24 * 3600;

/// Index pages read per due partition in one call, at most: skipped deliveries (of
/// subscriptions turned off) cannot make a call read without end.
const DUE_PAGES: usize = 4;

fn corrupt(detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("a stored webhook delivery: {detail}"))
}

fn delivery_key(tenant: &str, id: &Uuid) -> Item {
    key(keys::webhook_delivery_pk(tenant, id), DELIVERY_SK.to_owned())
}

fn shard(id: &Uuid) -> u32 {
    u32::try_from(keys::stable_hash(&id.hyphenated().to_string()) % u64::from(DUE_SHARDS)).unwrap_or(0)
}

/// `{due, ms, 20 digits}#{id}`: oldest due first.
fn due_sk(at_ms: i64, id: &Uuid) -> String {
    format!("{:020}#{}", at_ms.max(0), id.hyphenated())
}

/// `{recorded, ns, 20 digits}#{id}`: newest last.
fn list_sk(at: &Timestamp, id: &Uuid) -> String {
    format!("{:020}#{}", at.as_offset().unix_timestamp_nanos().max(0), id.hyphenated())
}

/// A list cursor: the last item's list sort key with `_` for its `#`, which ends a URL's
/// query.
fn cursor_of(sk: &str) -> String {
    sk.replacen('#', "_", 1)
}

fn parse_cursor(text: &str) -> Option<(String, Uuid)> {
    let (ns, id) = text.split_once('_')?;
    let id = id.parse::<Uuid>().ok()?;
    (ns.len() == 20 && ns.bytes().all(|b| b.is_ascii_digit())).then(|| (format!("{ns}#{}", id.hyphenated()), id))
}

fn text<'a>(it: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    get_s(it, name).ok_or_else(|| corrupt(format!("no {name}")))
}

fn uuid(it: &Item, name: &str) -> Result<Uuid, StoreError> {
    text(it, name)?.parse().map_err(|_| corrupt(format!("an unreadable {name}")))
}

fn time(value: &str) -> Result<Timestamp, StoreError> {
    Timestamp::parse(value).map_err(|_| corrupt(format!("the unreadable time {value:?}")))
}

fn delivery_of(it: &Item) -> Result<Delivery, StoreError> {
    let status = text(it, STATUS)?;
    Ok(Delivery {
        id: uuid(it, ID)?,
        webhook_id: uuid(it, WEBHOOK_ID)?,
        event_id: uuid(it, EVENT_ID)?,
        event_type: text(it, EVENT_TYPE)?.to_owned(),
        status: DeliveryStatus::parse(status).ok_or_else(|| corrupt(format!("the status {status:?}")))?,
        attempts: get_n(it, ATTEMPTS).unwrap_or(0),
        created_at: time(text(it, CREATED_AT)?)?,
        next_attempt_at: get_n::<i64>(it, NEXT_ATTEMPT_MS).and_then(Timestamp::from_unix_millis),
        last_attempt_at: get_s(it, LAST_ATTEMPT_AT).map(time).transpose()?,
        last_status_code: get_n(it, LAST_STATUS_CODE),
        last_error: get_s(it, LAST_ERROR).map(str::to_owned),
        last_latency_ms: get_n(it, LAST_LATENCY_MS),
    })
}

fn new_item(d: &NewDelivery, now: &Timestamp) -> Item {
    let mut it = delivery_key(&d.tenant, &d.id);
    it.insert(item::ENTITY.into(), s(ENTITY));
    it.insert(item::TENANT.into(), s(&d.tenant));
    it.insert(ID.into(), s(d.id.hyphenated().to_string()));
    it.insert(WEBHOOK_ID.into(), s(d.webhook_id.hyphenated().to_string()));
    it.insert(EVENT_ID.into(), s(d.event_id.hyphenated().to_string()));
    it.insert(EVENT_TYPE.into(), s(&d.event_type));
    it.insert(BODY.into(), s(&d.body));
    it.insert(STATUS.into(), s(DeliveryStatus::Pending.as_str()));
    it.insert(ATTEMPTS.into(), n(0));
    it.insert(CREATED_AT.into(), s(now.to_string()));
    it.insert(NEXT_ATTEMPT_MS.into(), n(now.unix_millis()));
    it.insert(keys::GSI1PK.into(), s(keys::webhook_due_pk(shard(&d.id))));
    it.insert(keys::GSI1SK.into(), s(due_sk(now.unix_millis(), &d.id)));
    it.insert(keys::GSI2PK.into(), s(keys::webhook_deliveries_pk(&d.tenant, &d.webhook_id)));
    it.insert(keys::GSI2SK.into(), s(list_sk(now, &d.id)));
    it
}

/// What `due` knows of a subscription while it reads: gone, turned off, or where to send
/// and what to sign with.
enum Endpoint {
    Gone,
    Off,
    On(Box<Subscription>),
}

impl DynamoWebhooks {
    /// Conditional puts, one per delivery: each records itself once however often it comes,
    /// so a batch cut short by a failure records the rest on its retry.
    pub(super) async fn put_deliveries(&self, deliveries: &[NewDelivery]) -> Result<usize, StoreError> {
        let now = Timestamp::now();
        let puts = deliveries.iter().map(|d| {
            let it = new_item(d, &now);
            async move {
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(it))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", keys::PK)
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(1),
                    Err(e) if is_condition_failed(&e) => Ok(0),
                    Err(e) => Err(unavailable("PutItem", e)),
                }
            }
        });
        Ok(futures_util::future::try_join_all(puts).await?.into_iter().sum())
    }

    /// Reads each due partition oldest first, then takes each delivery with a conditional
    /// write (its lease, [`LEASE_MS`]) that also proves it is still pending and due: the
    /// index lags the table, and another dispatcher may have taken it.
    pub(super) async fn due_deliveries(&self, now: Timestamp, limit: usize) -> Result<Vec<DueDelivery>, StoreError> {
        let now_ms = now.unix_millis();
        let upto = format!("{:020}~", now_ms.max(0));
        let mut candidates: Vec<Item> = Vec::new();
        let mut endpoints: HashMap<(String, Uuid), Endpoint> = HashMap::new();
        for shard in 0..DUE_SHARDS {
            let mut start = None;
            let mut wanted = 0;
            for _ in 0..DUE_PAGES {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(&self.due_index)
                    .key_condition_expression("#pk = :pk AND #sk <= :upto")
                    .expression_attribute_names("#pk", keys::GSI1PK)
                    .expression_attribute_names("#sk", keys::GSI1SK)
                    .expression_attribute_values(":pk", s(keys::webhook_due_pk(shard)))
                    .expression_attribute_values(":upto", s(&upto))
                    .limit(i32::try_from(limit).unwrap_or(i32::MAX).max(1))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| unavailable("Query", e))?;
                for it in out.items.unwrap_or_default() {
                    let (tenant, webhook) = (text(&it, item::TENANT)?.to_owned(), uuid(&it, WEBHOOK_ID)?);
                    let known = (tenant.clone(), webhook);
                    if !endpoints.contains_key(&known) {
                        let found = self.endpoint(&tenant, webhook).await?;
                        endpoints.insert(known.clone(), found);
                    }
                    match &endpoints[&known] {
                        // Its subscription was deleted: the delivery goes too.
                        Endpoint::Gone => self.drop_delivery(&tenant, &uuid(&it, ID)?).await?,
                        // Turned off: it waits, as in the embedded engine.
                        Endpoint::Off => {}
                        Endpoint::On(_) if wanted < limit => {
                            wanted += 1;
                            candidates.push(it);
                        }
                        Endpoint::On(_) => {}
                    }
                }
                match out.last_evaluated_key {
                    Some(last) if wanted < limit => start = Some(last),
                    _ => break,
                }
            }
        }
        candidates.sort_by(|a, b| get_s(a, keys::GSI1SK).cmp(&get_s(b, keys::GSI1SK)));
        candidates.truncate(limit);
        let takes = candidates.iter().map(|it| self.take(it, now_ms, &endpoints));
        let taken = futures_util::future::try_join_all(takes).await?;
        Ok(taken.into_iter().flatten().collect())
    }

    async fn endpoint(&self, tenant: &str, webhook: Uuid) -> Result<Endpoint, StoreError> {
        let Some(it) = self.get_item(tenant, webhook).await? else { return Ok(Endpoint::Gone) };
        if !super::is_active(&it) {
            return Ok(Endpoint::Off);
        }
        Ok(match self.with_secrets(&it).await? {
            Some(sub) => Endpoint::On(Box::new(sub)),
            None => Endpoint::Gone,
        })
    }

    async fn drop_delivery(&self, tenant: &str, id: &Uuid) -> Result<(), StoreError> {
        self.soft_delete(delivery_key(tenant, id)).await?;
        tracing::info!(%tenant, delivery = %id, "a delivery of a deleted webhook was dropped");
        Ok(())
    }

    /// Takes one index entry's delivery for [`LEASE_MS`]; `None` when it is no longer
    /// pending at that due time.
    async fn take(
        &self,
        seen: &Item,
        now_ms: i64,
        endpoints: &HashMap<(String, Uuid), Endpoint>,
    ) -> Result<Option<DueDelivery>, StoreError> {
        let (tenant, id, webhook) = (text(seen, item::TENANT)?, uuid(seen, ID)?, uuid(seen, WEBHOOK_ID)?);
        let Some(Endpoint::On(sub)) = endpoints.get(&(tenant.to_owned(), webhook)) else { return Ok(None) };
        let seen_due = get_n::<i64>(seen, NEXT_ATTEMPT_MS).ok_or_else(|| corrupt("a pending one with no due time"))?;
        let lease_until = now_ms.saturating_add(LEASE_MS);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(tenant, &id)))
            .update_expression("SET #next = :lease, #sk = :sk")
            .condition_expression("#status = :pending AND #next = :seen AND attribute_not_exists(#deleted)")
            .expression_attribute_names("#deleted", item::DELETED)
            .expression_attribute_names("#next", NEXT_ATTEMPT_MS)
            .expression_attribute_names("#sk", keys::GSI1SK)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_values(":lease", n(lease_until))
            .expression_attribute_values(":sk", s(due_sk(lease_until, &id)))
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":seen", n(seen_due))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let it = match result {
            Ok(out) => out.attributes.ok_or_else(|| corrupt("no attributes after an update"))?,
            Err(e) if is_condition_failed(&e) => return Ok(None),
            Err(e) => return Err(unavailable("UpdateItem", e)),
        };
        Ok(Some(DueDelivery {
            id,
            tenant: tenant.to_owned(),
            webhook_id: webhook,
            url: sub.url.clone(),
            body: text(&it, BODY)?.to_owned(),
            attempts: get_n(&it, ATTEMPTS).unwrap_or(0),
            secrets: sub.signing_secrets(now_ms),
        }))
    }

    /// Each outcome onto its delivery (only while it is pending: one deleted or redelivered
    /// meanwhile keeps what it has now), then onto its endpoint's failure streak.
    pub(super) async fn settle_deliveries(&self, outcomes: &[Settled]) -> Result<(), StoreError> {
        let settles = outcomes.iter().map(|o| async move {
            if self.settle_one(o).await? {
                self.judge_endpoint(o).await?;
            }
            Ok::<_, StoreError>(())
        });
        futures_util::future::try_join_all(settles).await?;
        Ok(())
    }

    async fn settle_one(&self, o: &Settled) -> Result<bool, StoreError> {
        let mut set = vec!["#status = :status", "#attempts = :attempts", "#lastAt = :lastAt", "#latency = :latency"];
        let mut remove = Vec::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::from([
            (":status".to_owned(), s(o.status.as_str())),
            (":attempts".to_owned(), n(o.attempts)),
            (":lastAt".to_owned(), s(o.attempted_at.to_string())),
            (":latency".to_owned(), n(o.latency_ms)),
            (":pending".to_owned(), s(DeliveryStatus::Pending.as_str())),
        ]);
        match o.status_code {
            Some(code) => {
                set.push("#code = :code");
                values.insert(":code".into(), n(code));
            }
            None => remove.push("#code"),
        }
        match &o.error {
            Some(error) => {
                set.push("#error = :error");
                values.insert(":error".into(), s(error));
            }
            None => remove.push("#error"),
        }
        match (o.status, o.next_attempt_at) {
            (DeliveryStatus::Pending, Some(next)) => {
                set.extend(["#next = :next", "#duePk = :duePk", "#dueSk = :dueSk"]);
                values.insert(":next".into(), n(next.unix_millis()));
                values.insert(":duePk".into(), s(keys::webhook_due_pk(shard(&o.id))));
                values.insert(":dueSk".into(), s(due_sk(next.unix_millis(), &o.id)));
            }
            _ => {
                remove.extend(["#next", "#duePk", "#dueSk"]);
                set.push("#expires = :expires");
                values.insert(":expires".into(), n(epoch_seconds() + SETTLED_TTL_SECS));
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let names = [
            ("#status", STATUS),
            ("#attempts", ATTEMPTS),
            ("#lastAt", LAST_ATTEMPT_AT),
            ("#latency", LAST_LATENCY_MS),
            ("#code", LAST_STATUS_CODE),
            ("#error", LAST_ERROR),
            ("#next", NEXT_ATTEMPT_MS),
            ("#duePk", keys::GSI1PK),
            ("#dueSk", keys::GSI1SK),
            ("#expires", item::EXPIRES_AT),
            ("#deleted", item::DELETED),
        ];
        let condition = "#status = :pending AND attribute_not_exists(#deleted)";
        let used: HashMap<String, String> = names
            .iter()
            .filter(|(alias, _)| expression.contains(alias) || condition.contains(alias))
            .map(|(alias, name)| ((*alias).to_owned(), (*name).to_owned()))
            .collect();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(&o.tenant, &o.id)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(used))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable("UpdateItem", e)),
        }
    }

    /// Keeps the endpoint's failure streak (`shared_core::webhooks::health`): cleared by a
    /// success, started by a first failure (`if_not_exists`, so two failures at once keep
    /// the earlier start); past the limit the subscription is turned off, once (conditional
    /// on it being on).
    async fn judge_endpoint(&self, o: &Settled) -> Result<(), StoreError> {
        let key = Self::sub_key(&o.tenant, o.webhook_id);
        if o.error.is_none() {
            let cleared = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .update_expression("REMOVE #failing")
                .condition_expression("attribute_exists(#failing)")
                .expression_attribute_names("#failing", FAILING_SINCE_MS)
                .send()
                .await;
            return match cleared {
                Ok(_) => Ok(()),
                Err(e) if is_condition_failed(&e) => Ok(()),
                Err(e) => Err(unavailable("UpdateItem", e)),
            };
        }
        let attempted_ms = o.attempted_at.unix_millis();
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .update_expression("SET #failing = if_not_exists(#failing, :at)")
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#deleted)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#deleted", item::DELETED)
            .expression_attribute_names("#failing", FAILING_SINCE_MS)
            .expression_attribute_values(":at", n(attempted_ms))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let it = match marked {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if is_condition_failed(&e) => return Ok(()),
            Err(e) => return Err(unavailable("UpdateItem", e)),
        };
        let Verdict::Disable { since_ms } = health::judge(get_n(&it, FAILING_SINCE_MS), attempted_ms, false) else {
            return Ok(());
        };
        let since = Timestamp::from_unix_millis(since_ms).unwrap_or(o.attempted_at);
        let off = health::Disabled {
            tenant: o.tenant.clone(),
            webhook_id: o.webhook_id,
            url: get_s(&it, super::URL).unwrap_or_default().to_owned(),
            failing_since: since,
            disabled_at: o.attempted_at,
            last_error: o.error.clone().unwrap_or_default(),
        };
        let reason = off.reason();
        let disabled = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET #active = :off, #at = :at, #reason = :reason")
            .condition_expression("#active = :on")
            .expression_attribute_names("#active", ACTIVE)
            .expression_attribute_names("#at", DISABLED_AT)
            .expression_attribute_names("#reason", DISABLED_REASON)
            .expression_attribute_values(":off", AttributeValue::Bool(false))
            .expression_attribute_values(":on", AttributeValue::Bool(true))
            .expression_attribute_values(":at", s(o.attempted_at.to_string()))
            .expression_attribute_values(":reason", s(&reason))
            .send()
            .await;
        match disabled {
            Ok(_) => {
                tracing::warn!(tenant = %o.tenant, webhook = %o.webhook_id, %reason, "a webhook failing for days was turned off");
                if let Some(notice) = &self.notice {
                    // Told after the subscription is off, once: only the attempt that turned
                    // it off gets here. A notice that cannot be recorded is logged; the
                    // subscription itself shows why it is off.
                    match notice.tell(&off).await {
                        Ok(admins) => {
                            tracing::info!(tenant = %o.tenant, webhook = %o.webhook_id, admins, "the tenant's admins were told")
                        }
                        Err(e) => {
                            tracing::error!(tenant = %o.tenant, webhook = %o.webhook_id, error = %e, "the tenant's admins could not be told")
                        }
                    }
                }
                Ok(())
            }
            // Already off (turned off by another attempt, or by an admin).
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable("UpdateItem", e)),
        }
    }

    /// A page of the subscription's deliveries, newest first, from its list index.
    pub(super) async fn list_deliveries(
        &self,
        tenant: &str,
        webhook_id: Uuid,
        query: &DeliveryQuery,
    ) -> Result<Page<Delivery>, StoreError> {
        let pk = keys::webhook_deliveries_pk(tenant, &webhook_id);
        let mut start = match &query.cursor {
            None => None,
            Some(text) => {
                let (sk, id) = parse_cursor(text).ok_or(StoreError::BadCursor)?;
                let mut start = delivery_key(tenant, &id);
                start.insert(keys::GSI2PK.into(), s(&pk));
                start.insert(keys::GSI2SK.into(), s(sk));
                Some(start)
            }
        };
        let want = query.limit.saturating_add(1);
        let mut found: Vec<Item> = Vec::new();
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(&self.list_index)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", keys::GSI2PK)
                .expression_attribute_values(":pk", s(&pk))
                .scan_index_forward(false)
                .limit(i32::try_from(want - found.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            found.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(last) if found.len() < want => start = Some(last),
                _ => break,
            }
        }
        let more = found.len() > query.limit;
        found.truncate(query.limit);
        let next_cursor = if more { found.last().and_then(|it| get_s(it, keys::GSI2SK)).map(cursor_of) } else { None };
        let items = found.iter().map(delivery_of).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor })
    }

    /// Pending and due now, attempts from zero; `None` when the delivery is not the
    /// subscription's (or not the tenant's: its key is under the tenant).
    pub(super) async fn redeliver_one(
        &self,
        tenant: &str,
        webhook_id: Uuid,
        delivery_id: Uuid,
    ) -> Result<Option<Delivery>, StoreError> {
        let now_ms = Timestamp::now().unix_millis();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(tenant, &delivery_id)))
            .update_expression(
                "SET #status = :pending, #attempts = :zero, #next = :now, #duePk = :duePk, #dueSk = :dueSk REMOVE #expires",
            )
            .condition_expression("#webhook = :webhook AND attribute_not_exists(#deleted)")
            .expression_attribute_names("#deleted", item::DELETED)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_names("#next", NEXT_ATTEMPT_MS)
            .expression_attribute_names("#duePk", keys::GSI1PK)
            .expression_attribute_names("#dueSk", keys::GSI1SK)
            .expression_attribute_names("#expires", item::EXPIRES_AT)
            .expression_attribute_names("#webhook", WEBHOOK_ID)
            .expression_attribute_values(":pending", s(DeliveryStatus::Pending.as_str()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":duePk", s(keys::webhook_due_pk(shard(&delivery_id))))
            .expression_attribute_values(":dueSk", s(due_sk(now_ms, &delivery_id)))
            .expression_attribute_values(":webhook", s(webhook_id.hyphenated().to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => out.attributes.as_ref().map(delivery_of).transpose(),
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(unavailable("UpdateItem", e)),
        }
    }

    /// Deletes the deliveries its list index shows; any it does not show yet (the index
    /// lags) are dropped by `due` when it meets them.
    pub(super) async fn delete_deliveries(&self, tenant: &str, webhook_id: Uuid) -> Result<(), StoreError> {
        let pk = keys::webhook_deliveries_pk(tenant, &webhook_id);
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(&self.list_index)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", keys::GSI2PK)
                .expression_attribute_values(":pk", s(&pk))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            let deletes = out
                .items
                .unwrap_or_default()
                .into_iter()
                .map(|it| async move { self.soft_delete(delivery_key(tenant, &uuid(&it, ID)?)).await });
            futures_util::future::try_join_all(deletes).await?;
            match out.last_evaluated_key {
                Some(last) => start = Some(last),
                None => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_cursor_is_url_safe_and_names_its_item() {
        let at = Timestamp::parse("2026-03-01T09:00:00.123Z").unwrap();
        let id = Uuid::from_u128(9);
        let sk = list_sk(&at, &id);
        let cursor = cursor_of(&sk);
        assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{cursor}");
        assert_eq!(parse_cursor(&cursor), Some((sk.clone(), id)));
        for bad in [sk.as_str(), "", "_", "12_00000000-0000-0000-0000-000000000009", "01234567890123456789_x"] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn due_keys_sort_by_time_and_every_shard_is_used() {
        let (a, b) = (due_sk(999, &Uuid::from_u128(2)), due_sk(1_000, &Uuid::from_u128(1)));
        assert!(a < b);
        assert!(b < format!("{:020}~", 1_000));
        let shards: std::collections::BTreeSet<u32> = (0..64).map(|i| shard(&Uuid::from_u128(i))).collect();
        assert_eq!(shards.len(), DUE_SHARDS as usize);
    }
}
