//! The metric queries on a known data set, with every figure worked out by hand; the same
//! events applied twice, and in reverse order, answer the same; another tenant's records
//! never show.

use std::collections::HashMap;
use std::sync::Arc;

use events_schema::events::{Priority, SprintSnapshot, SprintStatus, TaskSnapshot, TaskStatus};
use events_schema::{AggregateType, DomainEvent, Timestamp};
use shared_core::ChangeRecord;
use shared_core::consumers::metrics::MetricsRecorder;
use shared_core::metrics::{
    BurndownRow, CycleTimeRow, Interval, MetricName, MetricsAnswer, MetricsQuery, SlaRow, ThroughputRow, VelocityRow,
    WipRow,
};
use shared_core::pipeline::{Consumer, Delivery};
use shared_core::ports::{Aggregate, MetricsReader};

use super::SqliteMetrics;
use crate::db::Db;

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Writes tasks and sprints as the store would and keeps the events the router derives.
#[derive(Default)]
struct History {
    current: HashMap<(String, String), Aggregate>,
    events: Vec<DomainEvent>,
}

struct Task<'a> {
    id: &'a str,
    sprint: &'a str,
    project: &'a str,
    assignee: &'a str,
    points: u32,
    due: Option<&'a str>,
}

impl History {
    fn change(&mut self, tenant: &str, id: &str, when: &str, new: Option<Aggregate>) {
        let key = (tenant.to_owned(), id.to_owned());
        let old = self.current.get(&key).cloned();
        let version = match (&old, &new) {
            (Some(Aggregate::Task(t)), _) => t.version + 1,
            (Some(Aggregate::Sprint(s)), _) => s.version + 1,
            _ => 1,
        };
        let new = new.map(|aggregate| match aggregate {
            Aggregate::Task(mut t) => {
                t.version = version;
                t.updated_at = at(when);
                if let Some(Aggregate::Task(o)) = &old
                    && o.status != t.status
                {
                    t.status_changed_at = at(when);
                }
                Aggregate::Task(t)
            }
            Aggregate::Sprint(mut s) => {
                s.version = version;
                Aggregate::Sprint(s)
            }
            other => other,
        });
        let aggregate_type = match new.as_ref().or(old.as_ref()) {
            Some(Aggregate::Sprint(_)) => AggregateType::Sprint,
            _ => AggregateType::Task,
        };
        let record = ChangeRecord {
            tenant: tenant.to_owned(),
            aggregate_type,
            aggregate_id: id.to_owned(),
            aggregate_version: version,
            at: at(when),
            correlation_id: format!("c-{id}-{version}"),
            actor: "ana".into(),
            old,
            new: new.clone(),
        };
        self.events.extend(shared_core::derive(record).unwrap());
        match new {
            Some(n) => self.current.insert(key, n),
            None => self.current.remove(&key),
        };
    }

    fn create(&mut self, tenant: &str, task: Task<'_>, when: &str) {
        let snapshot = TaskSnapshot {
            id: task.id.into(),
            title: format!("task {}", task.id),
            description: None,
            status: TaskStatus::Todo,
            priority: Priority::Medium,
            assignee: Some(task.assignee.into()),
            reporter: None,
            category_id: None,
            project_id: Some(task.project.into()),
            sprint_id: Some(task.sprint.into()),
            tags: vec![],
            due_date: task.due.map(str::to_owned),
            estimate_points: Some(task.points),
            created_at: at(when),
            updated_at: at(when),
            status_changed_at: at(when),
            escalation: None,
            version: 0,
        };
        self.change(tenant, task.id, when, Some(Aggregate::Task(snapshot)));
    }

    fn status(&mut self, tenant: &str, id: &str, status: TaskStatus, when: &str) {
        let Some(Aggregate::Task(mut t)) = self.current.get(&(tenant.to_owned(), id.to_owned())).cloned() else {
            panic!("no task {id}");
        };
        t.status = status;
        self.change(tenant, id, when, Some(Aggregate::Task(t)));
    }

    fn delete(&mut self, tenant: &str, id: &str, when: &str) {
        self.change(tenant, id, when, None);
    }

    fn sprint(&mut self, tenant: &str, id: &str, status: SprintStatus, when: &str) {
        let snapshot = SprintSnapshot {
            id: id.into(),
            project_id: "P".into(),
            name: id.into(),
            status,
            started_at: None,
            closed_at: None,
            carry_over_to: None,
            moved_out: 0,
            summary: None,
            version: 0,
        };
        self.change(tenant, id, when, Some(Aggregate::Sprint(snapshot)));
    }
}

