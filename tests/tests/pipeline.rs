//! The embedded pipeline: change log → router → bus → queue → consumer, and its failure modes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::DomainEvent;
use serde_json::json;
use shared_core::consumers::history::AuditHistory;
use shared_core::pipeline::{ApplyError, Consumer, Delivery, InboundMessage, process_batch};
use shared_embedded::{EmbeddedError, Engine};
use support::{Harness, fast_config};

async fn history_types(h: &Harness, id: &str) -> Vec<(u64, Vec<String>)> {
    let reply = h.call("GET", &format!("/tasks/{id}/history"), None).await;
    reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let types =
                e["events"].as_array().unwrap().iter().map(|ev| ev["type"].as_str().unwrap().to_owned()).collect();
            (e["version"].as_u64().unwrap(), types)
        })
        .collect()
}

#[tokio::test]
async fn a_task_moved_twice_has_three_history_entries() {
    let h = Harness::new();
    let id = h.create(json!({"title": "t"})).await["id"].as_str().unwrap().to_owned();
    h.call("PUT", &format!("/tasks/{id}"), Some(json!({"version": 1, "status": "in_progress"}))).await;
    h.call("PUT", &format!("/tasks/{id}"), Some(json!({"version": 2, "status": "done"}))).await;
    h.settle().await;
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        history_types(&h, &id).await,
        vec![(1, s(&["TaskCreated"])), (2, s(&["TaskStatusChanged"])), (3, s(&["TaskCompleted", "TaskStatusChanged"])),]
    );
}

#[tokio::test]
async fn history_outlives_the_task() {
    let h = Harness::new();
    let id = h.create(json!({"title": "t"})).await["id"].as_str().unwrap().to_owned();
    h.call("DELETE", &format!("/tasks/{id}?version=1"), None).await;
    h.settle().await;
    let types = history_types(&h, &id).await;
    assert_eq!(types.last().unwrap(), &(2, vec!["TaskDeleted".to_owned()]));
}

