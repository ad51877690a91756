//! Where metric records go and how they are asked about. The sink is a choice of the
//! deployment: Timestream, the embedded SQLite table, or none at all (the metrics consumer
//! then only reports its figures as EMF).

use async_trait::async_trait;

use super::StoreError;
use crate::metrics::{MetricName, MetricRecord, MetricsAnswer, MetricsQuery};

/// Timestream's limit of records per `WriteRecords`, which every sink is written to.
pub const MAX_RECORDS_PER_WRITE: usize = 100;

/// Why a sink refused one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordRejection {
    /// A record with the same key and an equal or higher version is stored: this one is a
    /// repeat (or older), and what it would write is already there. Done, not a failure.
    AlreadyStored { existing_version: Option<u64> },
    /// Anything else (out of the retention window, a bad value): the record will not be
    /// written by trying again, so its event is parked with this reason.
    Refused(String),
}

/// One refused record of a write, by its index in the slice written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub index: usize,
    pub rejection: RecordRejection,
}

/// Writes metric records as idempotent upserts by (dimensions, measure name, time), fenced by
/// version: a record replaces a stored one only with a higher version.
#[async_trait]
pub trait MetricsSink: Send + Sync {
    /// Writes up to [`MAX_RECORDS_PER_WRITE`] records. Records not named in the answer were
    /// written (or were already there). An `Err` means none of them can be known written.
    async fn write(&self, records: &[MetricRecord]) -> Result<Vec<Rejected>, StoreError>;
}

/// Answers the metric queries over a tenant's records.
#[async_trait]
pub trait MetricsReader: Send + Sync {
    async fn query(&self, tenant: &str, name: MetricName, query: &MetricsQuery) -> Result<MetricsAnswer, StoreError>;
}
