use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::payload;
use super::snapshots::CategorySnapshot;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryCreated {
    pub category: CategorySnapshot,
}
payload!(CategoryCreated, "CategoryCreated", 1, Category);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryUpdated {
    pub changed_fields: Vec<String>,
    pub category: CategorySnapshot,
}
payload!(CategoryUpdated, "CategoryUpdated", 1, Category);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CategoryDeleted {
    pub category_id: String,
}
payload!(CategoryDeleted, "CategoryDeleted", 1, Category);
