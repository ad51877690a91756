//! The stream router's batch work, independent of AWS: change records in, events onto the
//! bus, poison parked, and the answer a stream event source needs.
//!
//! The rules it keeps:
//! - PutEvents takes at most 10 entries and 256 KB a call; a call may refuse some entries
//!   (`FailedEntryCount`): only those are resent, with exponential backoff and jitter, a
//!   bounded number of times.
//! - Per-aggregate order: a call never carries two events of one aggregate, and calls go
//!   out one after another; so when an entry fails for good, no later event of its aggregate
//!   has been sent. The batch then reports the first failed record's sequence number: the
//!   event source retries from there, and records before it are done.
//! - A record that cannot be decoded or derived (poison) is parked whole with the reason and
//!   counted as handled: it never blocks the records behind it.

use std::time::Duration;

use async_trait::async_trait;
use backon::BackoffBuilder;
use events_schema::{DomainEvent, EVENT_SOURCE};

use crate::{ChangeRecord, derive};

/// EventBridge's limits for one PutEvents call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;
pub const MAX_BYTES_PER_CALL: usize = 256 * 1024;

/// One record of a stream batch, as the engine decoded it.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub sequence_number: String,
    /// `Ok(None)`: not an aggregate change (e.g. a history item): nothing to route. Boxed:
    /// a change record with its two snapshots is large, and records move several times
    /// between the decode and the derive.
    pub change: Result<Option<Box<ChangeRecord>>, String>,
}

/// One bus entry, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEntry {
    pub event_id: String,
    pub source: String,
    pub detail_type: String,
    pub detail: String,
    /// The aggregate the event belongs to: no call carries two entries of one aggregate.
    pub aggregate: String,
    /// The index of the stream record it came from.
    pub record: usize,
}

impl BusEntry {
    pub fn from_event(event: &DomainEvent, record: usize) -> Result<Self, String> {
        // The detail is the envelope; EventBridge adds the rest of the bus event on delivery.
        // Written with sonic-rs: the router writes one per event, and this is most of its
        // work after the decode.
        let detail = sonic_rs::to_string(&event.wire()).map_err(|e| e.to_string())?;
        let m = &event.meta;
        Ok(Self {
            event_id: m.event_id.to_string(),
            source: EVENT_SOURCE.to_owned(),
            detail_type: event.event_type().to_owned(),
            detail,
            aggregate: format!("{}/{}/{}", m.tenant, m.aggregate_type.as_str(), m.aggregate_id),
            record,
        })
    }

    /// The size EventBridge counts against the 256 KB limit: the UTF-8 bytes of source,
    /// detail-type and detail, plus 14 for the time field.
    pub fn size(&self) -> usize {
        self.source.len() + self.detail_type.len() + self.detail.len() + 14
    }
}

/// The bus. `put` answers per entry, in order: `None` for accepted, `Some(reason)` for refused.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn put(&self, entries: &[BusEntry]) -> Result<Vec<Option<String>>, String>;
}