/// Every bus event as archived, in order.
fn archived_bodies(h: &Harness) -> Vec<String> {
    let conn = rusqlite::Connection::open(h.engine.db().path()).unwrap();
    let mut stmt = conn.prepare("SELECT body FROM archive ORDER BY seq").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[tokio::test]
async fn history_is_the_same_when_every_event_arrives_twice_out_of_order() {
    let h = Harness::new();
    let mut ids = Vec::new();
    for i in 0..4 {
        let id = h.create(json!({"title": format!("t{i}")})).await["id"].as_str().unwrap().to_owned();
        h.call("PUT", &format!("/tasks/{id}"), Some(json!({"version": 1, "status": "in_progress", "assignee": "li"})))
            .await;
        h.call("PUT", &format!("/tasks/{id}"), Some(json!({"version": 2, "status": "done", "priority": "low"}))).await;
        ids.push(id);
    }
    h.settle().await;

    let bodies = archived_bodies(&h);
    let mut doubled: Vec<InboundMessage> = bodies
        .iter()
        .chain(bodies.iter())
        .enumerate()
        .map(|(i, b)| InboundMessage { id: i.to_string(), body: b.clone() })
        .collect();
    // A fixed permutation (multiplicative step coprime with the length) stands in for chaos.
    let n = doubled.len();
    let step = (1..n).rev().find(|s| gcd(*s, n) == 1 && *s > n / 3).unwrap_or(1);
    doubled = (0..n).map(|i| doubled[(i * step) % n].clone()).collect();

    let replica = Harness::new();
    let consumer = AuditHistory::new(replica.engine.history_store());
    for chunk in doubled.chunks(7) {
        assert!(process_batch(&consumer, chunk).await.is_empty());
    }
    let store_a = h.engine.history_store();
    let store_b = replica.engine.history_store();
    for id in &ids {
        let a = store_a.list("default", id).await.unwrap();
        let b = store_b.list("default", id).await.unwrap();
        // v1 created; v2 status changed + assigned; v3 status changed + completed + updated.
        assert_eq!(a.len(), 6);
        assert_eq!(a.last().map(|r| r.version), Some(3));
        assert_eq!(
            a.iter().map(|r| (r.version, &r.event_type)).collect::<Vec<_>>(),
            b.iter().map(|r| (r.version, &r.event_type)).collect::<Vec<_>>()
        );
        assert_eq!(a, b);
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Fails every status change of tasks titled "poison"; records the rest.
struct Picky {
    applied: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl Consumer for Picky {
    fn name(&self) -> &'static str {
        events_schema::routing::NOTIFIER
    }

    async fn apply(&self, event: &DomainEvent, _: &Delivery) -> Result<(), ApplyError> {
        // The status changes are what these tests follow; the notifier's other types pass.
        if event.event_type() != "TaskStatusChanged" {
            return Ok(());
        }
        let envelope = event.to_envelope().unwrap();
        if envelope.data["task"]["title"] == "poison" {
            return Err(ApplyError::Rejected("the template for this task cannot render".into()));
        }
        self.applied.lock().unwrap().push(envelope.aggregate_id);
        Ok(())
    }
}

#[tokio::test]
async fn a_failing_message_is_retried_then_dead_lettered_with_its_reason_and_blocks_nothing() {
    let h = Harness::new();
    let picky = Arc::new(Picky { applied: Default::default() });
    h.engine.register_queue(picky.name()).unwrap();
    let mut good = Vec::new();
    for title in ["a", "poison", "b"] {
        let id = h.create(json!({"title": title})).await["id"].as_str().unwrap().to_owned();
        h.call("PUT", &format!("/tasks/{id}"), Some(json!({"version": 1, "status": "in_progress"}))).await;
        if title != "poison" {
            good.push(id);
        }
    }
    h.engine.route_pending().await.unwrap();
    // Receives: the first pass takes all three; each later pass retries only the poison.
    for _ in 0..10 {
        h.engine.drain_once(picky.as_ref()).await.unwrap();
    }
    assert_eq!(*picky.applied.lock().unwrap(), good, "the good messages went through, once each");
    let stats = h.engine.queue_stats(picky.name()).await.unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.dead), (0, 0, 1));
    let dead = h.engine.dead_letters(picky.name()).await.unwrap();
    assert_eq!(dead[0].receive_count, 5);
    assert_eq!(dead[0].reason, "the template for this task cannot render");
    assert!(dead[0].body.contains("\"detail-type\":\"TaskStatusChanged\""), "the whole message is kept");
}

#[tokio::test]
async fn a_poison_event_waits_in_its_retries_while_the_events_behind_it_flow_and_redrive_brings_it_back() {
    let h = Harness::new();
    let picky = Arc::new(Picky { applied: Default::default() });
    h.engine.register_queue(picky.name()).unwrap();
    let poison = h.create(json!({"title": "poison"})).await["id"].as_str().unwrap().to_owned();
    h.call("PUT", &format!("/tasks/{poison}"), Some(json!({"version": 1, "status": "in_progress"}))).await;
    h.engine.route_pending().await.unwrap();
    h.engine.drain_once(picky.as_ref()).await.unwrap();
    let stats = h.engine.queue_stats(picky.name()).await.unwrap();
    assert_eq!(stats.visible + stats.in_flight, 1, "the failed event waits for its retry: {stats:?}");

    // Written after the poison: flows past it while it is still being retried.
    let behind = h.create(json!({"title": "behind"})).await["id"].as_str().unwrap().to_owned();
    h.call("PUT", &format!("/tasks/{behind}"), Some(json!({"version": 1, "status": "in_progress"}))).await;
    h.engine.route_pending().await.unwrap();
    h.engine.drain_once(picky.as_ref()).await.unwrap();
    assert_eq!(*picky.applied.lock().unwrap(), std::slice::from_ref(&behind));
    assert_eq!(h.engine.dead_letters(picky.name()).await.unwrap().len(), 0, "not yet out of receives");

    for _ in 0..10 {
        h.engine.drain_once(picky.as_ref()).await.unwrap();
    }
    let dead = h.engine.dead_letters(picky.name()).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].receive_count, dead[0].reason.as_str()), (5, "the template for this task cannot render"));
    let parked: serde_json::Value = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(parked["detail"]["aggregateId"], poison.as_str(), "the whole event is kept: {parked}");

    // Redrive: back to the retries, due at once; it fails again (nothing was fixed) and is
    // parked again, with the other events untouched.
    assert_eq!(h.engine.redrive(picky.name()).await.unwrap(), 1);
    assert_eq!(h.engine.dead_letters(picky.name()).await.unwrap().len(), 0);
    assert!(h.engine.drain_once(picky.as_ref()).await.unwrap() > 0, "the redriven event is read again");
    let stats = h.engine.queue_stats(picky.name()).await.unwrap();
    assert_eq!((stats.dead, stats.visible + stats.in_flight), (0, 1), "{stats:?}");
    assert_eq!(*picky.applied.lock().unwrap(), [behind], "nothing applied twice");
}

