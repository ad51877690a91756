//! Webhook subscriptions and their deliveries, in the same database as the rest: a recorded
//! delivery survives kill -9, and its unique id is what makes it one per (event,
//! subscription).

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use shared_core::ports::{DeliveryQuery, Page, StoreError, WebhookStore};
use shared_core::webhooks::health::{self, Disabled, Verdict};
use shared_core::webhooks::signing::{SECRET_BYTES, Secret};
use shared_core::webhooks::{
    Delivery, DeliveryStatus, DueDelivery, NewDelivery, Settled, Subscription, SubscriptionSpec,
};
use uuid::Uuid;

use crate::EmbeddedError;
use crate::db::Db;
use crate::notifications;

pub struct SqliteWebhookStore {
    db: Arc<Db>,
}

impl SqliteWebhookStore {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

fn corrupt(what: &str, value: &str) -> EmbeddedError {
    EmbeddedError::Corrupt(format!("a webhook has the unreadable {what} {value:?}"))
}

fn new_secret() -> Result<Secret, EmbeddedError> {
    let mut bytes = vec![0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| EmbeddedError::Unavailable(format!("no randomness for a secret: {e}")))?;
    Secret::from_bytes(bytes).ok_or_else(|| EmbeddedError::Corrupt("a secret of the wrong length".into()))
}

fn time(value: &str) -> Result<Timestamp, EmbeddedError> {
    Timestamp::parse(value).map_err(|_| corrupt("time", value))
}

fn uuid(value: &str) -> Result<Uuid, EmbeddedError> {
    value.parse().map_err(|_| corrupt("id", value))
}

fn secret(value: &str) -> Result<Secret, EmbeddedError> {
    Secret::parse(value).map_err(|_| corrupt("secret", "whsec_…"))
}

const SUB_COLUMNS: &str = "id, tenant, url, event_types, active, secret, previous_secret, previous_until, created_at, \
     updated_at, failing_since_ms, disabled_at, disabled_reason";

fn subscription_of(r: &Row<'_>) -> Result<Subscription, EmbeddedError> {
    let text = |i: usize| r.get::<_, String>(i);
    let types = text(3)?;
    let previous = match (r.get::<_, Option<String>>(6)?, r.get::<_, Option<String>>(7)?) {
        (Some(s), Some(until)) => Some((secret(&s)?, time(&until)?)),
        _ => None,
    };
    Ok(Subscription {
        id: uuid(&text(0)?)?,
        tenant: text(1)?,
        url: text(2)?,
        event_types: serde_json::from_str(&types).map_err(|_| corrupt("event types", &types))?,
        active: r.get(4)?,
        secret: secret(&text(5)?)?,
        previous_secret: previous,
        created_at: time(&text(8)?)?,
        updated_at: time(&text(9)?)?,
        failing_since: r.get::<_, Option<i64>>(10)?.and_then(Timestamp::from_unix_millis),
        disabled: match (r.get::<_, Option<String>>(11)?, r.get::<_, Option<String>>(12)?) {
            (Some(at), reason) => Some((time(&at)?, reason.unwrap_or_default())),
            _ => None,
        },
    })
}

fn get(conn: &Connection, tenant: &str, id: Uuid) -> Result<Option<Subscription>, EmbeddedError> {
    let sql = format!("SELECT {SUB_COLUMNS} FROM webhooks WHERE id = ?1 AND tenant = ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![id.hyphenated().to_string(), tenant])?;
    match rows.next()? {
        Some(row) => Ok(Some(subscription_of(row)?)),
        None => Ok(None),
    }
}

const DELIVERY_COLUMNS: &str = "seq, id, webhook_id, event_id, event_type, status, attempts, created_at, \
                                next_attempt_ms, last_attempt_at, last_status_code, last_error, last_latency_ms";

fn delivery_of(r: &Row<'_>) -> Result<(i64, Delivery), EmbeddedError> {
    let text = |i: usize| r.get::<_, String>(i);
    let status = text(5)?;
    let delivery = Delivery {
        id: uuid(&text(1)?)?,
        webhook_id: uuid(&text(2)?)?,
        event_id: uuid(&text(3)?)?,
        event_type: text(4)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        attempts: r.get(6)?,
        created_at: time(&text(7)?)?,
        next_attempt_at: r.get::<_, Option<i64>>(8)?.and_then(Timestamp::from_unix_millis),
        last_attempt_at: r.get::<_, Option<String>>(9)?.as_deref().map(time).transpose()?,
        last_status_code: r.get(10)?,
        last_error: r.get(11)?,
        last_latency_ms: r.get(12)?,
    };
    Ok((r.get(0)?, delivery))
}

fn delivery(conn: &Connection, webhook_id: &str, id: &str) -> Result<Option<Delivery>, EmbeddedError> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?1 AND webhook_id = ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![id, webhook_id])?;
    match rows.next()? {
        Some(row) => Ok(Some(delivery_of(row)?.1)),
        None => Ok(None),
    }
}

