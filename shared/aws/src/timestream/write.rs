//! The metrics sink over Timestream's WriteRecords: up to 100 multi-measure records a call,
//! what they all share hoisted into the call's common attributes, and the rejections sorted
//! by reason.

use async_trait::async_trait;
use aws_sdk_timestreamwrite::Client;
use aws_sdk_timestreamwrite::error::{DisplayErrorContext, SdkError};
use aws_sdk_timestreamwrite::operation::write_records::WriteRecordsError;
use aws_sdk_timestreamwrite::types::{Dimension, MeasureValue, MeasureValueType, Record, RejectedRecord, TimeUnit};
use shared_core::metrics::MetricRecord;
use shared_core::ports::{MAX_RECORDS_PER_WRITE, MetricsSink, RecordRejection, Rejected, StoreError};

pub struct TimestreamSink {
    client: Client,
    database: String,
    table: String,
}

impl TimestreamSink {
    pub fn new(client: Client, database: impl Into<String>, table: impl Into<String>) -> Self {
        Self { client, database: database.into(), table: table.into() }
    }
}

/// A built record's measures as Timestream measure values (the absent ones left out).
fn measure_values(record: &MetricRecord) -> Result<Vec<MeasureValue>, String> {
    let m = &record.measures;
    let bigint =
        |name: &str, value: Option<i128>| value.map(|v| (name.to_owned(), v.to_string(), MeasureValueType::Bigint));
    let values = [
        bigint("events", Some(i128::from(m.events))),
        m.status_from.map(|s| ("status_from".to_owned(), s.to_owned(), MeasureValueType::Varchar)),
        m.status_to.map(|s| ("status_to".to_owned(), s.to_owned(), MeasureValueType::Varchar)),
        bigint("seconds_in_previous_status", m.seconds_in_previous_status.map(i128::from)),
        bigint("cycle_time_seconds", m.cycle_time_seconds.map(i128::from)),
        bigint("completed_points", m.completed_points.map(i128::from)),
        bigint("estimate_points", m.estimate_points.map(i128::from)),
        m.overdue.map(|o| ("overdue".to_owned(), o.to_string(), MeasureValueType::Boolean)),
        bigint("wip_delta", m.wip_delta.map(i128::from)),
    ];
    values
        .into_iter()
        .flatten()
        .map(|(name, value, kind)| {
            MeasureValue::builder().name(name).value(value).r#type(kind).build().map_err(|e| e.to_string())
        })
        .collect()
}

fn dimension(name: &str, value: &str) -> Result<Dimension, String> {
    Dimension::builder().name(name).value(value).build().map_err(|e| e.to_string())
}

/// One WriteRecords call's common attributes and records: every dimension whose value all
/// records share, and the measure name when they share it, is said once for the call.
pub fn plan_write(records: &[MetricRecord]) -> Result<(Record, Vec<Record>), String> {
    let first = records.first().ok_or("no records to write")?;
    let shared: Vec<(&'static str, &str)> = first
        .dimensions
        .named()
        .filter(|(name, value)| records.iter().all(|r| r.dimensions.named().any(|(n, v)| n == *name && v == *value)))
        .collect();
    let same_measure = records.iter().all(|r| r.measure_name == first.measure_name);
    let mut common = Record::builder().measure_value_type(MeasureValueType::Multi).time_unit(TimeUnit::Nanoseconds);
    for (name, value) in &shared {
        common = common.dimensions(dimension(name, value)?);
    }
    if same_measure {
        common = common.measure_name(first.measure_name);
    }
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let mut record = Record::builder()
            .time(point_time_ns(r).to_string())
            .version(i64::try_from(r.version).map_err(|e| e.to_string())?);
        for (name, value) in r.dimensions.named() {
            if !shared.iter().any(|(n, _)| *n == name) {
                record = record.dimensions(dimension(name, value)?);
            }
        }
        if !same_measure {
            record = record.measure_name(r.measure_name);
        }
        for value in measure_values(r)? {
            record = record.measure_values(value);
        }
        out.push(record.build());
    }
    Ok((common.build(), out))
}

/// A rejection by Timestream's reason: an existing version means a record of the same key
/// and an equal or higher version is stored (done); anything else stands.
fn rejection(r: &RejectedRecord) -> Rejected {
    let index = usize::try_from(r.record_index()).unwrap_or(usize::MAX);
    let rejection = match r.existing_version() {
        Some(version) => RecordRejection::AlreadyStored { existing_version: u64::try_from(version).ok() },
        None => RecordRejection::Refused(r.reason().unwrap_or("refused without a reason").to_owned()),
    };
    Rejected { index, rejection }
}

#[async_trait]
impl MetricsSink for TimestreamSink {
    async fn write(&self, records: &[MetricRecord]) -> Result<Vec<Rejected>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        if records.len() > MAX_RECORDS_PER_WRITE {
            return Err(StoreError::TooManyChanges(records.len()));
        }
        let refuse_all = |reason: String| {
            (0..records.len())
                .map(|index| Rejected { index, rejection: RecordRejection::Refused(reason.clone()) })
                .collect()
        };
        let (common, built) = match plan_write(records) {
            Ok(planned) => planned,
            Err(reason) => return Ok(refuse_all(format!("the records could not be built: {reason}"))),
        };
        let sent = self
            .client
            .write_records()
            .database_name(&self.database)
            .table_name(&self.table)
            .common_attributes(common)
            .set_records(Some(built))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Vec::new()),
            Err(SdkError::ServiceError(e)) => match e.err() {
                WriteRecordsError::RejectedRecordsException(rejected) => {
                    Ok(rejected.rejected_records().iter().map(rejection).collect())
                }
                WriteRecordsError::ThrottlingException(t) => Err(StoreError::Throttled(t.message().to_owned())),
                // The request itself is wrong (a value Timestream does not take): no retry
                // will make it right, so its events are parked with the reason.
                WriteRecordsError::ValidationException(v) => {
                    Ok(refuse_all(format!("WriteRecords refused the request: {}", v.message())))
                }
                other => Err(StoreError::Unavailable(format!("WriteRecords failed: {other}"))),
            },
            Err(other) => Err(StoreError::Unavailable(format!("WriteRecords failed: {}", DisplayErrorContext(&other)))),
        }
    }
}

/// A point's time: the event's millisecond, with the aggregate version below it in
/// nanoseconds. Timestream keeps one point per dimensions, measure name and time, so two
/// changes of one task in the same millisecond would otherwise be one point (the later version
/// replacing the earlier); a redelivered event still meets its own point.
pub fn point_time_ns(record: &MetricRecord) -> i64 {
    let below = i64::try_from(record.version % 1_000_000).unwrap_or(0);
    record.time_ms.saturating_mul(1_000_000).saturating_add(below)
}