/// The data set (acme). Monday 2 March 2026 is D1.
///
/// | task | sprint | project | assignee | points | due | created | in progress | done |
/// |---|---|---|---|---|---|---|---|---|
/// | T1 | S1 | P | ana | 3 | 03-03 | D1 09:00 | D1 10:00 | 03-03 10:00 (25 h) |
/// | T2 | S1 | P | bo | 5 | 03-02 | D1 09:30 | D1 12:00 | 03-04 09:30 (48 h, late) |
/// | T3 | S1 | P | ana | 2 | — | D1 11:00 | 03-03 08:00 | 03-03 11:00 (24 h) |
/// | T4 | S2 | Q | bo | 8 | 03-10 | 03-02 09:00 | 03-03 10:00 | 03-09 09:00 (7 d) |
/// | T5 | S1 | P | ana | 1 | — | D1 13:00 | 03-04 10:00 | — |
/// | T6 | S1 | P | bo | 13 | — | 03-03 09:00 | — | deleted 03-04 12:00 |
///
/// S1 started D1 08:00 and closed 03-04 18:00. Tenant umbrella has a task T1 of its own in
/// its own S1, completed on 03-03 with 40 points.
fn data_set() -> Vec<DomainEvent> {
    use TaskStatus::{Done, InProgress};
    let mut h = History::default();
    let t = |id, sprint, project, assignee, points, due| Task { id, sprint, project, assignee, points, due };
    h.sprint("acme", "S1", SprintStatus::Planned, "2026-03-01T12:00:00.000Z");
    h.sprint("acme", "S1", SprintStatus::Active, "2026-03-02T08:00:00.000Z");
    h.create("acme", t("T1", "S1", "P", "ana", 3, Some("2026-03-03")), "2026-03-02T09:00:00.000Z");
    h.create("acme", t("T2", "S1", "P", "bo", 5, Some("2026-03-02")), "2026-03-02T09:30:00.000Z");
    h.create("acme", t("T3", "S1", "P", "ana", 2, None), "2026-03-02T11:00:00.000Z");
    h.create("acme", t("T4", "S2", "Q", "bo", 8, Some("2026-03-10")), "2026-03-02T09:00:00.000Z");
    h.create("acme", t("T5", "S1", "P", "ana", 1, None), "2026-03-02T13:00:00.000Z");
    h.status("acme", "T1", InProgress, "2026-03-02T10:00:00.000Z");
    h.status("acme", "T2", InProgress, "2026-03-02T12:00:00.000Z");
    h.create("acme", t("T6", "S1", "P", "bo", 13, None), "2026-03-03T09:00:00.000Z");
    h.status("acme", "T3", InProgress, "2026-03-03T08:00:00.000Z");
    h.status("acme", "T1", Done, "2026-03-03T10:00:00.000Z");
    h.status("acme", "T4", InProgress, "2026-03-03T10:00:00.000Z");
    h.status("acme", "T3", Done, "2026-03-03T11:00:00.000Z");
    h.status("acme", "T2", Done, "2026-03-04T09:30:00.000Z");
    h.status("acme", "T5", InProgress, "2026-03-04T10:00:00.000Z");
    h.delete("acme", "T6", "2026-03-04T12:00:00.000Z");
    h.sprint("acme", "S1", SprintStatus::Closed, "2026-03-04T18:00:00.000Z");
    h.status("acme", "T4", Done, "2026-03-09T09:00:00.000Z");

    h.create("umbrella", t("T1", "S1", "P", "ana", 40, Some("2026-03-01")), "2026-03-02T09:00:00.000Z");
    h.status("umbrella", "T1", InProgress, "2026-03-02T09:10:00.000Z");
    h.status("umbrella", "T1", Done, "2026-03-03T09:00:00.000Z");
    h.events
}

async fn store_with(events: &[DomainEvent], times: usize) -> (tempfile::TempDir, Arc<SqliteMetrics>) {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(SqliteMetrics::new(Db::open(dir.path()).unwrap()));
    let consumer = MetricsRecorder::new(metrics.clone());
    for _ in 0..times {
        for event in events {
            consumer.apply(event, &Delivery::default()).await.unwrap();
        }
    }
    (dir, metrics)
}

fn q(interval: Interval) -> MetricsQuery {
    MetricsQuery { interval, ..MetricsQuery::default() }
}

fn ts(text: &str) -> Timestamp {
    at(text)
}

async fn ask(m: &SqliteMetrics, name: MetricName, query: MetricsQuery) -> MetricsAnswer {
    m.query("acme", name, &query).await.unwrap()
}

