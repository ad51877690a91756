//! People, the in-app notification list and the send claims of email and Slack
//! notifications, as items of the one table (layout in `dynamo/README.md`).
//!
//! - A person is an item of the tenant's people partition (a settings-like kind: written by
//!   people, a handful per tenant), its entry as JSON and a version bumped on every write.
//! - A notification is an item of its recipient's partition, sorted by the event's time and
//!   then its id, so a Query read backwards is the newest-first list. Its key is derived
//!   from the notification alone, so recording is a put if absent (`attribute_not_exists`):
//!   a redelivered event records nothing new. It expires (TTL) after [`LIST_TTL_SECS`].
//! - A send claim is the dedupe record of one email or Slack notification, keyed by the
//!   notification's id and put conditionally before the send; it expires after
//!   [`CLAIM_TTL_SECS`], well past the queue's retention, so no redelivery outlives it.
//!
//! None of these items is an aggregate (`entity` is `person`, `notification`,
//! `notification_claim`): the stream router derives no events from them.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use events_schema::Timestamp;
use shared_core::notify::deliver::Attempted;
use shared_core::notify::{Channel, Kind, Notification, Person, Status};
use shared_core::ports::{
    NotificationQuery, NotificationStore, Page, ReadSelection, SendClaims, Store, StoreError, TaskFilter, TaskQuery,
};
use uuid::Uuid;

use crate::dynamo::item::{self, Item, epoch_seconds, get_n, get_s, key, n, s};
use crate::dynamo::{keys, unavailable};

/// How long a notification stays in its person's list.
pub const LIST_TTL_SECS: i64 = 90 * 24 * 3600;
/// How long a send claim is kept: longer than SQS keeps a message (at most 14 days), so a
/// redelivery always finds it.
pub const CLAIM_TTL_SECS: i64 = 15 * 24 * 3600;

const PERSON_ENTITY: &str = "person";
const NOTIFICATION_ENTITY: &str = "notification";
const CLAIM_ENTITY: &str = "notification_claim";
const CLAIM_SK: &str = "CLAIM";
/// The claim's state: `sending` while a holder's lease runs, then the outcome.
const CLAIM_STATUS: &str = "claimStatus";
const SENDING: &str = "sending";
const LEASE_UNTIL: &str = "leaseUntil";
const BODY: &str = "body";

pub struct DynamoNotifications {
    client: Client,
    table: String,
    /// Where a sprint's tasks are listed (its people are their assignees and reporters).
    tasks: Arc<dyn Store>,
}

impl DynamoNotifications {
    pub fn new(config: &SdkConfig, table: impl Into<String>, tasks: Arc<dyn Store>) -> Self {
        Self::from_client(Client::new(config), table, tasks)
    }

    pub fn from_client(client: Client, table: impl Into<String>, tasks: Arc<dyn Store>) -> Self {
        Self { client, table: table.into(), tasks }
    }

    fn person_key(tenant: &str, name: &str) -> Item {
        key(keys::people_pk(tenant), name.to_owned())
    }

    fn list_key(n: &Notification) -> Item {
        key(keys::notifications_pk(&n.tenant, &n.recipient), list_sk(&n.occurred_at, &n.id))
    }

    fn claim_key(n: &Notification) -> Item {
        key(keys::notification_claim_pk(&n.tenant, &n.id), CLAIM_SK.to_owned())
    }

