//! The key formats of the single table. Every partition key starts with the tenant, so no
//! key built here can address another tenant's items.

use std::borrow::Cow;

use events_schema::AggregateType;
use events_schema::events::Priority;

pub(crate) const PK: &str = "pk";
pub(crate) const SK: &str = "sk";
pub(crate) const GSI1PK: &str = "gsi1pk";
pub(crate) const GSI1SK: &str = "gsi1sk";
pub(crate) const GSI2PK: &str = "gsi2pk";
pub(crate) const GSI2SK: &str = "gsi2sk";

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

/// The partition of an aggregate kind; comments live under their task.
pub(crate) fn aggregate_pk(tenant: &str, aggregate_type: AggregateType, task_id: Option<&str>) -> String {
    let tenant = part(tenant);
    match aggregate_type {
        AggregateType::Task => format!("T#{tenant}#TASK"),
        AggregateType::Category => format!("T#{tenant}#CATEGORY"),
        AggregateType::Project => format!("T#{tenant}#PROJECT"),
        AggregateType::Sprint => format!("T#{tenant}#SPRINT"),
        AggregateType::Comment => comments_pk(&tenant, task_id.unwrap_or_default()),
    }
}

pub(crate) fn comments_pk(tenant: &str, task_id: &str) -> String {
    format!("T#{}#TASK#{}#COMMENT", part(tenant), part(task_id))
}

pub(crate) fn due_pk(tenant: &str) -> String {
    format!("T#{}#TASK#DUE", part(tenant))
}

/// Dates are fixed-width, so `date#id` sorts by date, then by id (oldest first).
pub(crate) fn due_sk(due_date: Option<&str>, id: &str) -> String {
    format!("{}#{id}", due_date.unwrap_or(NO_DUE_DATE))
}

pub(crate) fn priority_pk(tenant: &str) -> String {
    format!("T#{}#TASK#PRIO", part(tenant))
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
        let forged = aggregate_pk("a#TASK#x", AggregateType::Category, None);
        assert_ne!(forged, comments_pk("a", "x#CATEGORY"));
        assert_eq!(aggregate_pk("acme", AggregateType::Task, None), "T#acme#TASK");
        assert_eq!(comments_pk("acme", "t1"), "T#acme#TASK#t1#COMMENT");
        assert_eq!(history_sk(7, "TaskCreated"), "00000000000000000007#TaskCreated");
    }

    #[test]
    fn undated_tasks_sort_after_every_date() {
        assert!(due_sk(Some("9999-12-31"), "z") < due_sk(None, "0"));
        assert!(due_sk(Some("2026-01-01"), "b") < due_sk(Some("2026-01-02"), "a"));
    }
}