const D1: &str = "2026-03-02T00:00:00.000Z";
const D2: &str = "2026-03-03T00:00:00.000Z";
const D3: &str = "2026-03-04T00:00:00.000Z";
const W2: &str = "2026-03-09T00:00:00.000Z";

#[tokio::test]
async fn throughput_per_day_and_week_with_filters() {
    let (_dir, m) = store_with(&data_set(), 1).await;
    let row = |start, completed, points| ThroughputRow { start: ts(start), completed, points };
    assert_eq!(
        ask(&m, MetricName::Throughput, q(Interval::Day)).await,
        MetricsAnswer::Throughput(vec![row(D2, 2, 5), row(D3, 1, 5), row(W2, 1, 8)])
    );
    assert_eq!(
        ask(&m, MetricName::Throughput, q(Interval::Week)).await,
        MetricsAnswer::Throughput(vec![row(D1, 3, 10), row(W2, 1, 8)])
    );
    let ana = MetricsQuery { assignee: Some("ana".into()), ..q(Interval::Week) };
    assert_eq!(ask(&m, MetricName::Throughput, ana).await, MetricsAnswer::Throughput(vec![row(D1, 2, 5)]));
    let project_q = MetricsQuery { project: Some("Q".into()), ..q(Interval::Week) };
    assert_eq!(ask(&m, MetricName::Throughput, project_q).await, MetricsAnswer::Throughput(vec![row(W2, 1, 8)]));
    // `from` is inclusive, `to` exclusive.
    let range = MetricsQuery { from: Some(ts(D3)), to: Some(ts(W2)), ..q(Interval::Day) };
    assert_eq!(ask(&m, MetricName::Throughput, range).await, MetricsAnswer::Throughput(vec![row(D3, 1, 5)]));
}

#[tokio::test]
async fn cycle_time_median_and_p90() {
    let (_dir, m) = store_with(&data_set(), 1).await;
    let row = |start, completed, p50_seconds, p90_seconds| CycleTimeRow {
        start: ts(start),
        completed,
        p50_seconds,
        p90_seconds,
    };
    // Week 1: 86 400, 90 000, 172 800 → median the 2nd, p90 the 3rd (nearest rank).
    assert_eq!(
        ask(&m, MetricName::CycleTime, q(Interval::Week)).await,
        MetricsAnswer::CycleTime(vec![row(D1, 3, 90_000, 172_800), row(W2, 1, 604_800, 604_800)])
    );
    // 3 March: 86 400 and 90 000 → median the 1st, p90 the 2nd.
    assert_eq!(
        ask(&m, MetricName::CycleTime, q(Interval::Day)).await,
        MetricsAnswer::CycleTime(vec![
            row(D2, 2, 86_400, 90_000),
            row(D3, 1, 172_800, 172_800),
            row(W2, 1, 604_800, 604_800)
        ])
    );
}

#[tokio::test]
async fn velocity_per_sprint() {
    let (_dir, m) = store_with(&data_set(), 1).await;
    let row = |sprint: &str, completed, points| VelocityRow { sprint: sprint.into(), completed, points };
    assert_eq!(
        ask(&m, MetricName::Velocity, q(Interval::Day)).await,
        MetricsAnswer::Velocity(vec![row("S1", 3, 10), row("S2", 1, 8)])
    );
    let s2 = MetricsQuery { sprint: Some("S2".into()), ..q(Interval::Day) };
    assert_eq!(ask(&m, MetricName::Velocity, s2).await, MetricsAnswer::Velocity(vec![row("S2", 1, 8)]));
}

#[tokio::test]
async fn sla_breaches() {
    let (_dir, m) = store_with(&data_set(), 1).await;
    let row =
        |start, completed, with_due_date, breached| SlaRow { start: ts(start), completed, with_due_date, breached };
    // T2 was due on 2 March and done on 4 March; T1 was done on its due date; T3 had none.
    assert_eq!(
        ask(&m, MetricName::Sla, q(Interval::Week)).await,
        MetricsAnswer::Sla(vec![row(D1, 3, 2, 1), row(W2, 1, 1, 0)])
    );
}

