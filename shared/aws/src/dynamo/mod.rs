//! The [`Store`](shared_core::ports::Store) and [`HistoryStore`](shared_core::ports::HistoryStore)
//! ports over one DynamoDB table, and the conversion of its stream records into change
//! records ([`stream`]).
//!
//! Single-table design: every partition key starts with `T#{tenant}`, every list is a Query
//! on the table or one of its indexes (never a Scan), deletes are soft (one conditional
//! write, so one stream record that carries the deleter's correlation id; the TTL removes the
//! item later and the router ignores that removal). Tasks are items of their own, and each
//! task list merges `task_shards` index partitions per tenant (`task_list.rs`). The item
//! layout and the access-pattern table are in `README.md` beside this file; the capacity
//! this gives a tenant is in `docs/aws-capacity.md`.

pub mod attr;
mod commit;
mod cursor;
pub mod fixture;
mod history;
pub(crate) mod item;
pub(crate) mod keys;
mod list;
mod merge;
mod store;
pub mod stream;
mod task_list;

pub(crate) use keys::stable_hash;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use shared_core::ports::StoreError;

/// The index names the CDK gives the table's global secondary indexes.
pub const DEFAULT_GSI1: &str = "gsi1";
pub const DEFAULT_GSI2: &str = "gsi2";
pub const DEFAULT_GSI3: &str = "gsi3";
/// Index partitions per tenant for each task list, as the CDK's `taskShards` defaults.
pub const DEFAULT_TASK_SHARDS: u16 = 8;
/// A list page queries every shard: more than this costs every read for little more spread.
pub const MAX_TASK_SHARDS: u16 = 64;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the environment variable {0} is not set (the CDK sets it on every handler that uses the table)")]
    Missing(&'static str),
    #[error("the environment variable {name} must be {expected}, got {got:?}")]
    Invalid { name: &'static str, expected: &'static str, got: String },
}

/// How the table is laid out beyond its name: the index of each task order and the number
/// of index partitions per tenant (`docs/aws-capacity.md`). Every process that writes or
/// lists tasks must use the same shard count; it may be raised, never lowered (an item keeps
/// its shard until it is next written, and lists read the shards below the count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLayout {
    /// Tasks by due date (`gsi1pk`/`gsi1sk`).
    pub gsi_due: String,
    /// Tasks by priority (`gsi2pk`/`gsi2sk`).
    pub gsi_priority: String,
    /// Tasks newest first (`gsi3pk`/`gsi3sk`).
    pub gsi_created: String,
    pub task_shards: u16,
}

impl Default for TableLayout {
    fn default() -> Self {
        Self {
            gsi_due: DEFAULT_GSI1.to_owned(),
            gsi_priority: DEFAULT_GSI2.to_owned(),
            gsi_created: DEFAULT_GSI3.to_owned(),
            task_shards: DEFAULT_TASK_SHARDS,
        }
    }
}

impl TableLayout {
    /// From `TABLE_GSI1_NAME`, `TABLE_GSI2_NAME`, `TABLE_GSI3_NAME` and `TABLE_TASK_SHARDS`
    /// (what the CDK sets), each defaulting to the CDK's own default.
    pub fn from_env() -> Result<Self, ConfigError> {
        let name = |var: &str, default: &str| std::env::var(var).unwrap_or_else(|_| default.to_owned());
        let task_shards = match std::env::var("TABLE_TASK_SHARDS") {
            Err(_) => DEFAULT_TASK_SHARDS,
            Ok(text) => {
                text.parse().ok().filter(|n| (1..=MAX_TASK_SHARDS).contains(n)).ok_or(ConfigError::Invalid {
                    name: "TABLE_TASK_SHARDS",
                    expected: "a whole number from 1 to 64",
                    got: text,
                })?
            }
        };
        Ok(Self {
            gsi_due: name("TABLE_GSI1_NAME", DEFAULT_GSI1),
            gsi_priority: name("TABLE_GSI2_NAME", DEFAULT_GSI2),
            gsi_created: name("TABLE_GSI3_NAME", DEFAULT_GSI3),
            task_shards,
        })
    }

    pub(crate) fn index_name(&self, index: keys::TaskIndex) -> &str {
        match index {
            keys::TaskIndex::Due => &self.gsi_due,
            keys::TaskIndex::Priority => &self.gsi_priority,
            keys::TaskIndex::Created => &self.gsi_created,
        }
    }
}

/// The store over one table: tasks, categories, projects, sprints, comments, idempotency
/// records and the audit history.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    layout: TableLayout,
    /// Items one task-list call may examine ([`shared_core::ports::LIST_READ_CAP`]).
    read_cap: usize,
}

impl DynamoStore {
    pub fn new(config: &SdkConfig, table: impl Into<String>) -> Self {
        Self::from_client(Client::new(config), table)
    }

    pub fn from_client(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            layout: TableLayout::default(),
            read_cap: shared_core::ports::LIST_READ_CAP,
        }
    }

    /// For a table laid out otherwise than the CDK's defaults.
    pub fn with_layout(mut self, layout: TableLayout) -> Self {
        self.layout = layout;
        self
    }

    /// A read cap other than the port's: how tests see a cap at work without thousands of items.
    pub fn with_read_cap(mut self, items: usize) -> Self {
        self.read_cap = items.max(1);
        self
    }

    /// As a Lambda handler builds it: the table from `TABLE_NAME`, its layout from the
    /// environment ([`TableLayout::from_env`]), over the handler's SDK config.
    pub fn from_env(config: &SdkConfig) -> Result<Self, ConfigError> {
        let table = std::env::var("TABLE_NAME").map_err(|_| ConfigError::Missing("TABLE_NAME"))?;
        Ok(Self::new(config, table).with_layout(TableLayout::from_env()?))
    }

    pub fn layout(&self) -> &TableLayout {
        &self.layout
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// DynamoDB's codes for a request refused for load (after the SDK's own retries).
const THROTTLING_CODES: [&str; 3] =
    ["ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"];

/// Any SDK failure the port has no name for: throttling after the SDK's own retries is
/// [`StoreError::Throttled`] (a consumer backs off), anything else (network, validation) the
/// store being unavailable, with the reason.
pub(crate) fn unavailable<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let throttled =
        err.as_service_error().and_then(ProvideErrorMetadata::code).is_some_and(|c| THROTTLING_CODES.contains(&c));
    let message = format!("DynamoDB {operation}: {}", DisplayErrorContext(err));
    tracing::warn!(error = %message, throttled, "DynamoDB call failed");
    if throttled { StoreError::Throttled(message) } else { StoreError::Unavailable(message) }
}