/// Fails with the store unavailable (as a full disk does) until told the store is back.
struct FlakyStore {
    down: std::sync::atomic::AtomicBool,
    applied: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl Consumer for FlakyStore {
    fn name(&self) -> &'static str {
        events_schema::routing::AUDIT_HISTORY
    }

    async fn apply(&self, event: &DomainEvent, _: &Delivery) -> Result<(), ApplyError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ApplyError::Store(shared_core::ports::StoreError::Unavailable("disk full".into())));
        }
        self.applied.lock().unwrap().push(event.meta.event_id.to_string());
        Ok(())
    }
}

#[tokio::test]
async fn after_a_storage_error_the_batch_comes_back_at_once_and_no_event_is_charged_for_it() {
    let h = Harness::new();
    let flaky = Arc::new(FlakyStore { down: true.into(), applied: Default::default() });
    for title in ["a", "b", "c"] {
        h.create(json!({"title": title})).await;
    }
    h.engine.route_pending().await.unwrap();
    // While the store fails, the batch is not settled: an error, and nothing recorded.
    for _ in 0..6 {
        assert!(matches!(h.engine.drain_once(flaky.as_ref()).await, Err(EmbeddedError::Unavailable(_))));
    }
    let stats = h.engine.queue_stats(flaky.name()).await.unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.dead), (3, 0, 0), "waiting, not failed: {stats:?}");

    // Once the store works, the very next read takes the batch: no visibility timeout, no
    // backoff, and no failure counted against any event.
    flaky.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(h.engine.drain_once(flaky.as_ref()).await.unwrap(), 3);
    assert_eq!(flaky.applied.lock().unwrap().len(), 3);
    let stats = h.engine.queue_stats(flaky.name()).await.unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.dead), (0, 0, 0));
}

#[tokio::test]
async fn a_message_that_is_not_an_event_is_dead_lettered_not_retried_forever() {
    let h = Harness::new();
    let failures = process_batch(h.history.as_ref(), &[
        InboundMessage { id: "1".into(), body: "{not json".into() },
        InboundMessage { id: "2".into(), body: json!({"id": "x", "detail-type": "TaskCreated", "source": "taskstream", "detail": {"eventType": "TaskCreated"}}).to_string() },
    ])
    .await;
    assert_eq!(failures.len(), 2);
    assert!(failures[0].reason.contains("not an EventBridge event"), "{}", failures[0].reason);
    assert!(failures[1].reason.contains("not a taskstream envelope"), "{}", failures[1].reason);
}

#[tokio::test]
async fn a_change_record_that_cannot_be_derived_is_parked_and_the_rest_flow() {
    let h = Harness::new();
    let first = h.create(json!({"title": "before"})).await["id"].as_str().unwrap().to_owned();
    {
        let conn = rusqlite::Connection::open(h.engine.db().path()).unwrap();
        conn.execute(
            "INSERT INTO change_log (tenant, aggregate_type, aggregate_id, aggregate_version, at, correlation_id, actor, old_image, new_image)
             VALUES ('default', 'task', 'broken', 1, '2026-01-01T00:00:00Z', 'c', 'a', NULL, '{\"id\": \"broken\"}')",
            [],
        )
        .unwrap();
    }
    let after = h.create(json!({"title": "after"})).await["id"].as_str().unwrap().to_owned();
    h.settle().await;
    let parked = h.engine.router_dead_letters().await.unwrap();
    assert_eq!(parked.len(), 1);
    assert!(parked[0].1.contains("the new image is not a task snapshot"), "{}", parked[0].1);
    assert_eq!(history_types(&h, &first).await.len(), 1);
    assert_eq!(history_types(&h, &after).await.len(), 1);
}

