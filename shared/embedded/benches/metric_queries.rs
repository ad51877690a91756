//! The metric queries over 1 000 000 stored metric records of one tenant: 200 000 tasks over
//! a year (each created, started, finished, completed and nearly all updated once), in 20
//! projects with two-week sprints and 50 assignees, and 2 000 sprint records. Each query
//! runs as `GET /metrics/{name}` runs it, over the whole year, unfiltered (the most rows it
//! can read) and by one project.
//!
//! Run: `cargo bench -p shared-embedded --bench metric_queries`. Figures go to BENCHMARKS.md.
//! Loading the records takes a minute; the time is printed and not part of the figures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a panic is the report

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use events_schema::Timestamp;
use shared_core::metrics::{
    Dimensions, Interval, Measures, MetricName, MetricRecord, MetricsQuery, SPRINT_MEASURE, TASK_MEASURE,
};
use shared_core::ports::{MAX_RECORDS_PER_WRITE, MetricsReader, MetricsSink};
use shared_embedded::{Durability, Engine, EngineConfig};

const TASKS: u64 = 200_000;
const PROJECTS: u64 = 20;
const ASSIGNEES: u64 = 50;
const START_MS: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const YEAR_MS: i64 = 365 * 86_400_000;
const SPRINT_MS: i64 = 14 * 86_400_000;

fn sprint_of(project: u64, time_ms: i64) -> String {
    format!("sprint-{project}-{}", (time_ms - START_MS) / SPRINT_MS)
}

/// A small deterministic generator, so every run stores the same records.
fn mix(n: u64) -> u64 {
    let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ (x >> 29)
}

fn records() -> Vec<MetricRecord> {
    let mut out = Vec::with_capacity(1_000_000);
    for t in 0..TASKS {
        let r = mix(t);
        let project = r % PROJECTS;
        let created = START_MS + (r % (YEAR_MS as u64 - 20 * 86_400_000)) as i64;
        let started = created + (mix(t + 1) % (3 * 86_400_000)) as i64;
        let done = started + (mix(t + 2) % (10 * 86_400_000)) as i64;
        let points = mix(t + 3) % 13 + 1;
        let due_in = (mix(t + 4) % 15) as i64 * 86_400_000;
        let dims = |event_type: &'static str| Dimensions {
            tenant: "acme".into(),
            aggregate_id: format!("task-{t}"),
            event_type,
            project: Some(format!("project-{project}")),
            sprint: Some(sprint_of(project, created)),
            assignee: Some(format!("user-{}", mix(t + 5) % ASSIGNEES)),
            priority: Some(["low", "medium", "high", "critical"][(r % 4) as usize]),
            category: None,
        };
        let record = |event_type, time_ms, version, measures: Measures| MetricRecord {
            dimensions: dims(event_type),
            measure_name: TASK_MEASURE,
            time_ms,
            version,
            measures: Measures { events: 1, estimate_points: Some(points), ..measures },
        };
        out.push(record(
            "TaskCreated",
            created,
            1,
            Measures { status_to: Some("todo"), wip_delta: Some(0), ..Measures::default() },
        ));
        let change = |from, to, delta, secs| Measures {
            status_from: Some(from),
            status_to: Some(to),
            wip_delta: Some(delta),
            seconds_in_previous_status: Some(secs),
            ..Measures::default()
        };
        out.push(record(
            "TaskStatusChanged",
            started,
            2,
            change("todo", "in_progress", 1, ((started - created) / 1000) as u64),
        ));
        out.push(record(
            "TaskStatusChanged",
            done,
            3,
            change("in_progress", "done", -1, ((done - started) / 1000) as u64),
        ));
        let completion = Measures {
            cycle_time_seconds: Some(((done - created) / 1000) as u64),
            completed_points: Some(points),
            overdue: Some(done > created + due_in),
            ..Measures::default()
        };
        out.push(record("TaskCompleted", done, 3, completion));
        // All but 2 000 tasks are also updated once (a title, an estimate): a million in all
        // with the sprint records.
        if t < TASKS - 2000 {
            out.push(record("TaskUpdated", created + 60_000, 4, Measures::default()));
        }
    }
    for project in 0..PROJECTS {
        for n in 0..50 {
            for (event_type, at) in [("SprintStarted", 0), ("SprintClosed", SPRINT_MS - 1)] {
                let sprint = format!("sprint-{project}-{n}");
                out.push(MetricRecord {
                    dimensions: Dimensions {
                        tenant: "acme".into(),
                        aggregate_id: sprint.clone(),
                        event_type,
                        project: Some(format!("project-{project}")),
                        sprint: Some(sprint),
                        assignee: None,
                        priority: None,
                        category: None,
                    },
                    measure_name: SPRINT_MEASURE,
                    time_ms: START_MS + n * SPRINT_MS + at,
                    version: if at == 0 { 2 } else { 3 },
                    measures: Measures { events: 1, ..Measures::default() },
                });
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig { durability: Durability::Normal, ..EngineConfig::default() };
    let engine = Engine::open(dir.path(), config).unwrap();
    let metrics = engine.metrics();
    let records = records();
    assert_eq!(records.len(), 1_000_000);
    let loading = Instant::now();
    runtime.block_on(async {
        let writes: Vec<_> = records
            .chunks(MAX_RECORDS_PER_WRITE)
            .map(|chunk| {
                let (metrics, chunk) = (metrics.clone(), chunk.to_vec());
                tokio::spawn(async move { metrics.write(&chunk).await.unwrap() })
            })
            .collect();
        for w in writes {
            assert!(w.await.unwrap().is_empty());
        }
    });
    println!("stored {} metric records in {:.1} s", records.len(), loading.elapsed().as_secs_f64());
    drop(records);

    let year = MetricsQuery {
        from: Timestamp::from_unix_millis(START_MS),
        to: Timestamp::from_unix_millis(START_MS + YEAR_MS),
        ..MetricsQuery::default()
    };
    let mut group = c.benchmark_group("metric_queries");
    group.sample_size(10);
    for name in MetricName::ALL {
        let (all, one_project) = if name == MetricName::Burndown {
            let sprint = Some("sprint-3-10".to_owned());
            (
                MetricsQuery { sprint: sprint.clone(), ..year.clone() },
                MetricsQuery { sprint, project: Some("project-3".into()), interval: Interval::Hour, ..year.clone() },
            )
        } else {
            (
                MetricsQuery { interval: Interval::Day, ..year.clone() },
                MetricsQuery { project: Some("project-3".into()), ..year.clone() },
            )
        };
        for (label, query) in [("all", all), ("project", one_project)] {
            let rows = runtime.block_on(metrics.query("acme", name, &query)).unwrap().len();
            assert!(rows > 0, "{} {label} answers", name.as_str());
            group.bench_function(format!("{}/{label}", name.as_str()), |b| {
                b.iter(|| runtime.block_on(metrics.query("acme", name, &query)).unwrap().len())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
