//! Aggregates as table items: the snapshot's fields as top-level attributes (so filter
//! expressions can use them), plus the keys and the metadata of the last write. The
//! snapshot comes back out by reading the same attributes, ignoring the rest.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use shared_core::context::RequestContext;
use shared_core::ports::{Aggregate, StoreError};

use super::keys;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// The aggregate type (`task`, `comment` …) of an aggregate item; history and idempotency
/// items carry other values, which is how the stream tells them apart.
pub(crate) const ENTITY: &str = "entity";
pub(crate) const TENANT: &str = "tenant";
/// The task an external key's link names.
pub(crate) const TASK_ID: &str = "taskId";
pub(crate) const VERSION: &str = "version";
pub(crate) const CORRELATION_ID: &str = "correlationId";
pub(crate) const ACTOR: &str = "actor";
/// When the last write happened: the change record's `at`.
pub(crate) const CHANGED_AT: &str = "changedAt";
/// Present (true) on a soft-deleted aggregate; reads and lists treat it as absent.
pub(crate) const DELETED: &str = "deleted";
/// The table's TTL attribute (epoch seconds): DynamoDB removes the item some time after.
pub(crate) const EXPIRES_AT: &str = "expiresAt";
/// A token the store draws for each commit and writes with every item of it: a write that
/// is refused by its condition yet finds its own token on the item is its own earlier,
/// retried attempt. Client-supplied values (a correlation id) cannot tell two callers apart.
pub(crate) const WRITE_TOKEN: &str = "writeToken";

/// How long a soft-deleted aggregate stays before DynamoDB's TTL removes it.
pub(crate) const DELETED_TTL_SECS: i64 = 7 * 24 * 3600;
/// How long an idempotency record answers a retried request.
pub(crate) const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;

pub(crate) fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

pub(crate) fn n(number: impl ToString) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|text| text.parse().ok())
}

pub(crate) fn is_deleted(item: &Item) -> bool {
    matches!(item.get(DELETED), Some(AttributeValue::Bool(true)))
}

/// Now, in epoch seconds, as the TTL attribute counts.
pub(crate) fn epoch_seconds() -> i64 {
    events_schema::Timestamp::now().unix_millis() / 1000
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {err}"))
}

/// The partition and sort key of an aggregate.
pub(crate) fn aggregate_key(tenant: &str, aggregate: &Aggregate) -> (String, String) {
    let task_id = match aggregate {
        Aggregate::Comment(c) => Some(c.task_id.as_str()),
        _ => None,
    };
    keys::aggregate_key(tenant, aggregate.aggregate_type(), aggregate.id(), task_id)
}

pub(crate) fn key(pk: String, sk: String) -> Item {
    HashMap::from([(keys::PK.to_owned(), s(pk)), (keys::SK.to_owned(), s(sk))])
}

/// The whole item an aggregate is stored as, after a write by `ctx` carrying `token`; a task's
/// index keys put it in its shard of `shards`.
pub(crate) fn to_item(
    ctx: &RequestContext,
    aggregate: &Aggregate,
    shards: u16,
    token: &str,
) -> Result<Item, StoreError> {
    let fields: Result<Item, _> = match aggregate {
        Aggregate::Task(t) => serde_dynamo::to_item(t),
        Aggregate::Category(c) => serde_dynamo::to_item(c),
        Aggregate::Project(p) => serde_dynamo::to_item(p),
        Aggregate::Sprint(sp) => serde_dynamo::to_item(sp),
        Aggregate::Comment(c) => serde_dynamo::to_item(c),
    };
    let mut item = fields.map_err(|e| corrupt("the snapshot cannot be stored", e))?;
    let tenant = ctx.tenant();
    let (pk, sk) = aggregate_key(tenant, aggregate);
    item.insert(keys::PK.to_owned(), s(pk));
    item.insert(keys::SK.to_owned(), s(sk));
    item.insert(ENTITY.to_owned(), s(aggregate.aggregate_type().as_str()));
    item.insert(TENANT.to_owned(), s(tenant));
    // Comments have no version of their own; the condition of an edit still needs one.
    item.insert(VERSION.to_owned(), n(aggregate.version()));
    item.insert(CORRELATION_ID.to_owned(), s(&ctx.correlation_id));
    item.insert(ACTOR.to_owned(), s(&ctx.identity.actor));
    item.insert(CHANGED_AT.to_owned(), s(aggregate.changed_at().to_string()));
    item.insert(WRITE_TOKEN.to_owned(), s(token));
    if let Aggregate::Task(task) = aggregate {
        let shard = keys::shard_of(&task.id, shards);
        for index in keys::TaskIndex::ALL {
            let (pk, sk) = index.attributes();
            item.insert(pk.to_owned(), s(index.partition(tenant, shard)));
            item.insert(sk.to_owned(), s(index.sort_key(task)));
        }
    }
    Ok(item)
}

/// The snapshot stored in `item`; the keys and metadata are ignored.
pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| corrupt("a stored item is not a valid snapshot", e))
}

/// A live aggregate's snapshot, `None` when soft-deleted.
pub(crate) fn live<T: DeserializeOwned>(item: Item) -> Result<Option<T>, StoreError> {
    if is_deleted(&item) { Ok(None) } else { from_item(item).map(Some) }
}
