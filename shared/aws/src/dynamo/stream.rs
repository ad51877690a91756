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
//! | history, idempotency or external key item | none: not an aggregate |

use std::borrow::Cow;

use aws_lambda_events::event::dynamodb::EventRecord;
use events_schema::{AggregateType, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;
use shared_core::ChangeRecord;
use shared_core::ports::Aggregate;
use shared_core::stream_router::StreamRecord;

use super::attr::{Attr, Image};
use super::item;

/// A stream record that is ours but cannot be read; the router parks it with this reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream record {event_id} ({event_name}) cannot be read: {reason}")]
pub struct StreamError {
    pub event_id: String,
    pub event_name: String,
    pub reason: String,
}

/// A DynamoDB Streams Lambda event, read in place from its JSON: the parts the router uses,
/// borrowing their text from the payload, all records at once. The router itself decodes
/// record by record ([`decode_batch_with`]); this whole-event form is for tools and for
/// measuring the parse alone.
#[derive(Debug, Deserialize)]
pub struct StreamBatch<'a> {
    #[serde(rename = "Records", borrow)]
    pub records: Vec<RecordJson<'a>>,
}

/// One stream record as Lambda delivers it (the fields the router reads).
#[derive(Debug, Default, Deserialize)]
pub struct RecordJson<'a> {
    #[serde(rename = "eventID", borrow, default)]
    pub event_id: Cow<'a, str>,
    #[serde(rename = "eventName", borrow, default)]
    pub event_name: Cow<'a, str>,
    #[serde(borrow, default)]
    pub dynamodb: ChangeJson<'a>,
    #[serde(rename = "userIdentity", borrow, default)]
    pub user_identity: Option<UserIdentityJson<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeJson<'a> {
    /// Epoch seconds, as Lambda writes it.
    #[serde(default)]
    pub approximate_creation_date_time: Option<f64>,
    #[serde(borrow, default)]
    pub sequence_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub new_image: Option<Image<'a>>,
    #[serde(borrow, default)]
    pub old_image: Option<Image<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UserIdentityJson<'a> {
    #[serde(rename = "principalId", borrow, default)]
    pub principal_id: Cow<'a, str>,
}

/// The records of a Lambda event exactly as received, for parking a poison record whole.
#[derive(Deserialize)]
struct RawBatch<'a> {
    #[serde(rename = "Records", borrow)]
    records: Vec<&'a RawValue>,
}

/// A Lambda payload that is not a DynamoDB Streams event at all.
#[derive(Debug, thiserror::Error)]
#[error("the payload is not a DynamoDB Streams event: {0}")]
pub struct NotAStreamEvent(String);

/// Decodes a DynamoDB Streams Lambda event into the router's records. Only a payload that
/// is not a stream event at all is an error; a record that cannot be read is decoded as
/// poison (with its reason) so the router parks it and goes on.
pub fn decode_batch(payload: &str) -> Result<Vec<StreamRecord>, NotAStreamEvent> {
    decode_batch_with(payload, |_, record| record)
}

/// [`decode_batch`], handing each record to `then` (with its index) as soon as it is decoded:
/// the router derives and encodes a record's events while its text is still in the CPU's
/// cache, and its attribute tree is dropped before the next record is parsed, instead of
/// parsing the whole (megabytes-long) payload first and coming back to every record after.
pub fn decode_batch_with<T>(
    payload: &str,
    then: impl FnMut(usize, StreamRecord) -> T,
) -> Result<Vec<T>, NotAStreamEvent> {
    use serde::de::DeserializeSeed;
    // sonic-rs: SIMD parsing, the largest single cost of a batch (BENCHMARKS.md).
    let mut json = sonic_rs::Deserializer::from_str(payload);
    let decoded = Batch(then).deserialize(&mut json).map_err(|e| NotAStreamEvent(e.to_string()))?;
    json.end().map_err(|e| NotAStreamEvent(e.to_string()))?;
    Ok(decoded)
}

/// The Lambda event's `Records`, each decoded and handed on as it is parsed; other fields
/// are skipped.
struct Batch<F>(F);

impl<'de, T, F: FnMut(usize, StreamRecord) -> T> serde::de::DeserializeSeed<'de> for Batch<F> {
    type Value = Vec<T>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T, F: FnMut(usize, StreamRecord) -> T> serde::de::Visitor<'de> for Batch<F> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a DynamoDB Streams event: an object with Records")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
        let mut then = self.0;
        let mut records = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "Records" {
                records = Some(map.next_value_seed(Records(&mut then))?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        records.ok_or_else(|| serde::de::Error::missing_field("Records"))
    }
}

struct Records<'f, F>(&'f mut F);

