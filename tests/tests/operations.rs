//! The operator's API over the embedded engine (`/admin/...`): replays of the archive into
//! chosen consumers, dead letters shown and redriven, lag and the trace of one task, each
//! walled by tenant and held to the admin role.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use events_schema::DomainEvent;
use serde_json::{Value, json};
use shared_api::{KeysHandle, OpsHandle};
use shared_core::Role;
use shared_core::consumers::history::AuditHistory;
use shared_core::pipeline::{ApplyError, Consumer, Delivery};
use shared_core::ports::Operations;
use shared_embedded::{ApiKeys, DEFAULT_CACHE_TTL, Engine};
use support::{Harness, Reply, fast_config};

/// The router as serve builds it: API keys, and the engine's operations behind /admin.
fn harness() -> (Harness, ApiKeys) {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), fast_config()).unwrap();
    let keys = engine.api_keys();
    let mut h = Harness::with_auth(engine, dir, Arc::new(keys.authenticator(DEFAULT_CACHE_TTL)));
    h.app = h
        .app
        .clone()
        .layer(axum::Extension(KeysHandle(Arc::new(keys.clone()))))
        .layer(axum::Extension(OpsHandle(Arc::new(h.engine.operator()))));
    (h, keys)
}

async fn key(keys: &ApiKeys, tenant: &str, role: Role) -> String {
    keys.create(tenant, role).await.unwrap().key.expose().to_owned()
}

async fn as_key(h: &Harness, key: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    let builder = Request::builder().method(method).uri(path).header("x-api-key", key);
    let request = match body {
        Some(b) => builder.header("content-type", "application/json").body(Body::from(b.to_string())),
        None => builder.body(Body::empty()),
    };
    h.send(request.unwrap()).await
}

