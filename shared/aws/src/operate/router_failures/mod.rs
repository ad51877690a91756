//! What the stream router gave up on, on AWS, and its redrive: the batches Lambda wrote to
//! the router's failure bucket when their retries or record age ran out, and the records the
//! router parked itself in its parking queue (`<stage>-taskstream-stream-router-dlq`).
//!
//! A failure object is the invocation record Lambda writes to an S3 on-failure destination
//! for a stream source: the batch's metadata (`requestContext`, `DDBStreamBatchInfo`, …) and
//! `payload`, the whole invocation event (`{"Records": [...]}`) as an escaped JSON string.
//! A redrive hands that payload to the router's own code ([`route_payload`], what the
//! Lambda runs): the same decoding and derivation, so the same event ids, and the same
//! parking for a record that is still poison. An object is deleted only once every record in it was either published
//! or parked; a parked record's message only once its events were published.
//!
//! Deleted rather than moved or tagged: a copy or a tag is another PUT to the bucket, which
//! the failed-batches alarm counts, and once published the events are in the bus archive,
//! which is their record. A redrive that stops between publishing and deleting sends the
//! same events (the same ids) again the next time: consumers hold each aggregate at its
//! version, so they apply them once.

mod failure_record;
mod parked;

pub use failure_record::{BatchInfo, FailedBatch, FailureRecord, RequestContext};
pub use parked::ParkedRecord;

use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_s3::Client as S3;
use aws_sdk_sqs::Client as Sqs;
use serde::Serialize;
use shared_core::stream_router::{PoisonParking, RetryPolicy};

use super::dead_letters::{receive, release};
use super::{OperateError, StageNames, sqs_read};
use crate::bus::EventBridgePublisher;
use crate::lambda::{STREAM_ROUTER, route_payload};
use crate::parking::SqsParking;
use failure_record::{batch_of, plan};
use parked::{parked_of, parked_payload};

/// Where Lambda writes its invocation records in the bucket:
/// `aws/lambda/<mapping uuid>/<shard id>/YYYY/MM/DD/<time>-<uuid>`.
pub const FAILURE_PREFIX: &str = "aws/lambda/";
/// Empty receives in a row after which the parking queue counts as read to its end.
const EMPTY_RECEIVES: usize = 2;

/// Depth of what the router gave up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterDeadLetters {
    pub bucket: String,
    pub parking_queue_url: String,
    /// Failure objects in the bucket (batches Lambda gave up on).
    pub failed_batches: usize,
    /// `ApproximateNumberOfMessages` of the parking queue.
    pub parked: i64,
}

/// What a redrive did, or (dry run) would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterRedrive {
    pub dry_run: bool,
    /// Failure objects routed to the end and deleted (dry run: that would be routed).
    pub batches: usize,
    /// Parked records routed and removed from the parking queue (dry run: that would be).
    pub parked_records: usize,
    /// Stream records routed, from both.
    pub records: usize,
    /// Events published (dry run: that the records derive).
    pub events: usize,
    /// Records of failure objects that are still poison: parked, with the reason, in the
    /// parking queue (dry run: that would be).
    pub newly_parked: usize,
    /// Parked records still poison, left where they are, with the reason.
    pub still_poison: Vec<String>,
    /// Items that could not be routed this time (a bus failure, an unreadable object), left
    /// in place for the next redrive.
    pub failed: Vec<String>,
    /// The failure objects deleted.
    pub deleted_keys: Vec<String>,
}

/// Which of the router's dead letters a redrive takes.
#[derive(Debug, Clone, Default)]
pub struct RedriveSelection {
    /// At most this many items: parked records first, then failed batches, oldest first.
    pub max: Option<usize>,
    /// Only this one: an object key (`aws/lambda/…`) or a parked record's message id.
    pub id: Option<String>,
    pub dry_run: bool,
}

pub struct RouterFailures {
    s3: S3,
    sqs: Sqs,
    publisher: EventBridgePublisher,
    names: StageNames,
    policy: RetryPolicy,
}

struct Places {
    bucket: String,
    parking_url: String,
}

impl RouterFailures {
    pub fn new(s3: S3, sqs: Sqs, events: aws_sdk_eventbridge::Client, names: StageNames) -> Self {
        let publisher = EventBridgePublisher::new(events, names.bus());
        Self { s3, sqs, publisher, names, policy: RetryPolicy::default() }
    }

