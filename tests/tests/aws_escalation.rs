//! `state-machines/escalation.asl.json` executed by the emulator's Step Functions (execution
//! mode on), started and stopped by the escalation handler's schedule: a level is written
//! through the table so the stream derives `TaskEscalated`; a finished task needs nothing; a
//! newer plan stops the older execution; a second start of the same plan starts nothing.
//! Waits are a few seconds: the plans' times are set that close in the test input.
//!
//! The same consumer's other step, sprint closure, moves a closed sprint's tasks through the
//! table once however often `SprintClosed` arrives.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod aws;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws::{Moto, as_lambda_event, create_table, read_stream, unique_name};
use aws_sdk_sfn::types::ExecutionStatus;
use events_schema::Timestamp;
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use shared_aws::dynamo::DynamoStore;
use shared_aws::dynamo::stream::change_record;
use shared_aws::escalation::{DynamoPolicies, SfnSchedule, execution_name};
use shared_core::consumers::escalation::EscalationPlanner;
use shared_core::consumers::sprint_closure::SprintClosure;
use shared_core::context::{Identity, RequestContext, Role};
use shared_core::domain::{CarryOver, ProjectDraft, close_sprint, new_project, new_sprint, start_sprint};
use shared_core::escalation::{Plan, Policy, plan};
use shared_core::pipeline::{Consumer, Delivery};
use shared_core::ports::{Aggregate, Change, EscalationSchedule, Store, TaskFilter, TaskQuery, TaskSort};

const TENANT: &str = "acme";
const DEFINITION: &str = include_str!("../../state-machines/escalation.asl.json");

struct Emulated {
    moto: Moto,
    table: String,
    store: DynamoStore,
    sfn: aws_sdk_sfn::Client,
    schedule: SfnSchedule,
}

/// Turns on the emulator's execution of state machines (a setting of the whole server).
fn execute_state_machines(moto: &Moto) {
    let body = r#"{"stepfunctions": {"execute_state_machine": true}}"#;
    let address = moto.endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST /moto-api/config HTTP/1.0\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.0 20") || answer.starts_with("HTTP/1.1 20"), "{answer}");
}

async fn emulated() -> Emulated {
    // A server of its own: the execution setting is global to a server.
    let moto = Moto::start();
    execute_state_machines(&moto);
    let config = moto.sdk_config();
    let table = unique_name("escalation");
    create_table(&moto.dynamodb(), &table).await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    // As the CDK deploys it: the committed definition with the table substituted.
    let created = sfn
        .create_state_machine()
        .name(unique_name("escalation"))
        .definition(DEFINITION.replace("${TableName}", &table))
        .role_arn("arn:aws:iam::123456789012:role/escalation")
        .send()
        .await
        .unwrap();
    let schedule = SfnSchedule::new(&config, &table, created.state_machine_arn());
    let store = DynamoStore::new(&config, &table);
    Emulated { moto, table, store, sfn, schedule }
}

fn ctx(actor: &str) -> RequestContext {
    RequestContext {
        identity: Identity { tenant: TENANT.into(), actor: actor.into(), role: Role::Admin },
        correlation_id: format!("test-{actor}"),
    }
}

