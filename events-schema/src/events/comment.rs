use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::payload;
use super::snapshots::CommentSnapshot;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentAdded {
    pub comment: CommentSnapshot,
}
payload!(CommentAdded, "CommentAdded", 1, Comment);