    async fn get_person(&self, tenant: &str, name: &str) -> Result<Option<Person>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::person_key(tenant, name)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        out.item.map(|found| person_of(&found)).transpose()
    }

    /// A page of the recipient's list items from `start` on, newest first.
    async fn query_list(
        &self,
        pk: &str,
        start: Option<Item>,
        unread_only: bool,
        limit: i32,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(limit)
            .set_exclusive_start_key(start);
        if unread_only {
            request = request
                .filter_expression("attribute_not_exists(#readAt)")
                .expression_attribute_names("#readAt", READ_AT);
        }
        let out = request.send().await.map_err(|e| unavailable("Query", e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("a stored {what}: {detail}"))
}

fn person_of(found: &Item) -> Result<Person, StoreError> {
    let body = get_s(found, BODY).ok_or_else(|| corrupt("person", "no body"))?;
    let mut person: Person = serde_json::from_str(body).map_err(|e| corrupt("person", e))?;
    person.version = get_n(found, item::VERSION).unwrap_or(0);
    Ok(person)
}

/// `{event time in nanoseconds, 20 digits}#{id}`: newest last in key order.
fn list_sk(at: &Timestamp, id: &Uuid) -> String {
    let ns = at.as_offset().unix_timestamp_nanos().max(0);
    format!("{ns:020}#{}", id.hyphenated())
}

const ID: &str = "id";
const RECIPIENT: &str = "recipient";
const CHANNEL: &str = "channel";
const KIND: &str = "kind";
const EVENT_ID: &str = "eventId";
const EVENT_TYPE: &str = "eventType";
const TASK_ID: &str = "taskId";
const SPRINT_ID: &str = "sprintId";
const SUMMARY: &str = "summary";
const OCCURRED_AT: &str = "occurredAt";
const STATUS: &str = "status";
const READ_AT: &str = "readAt";
const ATTEMPTS: &str = "attempts";
const LAST_ERROR: &str = "lastError";

fn list_item(n: &Notification) -> Item {
    let mut it = DynamoNotifications::list_key(n);
    it.insert(item::ENTITY.into(), s(NOTIFICATION_ENTITY));
    it.insert(item::TENANT.into(), s(&n.tenant));
    it.insert(ID.into(), s(n.id.hyphenated().to_string()));
    it.insert(RECIPIENT.into(), s(&n.recipient));
    it.insert(CHANNEL.into(), s(n.channel.as_str()));
    it.insert(KIND.into(), s(n.kind.as_str()));
    it.insert(EVENT_ID.into(), s(n.event_id.hyphenated().to_string()));
    it.insert(EVENT_TYPE.into(), s(&n.event_type));
    if let Some(task) = &n.task_id {
        it.insert(TASK_ID.into(), s(task));
    }
    if let Some(sprint) = &n.sprint_id {
        it.insert(SPRINT_ID.into(), s(sprint));
    }
    it.insert(item::ACTOR.into(), s(&n.actor));
    it.insert(SUMMARY.into(), s(&n.summary));
    it.insert(OCCURRED_AT.into(), s(n.occurred_at.to_string()));
    it.insert(STATUS.into(), s(n.status.as_str()));
    it.insert(ATTEMPTS.into(), item::n(n.attempts));
    it.insert(item::EXPIRES_AT.into(), item::n(epoch_seconds() + LIST_TTL_SECS));
    it
}

fn notification_of(it: &Item) -> Result<Notification, StoreError> {
    let text = |name: &str| get_s(it, name).ok_or_else(|| corrupt("notification", format!("no {name}")));
    let uuid = |name: &str| text(name)?.parse::<Uuid>().map_err(|e| corrupt("notification", e));
    let time = |value: &str| Timestamp::parse(value).map_err(|e| corrupt("notification", e));
    let channel = text(CHANNEL)?;
    let kind = text(KIND)?;
    let status = text(STATUS)?;
    Ok(Notification {
        id: uuid(ID)?,
        tenant: text(item::TENANT)?.to_owned(),
        recipient: text(RECIPIENT)?.to_owned(),
        channel: Channel::parse(channel).ok_or_else(|| corrupt("notification", format!("channel {channel:?}")))?,
        kind: Kind::parse(kind).ok_or_else(|| corrupt("notification", format!("kind {kind:?}")))?,
        event_id: uuid(EVENT_ID)?,
        event_type: text(EVENT_TYPE)?.to_owned(),
        task_id: get_s(it, TASK_ID).map(str::to_owned),
        sprint_id: get_s(it, SPRINT_ID).map(str::to_owned),
        actor: text(item::ACTOR)?.to_owned(),
        summary: text(SUMMARY)?.to_owned(),
        occurred_at: time(text(OCCURRED_AT)?)?,
        status: Status::parse(status).ok_or_else(|| corrupt("notification", format!("status {status:?}")))?,
        read_at: get_s(it, READ_AT).map(time).transpose()?,
        attempts: get_n(it, ATTEMPTS).unwrap_or(0),
        last_error: get_s(it, LAST_ERROR).map(str::to_owned),
    })
}

/// A list cursor: the sort key of the page's last item (`{20 digits}#{uuid}`) with `_` for
/// `#`, which a URL's query would otherwise end at.
fn cursor_of(sk: &str) -> String {
    sk.replacen('#', "_", 1)
}

/// The sort key a cursor of [`cursor_of`] stands for.
fn parse_cursor(text: &str) -> Option<String> {
    let (ns, id) = text.split_once('_')?;
    let valid = ns.len() == 20 && ns.bytes().all(|b| b.is_ascii_digit()) && id.parse::<Uuid>().is_ok();
    valid.then(|| format!("{ns}#{id}"))
}

fn is_condition_failed<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ConditionalCheckFailedException")
}

