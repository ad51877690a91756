//! People and the notifier's outbox, in the same database as everything else: a recorded
//! notification survives kill -9 with the rest, and the outbox's unique id is what makes
//! each notification happen once.

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use shared_core::notify::deliver::{Attempted, Outgoing};
use shared_core::notify::{Channel, Kind, Notification, Person, Status};
use shared_core::ports::{NotificationOutbox, NotificationQuery, NotificationStore, Page, ReadSelection, StoreError};

use crate::EmbeddedError;
use crate::db::Db;

pub struct SqliteNotificationStore {
    db: Arc<Db>,
}

impl SqliteNotificationStore {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

fn corrupt(what: &str, value: &str) -> EmbeddedError {
    EmbeddedError::Corrupt(format!("a notification has the unknown {what} {value:?}"))
}

fn person_of(body: &str, version: u64) -> Result<Person, EmbeddedError> {
    let mut person: Person = serde_json::from_str(body)?;
    person.version = version;
    Ok(person)
}

const COLUMNS: &str = "seq, id, recipient, channel, kind, event_id, event_type, task_id, sprint_id, actor, summary, \
                       occurred_at, status, read_at, attempts, last_error, tenant";

/// A row read with [`COLUMNS`] (the tenant is the row's own).
fn notification_of(r: &Row<'_>) -> Result<(i64, Notification), EmbeddedError> {
    let text = |i: usize| r.get::<_, String>(i);
    let (channel, kind, status) = (text(3)?, text(4)?, text(12)?);
    let time = |value: String| {
        Timestamp::parse(&value).map_err(|e| EmbeddedError::Corrupt(format!("a notification's time {value:?}: {e}")))
    };
    let uuid = |value: String| {
        value.parse().map_err(|e| EmbeddedError::Corrupt(format!("a notification's id {value:?}: {e}")))
    };
    let notification = Notification {
        id: uuid(text(1)?)?,
        tenant: text(16)?,
        recipient: text(2)?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        kind: Kind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
        event_id: uuid(text(5)?)?,
        event_type: text(6)?,
        task_id: r.get(7)?,
        sprint_id: r.get(8)?,
        actor: text(9)?,
        summary: text(10)?,
        occurred_at: time(text(11)?)?,
        status: Status::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        read_at: r.get::<_, Option<String>>(13)?.map(time).transpose()?,
        attempts: r.get(14)?,
        last_error: r.get(15)?,
    };
    Ok((r.get(0)?, notification))
}

/// An instant as nanoseconds since the epoch: the sort key of a person's list. An i64 holds
/// nanoseconds up to the year 2262.
fn nanos(at: &Timestamp) -> i64 {
    i64::try_from(at.as_offset().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// Records each notification unless its id is recorded already; returns how many were new.
/// Also used inside other writes (a webhook turned off tells the admins in the same
/// transaction).
pub(crate) fn insert(tx: &Connection, batch: &[Notification]) -> Result<usize, EmbeddedError> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR IGNORE INTO notifications (id, tenant, recipient, channel, kind, event_id, event_type,
           task_id, sprint_id, actor, summary, occurred_at, occurred_ns, status, read_at,
           attempts, next_attempt_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL, 0, ?15)",
    )?;
    let mut new = 0;
    for n in batch {
        new += stmt.execute(params![
            n.id.hyphenated().to_string(),
            n.tenant,
            n.recipient,
            n.channel.as_str(),
            n.kind.as_str(),
            n.event_id.hyphenated().to_string(),
            n.event_type,
            n.task_id,
            n.sprint_id,
            n.actor,
            n.summary,
            n.occurred_at.to_string(),
            nanos(&n.occurred_at),
            n.status.as_str(),
            // Due at once while it waits for a sender.
            (n.status == Status::Pending).then_some(0i64),
        ])?;
    }
    Ok(new)
}

/// A tenant's people named `names`, each as stored or, without an entry, as
/// [`Person::unknown`].
pub(crate) fn people_or_unknown(
    conn: &Connection,
    tenant: &str,
    names: &[String],
) -> Result<Vec<Person>, EmbeddedError> {
    let mut stmt = conn.prepare_cached("SELECT body, version FROM people WHERE tenant = ?1 AND name = ?2")?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let found =
            stmt.query_row(params![tenant, name], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?))).optional()?;
        out.push(match found {
            Some((body, version)) => person_of(&body, version)?,
            None => Person::unknown(name),
        });
    }
    Ok(out)
}

