//! The [`Store`](shared_core::ports::Store) and [`HistoryStore`](shared_core::ports::HistoryStore)
//! ports over one DynamoDB table, and the conversion of its stream records into change
//! records ([`stream`]).
//!
//! Single-table design: every partition key starts with `T#{tenant}`, every list is a Query
//! on the table or one of its two indexes (never a Scan), deletes are soft (one conditional
//! write, so one stream record that carries the deleter's correlation id; the TTL removes the
//! item later and the router ignores that removal). The item layout and the access-pattern
//! table are in `README.md` beside this file.

pub mod attr;
mod commit;
mod cursor;
pub mod fixture;
mod history;
mod item;
mod keys;
mod list;
mod store;
pub mod stream;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use shared_core::ports::StoreError;

/// The index names the CDK gives the table's two global secondary indexes.
pub const DEFAULT_GSI1: &str = "gsi1";
pub const DEFAULT_GSI2: &str = "gsi2";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the environment variable {0} is not set (the CDK sets it on every handler that uses the table)")]
    Missing(&'static str),
}

/// The store over one table: tasks, categories, projects, sprints, comments, idempotency
/// records and the audit history.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Tasks by due date (`gsi1pk`/`gsi1sk`).
    gsi1: String,
    /// Tasks by priority (`gsi2pk`/`gsi2sk`).
    gsi2: String,
}

impl DynamoStore {
    pub fn new(config: &SdkConfig, table: impl Into<String>) -> Self {
        Self::from_client(Client::new(config), table)
    }

    pub fn from_client(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), gsi1: DEFAULT_GSI1.to_owned(), gsi2: DEFAULT_GSI2.to_owned() }
    }

    /// For a table whose indexes are named otherwise.
    pub fn with_indexes(mut self, gsi1: impl Into<String>, gsi2: impl Into<String>) -> Self {
        self.gsi1 = gsi1.into();
        self.gsi2 = gsi2.into();
        self
    }

    /// As a Lambda handler builds it: the table from `TABLE_NAME` (indexes from
    /// `TABLE_GSI1_NAME` and `TABLE_GSI2_NAME`, defaulting to the CDK's names), credentials
    /// and region from the environment, the SDK's standard retry mode.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let table = std::env::var("TABLE_NAME").map_err(|_| ConfigError::Missing("TABLE_NAME"))?;
        let gsi1 = std::env::var("TABLE_GSI1_NAME").unwrap_or_else(|_| DEFAULT_GSI1.to_owned());
        let gsi2 = std::env::var("TABLE_GSI2_NAME").unwrap_or_else(|_| DEFAULT_GSI2.to_owned());
        let config = aws_config::defaults(BehaviorVersion::latest()).retry_config(RetryConfig::standard()).load().await;
        Ok(Self::new(&config, table).with_indexes(gsi1, gsi2))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// Any SDK failure the port has no name for (network, throttling after the SDK's own
/// retries, validation): the caller sees the store as unavailable, with the reason.
pub(crate) fn unavailable<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let message = format!("DynamoDB {operation}: {}", DisplayErrorContext(err));
    tracing::warn!(error = %message, "DynamoDB call failed");
    StoreError::Unavailable(message)
}
