use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::payload;
use super::snapshots::SprintSnapshot;

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
