//! The notifier's own work per event, without the store: the rules that answer it, then the
//! plan (own actions dropped, preferences and mute applied, one id per (event, recipient,
//! channel) as the dedupe key, a summary line), as `Notifier::apply` does between reading
//! people and recording. A mix of 1 000 events: assignments, completions, status changes
//! (a quarter to `blocked`), comments with mentions, sprint starts and closes.
//!
//! Run: `cargo bench -p shared-core --bench notify`. Figures go to BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a panic is the report

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use events_schema::envelope::ChangeContext;
use events_schema::events::{
    CommentAdded, CommentSnapshot, Priority, SprintClosed, SprintSnapshot, SprintStarted, SprintStatus, TaskAssigned,
    TaskCompleted, TaskSnapshot, TaskStatus, TaskStatusChanged,
};
use events_schema::{DomainEvent, EventData, Timestamp};
use shared_core::notify::{Channel, Kind, Person, plan};

const EVENTS: usize = 1000;
const NAMES: [&str; 8] = ["li", "maria", "rita", "sam.k", "omar", "jun", "ana", "tom"];

fn at() -> Timestamp {
    Timestamp::from_unix_millis(1_767_225_600_000).unwrap()
}

fn task(i: usize, status: TaskStatus) -> TaskSnapshot {
    TaskSnapshot {
        id: format!("0195f0e4-7c3a-7000-8000-{i:012}"),
        title: format!("Task number {i}"),
        description: None,
        status,
        priority: Priority::Medium,
        assignee: Some(NAMES[i % 8].into()),
        reporter: Some(NAMES[(i + 3) % 8].into()),
        category_id: None,
        project_id: None,
        sprint_id: None,
        tags: vec![],
        due_date: None,
        estimate_points: None,
        created_at: at(),
        updated_at: at(),
        status_changed_at: at(),
        escalation: None,
        version: 3,
    }
}

fn events() -> Vec<DomainEvent> {
    (0..EVENTS)
        .map(|i| {
            let t = task(i, TaskStatus::InProgress);
            let data = match i % 6 {
                0 => EventData::TaskAssigned(TaskAssigned {
                    task_id: t.id.clone(),
                    assignee: t.assignee.clone(),
                    previous_assignee: None,
                    task: t,
                }),
                1 => EventData::TaskCompleted(TaskCompleted {
                    task_id: t.id.clone(),
                    completed_at: at(),
                    lead_time_seconds: 60,
                    task: t,
                }),
                2 => {
                    let status = if i % 4 == 0 { TaskStatus::Blocked } else { TaskStatus::InReview };
                    EventData::TaskStatusChanged(TaskStatusChanged {
                        task_id: t.id.clone(),
                        status,
                        previous_status: Some(TaskStatus::InProgress),
                        seconds_in_previous_status: Some(60),
                        task: task(i, status),
                    })
                }
                3 | 4 => EventData::CommentAdded(CommentAdded {
                    comment: CommentSnapshot {
                        id: format!("c{i}"),
                        task_id: t.id,
                        author: NAMES[(i + 1) % 8].into(),
                        body: format!(
                            "@{} and @{} please look at this before the release",
                            NAMES[i % 8],
                            NAMES[(i + 5) % 8]
                        ),
                        mentions: vec![NAMES[i % 8].into(), NAMES[(i + 5) % 8].into()],
                        created_at: at(),
                    },
                }),
                _ => {
                    let sprint = SprintSnapshot {
                        id: format!("s{i}"),
                        project_id: "p1".into(),
                        name: format!("Sprint {i}"),
                        status: SprintStatus::Active,
                        started_at: Some(at()),
                        closed_at: None,
                        carry_over_to: None,
                        moved_out: 0,
                        summary: None,
                        version: 2,
                    };
                    if i % 2 == 0 {
                        EventData::SprintStarted(SprintStarted { sprint })
                    } else {
                        EventData::SprintClosed(SprintClosed { sprint })
                    }
                }
            };
            let ctx = ChangeContext {
                tenant: "acme".into(),
                aggregate_type: data.aggregate_type(),
                aggregate_id: format!("agg-{i}"),
                aggregate_version: 3,
                occurred_at: at(),
                correlation_id: "corr".into(),
                actor: NAMES[(i + 1) % 8].into(),
            };
            DomainEvent::new(&ctx, data)
        })
        .collect()
}

/// Half the people have entries: email as well for assignments, nothing for sprints, one muted.
fn people() -> Vec<Person> {
    NAMES
        .iter()
        .step_by(2)
        .enumerate()
        .map(|(n, name)| {
            let mut p = Person::unknown(name);
            p.email = Some(format!("{name}@example.com"));
            p.preferences.insert(Kind::Assigned, vec![Channel::Email, Channel::InApp]);
            p.preferences.insert(Kind::Sprint, vec![]);
            p.muted = n == 3;
            p
        })
        .collect()
}

/// Plans every event; returns how many notifications were planned.
fn run(events: &[DomainEvent], people: &[Person], sprint_people: &[String]) -> usize {
    events.iter().map(|e| plan(e, None, |name| people.iter().find(|p| p.name == name), sprint_people).len()).sum()
}

fn bench(c: &mut Criterion) {
    let (events, people) = (events(), people());
    let sprint_people: Vec<String> = NAMES.iter().take(5).map(|n| (*n).to_owned()).collect();
    let planned = run(&events, &people, &sprint_people);
    assert!(planned > EVENTS, "the mix plans more than one notification an event: {planned}");
    let mut group = c.benchmark_group("notify");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("rules_and_plan", |b| b.iter(|| run(std::hint::black_box(&events), &people, &sprint_people)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