async fn create(h: &Harness, key: &str, title: &str) -> String {
    let reply = as_key(h, key, "POST", "/tasks", Some(json!({"title": title}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"]["id"].as_str().unwrap().to_owned()
}

async fn move_to(h: &Harness, key: &str, id: &str, version: u64, status: &str) {
    let reply =
        as_key(h, key, "PUT", &format!("/tasks/{id}"), Some(json!({"version": version, "status": status}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// Routes everything, then drains `consumer` until it is idle.
async fn drain(h: &Harness, consumer: &dyn Consumer) {
    loop {
        let routed = h.engine.route_pending().await.unwrap();
        if h.engine.drain_once(consumer).await.unwrap() == 0 && routed == 0 {
            return;
        }
    }
}

fn sql_count(h: &Harness, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(h.engine.db().path()).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn sql_exec(h: &Harness, sql: &str) -> usize {
    let conn = rusqlite::Connection::open(h.engine.db().path()).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    conn.execute(sql, []).unwrap()
}

/// Audit history that records how each event reached it and can be made to refuse them.
struct Recording {
    inner: AuditHistory,
    poisoned: AtomicBool,
    replays: Mutex<Vec<Option<String>>>,
}

impl Recording {
    fn new(h: &Harness) -> Self {
        Self {
            inner: AuditHistory::new(h.engine.history_store()),
            poisoned: AtomicBool::new(false),
            replays: Mutex::new(Vec::new()),
        }
    }

    fn take_replays(&self) -> Vec<Option<String>> {
        std::mem::take(&mut *self.replays.lock().unwrap())
    }
}

#[async_trait]
impl Consumer for Recording {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn apply(&self, event: &DomainEvent, delivery: &Delivery) -> Result<(), ApplyError> {
        self.replays.lock().unwrap().push(delivery.replay_name.clone());
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(ApplyError::Rejected("the history store refuses this event: quota exceeded".into()));
        }
        self.inner.apply(event, delivery).await
    }
}

const WINDOW_FROM: &str = "2000-01-01T00:00:00.000Z";
const WINDOW_TO: &str = "2999-01-01T00:00:00.000Z";

fn replay_body(name: &str, consumers: &[&str]) -> Value {
    json!({"name": name, "from": WINDOW_FROM, "to": WINDOW_TO, "consumers": consumers})
}

#[tokio::test]
async fn a_replay_into_one_consumer_leaves_the_others_untouched_and_matches_its_dry_run() {
    let (h, keys) = harness();
    let acme = key(&keys, "acme", Role::Admin).await;
    let globex = key(&keys, "globex", Role::Admin).await;
    let history = Recording::new(&h);
    let (a, b) = (create(&h, &acme, "a").await, create(&h, &acme, "b").await);
    move_to(&h, &acme, &a, 1, "in_progress").await;
    let g = create(&h, &globex, "g").await;
    drain(&h, &history).await;
    drain(&h, h.search.as_ref()).await;
    let history_rows = sql_count(&h, "SELECT COUNT(*) FROM history WHERE tenant = 'acme'");
    assert_eq!(history_rows, 3, "a created and moved, b created");

    // The audit history loses two of acme's entries and one of globex's.
    assert_eq!(sql_exec(&h, &format!("DELETE FROM history WHERE task_id IN ('{b}', '{g}')")), 2);
    assert_eq!(sql_exec(&h, &format!("DELETE FROM history WHERE task_id = '{a}' AND version = 2")), 1);
    let archived = sql_count(&h, "SELECT COUNT(*) FROM archive");
    let changes = sql_count(&h, "SELECT COUNT(*) FROM change_log");
    let search_before = sql_count(&h, "SELECT SUM(version) FROM search_docs");
    let cursors_before = sql_count(&h, "SELECT SUM(seq) FROM consumer_cursors");
    history.take_replays();

    let plan = as_key(&h, &acme, "POST", "/admin/replays/plan", Some(replay_body("r1", &["audit-history"]))).await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    let planned = &plan.body["data"]["consumers"][0];
    assert_eq!(
        (
            planned["consumer"].as_str(),
            planned["events"].as_i64(),
            planned["wouldApply"].as_i64(),
            planned["unchanged"].as_i64()
        ),
        (Some("audit-history"), Some(3), Some(2), Some(1)),
        "acme's three task events; globex's is not theirs to replay: {}",
        plan.body
    );
    assert_eq!(sql_count(&h, "SELECT COUNT(*) FROM history WHERE tenant = 'acme'"), 1, "a dry run applies nothing");

    let started = as_key(&h, &acme, "POST", "/admin/replays", Some(replay_body("r1", &["audit-history"]))).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    assert_eq!(started.body["data"]["state"], "running");
    drain(&h, &history).await;
    drain(&h, h.search.as_ref()).await;

    let status = as_key(&h, &acme, "GET", "/admin/replays/r1", None).await;
    let progress = &status.body["data"]["consumers"][0];
    assert_eq!(status.body["data"]["state"], "completed", "{}", status.body);
    assert_eq!(
        (progress["applied"].as_i64(), progress["unchanged"].as_i64(), progress["failed"].as_i64()),
        (planned["wouldApply"].as_i64(), planned["unchanged"].as_i64(), Some(0)),
        "the dry run's numbers are what the replay did: {}",
        status.body
    );
    // What it applied is what the audit history got back, once; globex's entry stays lost.
    assert_eq!(sql_count(&h, "SELECT COUNT(*) FROM history WHERE tenant = 'acme'"), history_rows);
    assert_eq!(sql_count(&h, "SELECT COUNT(*) FROM history WHERE tenant = 'globex'"), 0);
    assert_eq!(history.take_replays(), vec![Some("r1".to_owned()); 2], "only the missing ones, marked as replayed");
    // Nothing else moved: no event re-routed or re-archived, the search index and every
    // consumer's own cursor as they were.
    assert_eq!(sql_count(&h, "SELECT COUNT(*) FROM archive"), archived);
    assert_eq!(sql_count(&h, "SELECT COUNT(*) FROM change_log"), changes);
    assert_eq!(sql_count(&h, "SELECT SUM(version) FROM search_docs"), search_before);
    assert_eq!(sql_count(&h, "SELECT SUM(seq) FROM consumer_cursors"), cursors_before);
    assert_eq!(sql_count(&h, "SELECT COUNT(*) FROM replay_cursors WHERE consumer <> 'audit-history'"), 0);

    // Again, under a new name: every event is held at its version, nothing applies.
    let again = as_key(&h, &acme, "POST", "/admin/replays", Some(replay_body("r2", &["audit-history"]))).await;
    assert_eq!(again.status, StatusCode::CREATED);
    drain(&h, &history).await;
    let status = as_key(&h, &acme, "GET", "/admin/replays/r2", None).await;
    assert_eq!(
        (
            status.body["data"]["consumers"][0]["applied"].as_i64(),
            status.body["data"]["consumers"][0]["unchanged"].as_i64()
        ),
        (Some(0), Some(3))
    );
    assert!(history.take_replays().is_empty());
    let taken = as_key(&h, &acme, "POST", "/admin/replays", Some(replay_body("r1", &["audit-history"]))).await;
    assert_eq!((taken.status, taken.code()), (StatusCode::CONFLICT, "in_use"));
}

#[tokio::test]
async fn dry_run_counts_match_a_replay_into_two_consumers() {
    let (h, keys) = harness();
    let acme = key(&keys, "acme", Role::Admin).await;
    let ids = [create(&h, &acme, "one").await, create(&h, &acme, "two").await, create(&h, &acme, "three").await];
    move_to(&h, &acme, &ids[0], 1, "in_progress").await;
    h.settle().await;
    // The search index loses one task; the audit history loses another's creation.
    sql_exec(&h, &format!("DELETE FROM search_docs WHERE id = '{}'", ids[1]));
    sql_exec(&h, &format!("DELETE FROM history WHERE task_id = '{}'", ids[2]));
    let both = replay_body("both", &["audit-history", "search-indexer"]);
    let plan = as_key(&h, &acme, "POST", "/admin/replays/plan", Some(both.clone())).await;
    assert_eq!(plan.status, StatusCode::OK, "{}", plan.body);
    as_key(&h, &acme, "POST", "/admin/replays", Some(both)).await;
    h.settle().await;
    let status = as_key(&h, &acme, "GET", "/admin/replays/both", None).await;
    for (planned, done) in plan.body["data"]["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(status.body["data"]["consumers"].as_array().unwrap())
    {
        assert_eq!(planned["consumer"], done["consumer"]);
        assert_eq!(
            (&planned["wouldApply"], &planned["unchanged"]),
            (&done["applied"], &done["unchanged"]),
            "{planned} against {done}"
        );
        assert_eq!(planned["wouldApply"], 1, "one lost record each: {planned}");
    }
    assert_eq!(
        sql_count(&h, &format!("SELECT COUNT(*) FROM search_docs WHERE id = '{}'", ids[1])),
        1,
        "back in the index"
    );
}

#[tokio::test]
async fn a_poisoned_message_is_dead_lettered_shown_redriven_after_the_fix_and_applied_once() {
    let (h, keys) = harness();
    let acme = key(&keys, "acme", Role::Admin).await;
    let globex = key(&keys, "globex", Role::Admin).await;
    let history = Recording::new(&h);
    let id = create(&h, &acme, "poison").await;
    history.poisoned.store(true, Ordering::SeqCst);
    drain(&h, &history).await;
    assert_eq!(history.take_replays().len(), 5, "tried max-receives times");

    let listed = as_key(&h, &acme, "GET", "/admin/dead-letters?consumer=audit-history", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let letters = listed.body["data"].as_array().unwrap().clone();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(
        (letters[0]["eventType"].as_str(), letters[0]["aggregateId"].as_str(), letters[0]["receiveCount"].as_u64()),
        (Some("TaskCreated"), Some(id.as_str()), Some(5))
    );
    assert!(letters[0]["reason"].as_str().unwrap().contains("quota exceeded"), "{}", letters[0]);
    let letter_id = letters[0]["id"].as_i64().unwrap();
    let shown = as_key(&h, &acme, "GET", &format!("/admin/dead-letters/{letter_id}"), None).await;
    assert_eq!(shown.body["data"]["event"]["detail"]["aggregateId"], id.as_str(), "{}", shown.body);
    let again = as_key(&h, &acme, "GET", "/admin/dead-letters", None).await;
    assert_eq!(again.body["data"].as_array().unwrap().len(), 1, "showing removes nothing");
    let lag = as_key(&h, &acme, "GET", "/admin/lag", None).await;
    let history_lag = lag.body["data"]["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["consumer"] == "audit-history")
        .unwrap()
        .clone();
    assert_eq!(
        (history_lag["deadLetters"].as_i64(), history_lag["depth"].as_i64()),
        (Some(1), Some(0)),
        "{history_lag}"
    );

    // Another tenant's admin: it does not exist for them, and nothing of theirs moves it.
    assert_eq!(as_key(&h, &globex, "GET", "/admin/dead-letters", None).await.body["data"], json!([]));
    let foreign = as_key(&h, &globex, "GET", &format!("/admin/dead-letters/{letter_id}"), None).await;
    assert_eq!((foreign.status, foreign.code()), (StatusCode::NOT_FOUND, "not_found"));
    let moved = as_key(&h, &globex, "POST", "/admin/dead-letters/redrive", Some(json!({"id": letter_id}))).await;
    assert_eq!(moved.body["data"]["count"], 0, "{}", moved.body);
    let purged = as_key(&h, &globex, "POST", "/admin/dead-letters/purge", Some(json!({}))).await;
    assert_eq!(purged.body["data"]["count"], 0, "{}", purged.body);
    assert_eq!(sql_count(&h, "SELECT COUNT(*) FROM consumer_dead_letters"), 1);

    // The cause fixed, redriven once: applied once; a second redrive finds nothing.
    history.poisoned.store(false, Ordering::SeqCst);
    let redriven = as_key(&h, &acme, "POST", "/admin/dead-letters/redrive", Some(json!({"id": letter_id}))).await;
    assert_eq!(
        (redriven.status, redriven.body["data"]["count"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{}",
        redriven.body
    );
    drain(&h, &history).await;
    assert_eq!(history.take_replays(), vec![None], "delivered once more, as an ordinary delivery");
    assert_eq!(sql_count(&h, &format!("SELECT COUNT(*) FROM history WHERE task_id = '{id}'")), 1);
    let twice = as_key(&h, &acme, "POST", "/admin/dead-letters/redrive", Some(json!({"id": letter_id}))).await;
    assert_eq!(twice.body["data"]["count"], 0);
    drain(&h, &history).await;
    assert!(history.take_replays().is_empty());
    assert_eq!(as_key(&h, &acme, "GET", "/admin/dead-letters", None).await.body["data"], json!([]));
}

#[tokio::test]
async fn purge_and_redrive_by_count_take_the_oldest_first() {
    let (h, keys) = harness();
    let acme = key(&keys, "acme", Role::Admin).await;
    let history = Recording::new(&h);
    for n in 0..3 {
        create(&h, &acme, &format!("t{n}")).await;
    }
    history.poisoned.store(true, Ordering::SeqCst);
    drain(&h, &history).await;
    let listed = as_key(&h, &acme, "GET", "/admin/dead-letters?limit=2", None).await;
    let ids: Vec<i64> = listed.body["data"].as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 2, "the limit holds");
    let moved = as_key(&h, &acme, "POST", "/admin/dead-letters/redrive", Some(json!({"max": 2}))).await;
    assert_eq!(moved.body["data"]["count"], 2);
    let left = as_key(&h, &acme, "GET", "/admin/dead-letters", None).await;
    let left: Vec<i64> = left.body["data"].as_array().unwrap().iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert_eq!(left.len(), 1);
    assert!(ids.iter().all(|id| *id < left[0]), "the oldest two went: {ids:?} then {left:?}");
    let purged =
        as_key(&h, &acme, "POST", "/admin/dead-letters/purge", Some(json!({"consumer": "audit-history"}))).await;
    assert_eq!(purged.body["data"]["count"], 1);
    assert_eq!(sql_count(&h, "SELECT COUNT(*) FROM consumer_dead_letters"), 0);
    let bad = as_key(&h, &acme, "POST", "/admin/dead-letters/redrive", Some(json!({"consumer": "nobody"}))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
}

#[tokio::test]
async fn lag_and_trace_on_a_known_data_set() {
    let (h, keys) = harness();
    let acme = key(&keys, "acme", Role::Admin).await;
    let globex = key(&keys, "globex", Role::Admin).await;
    let history = Recording::new(&h);
    let id = create(&h, &acme, "traced").await;
    move_to(&h, &acme, &id, 1, "in_progress").await;
    move_to(&h, &acme, &id, 2, "done").await;
    create(&h, &globex, "other").await;
    // History keeps up; search has read nothing.
    drain(&h, &history).await;

    let lag = as_key(&h, &acme, "GET", "/admin/lag", None).await;
    assert_eq!(lag.status, StatusCode::OK, "{}", lag.body);
    let by_name = |name: &str| {
        lag.body["data"]["consumers"].as_array().unwrap().iter().find(|c| c["consumer"] == name).unwrap().clone()
    };
    assert_eq!(by_name("audit-history")["depth"], 0);
    assert_eq!(by_name("audit-history")["oldestAgeMs"], Value::Null);
    // acme's four events (created; status changed; completed and status changed), not globex's.
    assert_eq!(by_name("search-indexer")["depth"], 4, "{}", lag.body);
    assert!(by_name("search-indexer")["oldestAgeMs"].as_i64().unwrap() >= 0);
    assert_eq!(lag.body["data"]["routerPending"], 0);

    // One more change the router has not taken yet.
    move_to(&h, &acme, &id, 3, "in_progress").await;
    let trace = as_key(&h, &acme, "GET", &format!("/admin/tasks/{id}/trace"), None).await;
    assert_eq!(trace.status, StatusCode::OK, "{}", trace.body);
    let changes = trace.body["data"]["changes"].as_array().unwrap();
    let summary: Vec<(u64, &str, Vec<&str>)> = changes
        .iter()
        .map(|c| {
            let types = c["events"].as_array().unwrap().iter().map(|e| e["eventType"].as_str().unwrap()).collect();
            (c["version"].as_u64().unwrap(), c["state"].as_str().unwrap(), types)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "routed", vec!["TaskCreated"]),
            (2, "routed", vec!["TaskStatusChanged"]),
            (3, "routed", vec!["TaskStatusChanged", "TaskCompleted"]),
            (4, "pending", vec!["TaskStatusChanged"]),
        ]
    );
    let created = &changes[0]["events"][0];
    assert!(created["eventId"].as_str().unwrap().len() == 36 && created["archived"] == true);
    let deliveries: Vec<(&str, &str)> = created["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["consumer"].as_str().unwrap(), d["state"].as_str().unwrap()))
        .collect();
    // Every consumer the routing table sends TaskCreated to, by name.
    assert_eq!(deliveries, vec![("audit-history", "applied"), ("metrics", "pending"), ("search-indexer", "pending")]);
    assert_eq!(changes[3]["events"][0]["archived"], false, "not routed: not on the bus yet");
    // The event ids are the ones the audit history recorded.
    let recorded = as_key(&h, &acme, "GET", &format!("/tasks/{id}/history"), None).await;
    assert_eq!(recorded.body["data"][0]["events"][0]["eventId"], created["eventId"]);
    assert_eq!(recorded.body["data"][0]["events"][0]["schemaVersion"], created["schemaVersion"]);
    assert!(created["schemaVersion"].as_u64().unwrap() >= 1);

    let one = as_key(&h, &acme, "GET", &format!("/admin/tasks/{id}/trace?version=2"), None).await;
    assert_eq!(one.body["data"]["changes"].as_array().unwrap().len(), 1);
    // A dead-lettered delivery names its reason.
    history.poisoned.store(true, Ordering::SeqCst);
    drain(&h, &history).await;
    let trace = as_key(&h, &acme, "GET", &format!("/admin/tasks/{id}/trace?version=4"), None).await;
    let delivery = &trace.body["data"]["changes"][0]["events"][0]["deliveries"][0];
    assert_eq!(delivery["state"], "dead_lettered", "{}", trace.body);
    assert!(delivery["reason"].as_str().unwrap().contains("quota exceeded"));

    let foreign = as_key(&h, &globex, "GET", &format!("/admin/tasks/{id}/trace"), None).await;
    assert_eq!((foreign.status, foreign.code()), (StatusCode::NOT_FOUND, "not_found"));
    let globex_lag = as_key(&h, &globex, "GET", "/admin/lag", None).await;
    let globex_history = globex_lag.body["data"]["consumers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["consumer"] == "audit-history")
        .unwrap()
        .clone();
    assert_eq!(globex_history["deadLetters"], 0, "acme's dead letter is not globex's");
}

#[tokio::test]
async fn each_consumer_shows_the_events_per_second_it_took_of_the_callers_tenant_since_an_earlier_look() {
    let (h, keys) = harness();
    let acme = key(&keys, "acme", Role::Admin).await;
    let globex = key(&keys, "globex", Role::Admin).await;
    let history = Recording::new(&h);
    let rate = |lag: &Reply, name: &str| {
        lag.body["data"]["consumers"].as_array().unwrap().iter().find(|c| c["consumer"] == name).unwrap()
            ["eventsPerSecond"]
            .clone()
    };

    // The first look has nothing earlier to measure from.
    let started = std::time::Instant::now();
    let first = as_key(&h, &acme, "GET", "/admin/lag", None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(rate(&first, "audit-history"), Value::Null, "{}", first.body);

    for title in ["one", "two", "three"] {
        create(&h, &acme, title).await;
    }
    create(&h, &globex, "theirs").await;
    drain(&h, &history).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let later = as_key(&h, &acme, "GET", "/admin/lag", None).await;
    let theirs = as_key(&h, &globex, "GET", "/admin/lag", None).await;
    let span = started.elapsed().as_secs_f64();
    // acme's three events over the span between the two looks (at least a second, at most
    // the time since before the first look), to a tenth.
    let acme_rate = rate(&later, "audit-history").as_f64().unwrap();
    assert!(acme_rate <= 3.0 + 0.05 && acme_rate >= 3.0 / span - 0.05, "{acme_rate} over {span} s: {}", later.body);
    // globex's admin sees only globex's one event in the same cursor movement.
    let globex_rate = rate(&theirs, "audit-history").as_f64().unwrap();
    assert!(globex_rate <= 1.0 + 0.05 && globex_rate >= 1.0 / span - 0.05, "{globex_rate}: {}", theirs.body);
    // A consumer that read nothing took nothing.
    assert_eq!(rate(&later, "search-indexer"), json!(0.0), "{}", later.body);
}

#[tokio::test]
async fn replays_are_walled_by_tenant_and_every_route_needs_the_admin_role() {
    let (h, keys) = harness();
    let acme = key(&keys, "acme", Role::Admin).await;
    let globex = key(&keys, "globex", Role::Admin).await;
    let id = create(&h, &acme, "x").await;
    h.settle().await;
    let started = as_key(&h, &acme, "POST", "/admin/replays", Some(replay_body("mine", &["search-indexer"]))).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    assert_eq!(as_key(&h, &globex, "GET", "/admin/replays", None).await.body["data"], json!([]));
    for (method, path) in [("GET", "/admin/replays/mine"), ("POST", "/admin/replays/mine/cancel")] {
        let reply = as_key(&h, &globex, method, path, None).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::NOT_FOUND, "not_found"), "{method} {path}");
    }
    // The same name is free for another tenant, and its replay holds none of acme's events.
    let theirs =
        as_key(&h, &globex, "POST", "/admin/replays/plan", Some(replay_body("mine", &["search-indexer"]))).await;
    assert_eq!(theirs.body["data"]["consumers"][0]["events"], 0, "{}", theirs.body);
    let cancelled = as_key(&h, &acme, "POST", "/admin/replays/mine/cancel", None).await;
    assert_eq!(cancelled.body["data"]["state"], "cancelled", "{}", cancelled.body);

    let bad = as_key(
        &h,
        &acme,
        "POST",
        "/admin/replays",
        Some(json!({"from": WINDOW_TO, "to": WINDOW_FROM, "consumers": ["audit-history"]})),
    )
    .await;
    assert_eq!((bad.status, bad.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{}", bad.body);
    // A consumer of the routing table that this engine does not run would never apply it.
    let idle = as_key(&h, &acme, "POST", "/admin/replays", Some(replay_body("idle", &["notifier"]))).await;
    assert_eq!((idle.status, idle.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{}", idle.body);
    assert!(idle.body["error"]["message"].as_str().unwrap().contains("not run by this engine"));

    for role in [Role::Viewer, Role::Member] {
        let weak = key(&keys, "acme", role).await;
        for (method, path, body) in [
            ("GET", "/admin/lag".to_owned(), None),
            ("GET", "/admin/dead-letters".to_owned(), None),
            ("GET", "/admin/dead-letters/1".to_owned(), None),
            ("POST", "/admin/dead-letters/redrive".to_owned(), Some(json!({}))),
            ("POST", "/admin/dead-letters/purge".to_owned(), Some(json!({}))),
            ("GET", "/admin/replays".to_owned(), None),
            ("POST", "/admin/replays".to_owned(), Some(replay_body("weak", &["audit-history"]))),
            ("POST", "/admin/replays/plan".to_owned(), Some(replay_body("weak", &["audit-history"]))),
            ("GET", "/admin/replays/mine".to_owned(), None),
            ("POST", "/admin/replays/mine/cancel".to_owned(), None),
            ("GET", format!("/admin/tasks/{id}/trace"), None),
        ] {
            let reply = as_key(&h, &weak, method, &path, body).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "forbidden"), "{role:?} {method} {path}");
        }
    }
}

#[tokio::test]
async fn without_an_engine_that_offers_operations_the_routes_do_not_exist() {
    let h = Harness::new();
    assert_eq!(h.call("GET", "/admin/lag", None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_change_record_the_router_parked_is_listed_shown_and_routed_once_after_the_fix_over_the_admin_api() {
    let (h, keys) = harness();
    let acme = key(&keys, "acme", Role::Admin).await;
    let history = Recording::new(&h);
    let id = create(&h, &acme, "parked").await;
    // A change record no derivation can read (the fault the fix will undo): parked, not routed.
    let broken = sql_exec(
        &h,
        &format!(
            "UPDATE change_log SET new_image = json_set(new_image, '$.status', 'exploded') WHERE aggregate_id = '{id}'"
        ),
    );
    assert_eq!(broken, 1);
    drain(&h, &history).await;
    let listed = as_key(&h, &acme, "GET", "/admin/router/dead-letters", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let parked = listed.body["data"].as_array().unwrap();
    assert_eq!(parked.len(), 1, "{}", listed.body);
    let letter = &parked[0];
    assert_eq!(
        (letter["consumer"].as_str(), letter["eventType"].as_str(), letter["aggregateId"].as_str()),
        (Some("stream-router"), Some("task v1"), Some(id.as_str()))
    );
    assert!(letter["reason"].as_str().unwrap().contains("exploded"), "{letter}");
    let letter_id = letter["id"].as_i64().unwrap();
    let shown = as_key(&h, &acme, "GET", &format!("/admin/router/dead-letters/{letter_id}"), None).await;
    assert_eq!(shown.body["data"]["event"]["aggregateId"], id.as_str(), "{}", shown.body);
    let lag = as_key(&h, &acme, "GET", "/admin/lag", None).await;
    assert_eq!(lag.body["data"]["routerParked"], 1, "{}", lag.body);

    // Another tenant sees none of it and moves none of it; weaker roles are refused.
    let globex = key(&keys, "globex", Role::Admin).await;
    assert_eq!(as_key(&h, &globex, "GET", "/admin/router/dead-letters", None).await.body["data"], json!([]));
    let foreign = as_key(&h, &globex, "GET", &format!("/admin/router/dead-letters/{letter_id}"), None).await;
    assert_eq!((foreign.status, foreign.code()), (StatusCode::NOT_FOUND, "not_found"), "{}", foreign.body);
    let moved = as_key(&h, &globex, "POST", "/admin/router/dead-letters/redrive", Some(json!({"id": letter_id}))).await;
    assert_eq!(moved.body["data"]["routed"], 0, "{}", moved.body);
    for role in [Role::Viewer, Role::Member] {
        let weak = key(&keys, "acme", role).await;
        for (method, path, body) in [
            ("GET", "/admin/router/dead-letters".to_owned(), None),
            ("GET", format!("/admin/router/dead-letters/{letter_id}"), None),
            ("POST", "/admin/router/dead-letters/redrive".to_owned(), Some(json!({}))),
        ] {
            let reply = as_key(&h, &weak, method, &path, body).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "forbidden"), "{role:?} {method} {path}");
        }
    }
    for body in [json!({"max": 0}), json!({"id": 0}), json!({"id": 1, "consumer": "audit-history"})] {
        let bad = as_key(&h, &acme, "POST", "/admin/router/dead-letters/redrive", Some(body.clone())).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{body}: {}", bad.body);
    }
    let nonsense = as_key(&h, &acme, "GET", "/admin/router/dead-letters/x", None).await;
    assert_eq!(nonsense.status, StatusCode::NOT_FOUND);

    // Redriven before the fix: still poison, still parked, with the reason of this attempt.
    let early = as_key(&h, &acme, "POST", "/admin/router/dead-letters/redrive", Some(json!({}))).await;
    assert_eq!(early.body["data"]["routed"], 0, "{}", early.body);
    let poison = &early.body["data"]["stillPoison"];
    assert_eq!(poison[0]["id"], letter_id, "{}", early.body);
    assert!(poison[0]["reason"].as_str().unwrap().contains("exploded"), "{}", early.body);
    let ops = h.engine.operator();
    assert_eq!(ops.router_dead_letters(None, 10).await.unwrap().len(), 1);

    // The cause fixed: routed once, applied once; a second redrive finds nothing.
    sql_exec(
        &h,
        &format!(
            "UPDATE change_log SET new_image = json_set(new_image, '$.status', 'todo') WHERE aggregate_id = '{id}'"
        ),
    );
    let done = as_key(&h, &acme, "POST", "/admin/router/dead-letters/redrive", Some(json!({"id": letter_id}))).await;
    assert_eq!(done.body["data"], json!({"routed": 1, "events": 1, "stillPoison": []}), "{}", done.body);
    assert!(ops.router_dead_letters(None, 10).await.unwrap().is_empty());
    drain(&h, &history).await;
    assert_eq!(history.take_replays(), vec![None], "applied once, as an ordinary delivery");
    assert_eq!(sql_count(&h, &format!("SELECT COUNT(*) FROM history WHERE task_id = '{id}'")), 1);
    let again = as_key(&h, &acme, "POST", "/admin/router/dead-letters/redrive", Some(json!({}))).await;
    assert_eq!((again.body["data"]["routed"].as_u64(), again.body["data"]["events"].as_u64()), (Some(0), Some(0)));
    assert_eq!(sql_count(&h, "SELECT COUNT(*) FROM archive WHERE detail_type = 'TaskCreated'"), 1);
}