#[tokio::test]
async fn a_data_directory_serves_one_process_at_a_time() {
    let h = Harness::new();
    match Engine::open(h.dir.path(), fast_config()) {
        Err(EmbeddedError::Locked(_)) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("a second engine opened the same data directory"),
    }
}

#[tokio::test]
async fn routing_twice_derives_nothing_new() {
    let h = Harness::new();
    h.create(json!({"title": "t"})).await;
    assert_eq!(h.engine.route_pending().await.unwrap(), 1);
    assert_eq!(h.engine.route_pending().await.unwrap(), 0);
    assert_eq!(archived_bodies(&h).len(), 1);
}

/// `serve --max-lag` in process: the gate over the real router, fed the engine's measure of
/// lag, as serve's watch loop feeds it.
#[tokio::test]
async fn writes_wait_while_the_pipeline_is_behind_its_bound_and_resume_once_it_catches_up() {
    use axum::body::Body;
    use axum::http::Request;
    use shared_api::backpressure::{Backpressure, BackpressureLayer};
    use tower::ServiceExt;

    let h = Harness::new();
    let gate = Backpressure::new(std::time::Duration::from_millis(100));
    let app = h.app.clone().layer(BackpressureLayer::new(gate.clone()));
    let send = |method: &str, path: &str, body: Option<serde_json::Value>| {
        let request = Request::builder().method(method).uri(path).header("content-type", "application/json");
        let request = request.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string()))).unwrap();
        app.clone().oneshot(request)
    };
    let observe = || async {
        let progress = h.engine.progress().await.unwrap();
        gate.observe(progress.oldest_age_ms().map(|ms| std::time::Duration::from_millis(ms as u64)));
    };

    assert_eq!(send("POST", "/tasks", Some(json!({"title": "first"}))).await.unwrap().status(), 201);
    observe().await;
    assert_eq!(send("POST", "/tasks", Some(json!({"title": "within the bound"}))).await.unwrap().status(), 201);
    // Nothing routes or consumes here until `settle`: the change ages past the bound.
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    observe().await;
    let refused = send("POST", "/tasks", Some(json!({"title": "behind"}))).await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().get("retry-after").is_some());
    assert_eq!(send("GET", "/tasks", None).await.unwrap().status(), 200, "reads go on");

    h.settle().await;
    observe().await;
    assert_eq!(h.engine.progress().await.unwrap().oldest_age_ms(), None, "caught up");
    assert_eq!(send("POST", "/tasks", Some(json!({"title": "after"}))).await.unwrap().status(), 201);
}

/// A fresh engine whose consumers dead-letter an event at its first failure, and `n` tasks
/// written through the store and routed (a `TaskCreated` archived each): one batch's worth
/// for the audit history. Returns the tasks' ids, in order.
async fn archived_tasks(n: usize) -> (Harness, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast_config();
    config.queue.max_receives = 1;
    // The batch boundaries these tests name (256, 256, 188 of 700), whatever the default.
    config.queue.batch_size = 256;
    let h = Harness::on(Engine::open(dir.path(), config).unwrap(), dir, "default");
    let ctx = shared_core::RequestContext {
        identity: shared_core::Identity {
            tenant: "default".into(),
            actor: "tester".into(),
            role: shared_core::Role::Admin,
        },
        correlation_id: "batch".into(),
    };
    let now = events_schema::Timestamp::now().to_string();
    let ids: Vec<String> = (0..n).map(|i| format!("0195a3c4-0000-7000-8000-{i:012x}")).collect();
    for chunk in ids.chunks(100) {
        let changes = chunk
            .iter()
            .map(|id| {
                let task = serde_json::from_value(json!({
                    "id": id, "title": "t", "status": "todo", "priority": "medium", "tags": [],
                    "createdAt": now, "updatedAt": now, "statusChangedAt": now, "version": 1
                }))
                .unwrap();
                shared_core::ports::Change::Put {
                    new: shared_core::ports::Aggregate::Task(task),
                    expected_version: None,
                }
            })
            .collect();
        h.engine.store().commit(&ctx, changes, None).await.unwrap();
    }
    assert_eq!(h.engine.route_pending().await.unwrap(), n);
    (h, ids)
}

/// Runs `sql` on the data directory's database beside the engine.
fn beside(h: &Harness, sql: &str) {
    rusqlite::Connection::open(h.engine.db().path()).unwrap().execute_batch(sql).unwrap();
}