impl<'de, T, F: FnMut(usize, StreamRecord) -> T> serde::de::DeserializeSeed<'de> for Records<'_, F> {
    type Value = Vec<T>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T, F: FnMut(usize, StreamRecord) -> T> serde::de::Visitor<'de> for Records<'_, F> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of DynamoDB stream records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(100));
        while let Some(record) = seq.next_element::<RecordJson<'de>>()? {
            let decoded = StreamRecord {
                sequence_number: record.dynamodb.sequence_number.as_deref().unwrap_or_default().to_owned(),
                change: decode(&record).map(|r| r.map(Box::new)).transpose().map_err(|e| e.to_string()),
            };
            drop(record);
            out.push((self.0)(out.len(), decoded));
        }
        Ok(out)
    }
}

/// The records of a Lambda event exactly as received, split out of the payload the first
/// time one is asked for (only a batch with poison asks), then kept for the next ones.
pub struct RawRecords<'a> {
    payload: &'a str,
    records: std::sync::OnceLock<Vec<&'a RawValue>>,
}

impl<'a> RawRecords<'a> {
    pub fn new(payload: &'a str) -> Self {
        Self { payload, records: std::sync::OnceLock::new() }
    }

    /// Record `index` as JSON (`None` past the end, or for a payload that is not a stream event).
    pub fn get(&self, index: usize) -> Option<serde_json::Value> {
        let records = self.records.get_or_init(|| {
            serde_json::from_str::<RawBatch>(self.payload).map(|batch| batch.records).unwrap_or_default()
        });
        serde_json::from_str(records.get(index)?.get()).ok()
    }
}

/// The change record one stream record stands for, from the SDK's Lambda event types: the
/// same decoding as [`decode_batch`], for callers that hold a typed record.
pub fn change_record(record: &EventRecord) -> Option<Result<ChangeRecord, StreamError>> {
    let json = match serde_json::to_string(record) {
        Ok(json) => json,
        Err(e) => {
            return Some(Err(StreamError {
                event_id: record.event_id.clone(),
                event_name: record.event_name.clone(),
                reason: format!("the record cannot be encoded: {e}"),
            }));
        }
    };
    match serde_json::from_str::<RecordJson>(&json) {
        Ok(parsed) => decode(&parsed),
        Err(e) => Some(Err(StreamError {
            event_id: record.event_id.clone(),
            event_name: record.event_name.clone(),
            reason: format!("the record is not a stream record: {e}"),
        })),
    }
}

/// The change record a stream record stands for; `None` for records that announce nothing
/// (items that are not aggregates, the TTL removal of a soft-deleted item).
pub fn decode(record: &RecordJson) -> Option<Result<ChangeRecord, StreamError>> {
    let fail = |reason: String| StreamError {
        event_id: record.event_id.clone().into_owned(),
        event_name: record.event_name.clone().into_owned(),
        reason,
    };
    const NONE: &Image = &Image(Vec::new());
    let old = record.dynamodb.old_image.as_ref().unwrap_or(NONE);
    let new = record.dynamodb.new_image.as_ref().unwrap_or(NONE);
    let (old_meta, new_meta) = (Meta::of(old), Meta::of(new));
    let subject = match record.event_name.as_ref() {
        "INSERT" | "MODIFY" => &new_meta,
        "REMOVE" => &old_meta,
        other => return Some(Err(fail(format!("unknown event name {other:?}")))),
    };
    if !subject.present {
        return Some(Err(fail("the record has no image: the stream must carry NEW_AND_OLD_IMAGES".to_owned())));
    }
    let aggregate_type = AggregateType::parse(subject.entity.unwrap_or_default())?;
    let result = match record.event_name.as_ref() {
        "INSERT" if new_meta.live() => from_item(aggregate_type, None, Some(new), &new_meta),
        "MODIFY" => match (old_meta.live(), new_meta.live()) {
            (true, true) => from_item(aggregate_type, Some(old), Some(new), &new_meta),
            (false, true) => from_item(aggregate_type, None, Some(new), &new_meta),
            (true, false) => from_item(aggregate_type, Some(old), None, &new_meta),
            (false, false) => return None,
        },
        "REMOVE" if old_meta.live() => hard_delete(record, aggregate_type, old, &old_meta),
        _ => return None,
    };
    Some(result.map_err(fail))
}