/// `<occurred_ns>_<seq>` of the last item of a page.
fn parse_cursor(text: &str) -> Option<(i64, i64)> {
    let (ns, seq) = text.split_once('_')?;
    Some((ns.parse().ok()?, seq.parse().ok()?))
}

fn list(
    conn: &Connection,
    tenant: &str,
    recipient: &str,
    query: &NotificationQuery,
) -> Result<Page<Notification>, EmbeddedError> {
    let (before_ns, before_seq) = match &query.cursor {
        None => (i64::MAX, i64::MAX),
        Some(c) => parse_cursor(c).ok_or(StoreError::BadCursor)?,
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE tenant = ?1 AND recipient = ?2 \
         AND (occurred_ns < ?3 OR (occurred_ns = ?3 AND seq < ?4)) \
         AND (?5 = 0 OR read_at IS NULL) ORDER BY occurred_ns DESC, seq DESC LIMIT ?6"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let limit = i64::try_from(query.limit.saturating_add(1)).unwrap_or(i64::MAX);
    let mut rows = stmt.query(params![tenant, recipient, before_ns, before_seq, query.unread, limit])?;
    let mut items: Vec<Notification> = Vec::new();
    let mut last_seq = 0;
    while let Some(row) = rows.next()? {
        if let Some(last) = items.last().filter(|_| items.len() == query.limit) {
            let next_cursor = Some(format!("{}_{last_seq}", nanos(&last.occurred_at)));
            return Ok(Page { items, next_cursor });
        }
        let (seq, n) = notification_of(row)?;
        last_seq = seq;
        items.push(n);
    }
    Ok(Page { items, next_cursor: None })
}

#[async_trait]
impl NotificationStore for SqliteNotificationStore {
    async fn person(&self, tenant: &str, name: &str) -> Result<Option<Person>, StoreError> {
        let (tenant, name) = (tenant.to_owned(), name.to_owned());
        Ok(self
            .db
            .read(move |conn| {
                let row = conn
                    .prepare_cached("SELECT body, version FROM people WHERE tenant = ?1 AND name = ?2")?
                    .query_row(params![tenant, name], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
                    .optional()?;
                row.map(|(body, version)| person_of(&body, version)).transpose()
            })
            .await?)
    }

    async fn put_person(&self, tenant: &str, person: &Person) -> Result<Person, StoreError> {
        let (tenant, mut person) = (tenant.to_owned(), person.clone());
        Ok(self
            .db
            .write(move |tx| {
                let current: Option<u64> = tx
                    .prepare_cached("SELECT version FROM people WHERE tenant = ?1 AND name = ?2")?
                    .query_row(params![tenant, person.name], |r| r.get(0))
                    .optional()?;
                person.version = current.unwrap_or(0) + 1;
                tx.prepare_cached(
                    "INSERT INTO people (tenant, name, version, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant, name) DO UPDATE SET version = excluded.version, body = excluded.body",
                )?
                .execute(params![
                    tenant,
                    person.name,
                    person.version,
                    serde_json::to_string(&person)?
                ])?;
                Ok(person)
            })
            .await?)
    }

    async fn people(&self, tenant: &str, names: &[&str]) -> Result<Vec<Person>, StoreError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let tenant = tenant.to_owned();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        Ok(self
            .db
            .lookup(move |conn| {
                let mut stmt =
                    conn.prepare_cached("SELECT body, version FROM people WHERE tenant = ?1 AND name = ?2")?;
                let mut out = Vec::new();
                for name in &names {
                    let row = stmt
                        .query_row(params![tenant, name], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
                        .optional()?;
                    if let Some((body, version)) = row {
                        out.push(person_of(&body, version)?);
                    }
                }
                Ok(out)
            })
            .await?)
    }

    async fn sprint_people(&self, tenant: &str, sprint_id: &str) -> Result<Vec<String>, StoreError> {
        let (tenant, sprint_id) = (tenant.to_owned(), sprint_id.to_owned());
        Ok(self
            .db
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT assignee FROM tasks WHERE tenant = ?1 AND sprint_id = ?2 AND assignee IS NOT NULL
                     UNION
                     SELECT json_extract(body, '$.reporter') FROM tasks
                      WHERE tenant = ?1 AND sprint_id = ?2 AND json_extract(body, '$.reporter') IS NOT NULL
                     ORDER BY 1",
                )?;
                let rows = stmt.query_map(params![tenant, sprint_id], |r| r.get::<_, String>(0))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            })
            .await?)
    }

    async fn record(&self, notifications: &[Notification]) -> Result<usize, StoreError> {
        if notifications.is_empty() {
            return Ok(0);
        }
        let batch = notifications.to_vec();
        Ok(self.db.write(move |tx| insert(tx, &batch)).await?)
    }

    async fn list(
        &self,
        tenant: &str,
        recipient: &str,
        query: &NotificationQuery,
    ) -> Result<Page<Notification>, StoreError> {
        let (tenant, recipient, query) = (tenant.to_owned(), recipient.to_owned(), query.clone());
        Ok(self.db.read(move |conn| list(conn, &tenant, &recipient, &query)).await?)
    }

    async fn mark_read(&self, tenant: &str, recipient: &str, which: &ReadSelection) -> Result<usize, StoreError> {
        let (tenant, recipient, which) = (tenant.to_owned(), recipient.to_owned(), which.clone());
        let now = Timestamp::now().to_string();
        Ok(self
            .db
            .write(move |tx| {
                let changed = match which {
                    ReadSelection::All => tx
                        .prepare_cached(
                            "UPDATE notifications SET read_at = ?3
                             WHERE tenant = ?1 AND recipient = ?2 AND read_at IS NULL",
                        )?
                        .execute(params![tenant, recipient, now])?,
                    ReadSelection::Ids(ids) => {
                        let mut stmt = tx.prepare_cached(
                            "UPDATE notifications SET read_at = ?4
                             WHERE id = ?3 AND tenant = ?1 AND recipient = ?2 AND read_at IS NULL",
                        )?;
                        let mut n = 0;
                        for id in ids {
                            n += stmt.execute(params![tenant, recipient, id.hyphenated().to_string(), now])?;
                        }
                        n
                    }
                };
                Ok(changed)
            })
            .await?)
    }
}

