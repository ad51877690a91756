//! The metrics consumer: each task and sprint event becomes one metric record, upserted into
//! the metrics sink by its key and version (invariant 3): a redelivered or replayed event
//! writes the same point again, which the sink answers as already stored.

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::DomainEvent;

use crate::metrics::{self, MetricRecord};
use crate::pipeline::{ApplyError, BatchReport, Consumer, Delivery, InboundMessage, MessageFailure, decode};
use crate::ports::{MAX_RECORDS_PER_WRITE, MetricsSink, RecordRejection, Rejected, StoreError};

pub struct MetricsRecorder {
    sink: Arc<dyn MetricsSink>,
}

impl MetricsRecorder {
    pub fn new(sink: Arc<dyn MetricsSink>) -> Self {
        Self { sink }
    }
}

#[async_trait]
impl Consumer for MetricsRecorder {
    fn name(&self) -> &'static str {
        events_schema::routing::METRICS
    }

    async fn apply(&self, event: &DomainEvent, _: &Delivery) -> Result<(), ApplyError> {
        let Some(record) = metrics::build(event) else {
            return Ok(());
        };
        let rejected = self.sink.write(std::slice::from_ref(&record)).await?;
        match rejected.into_iter().next().map(|r| r.rejection) {
            None => Ok(()),
            Some(RecordRejection::AlreadyStored { existing_version }) => {
                tracing::debug!(version = record.version, ?existing_version, "metric record already stored");
                Ok(())
            }
            Some(RecordRejection::Refused(reason)) => {
                Err(ApplyError::Rejected(format!("the metric record was refused: {reason}")))
            }
        }
    }
}

/// What became of one record of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Written, or already stored at an equal or higher version.
    Done,
    /// Refused for good: park its event with this reason.
    Refused(String),
    /// The write failed as a whole (unavailable, throttled): retry the event.
    Failed(StoreError),
}

/// What a batch of records came to: how many were written, repeats, refused, failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    pub calls: usize,
    pub written: usize,
    pub already_stored: usize,
    pub refused: usize,
    pub failed: usize,
}

/// Writes `records` in calls of at most [`MAX_RECORDS_PER_WRITE`] and settles each one: the
/// outcomes are in the order of `records`. Calls run one after another, so a sink that
/// throttles is not hit with the whole batch at once.
pub async fn write_batch(sink: &dyn MetricsSink, records: &[MetricRecord]) -> (Vec<RecordOutcome>, WriteReport) {
    let mut outcomes = Vec::with_capacity(records.len());
    let mut report = WriteReport::default();
    for chunk in records.chunks(MAX_RECORDS_PER_WRITE) {
        report.calls += 1;
        match sink.write(chunk).await {
            Ok(rejected) => outcomes.extend(settle(chunk.len(), rejected, &mut report)),
            Err(e) => {
                report.failed += chunk.len();
                outcomes.extend(std::iter::repeat_n(RecordOutcome::Failed(e), chunk.len()));
            }
        }
    }
    (outcomes, report)
}

fn settle(len: usize, rejected: Vec<Rejected>, report: &mut WriteReport) -> Vec<RecordOutcome> {
    let mut outcomes = vec![RecordOutcome::Done; len];
    let mut not_written = vec![false; len];
    for r in rejected {
        let (Some(slot), Some(flag)) = (outcomes.get_mut(r.index), not_written.get_mut(r.index)) else {
            // A sink naming a record it was not given: nothing of ours to settle.
            tracing::warn!(index = r.index, len, "a rejection names no record of the write");
            continue;
        };
        *flag = true;
        *slot = match r.rejection {
            RecordRejection::AlreadyStored { .. } => {
                report.already_stored += 1;
                RecordOutcome::Done
            }
            RecordRejection::Refused(reason) => {
                report.refused += 1;
                RecordOutcome::Refused(reason)
            }
        };
    }
    report.written += not_written.iter().filter(|n| !**n).count();
    outcomes
}

