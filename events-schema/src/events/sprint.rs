use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::payload;
use super::snapshots::{SprintSnapshot, SprintSummary};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SprintCreated {
    pub sprint: SprintSnapshot,
}
payload!(SprintCreated, "SprintCreated", 1, Sprint);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SprintStarted {
    pub sprint: SprintSnapshot,
}
payload!(SprintStarted, "SprintStarted", 1, Sprint);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SprintClosed {
    pub sprint: SprintSnapshot,
}
payload!(SprintClosed, "SprintClosed", 1, Sprint);

/// A closed sprint's unfinished tasks have moved on and its summary is recorded: the
/// closing step's last write, which sets the summary on the sprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SprintSummarized {
    pub summary: SprintSummary,
    pub sprint: SprintSnapshot,
}
payload!(SprintSummarized, "SprintSummarized", 1, Sprint);
