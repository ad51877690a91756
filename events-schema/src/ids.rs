//! Deterministic event ids.
//!
//! An event's id is a UUIDv5 of what makes it unique: the tenant, the aggregate, the
//! aggregate version and the event type. Routing the same change record twice (a retried
//! stream batch, a restarted router) therefore yields the same ids, and every consumer can
//! deduplicate on them.

use uuid::Uuid;

use crate::AggregateType;

/// The namespace of taskstream's event ids (a fixed, random UUID: changing it changes
/// every id ever derived, so it never changes).
pub const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_58a2_93c4_4e0f_8d57_2c1e_a9b0_44d3);

pub fn event_id(
    tenant: &str,
    aggregate_type: AggregateType,
    aggregate_id: &str,
    aggregate_version: u64,
    event_type: &str,
) -> Uuid {
    // A separator that cannot occur in any of the parts keeps "a/b" + "c" apart from "a" + "b/c".
    let name = format!(
        "{tenant}\u{1f}{}\u{1f}{aggregate_id}\u{1f}{aggregate_version}\u{1f}{event_type}",
        aggregate_type.as_str()
    );
    Uuid::new_v5(&EVENT_ID_NAMESPACE, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_id_and_each_part_matters() {
        let base = event_id("acme", AggregateType::Task, "t1", 3, "TaskUpdated");
        assert_eq!(base, event_id("acme", AggregateType::Task, "t1", 3, "TaskUpdated"));
        assert_ne!(base, event_id("acme2", AggregateType::Task, "t1", 3, "TaskUpdated"));
        assert_ne!(base, event_id("acme", AggregateType::Comment, "t1", 3, "TaskUpdated"));
        assert_ne!(base, event_id("acme", AggregateType::Task, "t2", 3, "TaskUpdated"));
        assert_ne!(base, event_id("acme", AggregateType::Task, "t1", 4, "TaskUpdated"));
        assert_ne!(base, event_id("acme", AggregateType::Task, "t1", 3, "TaskAssigned"));
    }

    #[test]
    fn parts_cannot_bleed_into_each_other() {
        assert_ne!(event_id("a", AggregateType::Task, "b1", 1, "X"), event_id("ab", AggregateType::Task, "1", 1, "X"));
    }
}