/// Keeps the endpoint's failure streak after an attempt (`shared_core::webhooks::health`):
/// cleared by a success, started by a first failure; past the limit the subscription is
/// turned off and its tenant's admins are told, in the same transaction.
fn judge_endpoint(tx: &Connection, attempt: &Settled) -> Result<(), EmbeddedError> {
    let endpoint = tx
        .prepare_cached(
            "SELECT w.id, w.tenant, w.url, w.failing_since_ms, w.active FROM webhook_deliveries d
             JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?1",
        )?
        .query_row([attempt.id.hyphenated().to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })
        .optional()?;
    let Some((webhook_id, tenant, url, failing_since, active)) = endpoint else { return Ok(()) };
    let attempted_ms = attempt.attempted_at.unix_millis();
    match health::judge(failing_since, attempted_ms, attempt.error.is_none()) {
        Verdict::Healthy if failing_since.is_none() => {}
        Verdict::Healthy => {
            tx.prepare_cached("UPDATE webhooks SET failing_since_ms = NULL WHERE id = ?1")?.execute([&webhook_id])?;
        }
        Verdict::FailingSince(since) if failing_since == Some(since) => {}
        Verdict::FailingSince(since) => {
            tx.prepare_cached("UPDATE webhooks SET failing_since_ms = ?2 WHERE id = ?1")?
                .execute(params![webhook_id, since])?;
        }
        // Already off (turned off by an earlier attempt of this batch, or by an admin).
        Verdict::Disable { .. } if !active => {}
        Verdict::Disable { since_ms } => {
            let disabled = Disabled {
                tenant,
                webhook_id: uuid(&webhook_id)?,
                url,
                failing_since: Timestamp::from_unix_millis(since_ms).unwrap_or(attempt.attempted_at),
                disabled_at: attempt.attempted_at,
                last_error: attempt.error.clone().unwrap_or_default(),
            };
            tx.prepare_cached(
                "UPDATE webhooks SET active = 0, failing_since_ms = ?2, disabled_at = ?3, disabled_reason = ?4 WHERE id = ?1",
            )?
            .execute(params![webhook_id, since_ms, disabled.disabled_at.to_string(), disabled.reason()])?;
            let admins: Vec<String> = tx
                .prepare_cached(
                    "SELECT DISTINCT person FROM api_keys
                     WHERE tenant = ?1 AND role = 'admin' AND person IS NOT NULL AND revoked_at IS NULL ORDER BY person",
                )?
                .query_map([&disabled.tenant], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let admins = notifications::people_or_unknown(tx, &disabled.tenant, &admins)?;
            notifications::insert(tx, &disabled.notices(&admins))?;
            tracing::warn!(
                tenant = %disabled.tenant, webhook = %disabled.webhook_id, reason = %disabled.reason(),
                admins = admins.len(), "a webhook failing for days was turned off"
            );
        }
    }
    Ok(())
}

#[async_trait]
impl WebhookStore for SqliteWebhookStore {
    async fn create(&self, tenant: &str, spec: &SubscriptionSpec) -> Result<Subscription, StoreError> {
        let now = Timestamp::now();
        let subscription = Subscription {
            id: Uuid::new_v4(),
            tenant: tenant.to_owned(),
            url: spec.url.clone(),
            event_types: spec.event_types.clone(),
            active: spec.active,
            created_at: now,
            updated_at: now,
            secret: new_secret()?,
            previous_secret: None,
            failing_since: None,
            disabled: None,
        };
        let row = subscription.clone();
        Ok(self
            .db
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT INTO webhooks (id, tenant, url, event_types, active, secret, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                )?
                .execute(params![
                    row.id.hyphenated().to_string(),
                    row.tenant,
                    row.url,
                    serde_json::to_string(&row.event_types)?,
                    row.active,
                    row.secret.expose(),
                    row.created_at.to_string(),
                ])?;
                Ok(row)
            })
            .await?)
    }

    async fn list(&self, tenant: &str) -> Result<Vec<Subscription>, StoreError> {
        let tenant = tenant.to_owned();
        Ok(self
            .db
            .read(move |conn| {
                let sql = format!("SELECT {SUB_COLUMNS} FROM webhooks WHERE tenant = ?1 ORDER BY rowid");
                let mut stmt = conn.prepare_cached(&sql)?;
                let mut rows = stmt.query(params![tenant])?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(subscription_of(row)?);
                }
                Ok(out)
            })
            .await?)
    }

    async fn get(&self, tenant: &str, id: Uuid) -> Result<Option<Subscription>, StoreError> {
        let tenant = tenant.to_owned();
        Ok(self.db.read(move |conn| get(conn, &tenant, id)).await?)
    }

    async fn update(
        &self,
        tenant: &str,
        id: Uuid,
        spec: &SubscriptionSpec,
    ) -> Result<Option<Subscription>, StoreError> {
        let (tenant, spec) = (tenant.to_owned(), spec.clone());
        let now = Timestamp::now().to_string();
        Ok(self
            .db
            .write(move |tx| {
                let changed = tx
                    .prepare_cached(
                        // Turned on again after being turned off for failing: a fresh start.
                        "UPDATE webhooks SET url = ?3, event_types = ?4, active = ?5, updated_at = ?6,
                           failing_since_ms = CASE WHEN ?5 AND disabled_at IS NOT NULL THEN NULL ELSE failing_since_ms END,
                           disabled_reason = CASE WHEN ?5 THEN NULL ELSE disabled_reason END,
                           disabled_at = CASE WHEN ?5 THEN NULL ELSE disabled_at END
                         WHERE id = ?1 AND tenant = ?2",
                    )?
                    .execute(params![
                        id.hyphenated().to_string(),
                        tenant,
                        spec.url,
                        serde_json::to_string(&spec.event_types)?,
                        spec.active,
                        now
                    ])?;
                if changed == 0 { Ok(None) } else { get(tx, &tenant, id) }
            })
            .await?)
    }

    async fn delete(&self, tenant: &str, id: Uuid) -> Result<bool, StoreError> {
        let tenant = tenant.to_owned();
        Ok(self
            .db
            .write(move |tx| {
                let id = id.hyphenated().to_string();
                let gone = tx
                    .prepare_cached("DELETE FROM webhooks WHERE id = ?1 AND tenant = ?2")?
                    .execute(params![id, tenant])?;
                if gone > 0 {
                    tx.prepare_cached("DELETE FROM webhook_deliveries WHERE webhook_id = ?1")?.execute(params![id])?;
                }
                Ok(gone > 0)
            })
            .await?)
    }

    async fn rotate_secret(
        &self,
        tenant: &str,
        id: Uuid,
        old_until: Timestamp,
    ) -> Result<Option<Subscription>, StoreError> {
        let tenant = tenant.to_owned();
        let fresh = new_secret()?;
        let now = Timestamp::now().to_string();
        Ok(self
            .db
            .write(move |tx| {
                let changed = tx
                    .prepare_cached(
                        "UPDATE webhooks SET previous_secret = secret, previous_until = ?3, secret = ?4, updated_at = ?5
                         WHERE id = ?1 AND tenant = ?2",
                    )?
                    .execute(params![id.hyphenated().to_string(), tenant, old_until.to_string(), fresh.expose(), now])?;
                if changed == 0 { Ok(None) } else { get(tx, &tenant, id) }
            })
            .await?)
    }

    async fn subscribers(&self, tenant: &str, event_type: &str) -> Result<Vec<Uuid>, StoreError> {
        let (tenant, event_type) = (tenant.to_owned(), event_type.to_owned());
        Ok(self
            .db
            .lookup(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT w.id FROM webhooks w, json_each(w.event_types) t
                     WHERE w.tenant = ?1 AND w.active = 1 AND t.value = ?2 ORDER BY w.rowid",
                )?;
                let rows = stmt.query_map(params![tenant, event_type], |r| r.get::<_, String>(0))?;
                rows.map(|id| uuid(&id?)).collect::<Result<Vec<_>, _>>()
            })
            .await?)
    }

    async fn enqueue(&self, deliveries: &[NewDelivery]) -> Result<usize, StoreError> {
        if deliveries.is_empty() {
            return Ok(0);
        }
        let batch = deliveries.to_vec();
        let now = Timestamp::now();
        Ok(self
            .db
            .write(move |tx| {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO webhook_deliveries
                       (id, tenant, webhook_id, event_id, event_type, body, status, attempts, created_at, next_attempt_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?8)",
                )?;
                let mut new = 0;
                for d in &batch {
                    new += stmt.execute(params![
                        d.id.hyphenated().to_string(),
                        d.tenant,
                        d.webhook_id.hyphenated().to_string(),
                        d.event_id.hyphenated().to_string(),
                        d.event_type,
                        d.body,
                        now.to_string(),
                        now.unix_millis(),
                    ])?;
                }
                Ok(new)
            })
            .await?)
    }

    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<DueDelivery>, StoreError> {
        let now_ms = now.unix_millis();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT d.id, d.webhook_id, w.url, d.body, d.attempts, w.secret, w.previous_secret, w.previous_until, d.tenant
                     FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
                     WHERE d.status = 'pending' AND d.next_attempt_ms <= ?1 AND w.active = 1
                     ORDER BY d.next_attempt_ms, d.seq LIMIT ?2",
                )?;
                let mut rows = stmt.query(params![now_ms, limit])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut secrets = vec![secret(&r.get::<_, String>(5)?)?];
                    if let (Some(old), Some(until)) = (r.get::<_, Option<String>>(6)?, r.get::<_, Option<String>>(7)?)
                        && time(&until)?.unix_millis() > now_ms
                    {
                        secrets.push(secret(&old)?);
                    }
                    out.push(DueDelivery {
                        id: uuid(&r.get::<_, String>(0)?)?,
                        tenant: r.get(8)?,
                        webhook_id: uuid(&r.get::<_, String>(1)?)?,
                        url: r.get(2)?,
                        body: r.get(3)?,
                        attempts: r.get(4)?,
                        secrets,
                    });
                }
                Ok(out)
            })
            .await?)
    }

    async fn settle(&self, outcomes: &[Settled]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let batch = outcomes.to_vec();
        Ok(self
            .db
            .write(move |tx| {
                // Only a pending row is settled: a delivery deleted or redelivered meanwhile
                // keeps what it has now.
                let mut stmt = tx.prepare_cached(
                    "UPDATE webhook_deliveries SET status = ?2, attempts = ?3, next_attempt_ms = ?4,
                       last_attempt_at = ?5, last_status_code = ?6, last_error = ?7, last_latency_ms = ?8
                     WHERE id = ?1 AND status = 'pending'",
                )?;
                for s in &batch {
                    let settled = stmt.execute(params![
                        s.id.hyphenated().to_string(),
                        s.status.as_str(),
                        s.attempts,
                        s.next_attempt_at.map(|t| t.unix_millis()),
                        s.attempted_at.to_string(),
                        s.status_code,
                        s.error,
                        i64::try_from(s.latency_ms).unwrap_or(i64::MAX),
                    ])?;
                    if settled == 1 {
                        judge_endpoint(tx, s)?;
                    }
                }
                Ok(())
            })
            .await?)
    }

    async fn deliveries(
        &self,
        tenant: &str,
        webhook_id: Uuid,
        query: &DeliveryQuery,
    ) -> Result<Option<Page<Delivery>>, StoreError> {
        let (tenant, query) = (tenant.to_owned(), query.clone());
        Ok(self
            .db
            .read(move |conn| {
                if get(conn, &tenant, webhook_id)?.is_none() {
                    return Ok(None);
                }
                let before = match &query.cursor {
                    None => i64::MAX,
                    Some(c) => c.parse::<i64>().map_err(|_| StoreError::BadCursor)?,
                };
                let sql = format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ?1 AND seq < ?2
                     ORDER BY seq DESC LIMIT ?3"
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let limit = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
                let mut rows = stmt.query(params![webhook_id.hyphenated().to_string(), before, limit])?;
                let mut items = Vec::new();
                let mut last_seq = 0;
                while let Some(row) = rows.next()? {
                    if items.len() == query.limit {
                        return Ok(Some(Page { items, next_cursor: Some(last_seq.to_string()) }));
                    }
                    let (seq, d) = delivery_of(row)?;
                    last_seq = seq;
                    items.push(d);
                }
                Ok(Some(Page { items, next_cursor: None }))
            })
            .await?)
    }

    async fn redeliver(
        &self,
        tenant: &str,
        webhook_id: Uuid,
        delivery_id: Uuid,
    ) -> Result<Option<Delivery>, StoreError> {
        let tenant = tenant.to_owned();
        let now_ms = Timestamp::now().unix_millis();
        Ok(self
            .db
            .write(move |tx| {
                if get(tx, &tenant, webhook_id)?.is_none() {
                    return Ok(None);
                }
                let (webhook_id, delivery_id) =
                    (webhook_id.hyphenated().to_string(), delivery_id.hyphenated().to_string());
                tx.prepare_cached(
                    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_ms = ?3
                     WHERE id = ?1 AND webhook_id = ?2",
                )?
                .execute(params![delivery_id, webhook_id, now_ms])?;
                delivery(tx, &webhook_id, &delivery_id)
            })
            .await?)
    }
}