fn count(h: &Harness, sql: &str) -> i64 {
    rusqlite::Connection::open(h.engine.db().path()).unwrap().query_row(sql, [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn one_event_the_history_refuses_is_dead_lettered_alone_while_the_other_255_of_its_batch_apply() {
    let (h, ids) = archived_tasks(256).await;
    // The history table refuses one task's line, as a constraint would: the batch's one
    // write fails, and only that event may be charged for it.
    let culprit = &ids[117];
    beside(
        &h,
        &format!(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON history WHEN NEW.task_id = '{culprit}'
             BEGIN SELECT RAISE(ABORT, 'this task''s line is refused'); END;"
        ),
    );
    assert_eq!(h.engine.drain_once(h.history.as_ref()).await.unwrap(), 256, "one batch took all of them");

    assert_eq!(count(&h, "SELECT COUNT(*) FROM history"), 255);
    assert_eq!(
        count(&h, &format!("SELECT COUNT(*) FROM history WHERE task_id = '{culprit}'")),
        0,
        "the refused line left nothing"
    );
    let dead = h.engine.dead_letters(h.history.name()).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].reason.contains("this task's line is refused"), "{}", dead[0].reason);
    let parked: serde_json::Value = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(parked["detail"]["aggregateId"], culprit.as_str(), "the whole event is parked: {parked}");
    let stats = h.engine.queue_stats(h.history.name()).await.unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.dead), (0, 0, 1), "the cursor moved past the batch: {stats:?}");
    assert_eq!(h.engine.drain_once(h.history.as_ref()).await.unwrap(), 0, "nothing is read again");
}

#[tokio::test]
async fn a_batch_s_history_lines_and_its_cursor_move_commit_together_or_not_at_all() {
    let (h, _) = archived_tasks(40).await;
    // The settlement fails: the lines the batch wrote must go with it, or a crash between
    // the two would have left effects whose cursor never moved.
    beside(
        &h,
        "CREATE TRIGGER hold_cursor BEFORE UPDATE ON consumer_cursors
         BEGIN SELECT RAISE(ABORT, 'the cursor is held'); END;",
    );
    assert!(h.engine.drain_once(h.history.as_ref()).await.is_err(), "the settlement failed");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM history"), 0, "no line outlived its failed settlement");
    assert!(h.engine.dead_letters(h.history.name()).await.unwrap().is_empty(), "no event was charged");

    beside(&h, "DROP TRIGGER hold_cursor");
    assert_eq!(h.engine.drain_once(h.history.as_ref()).await.unwrap(), 40, "the same batch, read again");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM history"), 40);
    assert_eq!(h.engine.drain_once(h.history.as_ref()).await.unwrap(), 0);
}

#[tokio::test]
async fn a_replay_takes_its_batches_in_a_row_in_order_and_a_refused_event_in_a_later_one_fails_alone() {
    use shared_core::ports::{Operations, ReplayRequest, ReplayState};

    // Three batches' worth (256, 256, 188), none yet in the history: a replay applies them all.
    let (h, ids) = archived_tasks(700).await;
    let culprit = &ids[400];
    beside(
        &h,
        &format!(
            "CREATE TRIGGER refuse_one BEFORE INSERT ON history WHEN NEW.task_id = '{culprit}'
             BEGIN SELECT RAISE(ABORT, 'this task''s line is refused'); END;"
        ),
    );
    let ops = h.engine.operator();
    let request = ReplayRequest {
        name: Some("again".into()),
        from: events_schema::Timestamp::parse("2000-01-01T00:00:00Z").unwrap(),
        to: events_schema::Timestamp::parse("2999-01-01T00:00:00Z").unwrap(),
        consumers: vec![h.history.name().to_owned()],
    };
    ops.start_replay(None, &request).await.unwrap();

    // The second batch is read and applied while the first commits, the third while the
    // second's refused write is redone event by event: one drain takes all three.
    assert_eq!(h.engine.drain_replay_once(h.history.as_ref()).await.unwrap(), 700);
    assert_eq!(h.engine.drain_replay_once(h.history.as_ref()).await.unwrap(), 0, "the replay is done");

    assert_eq!(count(&h, "SELECT COUNT(*) FROM history"), 699);
    assert_eq!(count(&h, &format!("SELECT COUNT(*) FROM history WHERE task_id = '{culprit}'")), 0);
    let status = ops.replay(None, "again").await.unwrap();
    assert_eq!(status.state, ReplayState::Completed, "{status:?}");
    let progress = &status.consumers[0];
    assert_eq!((progress.applied, progress.unchanged, progress.failed), (699, 0, 1), "{progress:?}");
    let dead = h.engine.dead_letters(h.history.name()).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let parked: serde_json::Value = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(parked["detail"]["aggregateId"], culprit.as_str(), "the whole event is parked: {parked}");
    assert!(dead[0].reason.contains("this task's line is refused"), "{}", dead[0].reason);
}

