//! The EventBridge mapping: how an envelope becomes a bus entry and how a delivered bus
//! event (as SQS hands it to a consumer) is read back.

use serde::{Deserialize, Serialize};

use crate::{DomainEvent, Envelope, Timestamp};
use uuid::Uuid;

/// The `source` of every event the backbone emits.
pub const EVENT_SOURCE: &str = "taskstream";

/// A bus event as delivered to a target: the fields taskstream reads. Others (account,
/// region, resources) are not required because not every delivery carries them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BridgeEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub detail: serde_json::Value,
    /// Set by EventBridge on events re-sent from an archive.
    #[serde(rename = "replay-name", default, skip_serializing_if = "Option::is_none")]
    pub replay_name: Option<String>,
}

impl BridgeEvent {
    /// The bus event for an envelope, as a target would receive it.
    pub fn wrap(envelope: &Envelope) -> Result<Self, serde_json::Error> {
        Ok(Self {
            version: Some("0".to_owned()),
            id: envelope.event_id.to_string(),
            detail_type: envelope.event_type.clone(),
            source: EVENT_SOURCE.to_owned(),
            time: Some(envelope.occurred_at.to_string()),
            detail: serde_json::to_value(envelope)?,
            replay_name: None,
        })
    }

    /// The bus event for `event` as JSON text, the same object [`wrap`](Self::wrap) gives
    /// once encoded, written straight from the typed event: no JSON value of the envelope is
    /// built on the way, which is most of the cost of archiving an event.
    pub fn encode(event: &DomainEvent) -> Result<String, serde_json::Error> {
        serde_json::to_string(&Outgoing {
            version: "0",
            id: &event.meta.event_id,
            detail_type: event.event_type(),
            source: EVENT_SOURCE,
            time: &event.meta.occurred_at,
            detail: event.wire(),
        })
    }

    /// The envelope of a delivered bus event and the replay it came from, if any: what
    /// [`BridgeEvent`] then [`envelope`](Self::envelope) give for a sound event, read without
    /// building a JSON value of the whole event. `None` when the body does not read this way:
    /// reading it as a [`BridgeEvent`] then says why.
    pub fn read_envelope(body: &str) -> Option<(Envelope, Option<String>)> {
        let event: Incoming = serde_json::from_str(body).ok()?;
        (event.detail.event_type == event.detail_type).then_some((event.detail, event.replay_name))
    }

    /// The envelope inside, checked against the bus fields that name it.
    pub fn envelope(&self) -> Result<Envelope, BridgeError> {
        let envelope: Envelope = serde_json::from_value(self.detail.clone()).map_err(BridgeError::Detail)?;
        if envelope.event_type != self.detail_type {
            return Err(BridgeError::DetailTypeMismatch {
                detail_type: self.detail_type.clone(),
                event_type: envelope.event_type,
            });
        }
        Ok(envelope)
    }
}

/// A bus event as [`BridgeEvent::encode`] writes it: the fields of [`BridgeEvent`], borrowed.
#[derive(Serialize)]
struct Outgoing<'a> {
    version: &'static str,
    id: &'a Uuid,
    #[serde(rename = "detail-type")]
    detail_type: &'a str,
    source: &'static str,
    time: &'a Timestamp,
    detail: crate::envelope::WireEnvelope<'a>,
}

/// A delivered bus event read straight into its envelope; as strict as [`BridgeEvent`] on
/// the fields both require.
#[derive(Deserialize)]
struct Incoming {
    #[serde(rename = "id")]
    _id: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(rename = "source")]
    _source: String,
    #[serde(rename = "version", default)]
    _version: Option<String>,
    #[serde(rename = "time", default)]
    _time: Option<String>,
    detail: Envelope,
    #[serde(rename = "replay-name", default)]
    replay_name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("the event detail is not a taskstream envelope: {0}")]
    Detail(serde_json::Error),
    #[error("detail-type {detail_type:?} does not match the envelope's eventType {event_type:?}")]
    DetailTypeMismatch { detail_type: String, event_type: String },
}