/// What the store writes beside the snapshot (see `item.rs`), read in one pass over an
/// item's attributes.
#[derive(Default)]
struct Meta<'r> {
    /// The record carries this image at all.
    present: bool,
    entity: Option<&'r str>,
    deleted: bool,
    tenant: Option<&'r str>,
    id: Option<&'r str>,
    version: Option<&'r str>,
    correlation_id: Option<&'r str>,
    actor: Option<&'r str>,
    changed_at: Option<&'r str>,
}

impl<'r> Meta<'r> {
    fn of(image: &'r Image) -> Self {
        let mut meta = Meta { present: !image.0.is_empty(), ..Meta::default() };
        for (name, value) in &image.0 {
            match (name.as_ref(), value) {
                (item::ENTITY, Attr::S(s)) => meta.entity = Some(s),
                (item::DELETED, Attr::Bool(b)) => meta.deleted = *b,
                (item::TENANT, Attr::S(s)) => meta.tenant = Some(s),
                ("id", Attr::S(s)) => meta.id = Some(s),
                (item::VERSION, Attr::N(n)) => meta.version = Some(n),
                (item::CORRELATION_ID, Attr::S(s)) => meta.correlation_id = Some(s),
                (item::ACTOR, Attr::S(s)) => meta.actor = Some(s),
                (item::CHANGED_AT, Attr::S(s)) => meta.changed_at = Some(s),
                _ => {}
            }
        }
        meta
    }

    /// An aggregate that exists: an image, not soft-deleted.
    fn live(&self) -> bool {
        self.present && !self.deleted
    }
}

fn required<'r>(value: Option<&'r str>, name: &str) -> Result<&'r str, String> {
    value.ok_or_else(|| format!("the item has no {name}"))
}

/// A write by the store: its metadata (tenant, version, correlation id, actor, time) is in
/// `meta`, read from the image it wrote.
fn from_item(
    aggregate_type: AggregateType,
    old: Option<&Image>,
    new: Option<&Image>,
    meta: &Meta,
) -> Result<ChangeRecord, String> {
    let image = |which: &str, image: &Image| {
        Aggregate::deserialize_as(aggregate_type, image.deserializer())
            .map_err(|e| format!("the {which} image is not a snapshot: {e}"))
    };
    let changed_at = required(meta.changed_at, item::CHANGED_AT)?;
    let version = required(meta.version, item::VERSION)?;
    Ok(ChangeRecord {
        tenant: required(meta.tenant, item::TENANT)?.to_owned(),
        aggregate_type,
        aggregate_id: required(meta.id, "id")?.to_owned(),
        aggregate_version: version.parse().map_err(|_| format!("version {version:?} is not a whole number"))?,
        at: Timestamp::parse(changed_at).map_err(|e| format!("changedAt {changed_at:?}: {e}"))?,
        correlation_id: required(meta.correlation_id, item::CORRELATION_ID)?.to_owned(),
        actor: required(meta.actor, item::ACTOR)?.to_owned(),
        old: old.map(|o| image("old", o)).transpose()?,
        new: new.map(|n| image("new", n)).transpose()?,
    })
}

/// An item removed outside the store still leaves a delete to announce; who did it is known
/// only to the stream (its user identity), and its event id stands for the correlation id.
fn hard_delete(
    record: &RecordJson,
    aggregate_type: AggregateType,
    old: &Image,
    meta: &Meta,
) -> Result<ChangeRecord, String> {
    let mut change = from_item(aggregate_type, Some(old), None, meta)?;
    change.aggregate_version += 1;
    // When the stream stamped the removal; a record without the stamp (it is optional)
    // keeps the last write's time rather than the epoch.
    let removed_ms = record.dynamodb.approximate_creation_date_time.map_or(0.0, |s| s * 1000.0) as i64;
    if removed_ms > 0
        && let Some(removed_at) = Timestamp::from_unix_millis(removed_ms)
    {
        change.at = removed_at;
    }
    change.correlation_id = format!("dynamodb-stream:{}", record.event_id);
    change.actor = record
        .user_identity
        .as_ref()
        .map(|who| who.principal_id.as_ref())
        .filter(|id| !id.is_empty())
        .unwrap_or("unknown")
        .to_owned();
    Ok(change)
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
