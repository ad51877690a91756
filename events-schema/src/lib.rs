//! The taskstream event contract.
//!
//! Every producer and consumer of the backbone links this crate and nothing else of ours:
//! the envelope, every event type in every version it ever had, the upcasters that lift an
//! old payload to the current shape, the EventBridge mapping and the routing table.
//!
//! Producers always emit [`EventData`] (the latest version of each event). Consumers call
//! [`DomainEvent::from_envelope`], which accepts every supported older version. The commands
//! internal services send in ([`commands`]) are versioned the same way, apart from the events.

pub mod bridge;
pub mod catalog;
pub mod commands;
pub mod compat;
pub mod envelope;
pub mod events;
pub mod export;
pub mod ids;
pub mod routing;
pub mod timestamp;
pub mod upcast;

pub use bridge::{BridgeEvent, EVENT_SOURCE};
pub use envelope::{AggregateType, DomainEvent, Envelope, EventMeta};
pub use events::EventData;
pub use ids::event_id;
pub use timestamp::Timestamp;
pub use upcast::SchemaError;