fn task(id: &str, due: &str) -> TaskSnapshot {
    let at = Timestamp::parse("2026-03-01T09:00:00Z").unwrap();
    TaskSnapshot {
        id: id.into(),
        title: "Renew the certificate".into(),
        description: None,
        status: TaskStatus::InProgress,
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

impl Emulated {
    async fn put(&self, task: &TaskSnapshot, expected: Option<u64>) {
        let change = Change::Put { new: Aggregate::Task(task.clone()), expected_version: expected };
        self.store.commit(&ctx("maria"), vec![change], None).await.unwrap();
    }

    async fn read(&self, id: &str) -> TaskSnapshot {
        self.store.get_task(TENANT, id).await.unwrap().unwrap()
    }

    /// Waits until the execution has ended; its status.
    async fn ended(&self, arn: &str) -> ExecutionStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = self.sfn.describe_execution().execution_arn(arn).send().await.unwrap();
            if out.status() != &ExecutionStatus::Running {
                return out.status().clone();
            }
            assert!(Instant::now() < deadline, "{arn} still running:\n{}", self.moto.log_tail());
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn status(&self, arn: &str) -> ExecutionStatus {
        self.sfn.describe_execution().execution_arn(arn).send().await.unwrap().status().clone()
    }

    /// Waits for a stopped execution to end, well before its first level was due; the
    /// emulator ends a Map stopped mid-wait as FAILED (AWS says ABORTED), so both count.
    async fn stopped(&self, arn: &str) {
        let asked = Instant::now();
        let status = self.ended(arn).await;
        let out = self.sfn.describe_execution().execution_arn(arn).send().await.unwrap();
        assert!(
            matches!(status, ExecutionStatus::Aborted | ExecutionStatus::Failed),
            "{arn}: {status:?} ({:?}: {:?})",
            out.error(),
            out.cause()
        );
        assert!(asked.elapsed() < Duration::from_secs(20), "ended by the stop, not by running out");
    }
}

/// The task's plan under the default policy, with every step moved to `in_secs` from now
/// (levels one second apart): the short waits of the test input.
fn soon(task: &TaskSnapshot, in_secs: i64) -> Plan {
    let mut p = plan(task, &Policy::default(), Timestamp::parse("2026-03-01T10:00:00Z").unwrap()).unwrap();
    let now = Timestamp::now().unix_millis();
    for (i, step) in p.steps.iter_mut().enumerate() {
        step.at = Timestamp::from_unix_millis(now + (in_secs + i64::try_from(i).unwrap()) * 1000).unwrap();
    }
    p
}

#[tokio::test]
async fn a_due_level_is_written_through_the_table_and_the_stream_derives_task_escalated() {
    let e = emulated().await;
    let t = task("t-escalates", "2026-03-01");
    e.put(&t, None).await;
    // Found past every level: one step, the last, raising the priority.
    let mut p = plan(&t, &Policy::default(), Timestamp::parse("2026-03-10T00:00:00Z").unwrap()).unwrap();
    assert_eq!(p.steps.len(), 1);
    p.steps[0].at = Timestamp::from_unix_millis(Timestamp::now().unix_millis() + 1000).unwrap();
    assert!(e.schedule.schedule(TENANT, &p).await.unwrap());
    let arn = e.schedule.execution_arn(&execution_name(TENANT, &p));
    assert_eq!(e.ended(&arn).await, ExecutionStatus::Succeeded);

    let after = e.read(&t.id).await;
    let reached = after.escalation.clone().unwrap();
    assert_eq!((after.version, after.priority), (2, Priority::Critical));
    assert_eq!((reached.level, reached.name.as_str(), reached.plan.as_str()), (3, "overdue", p.version.as_str()));
    assert_eq!(reached.notify, ["li", "maria"]);
    // The priority order's index moved with the priority.
    let query = TaskQuery {
        filter: TaskFilter { priority: Some(Priority::Critical), ..TaskFilter::default() },
        sort: TaskSort::Priority,
        limit: 10,
        cursor: None,
    };
    let listed = e.store.list_tasks(TENANT, &query).await.unwrap();
    assert_eq!(listed.items.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), [t.id.as_str()]);

    // The write went through the table like any other: its stream record derives the events.
    let records = read_stream(&e.moto, &e.table).await;
    let last = records.last().unwrap();
    let change = change_record(&as_lambda_event(last)).unwrap().unwrap();
    assert_eq!((change.actor.as_str(), change.aggregate_version), ("escalation", 2));
    let events = shared_core::derive(change).unwrap();
    let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(types, ["TaskEscalated", "TaskUpdated"]);
}

#[tokio::test]
async fn a_task_finished_before_its_level_is_due_is_left_alone() {
    let e = emulated().await;
    let t = task("t-finished", "2026-03-20");
    e.put(&t, None).await;
    let p = soon(&t, 3);
    assert!(e.schedule.schedule(TENANT, &p).await.unwrap());
    let mut done = t.clone();
    done.status = TaskStatus::Done;
    done.version = 2;
    e.put(&done, Some(1)).await;
    let arn = e.schedule.execution_arn(&execution_name(TENANT, &p));
    // Every level's condition fails: the execution ends, having written nothing.
    assert_eq!(e.ended(&arn).await, ExecutionStatus::Succeeded);
    let after = e.read(&t.id).await;
    assert_eq!((after.version, after.escalation), (2, None));
}

#[tokio::test]
async fn a_newer_plan_stops_the_older_execution_and_runs_its_own() {
    let e = emulated().await;
    let t = task("t-moved", "2026-03-20");
    e.put(&t, None).await;
    let older = soon(&t, 30);
    assert!(e.schedule.schedule(TENANT, &older).await.unwrap());
    let older_arn = e.schedule.execution_arn(&execution_name(TENANT, &older));
    assert_eq!(e.status(&older_arn).await, ExecutionStatus::Running);

    let mut moved = t.clone();
    moved.due_date = Some("2026-03-25".into());
    moved.version = 2;
    e.put(&moved, Some(1)).await;
    let newer = soon(&moved, 1);
    assert_ne!(newer.version, older.version);
    assert!(e.schedule.schedule(TENANT, &newer).await.unwrap());
    e.stopped(&older_arn).await;
    let newer_arn = e.schedule.execution_arn(&execution_name(TENANT, &newer));
    assert_eq!(e.ended(&newer_arn).await, ExecutionStatus::Succeeded);
    let after = e.read(&t.id).await;
    let reached = after.escalation.unwrap();
    assert_eq!(
        (reached.plan.as_str(), reached.level),
        (newer.version.as_str(), 3),
        "the newer plan's levels, one by one"
    );
    assert_eq!(after.version, 5, "three levels written, each once");

    // The older plan arriving late (a redelivered event) changes nothing.
    assert!(!e.schedule.schedule(TENANT, &older).await.unwrap());
    // A finished task stops whatever runs, and an older event cannot undo that either.
    assert!(e.schedule.cancel(TENANT, &t.id, 6).await.unwrap());
    assert!(!e.schedule.schedule(TENANT, &newer).await.unwrap());
}

#[tokio::test]
async fn starting_the_same_plan_twice_starts_one_execution() {
    let e = emulated().await;
    let t = task("t-twice", "2026-03-20");
    e.put(&t, None).await;
    let p = soon(&t, 1);
    assert!(e.schedule.schedule(TENANT, &p).await.unwrap());
    assert!(e.schedule.schedule(TENANT, &p).await.unwrap(), "a redelivery is done, not an error");
    let arn = e.schedule.execution_arn(&execution_name(TENANT, &p));
    assert_eq!(e.ended(&arn).await, ExecutionStatus::Succeeded);
    // After it ended, the same name is refused (ExecutionAlreadyExists): still done.
    assert!(e.schedule.schedule(TENANT, &p).await.unwrap());
    let machine = arn.rsplit_once(':').unwrap().0.replacen(":execution:", ":stateMachine:", 1);
    let executions = e.sfn.list_executions().state_machine_arn(machine).send().await.unwrap();
    assert_eq!(executions.executions().len(), 1);
    let after = e.read(&t.id).await;
    assert_eq!((after.version, after.escalation.map(|x| x.level)), (4, Some(3)), "each level once");
}

#[tokio::test]
async fn cancelling_stops_the_running_execution() {
    let e = emulated().await;
    let t = task("t-cancel", "2026-03-20");
    e.put(&t, None).await;
    let p = soon(&t, 30);
    assert!(e.schedule.schedule(TENANT, &p).await.unwrap());
    let arn = e.schedule.execution_arn(&execution_name(TENANT, &p));
    assert!(e.schedule.cancel(TENANT, &t.id, 2).await.unwrap());
    e.stopped(&arn).await;
    assert_eq!(e.read(&t.id).await.version, 1);
}

/// A task of sprint `s1` in project `p1`, at version 1.
fn sprint_task(id: &str, status: TaskStatus, points: u32) -> TaskSnapshot {
    TaskSnapshot {
        status,
        due_date: None,
        estimate_points: Some(points),
        project_id: Some("p1".into()),
        sprint_id: Some("s1".into()),
        ..task(id, "2026-03-20")
    }
}

#[tokio::test]
async fn sprint_closure_moves_tasks_through_the_table_once_and_the_stream_derives_sprint_summarized() {
    let e = emulated().await;
    let config = e.moto.sdk_config();
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(&config, &e.table));
    let project = new_project("p1".into(), ProjectDraft::parse("Platform", None).unwrap(), Timestamp::now());
    let closing = start_sprint(&new_sprint("s1".into(), "p1".into(), "Sprint 14").unwrap(), Timestamp::now()).unwrap();
    let next = new_sprint("s2".into(), "p1".into(), "Sprint 15").unwrap();
    let mut changes = vec![
        Change::Put { new: Aggregate::Project(project), expected_version: None },
        Change::Put { new: Aggregate::Sprint(closing.clone()), expected_version: None },
        Change::Put { new: Aggregate::Sprint(next), expected_version: None },
    ];
    for (id, status, points) in [
        ("t-done", TaskStatus::Done, 3),
        ("t-open", TaskStatus::Todo, 5),
        ("t-going", TaskStatus::InProgress, 2),
        ("t-dropped", TaskStatus::Cancelled, 1),
    ] {
        changes.push(Change::Put { new: Aggregate::Task(sprint_task(id, status, points)), expected_version: None });
    }
    store.commit(&ctx("ana"), changes, None).await.unwrap();
    let closed = close_sprint(&closing, &CarryOver::Sprint("s2".into()), Timestamp::now()).unwrap();
    let change = Change::Put { new: Aggregate::Sprint(closed), expected_version: Some(closing.version) };
    store.commit(&ctx("ana"), vec![change], None).await.unwrap();

    // The close as the stream router derives it from the table's stream.
    let records = read_stream(&e.moto, &e.table).await;
    let seen = records.len();
    let change = change_record(&as_lambda_event(records.last().unwrap())).unwrap().unwrap();
    let event = shared_core::derive(change).unwrap().remove(0);
    assert_eq!(event.event_type(), "SprintClosed");

    // The escalation Lambda's consumer, as its main builds it; the event delivered three
    // times. One after the other: the emulator's TransactWriteItems is not isolated from a
    // concurrent one (it writes item by item and undoes a failed one by restoring a copy of
    // the whole table), so deliveries racing each other are shown on SQLite instead
    // (`tests/tests/sprints.rs`), where a transaction is one.
    let consumer = EscalationPlanner::new(
        Arc::new(DynamoPolicies::new(&config, &e.table)),
        Arc::new(SfnSchedule::new(&config, &e.table, "arn:aws:states:us-east-1:123456789012:stateMachine:unused")),
    )
    .with_sprint_closure(SprintClosure::new(store.clone()));
    let live = Delivery::default();
    for _ in 0..3 {
        consumer.apply(&event, &live).await.unwrap();
    }
    // Replayed, it moves nothing either.
    consumer.apply(&event, &Delivery { replay_name: Some("r1".into()) }).await.unwrap();

    for (id, sprint) in [("t-open", "s2"), ("t-going", "s2"), ("t-done", "s1"), ("t-dropped", "s1")] {
        let t = e.read(id).await;
        assert_eq!(t.sprint_id.as_deref(), Some(sprint), "{id}");
    }
    let summarized = store.get_sprint(TENANT, "s1").await.unwrap().unwrap();
    let summary = summarized.summary.clone().unwrap();
    assert_eq!(
        (
            summary.completed_count,
            summary.completed_points,
            summary.carried_over_count,
            summary.carried_over_to.as_str()
        ),
        (1, 3, 2, "s2")
    );
    assert_eq!(summarized.version, closing.version + 2, "closed, then summarized once");

    // Exactly three writes after the close, each through the stream like any other.
    let records = read_stream(&e.moto, &e.table).await;
    let mut types = Vec::new();
    for record in &records[seen..] {
        let change = change_record(&as_lambda_event(record)).unwrap().unwrap();
        assert_eq!(change.actor, "sprint-closure");
        assert_eq!(change.correlation_id, event.meta.correlation_id, "the close's correlation id travels on");
        types.extend(shared_core::derive(change).unwrap().iter().map(|e| e.event_type()));
    }
    types.sort_unstable();
    assert_eq!(types, ["SprintSummarized", "TaskUpdated", "TaskUpdated"]);
}
