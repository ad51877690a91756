//! Where a finished export goes when the response cannot carry it.
//!
//! A Lambda function's response is at most 6 MB, so on AWS the CSV export is written to S3
//! and the API answers with a short-lived link to it. `serve` has no such limit and streams
//! the CSV as the response itself, without this port.

use async_trait::async_trait;
use events_schema::Timestamp;

use super::StoreError;

/// Where a caller fetches a finished export, and until when the link works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportLink {
    pub url: String,
    pub expires_at: Timestamp,
}

/// Exports of one tenant's data, each written as it is read.
#[async_trait]
pub trait ExportStore: Send + Sync {
    /// Starts a new export for `tenant`; `file_name` is what the caller's download is called.
    /// Failures are [`StoreError::Unavailable`] or [`StoreError::Throttled`].
    async fn create(&self, tenant: &str, file_name: &str) -> Result<Box<dyn ExportUpload>, StoreError>;
}

/// One export being written. Whatever the size of the export, an upload holds a bounded
/// amount of it at a time: it sends a part whenever it has enough.
#[async_trait]
pub trait ExportUpload: Send {
    /// Appends `bytes` to the export.
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError>;
    /// Completes the export and returns the link to it.
    async fn finish(self: Box<Self>) -> Result<ExportLink, StoreError>;
    /// Gives the export up: nothing of it stays fetchable. Best effort; a failure is logged,
    /// and the bucket's lifecycle rules remove what an abort could not.
    async fn abort(self: Box<Self>);
}