/// A queue batch through the metrics sink in as few writes as it allows: every message
/// decoded and built, all records written together ([`write_batch`]), each message settled
/// by its record's outcome. The report names the failed messages as
/// [`process_batch_report`](crate::pipeline::process_batch_report) does, so the queue retries
/// those alone: a refused record with its reason (it ends in the dead letters with it), a
/// throttled write as throttled.
pub async fn record_batch(sink: &dyn MetricsSink, batch: &[InboundMessage]) -> (BatchReport, WriteReport) {
    let mut report = BatchReport::default();
    let now = events_schema::Timestamp::now().unix_millis();
    let mut records = Vec::with_capacity(batch.len());
    let mut owners = Vec::with_capacity(batch.len());
    for message in batch {
        match decode(&message.body) {
            Ok((event, delivery)) => {
                report.processed += 1;
                report.max_lag_ms = report.max_lag_ms.max(now - event.meta.occurred_at.unix_millis());
                report.replayed += usize::from(delivery.replay_name.is_some());
                if let Some(record) = metrics::build(&event) {
                    records.push(record);
                    owners.push(message);
                }
            }
            Err(e) => report.failures.push(failure(message, e.to_string(), Cause::Refused)),
        }
    }
    let (outcomes, written) = write_batch(sink, &records).await;
    for (message, outcome) in owners.into_iter().zip(outcomes) {
        let failed = match outcome {
            RecordOutcome::Done => continue,
            RecordOutcome::Refused(reason) => {
                failure(message, format!("the metric record was refused: {reason}"), Cause::Refused)
            }
            RecordOutcome::Failed(e) => {
                let cause = match e {
                    StoreError::Throttled(_) => Cause::Throttled,
                    StoreError::Unavailable(_) => Cause::Unavailable,
                    _ => Cause::Refused,
                };
                failure(message, e.to_string(), cause)
            }
        };
        report.processed -= 1;
        report.failures.push(failed);
    }
    (report, written)
}

/// Why a message of a batch failed, as the queue treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// The event or its record is at fault: retried, then dead-lettered with the reason.
    Refused,
    /// The sink refused for load: backed off.
    Throttled,
    /// The sink was unavailable: the message is sound.
    Unavailable,
}

fn failure(message: &InboundMessage, reason: String, cause: Cause) -> MessageFailure {
    tracing::warn!(message_id = %message.id, %reason, ?cause, "message failed");
    MessageFailure {
        id: message.id.clone(),
        reason,
        throttled: cause == Cause::Throttled,
        unavailable: cause == Cause::Unavailable,
    }
}

/// The consumer's write figures of one batch as an EMF line (namespace `Taskstream`,
/// dimension `Consumer`), beside the pipeline's own.
pub fn write_emf_line(report: &WriteReport, now_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Taskstream",
                "Dimensions": [["Consumer"]],
                "Metrics": [
                    { "Name": "RecordsWritten", "Unit": "Count" },
                    { "Name": "RecordsAlreadyStored", "Unit": "Count" },
                    { "Name": "RecordsRefused", "Unit": "Count" },
                    { "Name": "RecordWrites", "Unit": "Count" }
                ]
            }]
        },
        "Consumer": events_schema::routing::METRICS,
        "RecordsWritten": report.written,
        "RecordsAlreadyStored": report.already_stored,
        "RecordsRefused": report.refused + report.failed,
        "RecordWrites": report.calls,
    })
    .to_string()
}

/// The sink of a deployment without a metrics store (`metricsSink: none`): each record goes
/// to CloudWatch as an EMF line of its own (namespace `Taskstream/Tasks`, by tenant and by
/// tenant and event type, at the event's time), so the task figures are still charted.
/// CloudWatch takes points up to two weeks old; it drops older ones (a replay of the past),
/// which is the price of having no store. The lines go to `out` (stdout on Lambda).
pub struct EmfSink<W> {
    out: std::sync::Mutex<W>,
}