#[tokio::test]
async fn a_batch_s_search_documents_and_its_cursor_move_commit_together_or_not_at_all() {
    let (h, _) = archived_tasks(40).await;
    beside(
        &h,
        "CREATE TRIGGER hold_cursor BEFORE UPDATE ON consumer_cursors
         BEGIN SELECT RAISE(ABORT, 'the cursor is held'); END;",
    );
    assert!(h.engine.drain_once(h.search.as_ref()).await.is_err(), "the settlement failed");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM search_docs"), 0, "no document outlived its failed settlement");
    assert!(h.engine.dead_letters(h.search.name()).await.unwrap().is_empty(), "no event was charged");

    beside(&h, "DROP TRIGGER hold_cursor");
    assert_eq!(h.engine.drain_once(h.search.as_ref()).await.unwrap(), 40, "the same batch, read again");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM search_docs"), 40);
}

#[tokio::test]
async fn a_backlog_is_taken_in_full_batches_in_a_row_each_settled_in_order() {
    // Three batches' worth: the worker reads the second while the first commits, and so on.
    let (h, _) = archived_tasks(700).await;
    assert_eq!(h.engine.drain_once(h.history.as_ref()).await.unwrap(), 700, "one drain took the whole backlog");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM history"), 700);
    assert_eq!(
        count(&h, "SELECT seq FROM consumer_cursors WHERE name = 'audit-history'"),
        count(&h, "SELECT MAX(seq) FROM archive"),
        "the cursor is past the last batch"
    );
    let stats = h.engine.queue_stats(h.history.name()).await.unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.dead), (0, 0, 0), "{stats:?}");
    assert_eq!(h.engine.drain_once(h.history.as_ref()).await.unwrap(), 0);
}

#[tokio::test]
async fn a_batch_s_metrics_records_and_escalation_plans_commit_with_its_cursor_move_or_not_at_all() {
    use shared_core::consumers::escalation::EscalationPlanner;

    let (h, _) = archived_tasks(40).await;
    let escalation = h.engine.escalation();
    let planner: Arc<dyn Consumer> = Arc::new(EscalationPlanner::new(escalation.clone(), escalation));
    h.engine.register_queue(planner.name()).unwrap();
    // Registered after the tasks were archived, it starts at the archive's end: from the start.
    beside(&h, "UPDATE consumer_cursors SET seq = 0 WHERE name = 'escalation'");
    beside(
        &h,
        "CREATE TRIGGER hold_cursor BEFORE UPDATE ON consumer_cursors
         BEGIN SELECT RAISE(ABORT, 'the cursor is held'); END;",
    );
    assert!(h.engine.drain_once(h.metrics.as_ref()).await.is_err(), "the metrics batch's settlement failed");
    assert!(h.engine.drain_once(planner.as_ref()).await.is_err(), "the escalation batch's settlement failed");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM metric_records"), 0, "no record outlived its failed settlement");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM escalation_plans"), 0, "no plan outlived its failed settlement");

    beside(&h, "DROP TRIGGER hold_cursor");
    assert_eq!(h.engine.drain_once(h.metrics.as_ref()).await.unwrap(), 40, "the same batch, read again");
    assert_eq!(h.engine.drain_once(planner.as_ref()).await.unwrap(), 40, "the same batch, read again");
    assert_eq!(count(&h, "SELECT COUNT(*) FROM metric_records"), 40);
    assert_eq!(count(&h, "SELECT COUNT(*) FROM escalation_plans"), 40, "each task's fence, with no policy to plan by");
}