#[async_trait]
impl NotificationStore for DynamoNotifications {
    async fn person(&self, tenant: &str, name: &str) -> Result<Option<Person>, StoreError> {
        self.get_person(tenant, name).await
    }

    async fn put_person(&self, tenant: &str, person: &Person) -> Result<Person, StoreError> {
        let body = serde_json::to_string(person).map_err(|e| corrupt("person", e))?;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::person_key(tenant, &person.name)))
            .update_expression("SET #body = :body, #entity = :entity, #tenant = :tenant ADD #version :one")
            .expression_attribute_names("#body", BODY)
            .expression_attribute_names("#entity", item::ENTITY)
            .expression_attribute_names("#tenant", item::TENANT)
            .expression_attribute_names("#version", item::VERSION)
            .expression_attribute_values(":body", s(body))
            .expression_attribute_values(":entity", s(PERSON_ENTITY))
            .expression_attribute_values(":tenant", s(tenant))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem", e))?;
        let mut stored = person.clone();
        stored.version = out.attributes.as_ref().and_then(|a| get_n(a, item::VERSION)).unwrap_or(1);
        Ok(stored)
    }

    async fn people(&self, tenant: &str, names: &[&str]) -> Result<Vec<Person>, StoreError> {
        let found = futures_util::future::try_join_all(names.iter().map(|name| self.get_person(tenant, name))).await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn sprint_people(&self, tenant: &str, sprint_id: &str) -> Result<Vec<String>, StoreError> {
        let filter = TaskFilter { sprint_id: Some(sprint_id.to_owned()), ..Default::default() };
        let mut query = TaskQuery { filter, limit: 100, ..Default::default() };
        let mut names: Vec<String> = Vec::new();
        loop {
            let page = self.tasks.list_tasks(tenant, &query).await?;
            for task in &page.items {
                names.extend(task.assignee.iter().chain(task.reporter.iter()).cloned());
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    async fn record(&self, notifications: &[Notification]) -> Result<usize, StoreError> {
        let puts = notifications.iter().map(|notification| async move {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(list_item(notification)))
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", keys::PK)
                .send()
                .await;
            match result {
                Ok(_) => Ok(1),
                Err(e) if is_condition_failed(&e) => Ok(0),
                Err(e) => Err(unavailable("PutItem", e)),
            }
        });
        Ok(futures_util::future::try_join_all(puts).await?.into_iter().sum())
    }

    async fn list(
        &self,
        tenant: &str,
        recipient: &str,
        query: &NotificationQuery,
    ) -> Result<Page<Notification>, StoreError> {
        let pk = keys::notifications_pk(tenant, recipient);
        let mut start = match &query.cursor {
            None => None,
            Some(text) => {
                let sk = parse_cursor(text).ok_or(StoreError::BadCursor)?;
                Some(key(pk.clone(), sk))
            }
        };
        let want = query.limit.saturating_add(1);
        let mut found: Vec<Item> = Vec::new();
        loop {
            let room = i32::try_from(want - found.len()).unwrap_or(i32::MAX);
            let (items, last) = self.query_list(&pk, start, query.unread, room).await?;
            found.extend(items);
            match last {
                Some(last) if found.len() < want => start = Some(last),
                _ => break,
            }
        }
        let more = found.len() > query.limit;
        found.truncate(query.limit);
        let next_cursor = if more { found.last().and_then(|it| get_s(it, keys::SK)).map(cursor_of) } else { None };
        let items = found.iter().map(notification_of).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn mark_read(&self, tenant: &str, recipient: &str, which: &ReadSelection) -> Result<usize, StoreError> {
        let pk = keys::notifications_pk(tenant, recipient);
        let now = Timestamp::now().to_string();
        let mut start = None;
        let mut changed = 0;
        // The unread items of the list (it is bounded by its expiry), those selected marked.
        loop {
            let (items, last) = self.query_list(&pk, start, true, 100).await?;
            for it in &items {
                let selected = match which {
                    ReadSelection::All => true,
                    ReadSelection::Ids(ids) => {
                        get_s(it, ID).and_then(|id| id.parse::<Uuid>().ok()).is_some_and(|id| ids.contains(&id))
                    }
                };
                let Some(sk) = get_s(it, keys::SK).filter(|_| selected) else { continue };
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key(pk.clone(), sk.to_owned())))
                    .update_expression("SET #readAt = :now")
                    .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#readAt)")
                    .expression_attribute_names("#readAt", READ_AT)
                    .expression_attribute_names("#pk", keys::PK)
                    .expression_attribute_values(":now", s(&now))
                    .send()
                    .await;
                match result {
                    Ok(_) => changed += 1,
                    Err(e) if is_condition_failed(&e) => {}
                    Err(e) => return Err(unavailable("UpdateItem", e)),
                }
            }
            match last {
                Some(last) => start = Some(last),
                None => return Ok(changed),
            }
        }
    }
}

#[async_trait]
impl SendClaims for DynamoNotifications {
    async fn claim(&self, n: &Notification, now: Timestamp, lease_until: Timestamp) -> Result<bool, StoreError> {
        let mut claim = Self::claim_key(n);
        claim.insert(item::ENTITY.into(), s(CLAIM_ENTITY));
        claim.insert(item::TENANT.into(), s(&n.tenant));
        claim.insert(CLAIM_STATUS.into(), s(SENDING));
        claim.insert(LEASE_UNTIL.into(), item::n(lease_until.unix_millis()));
        claim.insert(item::EXPIRES_AT.into(), item::n(epoch_seconds() + CLAIM_TTL_SECS));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(claim))
            // Absent, or claimed by a holder whose lease ran out before it said how it went.
            .condition_expression("attribute_not_exists(#pk) OR (#status = :sending AND #lease < :now)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#status", CLAIM_STATUS)
            .expression_attribute_names("#lease", LEASE_UNTIL)
            .expression_attribute_values(":sending", s(SENDING))
            .expression_attribute_values(":now", item::n(now.unix_millis()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(unavailable("PutItem", e)),
        }
    }

    async fn settle_claim(&self, n: &Notification, outcome: &Attempted) -> Result<(), StoreError> {
        let error = outcome.error.as_deref();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        values.insert(":status".into(), s(outcome.status.as_str()));
        values.insert(":one".into(), item::n(1));
        if let Some(error) = error {
            values.insert(":error".into(), s(error));
        }
        let update = match error {
            Some(_) => "SET #status = :status, #error = :error ADD #attempts :one",
            None => "SET #status = :status REMOVE #error ADD #attempts :one",
        };
        if outcome.status == Status::Pending {
            // Worth another attempt: the claim is let go for the event's next delivery, by
            // ending its lease (a lapsed lease is free to take). Not a DeleteItem: the
            // functions may not delete items (`cdk/lib/constructs/data.ts`).
            let released = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::claim_key(n)))
                .update_expression("SET #lease = :lapsed")
                .condition_expression("#status = :sending")
                .expression_attribute_names("#status", CLAIM_STATUS)
                .expression_attribute_names("#lease", LEASE_UNTIL)
                .expression_attribute_values(":sending", s(SENDING))
                .expression_attribute_values(":lapsed", item::n(0))
                .send()
                .await;
            match released {
                Ok(_) => {}
                Err(e) if is_condition_failed(&e) => {}
                Err(e) => return Err(unavailable("UpdateItem", e)),
            }
        } else {
            let mut claim_values = values.clone();
            claim_values.insert(":sending".into(), s(SENDING));
            let settled = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::claim_key(n)))
                .update_expression(update)
                .condition_expression("#status = :sending")
                .expression_attribute_names("#status", CLAIM_STATUS)
                .expression_attribute_names("#attempts", ATTEMPTS)
                .expression_attribute_names("#error", LAST_ERROR)
                .set_expression_attribute_values(Some(claim_values))
                .send()
                .await;
            match settled {
                Ok(_) => {}
                // Taken over after this holder's lease ran out: the new holder settles it.
                Err(e) if is_condition_failed(&e) => {}
                Err(e) => return Err(unavailable("UpdateItem", e)),
            }
        }
        // The person's list shows the outcome.
        let shown = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::list_key(n)))
            .update_expression(update)
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#attempts", ATTEMPTS)
            .expression_attribute_names("#error", LAST_ERROR)
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match shown {
            Ok(_) => Ok(()),
            // Expired from the list already: nothing to show it on.
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(unavailable("UpdateItem", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_url_safe_and_stands_for_its_sort_key() {
        let at = Timestamp::parse("2026-03-01T09:00:00.123Z").unwrap();
        let sk = list_sk(&at, &Uuid::from_u128(7));
        let cursor = cursor_of(&sk);
        assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{cursor}");
        assert_eq!(parse_cursor(&cursor), Some(sk.clone()));
        for bad in [sk.as_str(), "", "_", "123_00000000-0000-0000-0000-000000000007", "01234567890123456789_x"] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}
