//! The envelope every event travels in, on the bus, in the archive and in every queue.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::EventData;
use crate::upcast::{self, SchemaError};
use crate::{Timestamp, event_id};

/// What kind of thing an event is about. Part of every key and every event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AggregateType {
    Task,
    Comment,
    Category,
    Project,
    Sprint,
}

impl AggregateType {
    pub const ALL: [AggregateType; 5] = [
        AggregateType::Task,
        AggregateType::Comment,
        AggregateType::Category,
        AggregateType::Project,
        AggregateType::Sprint,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            AggregateType::Task => "task",
            AggregateType::Comment => "comment",
            AggregateType::Category => "category",
            AggregateType::Project => "project",
            AggregateType::Sprint => "sprint",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// The wire form: `data` is whatever version `schemaVersion` names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Envelope {
    pub event_id: Uuid,
    /// Also the EventBridge `detail-type`.
    pub event_type: String,
    pub schema_version: u32,
    pub occurred_at: Timestamp,
    pub tenant: String,
    pub aggregate_type: AggregateType,
    pub aggregate_id: String,
    pub aggregate_version: u64,
    pub correlation_id: String,
    pub actor: String,
    pub data: serde_json::Value,
}

/// [`Envelope`] by reference, field for field, with the payload still typed: serialises to
/// the same wire form with no intermediate JSON value, with whichever serde serializer the
/// caller picks.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WireEnvelope<'a> {
    event_id: &'a Uuid,
    event_type: &'a str,
    schema_version: u32,
    occurred_at: &'a Timestamp,
    tenant: &'a str,
    aggregate_type: AggregateType,
    aggregate_id: &'a str,
    aggregate_version: u64,
    correlation_id: &'a str,
    actor: &'a str,
    data: PayloadRef<'a>,
}

/// The payload alone, as the envelope's `data`.
pub struct PayloadRef<'a>(&'a EventData);

impl Serialize for PayloadRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_payload(serializer)
    }
}

/// Everything about an event but its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMeta {
    pub event_id: Uuid,
    pub occurred_at: Timestamp,
    pub tenant: String,
    pub aggregate_type: AggregateType,
    pub aggregate_id: String,
    pub aggregate_version: u64,
    pub correlation_id: String,
    pub actor: String,
}

/// A decoded event in its latest version: what derivation produces and consumers apply.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainEvent {
    pub meta: EventMeta,
    pub data: EventData,
}

/// The facts of one change that every event derived from it shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeContext {
    pub tenant: String,
    pub aggregate_type: AggregateType,
    pub aggregate_id: String,
    pub aggregate_version: u64,
    pub occurred_at: Timestamp,
    pub correlation_id: String,
    pub actor: String,
}

impl DomainEvent {
    /// Builds an event with its deterministic id.
    pub fn new(ctx: &ChangeContext, data: EventData) -> Self {
        let meta = EventMeta {
            event_id: event_id(
                &ctx.tenant,
                ctx.aggregate_type,
                &ctx.aggregate_id,
                ctx.aggregate_version,
                data.event_type(),
            ),
            occurred_at: ctx.occurred_at,
            tenant: ctx.tenant.clone(),
            aggregate_type: ctx.aggregate_type,
            aggregate_id: ctx.aggregate_id.clone(),
            aggregate_version: ctx.aggregate_version,
            correlation_id: ctx.correlation_id.clone(),
            actor: ctx.actor.clone(),
        };
        Self { meta, data }
    }

    pub fn event_type(&self) -> &'static str {
        self.data.event_type()
    }

    /// The wire form, always in the latest schema version.
    pub fn to_envelope(&self) -> Result<Envelope, SchemaError> {
        let m = &self.meta;
        Ok(Envelope {
            event_id: m.event_id,
            event_type: self.data.event_type().to_owned(),
            schema_version: self.data.schema_version(),
            occurred_at: m.occurred_at,
            tenant: m.tenant.clone(),
            aggregate_type: m.aggregate_type,
            aggregate_id: m.aggregate_id.clone(),
            aggregate_version: m.aggregate_version,
            correlation_id: m.correlation_id.clone(),
            actor: m.actor.clone(),
            data: self.data.to_json()?,
        })
    }

    /// The wire form by reference, to serialise with any serde serializer: the same envelope
    /// as [`to_envelope`](Self::to_envelope) gives, without a JSON value of the payload.
    pub fn wire(&self) -> WireEnvelope<'_> {
        let m = &self.meta;
        WireEnvelope {
            event_id: &m.event_id,
            event_type: self.data.event_type(),
            schema_version: self.data.schema_version(),
            occurred_at: &m.occurred_at,
            tenant: &m.tenant,
            aggregate_type: m.aggregate_type,
            aggregate_id: &m.aggregate_id,
            aggregate_version: m.aggregate_version,
            correlation_id: &m.correlation_id,
            actor: &m.actor,
            data: PayloadRef(&self.data),
        }
    }

    /// Accepts any supported version of the event and lifts it to the latest.
    pub fn from_envelope(envelope: Envelope) -> Result<Self, SchemaError> {
        let data = upcast::decode(&envelope.event_type, envelope.schema_version, envelope.data)?;
        if data.aggregate_type() != envelope.aggregate_type {
            return Err(SchemaError::AggregateMismatch {
                event_type: envelope.event_type,
                expected: data.aggregate_type(),
                found: envelope.aggregate_type,
            });
        }
        Ok(Self {
            meta: EventMeta {
                event_id: envelope.event_id,
                occurred_at: envelope.occurred_at,
                tenant: envelope.tenant,
                aggregate_type: envelope.aggregate_type,
                aggregate_id: envelope.aggregate_id,
                aggregate_version: envelope.aggregate_version,
                correlation_id: envelope.correlation_id,
                actor: envelope.actor,
            },
            data,
        })
    }
}