/// Where poison records go, whole.
#[async_trait]
pub trait PoisonParking: Send + Sync {
    async fn park(&self, record: &serde_json::Value, reason: &str) -> Result<(), String>;
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Resends of refused entries before the batch gives up on them.
    pub max_resends: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { min_delay: Duration::from_millis(100), max_delay: Duration::from_secs(2), max_resends: 4 }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterReport {
    pub records: usize,
    pub events: usize,
    pub parked: usize,
    pub calls: usize,
    /// Set when the batch must be retried from this record on.
    pub first_failed_sequence: Option<String>,
}

/// One stream record made ready to send: its bus entries, or the reason it is poison.
#[derive(Debug)]
pub struct Prepared {
    pub sequence_number: String,
    pub entries: Result<Vec<BusEntry>, String>,
}

/// Derives record `index`'s events and builds their bus entries. A record that cannot be
/// derived or encoded is poison, with the reason.
pub fn prepare(index: usize, record: StreamRecord) -> Prepared {
    let entries = match record.change {
        Ok(None) => Ok(Vec::new()),
        Ok(Some(change)) => derive(*change)
            .map_err(|e| e.to_string())
            .and_then(|events| events.iter().map(|e| BusEntry::from_event(e, index)).collect()),
        Err(reason) => Err(reason),
    };
    Prepared { sequence_number: record.sequence_number, entries }
}

/// [`prepare`] for every record of a batch, in order.
pub fn prepare_batch(records: Vec<StreamRecord>) -> Vec<Prepared> {
    records.into_iter().enumerate().map(|(index, record)| prepare(index, record)).collect()
}

/// Splits entries into calls: in order, at most 10 entries and 256 KB each, never two
/// entries of one aggregate in a call.
pub fn plan_calls(entries: Vec<BusEntry>) -> Vec<Vec<BusEntry>> {
    let mut calls: Vec<Vec<BusEntry>> = Vec::new();
    let mut current: Vec<BusEntry> = Vec::new();
    let mut bytes = 0;
    for entry in entries {
        // At most ten entries to compare: a scan beats a set.
        let full = current.len() == MAX_ENTRIES_PER_CALL
            || bytes + entry.size() > MAX_BYTES_PER_CALL
            || current.iter().any(|e| e.aggregate == entry.aggregate);
        if full && !current.is_empty() {
            calls.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += entry.size();
        current.push(entry);
    }
    if !current.is_empty() {
        calls.push(current);
    }
    calls
}

/// Routes one stream batch, prepared record by record (see [`prepare`]; the engine may
/// prepare each record as soon as it is decoded). `raw(i)` gives record `i` exactly as
/// received, for parking: asked for only when a record is poison, so a healthy batch never
/// re-encodes its records.
pub async fn route_batch(
    records: Vec<Prepared>,
    raw: &(dyn Fn(usize) -> serde_json::Value + Sync),
    publisher: &dyn EventPublisher,
    parking: &dyn PoisonParking,
    policy: &RetryPolicy,
) -> RouterReport {
    let mut report = RouterReport { records: records.len(), ..Default::default() };
    let mut entries: Vec<BusEntry> = Vec::new();
    let mut sequences: Vec<String> = Vec::with_capacity(records.len());
    for (index, record) in records.into_iter().enumerate() {
        let Prepared { sequence_number, entries: outcome } = record;
        if let Err(reason) = &outcome {
            tracing::error!(sequence = %sequence_number, %reason, "poison record parked");
        }
        sequences.push(sequence_number);
        match outcome {
            Ok(mut list) => entries.append(&mut list),
            Err(reason) => {
                if let Err(e) = parking.park(&raw(index), &reason).await {
                    tracing::error!(error = %e, "parking failed; the batch will be retried from here");
                    // Nothing is sent yet: retry from the earliest record that has events, or this one.
                    let first = entries.first().map_or(index, |e| e.record.min(index));
                    return failed_at(report, &sequences, first);
                }
                report.parked += 1;
            }
        }
    }
    report.events = entries.len();
    let mut calls = plan_calls(entries).into_iter();
    while let Some(call) = calls.next() {
        report.calls += 1;
        if let Some(refused) = send_with_resends(publisher, call, policy, &mut report).await {
            // Records with entries in later calls are not done either.
            let unsent = calls.flatten().map(|e| e.record).min();
            return failed_at(report, &sequences, unsent.map_or(refused, |u| u.min(refused)));
        }
    }
    report
}

fn failed_at(mut report: RouterReport, sequences: &[String], record: usize) -> RouterReport {
    report.first_failed_sequence = sequences.get(record).cloned();
    report
}

/// Sends one call, resending refused entries; returns the earliest record index still
/// refused after the resends, if any.
async fn send_with_resends(
    publisher: &dyn EventPublisher,
    call: Vec<BusEntry>,
    policy: &RetryPolicy,
    report: &mut RouterReport,
) -> Option<usize> {
    let mut delays = backon::ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_resends)
        .with_jitter()
        .build();
    let mut pending = call;
    loop {
        let refused: Vec<(BusEntry, String)> = match publisher.put(&pending).await {
            Ok(outcomes) => pending
                .into_iter()
                .zip(outcomes.into_iter().chain(std::iter::repeat(Some("no answer for this entry".to_owned()))))
                .filter_map(|(entry, outcome)| outcome.map(|reason| (entry, reason)))
                .collect(),
            Err(reason) => pending.into_iter().map(|e| (e, reason.clone())).collect(),
        };
        if refused.is_empty() {
            return None;
        }
        let Some(delay) = delays.next() else {
            for (entry, reason) in &refused {
                tracing::error!(event_id = %entry.event_id, %reason, "entry refused after resends");
            }
            return refused.iter().map(|(e, _)| e.record).min();
        };
        tracing::warn!(refused = refused.len(), ?delay, "resending refused entries");
        tokio::time::sleep(delay).await;
        report.calls += 1;
        pending = refused.into_iter().map(|(e, _)| e).collect();
    }
}

#[cfg(test)]
mod tests;
