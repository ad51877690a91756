//! The stream router's batch work, independent of AWS: change records in, events onto the
//! bus, poison parked, and the answer a stream event source needs.
//!
//! The rules it keeps:
//! - PutEvents takes at most 10 entries and 256 KB a call; a call may refuse some entries
//!   (`FailedEntryCount`). Only a refusal that time can cure (throttling, EventBridge's own
//!   internal failure, a call lost in transport) is retried: those entries alone are resent,
//!   with exponential backoff and jitter, a bounded number of times.
//! - Any other refusal (an invalid or malformed entry, one too large, an authorization error)
//!   would come back on every resend: the record the entry came from is parked whole with the
//!   reason, like a poison record, and the batch moves on.
//! - Per-aggregate order: a call never carries two events of one aggregate, and calls go out
//!   one after another; so when an entry's retries run out, no later event of its aggregate
//!   has been sent. The batch then reports that record's sequence number: the event source
//!   retries from there, and records before it are done.
//! - A record that cannot be decoded or derived (poison) is parked whole with the reason and
//!   counted as handled: it never blocks the records behind it.

use std::time::Duration;

use async_trait::async_trait;
use events_schema::{DomainEvent, EVENT_SOURCE};

use crate::{ChangeRecord, derive};

mod send;

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

/// The PutEvents error codes worth sending again: throttling, and EventBridge's own
/// internal failure. Every other code names something wrong with the entry or the caller.
pub const RETRYABLE_CODES: [&str; 2] = ["ThrottlingException", "InternalFailure"];

/// Why the bus refused one entry: its PutEvents error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl Refusal {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: code.into(), message: message.into() }
    }

    /// Whether resending may succeed. A code we do not know is taken as permanent: the
    /// record is parked with it, where nothing is lost, rather than blocking its shard.
    pub fn is_retryable(&self) -> bool {
        RETRYABLE_CODES.contains(&self.code.as_str())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// A PutEvents call that failed as a whole, and whether sending it again may succeed
/// (a timeout or a lost connection, throttling, a 5xx) or not (the call itself was refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFailure {
    pub retryable: bool,
    pub reason: String,
}

/// The bus: one PutEvents call per `put`, within the call limits, each entry carrying
/// `trace_header` (the invocation's X-Ray trace) so a trace follows the event downstream.
/// Answers per entry, in order: `None` accepted, `Some(refusal)` refused.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn put(&self, entries: &[BusEntry], trace_header: Option<&str>) -> Result<Vec<Option<Refusal>>, CallFailure>;
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
    /// Records parked whole: poison, or with an event the bus refused for good.
    pub parked: usize,
    /// PutEvents calls, resends included.
    pub calls: usize,
    /// Entries sent again after a refusal worth retrying.
    pub resends: usize,
    /// Set when the batch must be retried from this record on.
    pub first_failed_sequence: Option<String>,
}

/// The batch's metrics as one CloudWatch embedded-metric-format line (namespace `Taskstream`,
/// dimension `Router`); on Lambda, printing it to stdout is publishing it.
pub fn emf_line(router: &str, report: &RouterReport, batch_ms: f64, now_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Taskstream",
                "Dimensions": [["Router"]],
                "Metrics": [
                    { "Name": "Records", "Unit": "Count" },
                    { "Name": "Events", "Unit": "Count" },
                    { "Name": "Parked", "Unit": "Count" },
                    { "Name": "Resends", "Unit": "Count" },
                    { "Name": "BatchMs", "Unit": "Milliseconds" }
                ]
            }]
        },
        "Router": router,
        "Records": report.records,
        "Events": report.events,
        "Parked": report.parked,
        "Resends": report.resends,
        "BatchMs": batch_ms,
    })
    .to_string()
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
/// received, for parking: asked for only when a record is parked, so a healthy batch never
/// re-encodes its records.
pub async fn route_batch(
    records: Vec<Prepared>,
    raw: &(dyn Fn(usize) -> serde_json::Value + Sync),
    publisher: &dyn EventPublisher,
    parking: &dyn PoisonParking,
    policy: &RetryPolicy,
    trace_header: Option<&str>,
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
    // Records parked because the bus refused one of their events: their other events are
    // not sent either, since the record goes back whole.
    let mut parked = vec![false; sequences.len()];
    let mut calls = plan_calls(entries).into_iter();
    while let Some(call) = calls.next() {
        let call: Vec<BusEntry> = call.into_iter().filter(|e| !parked[e.record]).collect();
        if call.is_empty() {
            continue;
        }
        report.calls += 1;
        let sent = send::send_with_resends(publisher, call, policy, trace_header, &mut report).await;
        // Where the event source must resume, if anywhere: the earliest record still refused
        // after its resends, and every record with entries in later calls after it.
        let mut resume =
            sent.gave_up_at.map(|at| calls.as_slice().iter().flatten().map(|e| e.record).fold(at, usize::min));
        for (entry, refusal) in sent.refused {
            // A record the retry resends anyway is parked then, if the bus refuses it again.
            if parked[entry.record] || resume.is_some_and(|r| entry.record >= r) {
                continue;
            }
            let reason = format!(
                "EventBridge refused event {} ({}) of this record for good: {refusal}",
                entry.event_id, entry.detail_type
            );
            tracing::error!(sequence = %sequences[entry.record], %reason, "record parked");
            if let Err(e) = parking.park(&raw(entry.record), &reason).await {
                tracing::error!(error = %e, "parking failed; the batch will be retried from here");
                let later = calls.as_slice().iter().flatten().map(|e| e.record).fold(entry.record, usize::min);
                resume = Some(resume.map_or(later, |r| r.min(later)));
                break;
            }
            parked[entry.record] = true;
            report.parked += 1;
        }
        if let Some(record) = resume {
            return failed_at(report, &sequences, record);
        }
    }
    report
}

fn failed_at(mut report: RouterReport, sequences: &[String], record: usize) -> RouterReport {
    report.first_failed_sequence = sequences.get(record).cloned();
    report
}

#[cfg(test)]
mod tests;
