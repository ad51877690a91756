//! The key formats of the single table. Every partition key starts with the tenant, so no
//! key built here can address another tenant's items.
//!
//! A task is an item of its own partition (keyed by its id), so a tenant's task writes
//! spread over as many partitions as it has tasks; its three list orders are indexes whose
//! partitions are `shards` per tenant (a task's shard is a stable hash of its id), so no list
//! funnels a tenant's writes into one index partition either.

use std::borrow::Cow;

use events_schema::AggregateType;
use events_schema::events::Priority;

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1PK: &str = "gsi1pk";
pub(crate) const GSI1SK: &str = "gsi1sk";
pub(crate) const GSI2PK: &str = "gsi2pk";
pub(crate) const GSI2SK: &str = "gsi2sk";
pub(crate) const GSI3PK: &str = "gsi3pk";
pub(crate) const GSI3SK: &str = "gsi3sk";
/// Every index key attribute of a task: a soft delete removes them all.
pub(crate) const TASK_INDEX_KEYS: [&str; 6] = [GSI1PK, GSI1SK, GSI2PK, GSI2SK, GSI3PK, GSI3SK];

/// The sort key of a task item, alone in its partition.
pub(crate) const TASK_SK: &str = "TASK";

/// Sorts after every `YYYY-MM-DD` (and after any digit), so undated tasks come last in
/// due-date order, as in the embedded engine; unlike a sentinel date it cannot collide with
/// a real one.
pub(crate) const NO_DUE_DATE: &str = "~";

/// The sort key of an idempotency record (one item per partition).
pub(crate) const IDEMPOTENCY_SK: &str = "IDEM";