#[tokio::test]
async fn work_in_progress_at_the_end_of_each_day() {
    let (_dir, m) = store_with(&data_set(), 1).await;
    let row = |start, entered, left, wip| WipRow { start: ts(start), entered, left, wip };
    let expected = vec![row(D1, 2, 0, 2), row(D2, 2, 2, 2), row(D3, 1, 1, 2), row(W2, 0, 1, 1)];
    assert_eq!(ask(&m, MetricName::Wip, q(Interval::Day)).await, MetricsAnswer::Wip(expected.clone()));
    // Starting later, what was in progress before counts.
    let later = MetricsQuery { from: Some(ts(D3)), ..q(Interval::Day) };
    assert_eq!(ask(&m, MetricName::Wip, later).await, MetricsAnswer::Wip(expected[2..].to_vec()));
    let ana = MetricsQuery { assignee: Some("ana".into()), ..q(Interval::Day) };
    assert_eq!(
        ask(&m, MetricName::Wip, ana).await,
        MetricsAnswer::Wip(vec![row(D1, 1, 0, 1), row(D2, 1, 2, 0), row(D3, 1, 0, 1)])
    );
}

#[tokio::test]
async fn burndown_of_a_sprint() {
    let (_dir, m) = store_with(&data_set(), 1).await;
    let row = |start, completed_points, remaining_points| BurndownRow {
        start: ts(start),
        scope_points: 11,
        completed_points,
        remaining_points,
    };
    // Scope: T1 3 + T2 5 + T3 2 + T5 1 (T6 deleted). Done: T1 and T3 on 3 March, T2 on the 4th.
    let s1 = MetricsQuery { sprint: Some("S1".into()), ..q(Interval::Day) };
    assert_eq!(
        ask(&m, MetricName::Burndown, s1).await,
        MetricsAnswer::Burndown(vec![row(D1, 0, 11), row(D2, 5, 6), row(D3, 10, 1)])
    );
    assert_eq!(ask(&m, MetricName::Burndown, q(Interval::Day)).await, MetricsAnswer::Burndown(vec![]));
}

#[tokio::test]
async fn the_same_events_twice_or_in_reverse_order_answer_the_same() {
    let events = data_set();
    let (_a, once) = store_with(&events, 1).await;
    let (_b, twice) = store_with(&events, 2).await;
    let reversed: Vec<DomainEvent> = events.iter().rev().cloned().collect();
    let (_c, backwards) = store_with(&reversed, 1).await;
    for name in MetricName::ALL {
        for interval in Interval::ALL {
            let query = MetricsQuery { sprint: (name == MetricName::Burndown).then(|| "S1".into()), ..q(interval) };
            let expected = ask(&once, name, query.clone()).await;
            assert!(!expected.is_empty(), "{name:?} {interval:?} answers something");
            assert_eq!(ask(&twice, name, query.clone()).await, expected, "{name:?} {interval:?} twice");
            assert_eq!(ask(&backwards, name, query).await, expected, "{name:?} {interval:?} reversed");
        }
    }
    let rows = |m: &SqliteMetrics| {
        m.db.read_blocking(|c| Ok(c.query_row("SELECT COUNT(*) FROM metric_records", [], |r| r.get::<_, i64>(0))?))
            .unwrap()
    };
    assert_eq!(rows(&twice), rows(&once), "a repeat adds no point");
}

#[tokio::test]
async fn another_tenants_records_never_count() {
    let (_dir, m) = store_with(&data_set(), 1).await;
    let umbrella = m.query("umbrella", MetricName::Throughput, &q(Interval::Week)).await.unwrap();
    assert_eq!(umbrella, MetricsAnswer::Throughput(vec![ThroughputRow { start: ts(D1), completed: 1, points: 40 }]));
    let nobody = m.query("initech", MetricName::Velocity, &q(Interval::Week)).await.unwrap();
    assert_eq!(nobody, MetricsAnswer::Velocity(vec![]));
}

#[tokio::test]
async fn two_changes_of_one_task_in_the_same_millisecond_are_two_points() {
    use TaskStatus::{Done, InProgress};
    let mut h = History::default();
    let t = Task { id: "T1", sprint: "S1", project: "P", assignee: "ana", points: 3, due: None };
    h.create("acme", t, "2026-03-02T09:00:00.000Z");
    // In progress and done in the same millisecond (one bulk request can do that).
    h.status("acme", "T1", InProgress, "2026-03-02T10:00:00.000Z");
    h.status("acme", "T1", Done, "2026-03-02T10:00:00.000Z");
    // Delivered twice: still one point each.
    let (_dir, m) = store_with(&h.events, 2).await;
    let row = WipRow { start: ts(D1), entered: 1, left: 1, wip: 0 };
    assert_eq!(ask(&m, MetricName::Wip, q(Interval::Day)).await, MetricsAnswer::Wip(vec![row]));
}
