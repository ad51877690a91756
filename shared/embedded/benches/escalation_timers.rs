//! Escalation timers in the embedded engine, as `serve` runs them (durable commits, the timer
//! loop running):
//!
//! - `writes`: task creates a second from 8 concurrent writers (4 000 each round), first with
//!   no timer pending, then with 100 000 pending (due in a year), the timer loop running in
//!   both; the goal is at most 5% fewer with the timers.
//! - `fire`: 1 000 timers due now, each on its own task, fired and settled (the level written
//!   to each task, one version up, and the timers removed); the goal is at most 1 s.
//!
//! Run: `cargo bench -p shared-embedded --bench escalation_timers`. Figures go to
//! BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a panic is the report

use std::sync::Arc;
use std::time::Instant;

use events_schema::Timestamp;
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use shared_core::context::{Identity, RequestContext, Role};
use shared_core::escalation::{Guard, Plan, Step};
use shared_core::ports::{Aggregate, Change, EscalationSchedule, Store};
use shared_embedded::{Engine, EngineConfig};

const WRITERS: usize = 8;
const WRITES_PER_ROUND: usize = 4000;
const ROUNDS: usize = 5;
const PENDING: usize = 100_000;
const DUE: usize = 1000;

fn task(id: String, due: &str) -> TaskSnapshot {
    let at = Timestamp::now();
    TaskSnapshot {
        id,
        title: "Renew the certificate".into(),
        description: None,
        status: TaskStatus::Todo,
        priority: Priority::Medium,
        assignee: Some("li".into()),
        reporter: Some("maria".into()),
        category_id: None,
        project_id: None,
        sprint_id: None,
        tags: vec![],
        due_date: Some(due.into()),
        estimate_points: None,
        created_at: at,
        updated_at: at,
        status_changed_at: at,
        escalation: None,
        version: 1,
    }
}

fn ctx() -> RequestContext {
    RequestContext {
        identity: Identity { tenant: "bench".into(), actor: "bench".into(), role: Role::Admin },
        correlation_id: "bench".into(),
    }
}

fn plan_for(id: &str, due: &str, at: Timestamp) -> Plan {
    Plan {
        task_id: id.to_owned(),
        task_version: 1,
        version: format!("{:016x}", id.len()),
        guard: Guard { due_date: Some(due.into()), todo_only: false, priority: None },
        steps: vec![Step { level: 1, name: "due".into(), at, notify: vec!["li".into()], raise_priority: None }],
    }
}

/// Creates `n` tasks from `WRITERS` concurrent writers; the creates a second.
async fn write_round(store: &Arc<dyn Store>, round: &str, n: usize) -> f64 {
    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let store = Arc::clone(store);
        let round = round.to_owned();
        writers.spawn(async move {
            for i in (w..n).step_by(WRITERS) {
                let new = Aggregate::Task(task(format!("{round}-{i}"), "2027-12-31"));
                store.commit(&ctx(), vec![Change::Put { new, expected_version: None }], None).await.unwrap();
            }
        });
    }
    while writers.join_next().await.is_some() {}
    n as f64 / started.elapsed().as_secs_f64()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let timers = engine.spawn_escalation_timers(stopped);
    let store = engine.store();
    let schedule = engine.escalation();

    // Writes with no timer pending (a warm-up round first).
    write_round(&store, "warm", WRITES_PER_ROUND).await;
    let mut without = Vec::new();
    for r in 0..ROUNDS {
        without.push(write_round(&store, &format!("a{r}"), WRITES_PER_ROUND).await);
    }

    // 100 000 timers due in a year, placed 64 at a time.
    let later = Timestamp::from_unix_millis(Timestamp::now().unix_millis() + 365 * 86_400_000).unwrap();
    let placing = Instant::now();
    let mut placed = tokio::task::JoinSet::new();
    for chunk in 0..64 {
        let schedule = Arc::clone(&schedule);
        placed.spawn(async move {
            for i in (chunk..PENDING).step_by(64) {
                let id = format!("pending-{i}");
                assert!(schedule.schedule("bench", &plan_for(&id, "2027-12-31", later)).await.unwrap());
            }
        });
    }
    while placed.join_next().await.is_some() {}
    let placing = placing.elapsed();
    assert_eq!(engine.pending_escalations().await.unwrap(), PENDING as i64);

    let mut with = Vec::new();
    for r in 0..ROUNDS {
        with.push(write_round(&store, &format!("b{r}"), WRITES_PER_ROUND).await);
    }
    let (without, with) = (median(without), median(with));

    // 1 000 timers due now, each on a task of its own, fired by this task (the loop is
    // stopped first so that it does not take them).
    stop.send_replace(true);
    timers.await.unwrap();
    let now = Timestamp::now();
    for i in 0..DUE {
        let id = format!("due-{i}");
        let new = Aggregate::Task(task(id.clone(), "2026-01-01"));
        store.commit(&ctx(), vec![Change::Put { new, expected_version: None }], None).await.unwrap();
        assert!(schedule.schedule("bench", &plan_for(&id, "2026-01-01", now)).await.unwrap());
    }
    let firing = Instant::now();
    let mut fired = 0;
    while fired < DUE {
        fired += engine.fire_due_escalations(Timestamp::now()).await.unwrap();
    }
    let firing = firing.elapsed();
    let escalated = store.get_task("bench", "due-999").await.unwrap().unwrap();
    assert_eq!((escalated.version, escalated.escalation.map(|e| e.level)), (2, Some(1)));
    assert_eq!(engine.pending_escalations().await.unwrap(), PENDING as i64, "only the due ones fired");

    println!("writes/s, {WRITERS} writers, median of {ROUNDS} rounds of {WRITES_PER_ROUND}:");
    println!("  no timer pending:        {without:>8.0}");
    println!("  {PENDING} timers pending: {with:>8.0}  ({:+.1}%)", (with / without - 1.0) * 100.0);
    println!("placing {PENDING} timers: {:.1} s", placing.as_secs_f64());
    println!(
        "firing {DUE} due timers: {:.3} s ({:.0} levels/s)",
        firing.as_secs_f64(),
        DUE as f64 / firing.as_secs_f64()
    );
}