impl<W: std::io::Write + Send> EmfSink<W> {
    pub fn new(out: W) -> Self {
        Self { out: std::sync::Mutex::new(out) }
    }

    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One record as an EMF line.
pub fn record_emf_line(record: &MetricRecord) -> String {
    let m = &record.measures;
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": record.time_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Taskstream/Tasks",
                "Dimensions": [["Tenant"], ["Tenant", "EventType"]],
                "Metrics": [
                    { "Name": "Events", "Unit": "Count" },
                    { "Name": "CycleTimeSeconds", "Unit": "Seconds" },
                    { "Name": "CompletedPoints", "Unit": "Count" },
                    { "Name": "Overdue", "Unit": "Count" },
                    { "Name": "WipDelta", "Unit": "Count" }
                ]
            }]
        },
        "Tenant": record.dimensions.tenant,
        "EventType": record.dimensions.event_type,
        "Events": m.events,
    });
    // A metric absent from the line is not recorded: only what the event carries is charted.
    let figures = [
        ("CycleTimeSeconds", m.cycle_time_seconds.map(serde_json::Value::from)),
        ("CompletedPoints", m.completed_points.map(serde_json::Value::from)),
        ("Overdue", m.overdue.map(|o| serde_json::Value::from(u8::from(o)))),
        ("WipDelta", m.wip_delta.map(serde_json::Value::from)),
    ];
    for (name, value) in figures {
        if let Some(value) = value {
            line[name] = value;
        }
    }
    line.to_string()
}

