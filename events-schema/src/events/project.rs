use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::payload;
use super::snapshots::ProjectSnapshot;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectCreated {
    pub project: ProjectSnapshot,
}
payload!(ProjectCreated, "ProjectCreated", 1, Project);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectUpdated {
    pub changed_fields: Vec<String>,
    pub project: ProjectSnapshot,
}
payload!(ProjectUpdated, "ProjectUpdated", 1, Project);
