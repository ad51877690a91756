//! DynamoDB stream records as change records: what the stream-router Lambda receives, turned
//! into what `derive` reads. Pure: the same record always gives the same change record.
//!
//! | stream record | change record |
//! |---|---|
//! | INSERT of an aggregate | created: old `None` |
//! | MODIFY of a live aggregate | old and new image |
//! | MODIFY that sets `deleted` (a soft delete) | deleted: new `None`, the version the delete wrote |
//! | MODIFY from a soft-deleted image (a create in its place) | created: old `None` |
//! | REMOVE of a soft-deleted item (the TTL's cleanup) | none: the delete was already announced |
//! | REMOVE of a live aggregate (by hand, outside the store) | deleted, version one past the last |
//! | history or idempotency item | none: not an aggregate |

use aws_lambda_events::event::dynamodb::EventRecord;
use events_schema::{AggregateType, Timestamp};
use serde_dynamo::{AttributeValue, Item};
use shared_core::ChangeRecord;

use super::item;

/// A stream record that is ours but cannot be read; the router parks it with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream record {event_id} ({event_name}) cannot be read: {reason}")]
pub struct StreamError {
    pub event_id: String,
    pub event_name: String,
    pub reason: String,
}

/// The change record a stream record stands for; `None` for records that announce nothing
/// (items that are not aggregates, the TTL removal of a soft-deleted item).
pub fn change_record(record: &EventRecord) -> Option<Result<ChangeRecord, StreamError>> {
    let fail = |reason: String| StreamError {
        event_id: record.event_id.clone(),
        event_name: record.event_name.clone(),
        reason,
    };
    let (old, new) = (&record.change.old_image, &record.change.new_image);
    let subject = match record.event_name.as_str() {
        "INSERT" | "MODIFY" => new,
        "REMOVE" => old,
        other => return Some(Err(fail(format!("unknown event name {other:?}")))),
    };
    if subject.is_empty() {
        return Some(Err(fail("the record has no image: the stream must carry NEW_AND_OLD_IMAGES".to_owned())));
    }
    let aggregate_type = AggregateType::parse(text(subject, item::ENTITY).unwrap_or_default())?;
    let (old_live, new_live) = (live(old), live(new));
    let result = match record.event_name.as_str() {
        "INSERT" if new_live => from_item(aggregate_type, None, Some(new), new),
        "MODIFY" => match (old_live, new_live) {
            (true, true) => from_item(aggregate_type, Some(old), Some(new), new),
            (false, true) => from_item(aggregate_type, None, Some(new), new),
            (true, false) => from_item(aggregate_type, Some(old), None, new),
            (false, false) => return None,
        },
        "REMOVE" if old_live => hard_delete(record, aggregate_type, old),
        _ => return None,
    };
    Some(result.map_err(fail))
}

/// A write by the store: its metadata (tenant, version, correlation id, actor, time) is in
/// `meta`, the image it wrote.
fn from_item(
    aggregate_type: AggregateType,
    old: Option<&Item>,
    new: Option<&Item>,
    meta: &Item,
) -> Result<ChangeRecord, String> {
    let image = |which: &str, image: &Item| {
        item::image(aggregate_type, image.clone()).map_err(|e| format!("the {which} image is not a snapshot: {e}"))
    };
    let changed_at = required(meta, item::CHANGED_AT)?;
    Ok(ChangeRecord {
        tenant: required(meta, item::TENANT)?.to_owned(),
        aggregate_type,
        aggregate_id: required(meta, "id")?.to_owned(),
        aggregate_version: version(meta)?,
        at: Timestamp::parse(changed_at).map_err(|e| format!("changedAt {changed_at:?}: {e}"))?,
        correlation_id: required(meta, item::CORRELATION_ID)?.to_owned(),
        actor: required(meta, item::ACTOR)?.to_owned(),
        old: old.map(|o| image("old", o)).transpose()?,
        new: new.map(|n| image("new", n)).transpose()?,
    })
}

/// An item removed outside the store still leaves a delete to announce; who did it is known
/// only to the stream (its user identity), and its event id stands for the correlation id.
fn hard_delete(record: &EventRecord, aggregate_type: AggregateType, old: &Item) -> Result<ChangeRecord, String> {
    let mut change = from_item(aggregate_type, Some(old), None, old)?;
    change.aggregate_version += 1;
    // When the stream stamped the removal; a record without the stamp (it is optional)
    // keeps the last write's time rather than the epoch.
    let removed_ms = record.change.approximate_creation_date_time.timestamp_millis();
    if removed_ms > 0
        && let Some(removed_at) = Timestamp::from_unix_millis(removed_ms)
    {
        change.at = removed_at;
    }
    change.correlation_id = format!("dynamodb-stream:{}", record.event_id);
    change.actor = record
        .user_identity
        .as_ref()
        .map(|who| who.principal_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    Ok(change)
}

fn live(image: &Item) -> bool {
    !image.is_empty() && !matches!(image.get(item::DELETED), Some(AttributeValue::Bool(true)))
}

fn text<'a>(image: &'a Item, name: &str) -> Option<&'a str> {
    match image.get(name) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    }
}

fn required<'a>(image: &'a Item, name: &str) -> Result<&'a str, String> {
    text(image, name).ok_or_else(|| format!("the item has no {name}"))
}

fn version(image: &Item) -> Result<u64, String> {
    match image.get(item::VERSION) {
        Some(AttributeValue::N(n)) => n.parse().map_err(|_| format!("version {n:?} is not a whole number")),
        _ => Err("the item has no version".to_owned()),
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