/// The person's address for `channel`, from their entry as stored now (a changed address
/// is used from the next attempt on; a removed one fails the notification).
fn address(person: &Person, channel: Channel) -> Option<String> {
    match channel {
        Channel::Email => person.email.clone(),
        Channel::Slack => person.slack_webhook_url.clone(),
        Channel::InApp => None,
    }
}

#[async_trait]
impl NotificationOutbox for SqliteNotificationStore {
    async fn due(&self, now: Timestamp, channels: &[Channel], limit: usize) -> Result<Vec<Outgoing>, StoreError> {
        if channels.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let channels: Vec<Channel> = channels.to_vec();
        let now_ms = now.unix_millis();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .db
            .read(move |conn| {
                let columns = COLUMNS.split(", ").map(|c| format!("n.{c}")).collect::<Vec<_>>().join(", ");
                let sql = format!(
                    "SELECT {columns}, p.body FROM notifications n
                       LEFT JOIN people p ON p.tenant = n.tenant AND p.name = n.recipient
                     WHERE n.status = 'pending' AND n.channel != 'in_app' AND n.next_attempt_ms <= ?1
                       AND n.channel IN (SELECT value FROM json_each(?2))
                     ORDER BY n.next_attempt_ms, n.seq LIMIT ?3"
                );
                let wanted = serde_json::to_string(&channels.iter().map(Channel::as_str).collect::<Vec<_>>())?;
                let mut stmt = conn.prepare_cached(&sql)?;
                let mut rows = stmt.query(params![now_ms, wanted, limit])?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let (_, notification) = notification_of(row)?;
                    let person: Option<String> = row.get(17)?;
                    let address = match person {
                        Some(body) => address(&person_of(&body, 0)?, notification.channel),
                        None => None,
                    };
                    out.push(Outgoing { notification, address });
                }
                Ok(out)
            })
            .await?)
    }

    async fn settle(&self, outcomes: &[Attempted]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let batch = outcomes.to_vec();
        Ok(self
            .db
            .write(move |tx| {
                // Only a row still pending is settled: one attempt's outcome is written once.
                let mut stmt = tx.prepare_cached(
                    "UPDATE notifications SET status = ?2, attempts = ?3, next_attempt_ms = ?4, last_error = ?5
                     WHERE id = ?1 AND status = 'pending'",
                )?;
                for a in &batch {
                    stmt.execute(params![
                        a.id.hyphenated().to_string(),
                        a.status.as_str(),
                        a.attempts,
                        a.next_attempt_at.map(|t| t.unix_millis()),
                        a.error,
                    ])?;
                }
                Ok(())
            })
            .await?)
    }
}
