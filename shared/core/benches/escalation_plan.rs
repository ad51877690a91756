//! Escalation plans, one core: 10 000 tasks in a mix the escalation consumer sees (due dates
//! ahead, due dates past, tasks without one under an SLA, a few in a project with its own
//! rules, a few finished), each planned under a tenant's policy at a fixed time.
//!
//! Run: `cargo bench -p shared-core --bench escalation_plan`. Figures go to BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a panic is the report

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use events_schema::Timestamp;
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use shared_core::escalation::{Level, Policy, ProjectRules, Target, plan};

const TASKS: usize = 10_000;

fn tasks() -> Vec<TaskSnapshot> {
    let at = Timestamp::parse("2026-03-01T09:00:00Z").unwrap();
    (0..TASKS)
        .map(|i| {
            let due = match i % 10 {
                0..=4 => Some(format!("2026-03-{:02}", 11 + i % 18)),
                5 | 6 => Some(format!("2026-02-{:02}", 1 + i % 27)),
                _ => None,
            };
            TaskSnapshot {
                id: format!("0195{i:08x}-0000-7000-8000-000000000000"),
                title: "Renew the certificate".into(),
                description: None,
                status: if i % 20 == 19 { TaskStatus::Done } else { TaskStatus::Todo },
                priority: Priority::ALL[i % 4],
                assignee: Some(format!("person-{}", i % 50)),
                reporter: Some("maria".into()),
                category_id: None,
                project_id: Some(format!("project-{}", i % 8)),
                sprint_id: None,
                tags: vec!["ops".into()],
                due_date: due,
                estimate_points: Some(3),
                created_at: at,
                updated_at: at,
                status_changed_at: at,
                escalation: None,
                version: 2,
            }
        })
        .collect()
}

fn policy() -> Policy {
    let mut p = Policy::default();
    p.rules.lead = Some("ana".into());
    p.projects.insert(
        "project-3".into(),
        ProjectRules {
            levels: Some(vec![Level {
                name: "late".into(),
                offset_minutes: 120,
                notify: vec![Target::Lead, Target::Reporter],
                raise_priority: Some(Priority::High),
            }]),
            lead: Some("omar".into()),
            utc_offset_minutes: Some(60),
            ..ProjectRules::default()
        },
    );
    p
}

fn bench(c: &mut Criterion) {
    let tasks = tasks();
    let policy = policy();
    let now = Timestamp::parse("2026-03-10T12:00:00Z").unwrap();
    let planned = tasks.iter().filter_map(|t| plan(t, &policy, now)).count();
    assert!(planned > TASKS / 2, "most tasks of the mix have a plan ({planned})");

    let mut group = c.benchmark_group("escalation");
    group.throughput(Throughput::Elements(TASKS as u64));
    group.bench_function("plan", |b| {
        b.iter(|| tasks.iter().filter_map(|t| plan(std::hint::black_box(t), &policy, now)).count());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
