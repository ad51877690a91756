//! The routing table: which consumer receives which detail-types.
//!
//! One table serves both engines: the embedded bus fans out by it, and the CDK app builds
//! one EventBridge rule per consumer from `routing.json`, which is generated from this table
//! (a test fails when the committed file drifts).

use serde::Serialize;

use crate::EVENT_SOURCE;

/// The name of the custom bus (the CDK prefixes it per stage).
pub const BUS_NAME: &str = "taskstream";

pub const AUDIT_HISTORY: &str = "audit-history";
pub const ESCALATION: &str = "escalation";
pub const METRICS: &str = "metrics";
pub const NOTIFIER: &str = "notifier";
pub const SEARCH_INDEXER: &str = "search-indexer";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub name: &'static str,
    /// Sorted, so the generated file and the rules are stable.
    pub detail_types: &'static [&'static str],
}

const TASK_LIFECYCLE: &[&str] = &[
    "TaskAssigned",
    "TaskCompleted",
    "TaskCreated",
    "TaskDeleted",
    "TaskEscalated",
    "TaskStatusChanged",
    "TaskUpdated",
];

/// Sorted by consumer name.
pub const ROUTES: &[Route] = &[
    Route { name: AUDIT_HISTORY, detail_types: TASK_LIFECYCLE },
    Route {
        name: ESCALATION,
        // Assignments too: a plan names the people its levels tell. A closed sprint's
        // carry-over runs in the same consumer (docs/design.md says why).
        detail_types: &[
            "SprintClosed",
            "TaskAssigned",
            "TaskCompleted",
            "TaskCreated",
            "TaskDeleted",
            "TaskStatusChanged",
            "TaskUpdated",
        ],
    },
    Route {
        name: METRICS,
        // Updates and deletions too: a task moved into a sprint or re-estimated changes a
        // burndown's scope, and a deleted task leaves work in progress.
        detail_types: &[
            "SprintClosed",
            "SprintStarted",
            "TaskCompleted",
            "TaskCreated",
            "TaskDeleted",
            "TaskStatusChanged",
            "TaskUpdated",
        ],
    },
    Route {
        name: NOTIFIER,
        detail_types: &[
            "CommentAdded",
            "SprintClosed",
            "SprintStarted",
            "SprintSummarized",
            "TaskAssigned",
            "TaskCompleted",
            "TaskCreated",
            "TaskDeleted",
            "TaskEscalated",
            "TaskStatusChanged",
            "TaskUpdated",
        ],
    },
    Route { name: SEARCH_INDEXER, detail_types: TASK_LIFECYCLE },
];

pub fn route(consumer: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.name == consumer)
}

/// The consumers a detail-type is delivered to.
pub fn consumers_of(detail_type: &str) -> impl Iterator<Item = &'static str> + '_ {
    ROUTES.iter().filter(move |r| r.detail_types.contains(&detail_type)).map(|r| r.name)
}

#[derive(Serialize)]
struct RoutingFile {
    bus: &'static str,
    source: &'static str,
    consumers: &'static [Route],
}

/// The text of `routing.json`, as the CDK app reads it.
pub fn routing_json() -> String {
    let file = RoutingFile { bus: BUS_NAME, source: EVENT_SOURCE, consumers: ROUTES };
    // Serialising static strings into a String cannot fail.
    let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventData;

    #[test]
    fn every_routed_type_exists_and_lists_are_sorted() {
        for route in ROUTES {
            assert!(route.detail_types.windows(2).all(|w| w[0] < w[1]), "{} unsorted", route.name);
            for t in route.detail_types {
                assert!(EventData::TYPES.contains(t), "{} routes unknown type {t}", route.name);
            }
        }
        assert!(ROUTES.windows(2).all(|w| w[0].name < w[1].name));
    }

    #[test]
    fn fan_out_follows_the_table() {
        let got: Vec<_> = consumers_of("CommentAdded").collect();
        assert_eq!(got, vec![NOTIFIER]);
        let got: Vec<_> = consumers_of("TaskCreated").collect();
        assert_eq!(got, vec![AUDIT_HISTORY, ESCALATION, METRICS, NOTIFIER, SEARCH_INDEXER]);
        assert_eq!(consumers_of("CategoryDeleted").count(), 0);
        let got: Vec<_> = consumers_of("SprintClosed").collect();
        assert_eq!(got, vec![ESCALATION, METRICS, NOTIFIER]);
    }
}
