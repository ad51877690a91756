//! A failure object: the invocation record Lambda writes to the router's S3 on-failure
//! destination, read as a batch for `dlq list/show` and planned (what its records derive)
//! without sending anything.

use serde::{Deserialize, Serialize};
use shared_core::stream_router::prepare;

use crate::dynamo::stream::decode_batch_with;
use crate::operate::OperateError;

/// The invocation record Lambda writes to an S3 on-failure destination for a DynamoDB stream
/// (the AWS Lambda developer guide, "Retain discarded batch records for a DynamoDB event
/// source": the SQS/SNS record plus `payload`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRecord {
    pub request_context: RequestContext,
    /// When Lambda gave up on the batch.
    pub timestamp: String,
    #[serde(rename = "DDBStreamBatchInfo")]
    pub batch: BatchInfo,
    /// The invocation event the router was given, `{"Records": [...]}`, as a JSON string.
    pub payload: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// `RetryAttemptsExhausted` or `RecordAgeExceeded`.
    pub condition: String,
    #[serde(default)]
    pub approximate_invoke_count: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub batch_size: u32,
}

impl FailureRecord {
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| {
            format!("not a Lambda stream failure record (requestContext, DDBStreamBatchInfo, payload): {e}")
        })
    }
}

/// One batch Lambda gave up on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedBatch {
    /// The object key (`dlq show` and `dlq redrive --id` take it).
    pub key: String,
    pub condition: String,
    pub failed_at: String,
    pub invocations: u32,
    pub shard_id: String,
    pub first_sequence: String,
    pub last_sequence: String,
    pub records: u32,
    /// The invocation event, with `dlq show`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

/// What a payload derives, found without sending anything.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Plan {
    pub records: usize,
    pub events: usize,
    /// Why each poison record cannot be derived.
    pub poison: Vec<String>,
}

pub(super) fn plan(payload: &str) -> Result<Plan, String> {
    let prepared = decode_batch_with(payload, prepare).map_err(|e| e.to_string())?;
    let events = prepared.iter().filter_map(|p| p.entries.as_ref().ok()).map(Vec::len).sum();
    let poison = prepared.iter().filter_map(|p| p.entries.as_ref().err().cloned()).collect();
    Ok(Plan { records: prepared.len(), events, poison })
}

pub(super) fn batch_of(key: &str, text: &str, with_payload: bool) -> Result<FailedBatch, OperateError> {
    let failure = FailureRecord::parse(text).map_err(|e| OperateError::Invalid(format!("{key}: {e}")))?;
    let payload =
        if with_payload {
            Some(serde_json::from_str(&failure.payload).map_err(|e| {
                OperateError::Invalid(format!("{key}: the payload is not the JSON of a stream event: {e}"))
            })?)
        } else {
            None
        };
    Ok(FailedBatch {
        key: key.to_owned(),
        condition: failure.request_context.condition,
        failed_at: failure.timestamp,
        invocations: failure.request_context.approximate_invoke_count,
        shard_id: failure.batch.shard_id,
        first_sequence: failure.batch.start_sequence_number,
        last_sequence: failure.batch.end_sequence_number,
        records: failure.batch.batch_size,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_record_is_read_with_its_payload_and_plans_without_sending() {
        let text = include_str!("../../../../../tests/fixtures/stream-router-failure.json");
        let failure = FailureRecord::parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(failure.request_context.condition, "RetryAttemptsExhausted");
        assert_eq!(failure.batch.batch_size, 4);
        let plan = plan(&failure.payload).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((plan.records, plan.events), (4, 3));
        assert_eq!(plan.poison.len(), 1);
        assert!(plan.poison[0].contains("unknown variant `exploded`"), "{:?}", plan.poison);
        let batch = batch_of("aws/lambda/x", text, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(batch.payload.as_ref().and_then(|p| p["Records"].as_array()).map(Vec::len), Some(4));
    }

    #[test]
    fn anything_else_is_refused_with_what_was_expected() {
        let err = FailureRecord::parse(r#"{"requestContext":{"condition":"x"}}"#).err().unwrap_or_default();
        assert!(err.contains("DDBStreamBatchInfo"), "{err}");
        assert!(plan(r#"{"nope":1}"#).is_err());
    }
}