    /// Clients from `config`; S3 by path (`endpoint/bucket/key`) when the endpoint is not
    /// AWS's own, as local endpoints do not resolve a bucket's host name.
    pub fn from_config(config: &aws_config::SdkConfig, names: StageNames) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config).force_path_style(config.endpoint_url().is_some()).build();
        Self::new(S3::from_conf(s3), Sqs::new(config), aws_sdk_eventbridge::Client::new(config), names)
    }

    /// Resends of refused bus entries (tests resend without waiting).
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many batches and parked records wait.
    pub async fn depth(&self) -> Result<RouterDeadLetters, OperateError> {
        let places = self.places().await?;
        let failed_batches = self.keys(&places.bucket).await?.len();
        let parked = self.parked_depth(&places.parking_url).await?;
        Ok(RouterDeadLetters { bucket: places.bucket, parking_queue_url: places.parking_url, failed_batches, parked })
    }

    /// Up to `limit` failed batches (oldest first) and up to `limit` parked records.
    pub async fn list(&self, limit: usize) -> Result<(Vec<FailedBatch>, Vec<ParkedRecord>), OperateError> {
        let places = self.places().await?;
        let mut batches = Vec::new();
        for key in self.keys(&places.bucket).await?.into_iter().take(limit) {
            let text = self.object(&places.bucket, &key).await?;
            batches.push(batch_of(&key, &text, false)?);
        }
        let parked = self.read_parked(&places.parking_url, limit).await?;
        Ok((batches, parked.into_iter().map(|(record, _)| record).collect()))
    }

    /// A failed batch (by its key) with its records, or a parked record (by message id).
    pub async fn show(&self, id: &str) -> Result<Shown, OperateError> {
        let places = self.places().await?;
        if id.starts_with(FAILURE_PREFIX) {
            let text = self.object(&places.bucket, id).await?;
            return Ok(Shown::Batch(batch_of(id, &text, true)?));
        }
        let parked = self.read_parked(&places.parking_url, usize::MAX).await?;
        parked
            .into_iter()
            .map(|(mut record, raw)| {
                record.record = Some(raw);
                record
            })
            .find(|r| r.id == id)
            .map(Shown::Parked)
            .ok_or_else(|| {
                OperateError::NotFound(format!(
                    "no failed batch or parked record {id} for {STREAM_ROUTER} in stage {} (a batch's id is its object key, {FAILURE_PREFIX}…)",
                    self.names.stage
                ))
            })
    }

    /// Routes the selected batches and parked records again with the router's own code.
    pub async fn redrive(&self, selection: &RedriveSelection) -> Result<RouterRedrive, OperateError> {
        let places = self.places().await?;
        let mut out = RouterRedrive { dry_run: selection.dry_run, ..RouterRedrive::default() };
        let max = selection.max.unwrap_or(usize::MAX);
        let id = selection.id.as_deref();
        // Parked records first: a batch's poison records parked further down are then left
        // for the next redrive instead of being tried again at once.
        if id.is_none_or(|id| !id.starts_with(FAILURE_PREFIX)) {
            self.redrive_parked(&places.parking_url, id, max, selection.dry_run, &mut out).await?;
        }
        let taken = out.parked_records + out.still_poison.len() + out.failed.len();
        let keys: Vec<String> = match id {
            Some(key) if key.starts_with(FAILURE_PREFIX) => vec![key.to_owned()],
            Some(_) => Vec::new(),
            None => self.keys(&places.bucket).await?,
        };
        for key in keys.into_iter().take(max.saturating_sub(taken)) {
            self.redrive_batch(&places, &key, selection.dry_run, &mut out).await?;
        }
        if let Some(id) = id
            && out.batches + out.parked_records + out.failed.len() + out.still_poison.len() == 0
        {
            return Err(OperateError::NotFound(format!("no failed batch or parked record {id} for {STREAM_ROUTER}")));
        }
        Ok(out)
    }

    async fn redrive_batch(
        &self,
        places: &Places,
        key: &str,
        dry_run: bool,
        out: &mut RouterRedrive,
    ) -> Result<(), OperateError> {
        let text = self.object(&places.bucket, key).await?;
        let failure = match FailureRecord::parse(&text) {
            Ok(failure) => failure,
            Err(reason) => {
                out.failed.push(format!("{key}: {reason}"));
                return Ok(());
            }
        };
        if dry_run {
            match plan(&failure.payload) {
                Ok(plan) => {
                    out.batches += 1;
                    out.records += plan.records;
                    out.events += plan.events;
                    out.newly_parked += plan.poison.len();
                }
                Err(reason) => out.failed.push(format!("{key}: {reason}")),
            }
            return Ok(());
        }
        // Still-poison records go where the router itself parks them, with the reason.
        let parking = SqsParking::new(self.sqs.clone(), places.parking_url.clone());
        let report = match route_payload(&failure.payload, None, &self.publisher, &parking, &self.policy).await {
            Ok(report) => report,
            Err(e) => {
                out.failed.push(format!("{key}: {e}"));
                return Ok(());
            }
        };
        if let Some(sequence) = report.first_failed_sequence {
            out.failed.push(format!(
                "{key}: the bus did not take the events of record {sequence} and after; the object stays for the next redrive"
            ));
            return Ok(());
        }
        self.s3
            .delete_object()
            .bucket(&places.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| OperateError::aws("DeleteObject", e))?;
        tracing::info!(
            key,
            records = report.records,
            events = report.events,
            parked = report.parked,
            "failed batch redriven"
        );
        out.batches += 1;
        out.records += report.records;
        out.events += report.events;
        out.newly_parked += report.parked;
        out.deleted_keys.push(key.to_owned());
        Ok(())
    }

    async fn redrive_parked(
        &self,
        url: &str,
        id: Option<&str>,
        budget: usize,
        dry_run: bool,
        out: &mut RouterRedrive,
    ) -> Result<(), OperateError> {
        let mut taken = 0;
        let mut held = Vec::new();
        let mut empty = 0;
        while taken < budget && empty < EMPTY_RECEIVES {
            let batch = receive(&self.sqs, url, 10).await?;
            if batch.is_empty() {
                empty += 1;
                continue;
            }
            empty = 0;
            for message in batch {
                let receipt = message.receipt_handle.clone().unwrap_or_default();
                let wanted = id.is_none_or(|id| message.message_id.as_deref() == Some(id));
                if !wanted || taken >= budget {
                    held.push(receipt);
                    continue;
                }
                taken += 1;
                let message_id = message.message_id.clone().unwrap_or_default();
                let Some(payload) = parked_payload(message.body.as_deref()) else {
                    out.failed.push(format!("{message_id}: the message is not a parked stream record"));
                    held.push(receipt);
                    continue;
                };
                if dry_run {
                    held.push(receipt);
                    match plan(&payload) {
                        Ok(plan) if plan.poison.is_empty() => {
                            out.parked_records += 1;
                            out.records += plan.records;
                            out.events += plan.events;
                        }
                        Ok(plan) => out.still_poison.push(format!("{message_id}: {}", plan.poison.join("; "))),
                        Err(reason) => out.failed.push(format!("{message_id}: {reason}")),
                    }
                    continue;
                }
                // A record still poison stays where it is: parking it again would only copy it.
                let refused = Refused::default();
                let routed = route_payload(&payload, None, &self.publisher, &refused, &self.policy).await;
                let reasons = refused.reasons();
                match routed {
                    Err(e) => {
                        out.failed.push(format!("{message_id}: {e}"));
                        held.push(receipt);
                    }
                    Ok(_) if !reasons.is_empty() => {
                        out.still_poison.push(format!("{message_id}: {}", reasons.join("; ")));
                        held.push(receipt);
                    }
                    Ok(report) if report.first_failed_sequence.is_some() => {
                        out.failed.push(format!("{message_id}: the bus did not take its events"));
                        held.push(receipt);
                    }
                    Ok(report) => {
                        self.sqs
                            .delete_message()
                            .queue_url(url)
                            .receipt_handle(&receipt)
                            .send()
                            .await
                            .map_err(|e| OperateError::aws("DeleteMessage", e))?;
                        out.parked_records += 1;
                        out.records += report.records;
                        out.events += report.events;
                    }
                }
            }
            if id.is_some() && taken > 0 {
                break;
            }
        }
        for receipt in &held {
            release(&self.sqs, url, receipt).await?;
        }
        Ok(())
    }

    async fn places(&self) -> Result<Places, OperateError> {
        let bucket = self.bucket().await?;
        let queue = self.names.dead_letter_queue(STREAM_ROUTER);
        let parking_url = match self.sqs.get_queue_url().queue_name(&queue).send().await {
            Ok(out) => out.queue_url.ok_or_else(|| OperateError::aws_missing("GetQueueUrl", "QueueUrl"))?,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_does_not_exist()) => {
                return Err(OperateError::NotFound(format!(
                    "{STREAM_ROUTER} has no parking queue {queue} in stage {}; is it deployed?",
                    self.names.stage
                )));
            }
            Err(e) => return Err(OperateError::aws("GetQueueUrl", e)),
        };
        Ok(Places { bucket, parking_url })
    }

    /// The stage's failure bucket: named `<stage>-taskstream-stream-router-failures-<account>`
    /// by the CDK app; found by that prefix, so the operator needs no account id.
    async fn bucket(&self) -> Result<String, OperateError> {
        let prefix = self.names.router_failure_bucket_prefix();
        let mut token = None;
        loop {
            let out = self
                .s3
                .list_buckets()
                .prefix(&prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| OperateError::aws("ListBuckets", e))?;
            let found = out.buckets().iter().filter_map(|b| b.name()).find(|name| {
                name.strip_prefix(prefix.as_str())
                    .is_some_and(|account| account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
            });
            if let Some(name) = found {
                return Ok(name.to_owned());
            }
            token = out.continuation_token;
            if token.is_none() {
                return Err(OperateError::NotFound(format!(
                    "no failure bucket {prefix}<account> for stage {}; is the stream router deployed?",
                    self.names.stage
                )));
            }
        }
    }

    /// The failure objects' keys, oldest first.
    async fn keys(&self, bucket: &str) -> Result<Vec<String>, OperateError> {
        let mut objects = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .prefix(FAILURE_PREFIX)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| OperateError::aws("ListObjectsV2", e))?;
            for object in out.contents() {
                if let Some(key) = object.key() {
                    let modified = object.last_modified().map(|t| (t.secs(), t.subsec_nanos()));
                    objects.push((modified, key.to_owned()));
                }
            }
            token = out.next_continuation_token;
            if token.is_none() {
                break;
            }
        }
        objects.sort();
        Ok(objects.into_iter().map(|(_, key)| key).collect())
    }

    async fn object(&self, bucket: &str, key: &str) -> Result<String, OperateError> {
        let out = match self.s3.get_object().bucket(bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(OperateError::NotFound(format!("no failed batch {key} in {bucket}")));
            }
            Err(e) => return Err(OperateError::aws("GetObject", e)),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| OperateError::Aws { call: "GetObject", message: format!("reading {key}: {e}") })?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| OperateError::Invalid(format!("{key} is not UTF-8 text, so not a Lambda failure record")))
    }

    async fn parked_depth(&self, url: &str) -> Result<i64, OperateError> {
        sqs_read::depth(&self.sqs, url).await
    }

    /// Reads the parking queue to its end (or `limit`), each message made visible again after.
    async fn read_parked(
        &self,
        url: &str,
        limit: usize,
    ) -> Result<Vec<(ParkedRecord, serde_json::Value)>, OperateError> {
        let mut out = Vec::new();
        let mut held = Vec::new();
        let mut empty = 0;
        while out.len() < limit && empty < EMPTY_RECEIVES {
            let batch = receive(&self.sqs, url, 10).await?;
            if batch.is_empty() {
                empty += 1;
                continue;
            }
            empty = 0;
            for message in batch {
                held.push(message.receipt_handle.clone().unwrap_or_default());
                if out.len() < limit {
                    out.push(parked_of(&message));
                }
            }
        }
        for receipt in &held {
            release(&self.sqs, url, receipt).await?;
        }
        Ok(out)
    }
}

/// What `dlq show` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Shown {
    Batch(FailedBatch),
    Parked(ParkedRecord),
}

/// Parking for a redrive of parked records: a record still poison is only noted, so its
/// message stays in the parking queue rather than being parked a second time.
#[derive(Default)]
struct Refused(Mutex<Vec<String>>);

impl Refused {
    fn reasons(&self) -> Vec<String> {
        self.0.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl PoisonParking for Refused {
    async fn park(&self, _record: &serde_json::Value, reason: &str) -> Result<(), String> {
        if let Ok(mut reasons) = self.0.lock() {
            reasons.push(reason.to_owned());
        }
        Ok(())
    }
}