/// Escapes the separator, so a tenant or id holding `#` cannot name another partition
/// (`T#a#TASK#x#COMMENT` must not be reachable as tenant `a#TASK#x`'s categories).
fn part(text: &str) -> Cow<'_, str> {
    if text.contains(['#', '%']) {
        Cow::Owned(text.replace('%', "%25").replace('#', "%23"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The key (partition, sort) of an aggregate's item. A task is alone in its partition;
/// comments live in their task's comment partition; categories, projects and sprints (a
/// handful per tenant, written at a person's pace) share one partition per tenant and kind,
/// which one Query lists.
pub(crate) fn aggregate_key(
    tenant: &str,
    aggregate_type: AggregateType,
    id: &str,
    task_id: Option<&str>,
) -> (String, String) {
    match aggregate_type {
        AggregateType::Task => (task_pk(tenant, id), TASK_SK.to_owned()),
        AggregateType::Comment => (comments_pk(tenant, task_id.unwrap_or_default()), id.to_owned()),
        other => (kind_pk(tenant, other), id.to_owned()),
    }
}

pub(crate) fn task_pk(tenant: &str, id: &str) -> String {
    format!("T#{}#TASK#{}", part(tenant), part(id))
}

/// The shared partition of a tenant's categories, projects or sprints.
pub(crate) fn kind_pk(tenant: &str, aggregate_type: AggregateType) -> String {
    let kind = match aggregate_type {
        AggregateType::Category => "CATEGORY",
        AggregateType::Project => "PROJECT",
        AggregateType::Sprint => "SPRINT",
        AggregateType::Task => "TASK",
        AggregateType::Comment => "COMMENT",
    };
    format!("T#{}#{kind}", part(tenant))
}

/// The partition of a tenant's escalation policy (one item).
pub(crate) fn escalation_policy_pk(tenant: &str) -> String {
    format!("T#{}#ESCALATION", part(tenant))
}

/// The partition of a tenant's people (a handful, written by people; one Query lists them).
pub(crate) fn people_pk(tenant: &str) -> String {
    format!("T#{}#PERSON", part(tenant))
}

/// The partition of one person's notifications.
pub(crate) fn notifications_pk(tenant: &str, recipient: &str) -> String {
    format!("T#{}#NOTIF#{}", part(tenant), part(recipient))
}

/// The partition of the send claim of one email or Slack notification (one item).
pub(crate) fn notification_claim_pk(tenant: &str, id: &uuid::Uuid) -> String {
    format!("T#{}#NOTIFIED#{}", part(tenant), id.hyphenated())
}

/// The partition of a tenant's webhook subscriptions (a handful, written by admins).
pub(crate) fn webhooks_pk(tenant: &str) -> String {
    format!("T#{}#WEBHOOK", part(tenant))
}

/// The partition of one webhook delivery (keyed by its own id: deliveries grow with the
/// tenant's events).
pub(crate) fn webhook_delivery_pk(tenant: &str, id: &uuid::Uuid) -> String {
    format!("T#{}#WHDELIVERY#{}", part(tenant), id.hyphenated())
}

/// The index partition (`gsi2`) listing one subscription's deliveries.
pub(crate) fn webhook_deliveries_pk(tenant: &str, webhook_id: &uuid::Uuid) -> String {
    format!("T#{}#WEBHOOK#{}#DELIVERIES", part(tenant), webhook_id.hyphenated())
}

/// The index partitions (`gsi1`) of pending webhook deliveries, by when they are due: the
/// dispatcher's queue, over every tenant (it sends for all of them), so the one partition
/// family not under a tenant. `WEBHOOK#…` cannot be a tenant's (those start `T#`).
pub(crate) fn webhook_due_pk(shard: u32) -> String {
    format!("WEBHOOK#DUE#{shard}")
}

pub(crate) fn comments_pk(tenant: &str, task_id: &str) -> String {
    format!("T#{}#TASK#{}#COMMENT", part(tenant), part(task_id))
}

/// The three orders of a tenant's tasks, each an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskIndex {
    /// `gsi1`: by due date, undated last.
    Due,
    /// `gsi2`: critical first, newest first within a priority.
    Priority,
    /// `gsi3`: newest first (read descending).
    Created,
}

impl TaskIndex {
    pub(crate) const ALL: [TaskIndex; 3] = [TaskIndex::Due, TaskIndex::Priority, TaskIndex::Created];

    /// The index's key attributes (partition, sort).
    pub(crate) fn attributes(self) -> (&'static str, &'static str) {
        match self {
            TaskIndex::Due => (GSI1PK, GSI1SK),
            TaskIndex::Priority => (GSI2PK, GSI2SK),
            TaskIndex::Created => (GSI3PK, GSI3SK),
        }
    }

    /// One shard of a tenant's part of the index.
    pub(crate) fn partition(self, tenant: &str, shard: u16) -> String {
        let order = match self {
            TaskIndex::Due => "DUE",
            TaskIndex::Priority => "PRIO",
            TaskIndex::Created => "NEW",
        };
        format!("T#{}#TASK#{order}#{shard}", part(tenant))
    }

    /// Where a task sorts in this index.
    pub(crate) fn sort_key(self, task: &events_schema::events::TaskSnapshot) -> String {
        match self {
            TaskIndex::Due => due_sk(task.due_date.as_deref(), &task.id),
            TaskIndex::Priority => priority_sk(task.priority, &task.id),
            // UUIDv7 ids sort by creation; the index is read descending.
            TaskIndex::Created => task.id.clone(),
        }
    }
}

/// A task's shard: a stable hash of its id (the same in every process and release, unlike
/// std's hasher), so a task stays in its shard until the shard count changes.
pub(crate) fn shard_of(id: &str, shards: u16) -> u16 {
    (stable_hash(id) % u64::from(shards.max(1))) as u16
}

/// FNV-1a: stable across builds and processes; for spreading and fingerprints, not secrecy.
pub(crate) fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Dates are fixed-width, so `date#id` sorts by date, then by id (oldest first).
pub(crate) fn due_sk(due_date: Option<&str>, id: &str) -> String {
    format!("{}#{id}", due_date.unwrap_or(NO_DUE_DATE))
}

/// Critical first; within a priority, newest first (ids descending).
pub(crate) fn priority_sk(priority: Priority, id: &str) -> String {
    format!("{}#{}", priority_rank(priority), descending(id))
}

/// The prefix of every [`priority_sk`] of one priority.
pub(crate) fn priority_prefix(priority: Priority) -> String {
    format!("{}#", priority_rank(priority))
}

pub(crate) fn priority_rank(priority: Priority) -> u8 {
    match priority {
        Priority::Critical => 0,
        Priority::High => 1,
        Priority::Medium => 2,
        Priority::Low => 3,
    }
}

/// A string whose ascending order is the descending order of `id`: each byte inverted, as
/// hex, then `~`, which sorts above every hex digit so that a longer id (greater than its
/// own prefix) comes first. Works for any id, not only fixed-width UUIDs.
pub(crate) fn descending(id: &str) -> String {
    let mut out = String::with_capacity(id.len() * 2 + 1);
    for byte in id.bytes() {
        out.push_str(&format!("{:02x}", 0xff - byte));
    }
    out.push('~');
    out
}

pub(crate) fn history_pk(tenant: &str, task_id: &str) -> String {
    format!("T#{}#TASK#{}#HIST", part(tenant), part(task_id))
}

/// Zero-padded so that the string order is the version order.
pub(crate) fn history_sk(version: u64, event_type: &str) -> String {
    format!("{version:020}#{event_type}")
}

pub(crate) fn idempotency_pk(tenant: &str, key: &str) -> String {
    format!("T#{}#IDEM#{}", part(tenant), part(key))
}

/// The sort key of an external key's link (one item per partition).
pub(crate) const EXTERNAL_KEY_SK: &str = "XKEY";

/// An external key's own partition: its link is written once, with a condition that the
/// partition is empty, which is what keeps a key to one task.
pub(crate) fn external_key_pk(tenant: &str, key: &str) -> String {
    format!("T#{}#XKEY#{}", part(tenant), part(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descending_reverses_the_order_of_any_ids() {
        let mut ids = vec!["0190a", "0190b", "0190", "0190aa", "z", "", "0190a~"];
        ids.sort();
        let mut by_key = ids.clone();
        by_key.sort_by_key(|id| descending(id));
        ids.reverse();
        assert_eq!(by_key, ids);
    }

    #[test]
    fn separators_in_tenants_cannot_reach_another_partition() {
        let forged = kind_pk("a#TASK#x", AggregateType::Category);
        assert_ne!(forged, comments_pk("a", "x#CATEGORY"));
        assert_eq!(
            aggregate_key("acme", AggregateType::Task, "t1", None),
            ("T#acme#TASK#t1".to_owned(), "TASK".to_owned())
        );
        assert_eq!(task_pk("acme", "t1#HIST"), "T#acme#TASK#t1%23HIST");
        assert_ne!(task_pk("acme", "t1#HIST"), history_pk("acme", "t1"));
        assert_eq!(comments_pk("acme", "t1"), "T#acme#TASK#t1#COMMENT");
        assert_eq!(history_sk(7, "TaskCreated"), "00000000000000000007#TaskCreated");
        assert_eq!(TaskIndex::Due.partition("a#b", 3), "T#a%23b#TASK#DUE#3");
        assert_eq!(external_key_pk("acme", "PR-1#TASK"), "T#acme#XKEY#PR-1%23TASK");
    }

    #[test]
    fn ids_spread_evenly_over_the_shards_and_stay_put() {
        let mut counts = [0_u32; 8];
        for i in 0..8000 {
            let id = format!("0197{i:04x}-7c3a-7000-8000-{:012x}", i * 7919);
            counts[usize::from(shard_of(&id, 8))] += 1;
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
        assert_eq!(
            shard_of("0197f0e4-7c3a-7000-8000-000000000001", 8),
            shard_of("0197f0e4-7c3a-7000-8000-000000000001", 8)
        );
        assert_eq!(shard_of("anything", 1), 0);
    }

    #[test]
    fn undated_tasks_sort_after_every_date() {
        assert!(due_sk(Some("9999-12-31"), "z") < due_sk(None, "0"));
        assert!(due_sk(Some("2026-01-01"), "b") < due_sk(Some("2026-01-02"), "a"));
    }
}
