//! Ingest's own work per command, without the store: read the command's JSON, validate it
//! and plan its write against the task it names, as `apply` does before it commits. A mix of
//! 1 000 commands: creates (a third with an external key), status moves (by key and by id, on
//! the latest and on a named version) and comments.
//!
//! Run: `cargo bench -p shared-core --bench ingest`. Figures go to BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a panic is the report

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use events_schema::Timestamp;
use serde_json::json;
use shared_core::context::{Identity, Role};
use shared_core::domain::Task;
use shared_core::ingest::{Body, parse_envelope, plan, validate};
use shared_core::ports::{Aggregate, Change};

const COMMANDS: usize = 1000;
const TASK_ID: &str = "0195f0e4-7c3a-7000-8000-000000000001";

fn lines() -> Vec<String> {
    (0..COMMANDS)
        .map(|i| {
            let (command_type, data) = match i % 6 {
                0 => ("TaskCreateRequested", json!({ "title": format!("Review PR-{i}"), "externalKey": format!("PR-{i}"), "priority": "high", "tags": ["git", "review"] })),
                1 => ("TaskCreateRequested", json!({ "title": format!("Task {i}"), "description": "From the integration", "dueDate": "2026-04-01" })),
                2 => ("TaskStatusRequested", json!({ "task": { "externalKey": "PR-0" }, "status": "in_progress", "expectedVersion": "latest" })),
                3 => ("TaskStatusRequested", json!({ "task": { "id": TASK_ID }, "status": "blocked", "expectedVersion": 1 })),
                4 => ("TaskCommentRequested", json!({ "task": { "externalKey": "PR-0" }, "body": "CI passed, @maria please review" })),
                _ => ("TaskCreateRequested", json!({ "title": format!("Chore {i}") })),
            };
            json!({ "commandId": format!("cmd-{i:06}"), "commandType": command_type, "schemaVersion": 1,
                    "issuedAt": "2026-03-01T08:00:00.000Z", "actor": "git-bot", "data": data })
            .to_string()
        })
        .collect()
}

/// The task every status move and comment finds (at version 1, in `todo`).
fn found() -> Task {
    let line = json!({ "commandId": "seed", "commandType": "TaskCreateRequested", "schemaVersion": 1, "data": { "title": "Seed" } });
    let command = validate(parse_envelope(line.to_string().as_bytes()).unwrap(), &publisher()).unwrap();
    match plan(&command, None, Timestamp::now(), || TASK_ID.to_owned()).unwrap().changes.remove(0) {
        Change::Put { new: Aggregate::Task(task), .. } => task,
        other => panic!("{other:?}"),
    }
}

fn publisher() -> Identity {
    Identity { tenant: "acme".into(), actor: "integrations.git".into(), role: Role::Member }
}

/// Validates and plans every line; returns how many changes were planned.
fn run(lines: &[String], task: &Task, publisher: &Identity, now: Timestamp) -> usize {
    let mut changes = 0;
    for (i, line) in lines.iter().enumerate() {
        let command = validate(parse_envelope(line.as_bytes()).unwrap(), publisher).unwrap();
        let found = match command.body {
            Body::Create { .. } => None,
            _ => Some(task),
        };
        let planned = plan(&command, found, now, || format!("0195f0e4-7c3a-7000-8000-{i:012}")).unwrap();
        changes += planned.changes.len();
    }
    changes
}

fn bench(c: &mut Criterion) {
    let lines = lines();
    let (task, publisher, now) = (found(), publisher(), Timestamp::now());
    assert_eq!(run(&lines, &task, &publisher, now), COMMANDS, "every command plans one change");
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(COMMANDS as u64));
    group.bench_function("validate_and_plan", |b| b.iter(|| run(std::hint::black_box(&lines), &task, &publisher, now)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
