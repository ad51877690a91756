//! The EventBridge mapping: how an envelope becomes a bus entry and how a delivered bus
//! event (as SQS hands it to a consumer) is read back.

use serde::{Deserialize, Serialize};

use crate::Envelope;

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

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("the event detail is not a taskstream envelope: {0}")]
    Detail(serde_json::Error),
    #[error("detail-type {detail_type:?} does not match the envelope's eventType {event_type:?}")]
    DetailTypeMismatch { detail_type: String, event_type: String },
}