#[async_trait]
impl<W: std::io::Write + Send> MetricsSink for EmfSink<W> {
    async fn write(&self, records: &[MetricRecord]) -> Result<Vec<Rejected>, StoreError> {
        let mut out = self.out.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for record in records {
            writeln!(out, "{}", record_emf_line(record)).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use events_schema::envelope::ChangeContext;
    use events_schema::events::{Priority, TaskCreated, TaskSnapshot, TaskStatus};
    use events_schema::{AggregateType, EventData, Timestamp};

    use super::*;

    /// Records its calls; refuses the indexes (across all calls) it is told to.
    #[derive(Default)]
    struct Recording {
        calls: Mutex<Vec<usize>>,
        refuse: Vec<(usize, RecordRejection)>,
        fail: bool,
    }

    #[async_trait]
    impl MetricsSink for Recording {
        async fn write(&self, records: &[MetricRecord]) -> Result<Vec<Rejected>, StoreError> {
            if self.fail {
                return Err(StoreError::Throttled("slow down".into()));
            }
            let mut calls = self.calls.lock().unwrap();
            let offset: usize = calls.iter().sum();
            calls.push(records.len());
            Ok(self
                .refuse
                .iter()
                .filter(|(i, _)| (offset..offset + records.len()).contains(i))
                .map(|(i, r)| Rejected { index: i - offset, rejection: r.clone() })
                .collect())
        }
    }

    fn created(n: u64) -> DomainEvent {
        let at = Timestamp::from_unix_millis(1_772_524_800_000).unwrap();
        let task = TaskSnapshot {
            id: format!("task-{n}"),
            title: "t".into(),
            description: None,
            status: TaskStatus::Todo,
            priority: Priority::Low,
            assignee: None,
            reporter: None,
            category_id: None,
            project_id: None,
            sprint_id: None,
            tags: vec![],
            due_date: None,
            estimate_points: None,
            created_at: at,
            updated_at: at,
            status_changed_at: at,
            escalation: None,
            version: 1,
        };
        let ctx = ChangeContext {
            tenant: "acme".into(),
            aggregate_type: AggregateType::Task,
            aggregate_id: task.id.clone(),
            aggregate_version: 1,
            occurred_at: at,
            correlation_id: "c".into(),
            actor: "a".into(),
        };
        DomainEvent::new(&ctx, EventData::TaskCreated(TaskCreated { task }))
    }

    fn records(n: u64) -> Vec<MetricRecord> {
        (0..n).filter_map(|i| metrics::build(&created(i))).collect()
    }

    #[tokio::test]
    async fn a_batch_goes_out_in_writes_of_at_most_100_and_rejections_settle_their_own_records() {
        let sink = Recording {
            refuse: vec![
                (5, RecordRejection::AlreadyStored { existing_version: Some(1) }),
                (130, RecordRejection::Refused("time out of range".into())),
            ],
            ..Recording::default()
        };
        let (outcomes, report) = write_batch(&sink, &records(250)).await;
        assert_eq!(*sink.calls.lock().unwrap(), vec![100, 100, 50]);
        assert_eq!(outcomes.len(), 250);
        assert_eq!(outcomes[5], RecordOutcome::Done, "already stored is done");
        assert_eq!(outcomes[130], RecordOutcome::Refused("time out of range".into()));
        assert_eq!(outcomes.iter().filter(|o| **o == RecordOutcome::Done).count(), 249);
        assert_eq!(report, WriteReport { calls: 3, written: 248, already_stored: 1, refused: 1, failed: 0 });
    }

    #[tokio::test]
    async fn a_failed_write_fails_its_records_for_a_retry() {
        let sink = Recording { fail: true, ..Recording::default() };
        let (outcomes, report) = write_batch(&sink, &records(3)).await;
        assert!(outcomes.iter().all(|o| matches!(o, RecordOutcome::Failed(StoreError::Throttled(_)))));
        assert_eq!((report.failed, report.written), (3, 0));
    }

    #[tokio::test]
    async fn the_consumer_counts_a_stored_repeat_as_done_and_fails_a_refusal_with_its_reason() {
        let repeat = Recording {
            refuse: vec![(0, RecordRejection::AlreadyStored { existing_version: Some(1) })],
            ..Recording::default()
        };
        MetricsRecorder::new(Arc::new(repeat)).apply(&created(1), &Delivery::default()).await.unwrap();

        let refused =
            Recording { refuse: vec![(0, RecordRejection::Refused("bad value".into()))], ..Recording::default() };
        let err = MetricsRecorder::new(Arc::new(refused)).apply(&created(1), &Delivery::default()).await.unwrap_err();
        assert!(matches!(&err, ApplyError::Rejected(m) if m.contains("bad value")), "{err}");

        let throttled = Recording { fail: true, ..Recording::default() };
        let err = MetricsRecorder::new(Arc::new(throttled)).apply(&created(1), &Delivery::default()).await.unwrap_err();
        assert!(matches!(err, ApplyError::Store(StoreError::Throttled(_))), "a throttle is retried, not parked");
    }

    fn message(id: &str, event: &DomainEvent) -> InboundMessage {
        let envelope = event.to_envelope().unwrap();
        InboundMessage {
            id: id.into(),
            body: serde_json::to_string(&events_schema::BridgeEvent::wrap(&envelope).unwrap()).unwrap(),
        }
    }

    #[tokio::test]
    async fn a_queue_batch_is_written_together_and_each_message_settles_by_its_record() {
        let sink = Recording {
            refuse: vec![
                (0, RecordRejection::AlreadyStored { existing_version: Some(1) }),
                (1, RecordRejection::Refused("the record timestamp is outside the retention period".into())),
            ],
            ..Recording::default()
        };
        let batch = vec![
            message("repeat", &created(1)),
            InboundMessage { id: "garbage".into(), body: "{}".into() },
            message("refused", &created(2)),
            message("fine", &created(3)),
        ];
        let (report, written) = record_batch(&sink, &batch).await;
        assert_eq!(*sink.calls.lock().unwrap(), vec![3], "one write for the batch");
        let failed: Vec<(&str, bool)> = report.failures.iter().map(|f| (f.id.as_str(), f.throttled)).collect();
        assert_eq!(failed, vec![("garbage", false), ("refused", false)]);
        assert!(report.failures[1].reason.contains("outside the retention period"), "{:?}", report.failures[1]);
        assert_eq!(report.processed, 2);
        assert_eq!(written, WriteReport { calls: 1, written: 1, already_stored: 1, refused: 1, failed: 0 });

        let throttled = Recording { fail: true, ..Recording::default() };
        let (report, _) = record_batch(&throttled, &batch[..1]).await;
        assert_eq!((report.processed, report.failures.len(), report.failures[0].throttled), (0, 1, true));
    }

    #[tokio::test]
    async fn without_a_store_each_record_is_an_emf_line_at_the_events_time() {
        let sink = EmfSink::new(Vec::new());
        let records = records(2);
        assert!(sink.write(&records).await.unwrap().is_empty());
        let text = String::from_utf8(sink.into_inner()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["_aws"]["Timestamp"], 1_772_524_800_000_i64);
        assert_eq!(lines[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Taskstream/Tasks");
        assert_eq!((lines[0]["Tenant"].as_str(), lines[0]["EventType"].as_str()), (Some("acme"), Some("TaskCreated")));
        assert_eq!((lines[0]["Events"].as_u64(), lines[0]["WipDelta"].as_i64()), (Some(1), Some(0)));
        assert!(lines[0].get("CycleTimeSeconds").is_none(), "a creation has no cycle time");
    }
}
