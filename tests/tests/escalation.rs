//! Escalation, embedded and in process: the policy endpoint behind its walls, a task past
//! due escalating through the store so history, search and the notifier see it, and timers
//! that outlive the engine that placed them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use events_schema::Timestamp;
use serde_json::{Value, json};
use shared_api::EscalationHandle;
use shared_core::Role;
use shared_core::consumers::escalation::EscalationPlanner;
use shared_core::escalation::{Policy, plan};
use shared_core::pipeline::Consumer;
use shared_core::ports::{EscalationPolicies, EscalationSchedule};
use shared_embedded::Engine;
use support::fast_config;
use support::notify::NotifyHarness;

/// The time the planner and the timers see in these tests.
fn now() -> Timestamp {
    Timestamp::parse("2026-03-10T12:00:00Z").unwrap()
}

struct Escalating {
    n: NotifyHarness,
    planner: Arc<dyn Consumer>,
}

impl Escalating {
    fn new() -> Self {
        let mut n = NotifyHarness::new();
        let escalation = n.h.engine.escalation();
        let planner: Arc<dyn Consumer> =
            Arc::new(EscalationPlanner::new(escalation.clone(), escalation.clone()).with_clock(now));
        n.h.engine.register_queue(planner.name()).unwrap();
        n.h.app = n.h.app.clone().layer(axum::Extension(EscalationHandle(escalation)));
        Self { n, planner }
    }

    /// Routes and drains every consumer (history, search, metrics, notifier, escalation)
    /// until all are idle.
    async fn settle(&self) {
        loop {
            self.n.settle().await;
            self.n.h.settle().await;
            let planned = self.n.h.engine.drain_once(self.planner.as_ref()).await.unwrap();
            let routed = self.n.h.engine.route_pending().await.unwrap();
            if planned == 0 && routed == 0 {
                return;
            }
        }
    }
}

fn policy_body(version: u64, lead: &str) -> Value {
    json!({
        "version": version,
        "utcOffsetMinutes": 0,
        "levels": [
            {"name": "overdue", "offsetMinutes": 1440, "notify": ["lead", "assignee"], "raisePriority": "critical"},
            {"name": "reminder", "offsetMinutes": -1440, "notify": ["assignee"]},
            {"name": "due", "offsetMinutes": 0, "notify": ["reporter"]}
        ],
        "slaMinutes": {"critical": 240},
        "slaNotify": ["assignee"],
        "lead": lead
    })
}

#[tokio::test]
async fn a_task_past_due_escalates_into_history_search_and_notifications_once() {
    let e = Escalating::new();
    let admin = e.n.key("acme", Role::Admin, Some("ana")).await;
    let li = e.n.key("acme", Role::Member, Some("li")).await;
    let maria = e.n.key("acme", Role::Member, Some("maria")).await;
    let put = e.n.call(&admin, "PUT", "/escalation-policy", Some(policy_body(0, "ana"))).await;
    assert_eq!(put.status, 200, "{}", put.body);

    // Due on the 8th: at noon on the 10th every level is past, so the plan is one step.
    let created =
        e.n.call(
            &maria,
            "POST",
            "/tasks",
            Some(json!({"title": "Renew the certificate", "priority": "medium", "assignee": "li",
                        "reporter": "maria", "dueDate": "2026-03-08"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    e.settle().await;
    assert_eq!(e.n.h.engine.pending_escalations().await.unwrap(), 1);

    assert_eq!(e.n.h.engine.fire_due_escalations(now()).await.unwrap(), 1);
    e.settle().await;
    // Fired and settled: nothing is left to fire, and firing again writes nothing.
    assert_eq!(e.n.h.engine.pending_escalations().await.unwrap(), 0);
    assert_eq!(e.n.h.engine.fire_due_escalations(now()).await.unwrap(), 0);

    let task = e.n.call(&admin, "GET", &format!("/tasks/{id}"), None).await;
    assert_eq!(task.body["data"]["priority"], "critical", "{}", task.body);
    assert_eq!(task.body["data"]["version"], 2);
    assert_eq!(task.body["data"]["escalation"]["level"], 3);
    assert_eq!(task.body["data"]["escalation"]["name"], "overdue");
    // A client may PUT back what it read: the escalation it carries is the server's and ignored.
    let mut back = task.body["data"].clone();
    back["title"] = json!("Renew the TLS certificate");
    let put_back = e.n.call(&maria, "PUT", &format!("/tasks/{id}"), Some(back)).await;
    assert_eq!(put_back.status, 200, "{}", put_back.body);
    assert_eq!(put_back.body["data"]["escalation"]["level"], 3, "kept");
    e.settle().await;

    let history = e.n.call(&admin, "GET", &format!("/tasks/{id}/history"), None).await;
    let versions = history.body["data"].as_array().unwrap();
    assert_eq!(versions.len(), 3, "{}", history.body);
    let types: Vec<&str> =
        versions[1]["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["TaskEscalated", "TaskUpdated"]);
    assert_eq!(versions[1]["actor"], "escalation");
    assert_eq!(versions[1]["events"][0]["data"]["previousPriority"], "medium");

    let found = e.n.call(&admin, "GET", "/search?q=certificate", None).await;
    assert_eq!(found.body["data"].as_array().map(Vec::len), Some(1), "{}", found.body);
    assert_eq!(found.body["data"][0]["id"], id.as_str(), "{}", found.body);
    assert_eq!(found.body["data"][0]["priority"], "critical", "search has the raised priority");

    // The levels past when found fold into one: the lead, the assignee and the reporter.
    let summary = "\u{201c}Renew the certificate\u{201d} escalated (overdue): priority medium \u{2192} critical";
    for key in [&admin, &li, &maria] {
        let inbox = e.n.inbox(key).await;
        let escalated: Vec<_> = inbox.iter().filter(|(kind, ..)| kind == "escalated").collect();
        assert_eq!(escalated.len(), 1, "{inbox:?}");
        assert_eq!(escalated[0].2, summary);
    }
}

#[tokio::test]
async fn finishing_the_task_before_its_time_drops_the_timers_and_a_stale_timer_writes_nothing() {
    let e = Escalating::new();
    let admin = e.n.key("acme", Role::Admin, Some("ana")).await;
    let created =
        e.n.call(&admin, "POST", "/tasks", Some(json!({"title": "Later", "assignee": "li", "dueDate": "2026-03-20"})))
            .await;
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    e.settle().await;
    assert_eq!(e.n.h.engine.pending_escalations().await.unwrap(), 3, "reminder, due, overdue");

    let moved =
        e.n.call(&admin, "PUT", &format!("/tasks/{id}"), Some(json!({"version": 1, "status": "cancelled"}))).await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    e.settle().await;
    assert_eq!(e.n.h.engine.pending_escalations().await.unwrap(), 0, "a cancelled task has no schedule");

    // A timer placed by an older plan fires into a finished task: the condition refuses.
    let escalation = e.n.h.engine.escalation();
    let mut old = e.n.h.engine.store().get_task("acme", &id).await.unwrap().unwrap();
    old.status = events_schema::events::TaskStatus::Todo;
    old.version = 1;
    let stale = plan(&old, &Policy::default(), Timestamp::parse("2026-03-25T00:00:00Z").unwrap()).unwrap();
    // Fenced: an older task version cannot put its plan back over the newer decision.
    assert!(!escalation.schedule("acme", &stale).await.unwrap());
    let mut forced = stale.clone();
    forced.task_version = 99;
    assert!(escalation.schedule("acme", &forced).await.unwrap());
    assert_eq!(e.n.h.engine.fire_due_escalations(Timestamp::parse("2026-03-25T00:00:00Z").unwrap()).await.unwrap(), 1);
    let task = e.n.call(&admin, "GET", &format!("/tasks/{id}"), None).await;
    assert_eq!((task.body["data"]["version"].as_u64(), task.body["data"].get("escalation")), (Some(2), None));
}

#[tokio::test]
async fn a_replayed_event_starts_no_timer() {
    let e = Escalating::new();
    // Applied as a replay, the creation places nothing; applied live, it does.
    let created = shared_core::derive(shared_core::ChangeRecord {
        tenant: "acme".into(),
        aggregate_type: events_schema::AggregateType::Task,
        aggregate_id: "t-replayed".into(),
        aggregate_version: 1,
        at: now(),
        correlation_id: "c".into(),
        actor: "li".into(),
        old: None,
        new: Some(shared_core::ports::Aggregate::Task(fixture_task("t-replayed"))),
    })
    .unwrap()
    .remove(0);
    let replay = shared_core::pipeline::Delivery { replay_name: Some("r1".into()) };
    e.planner.apply(&created, &replay).await.unwrap();
    assert_eq!(e.n.h.engine.pending_escalations().await.unwrap(), 0);
    e.planner.apply(&created, &Default::default()).await.unwrap();
    assert_eq!(e.n.h.engine.pending_escalations().await.unwrap(), 3);
}

fn fixture_task(id: &str) -> events_schema::events::TaskSnapshot {
    let at = Timestamp::parse("2026-03-01T00:00:00Z").unwrap();
    events_schema::events::TaskSnapshot {
        id: id.into(),
        title: "Replayed".into(),
        description: None,
        status: events_schema::events::TaskStatus::Todo,
        priority: events_schema::events::Priority::Medium,
        assignee: Some("li".into()),
        reporter: None,
        category_id: None,
        project_id: None,
        sprint_id: None,
        tags: vec![],
        due_date: Some("2026-03-20".into()),
        estimate_points: None,
        created_at: at,
        updated_at: at,
        status_changed_at: at,
        escalation: None,
        version: 1,
    }
}

#[tokio::test]
async fn timers_outlive_the_engine_and_a_late_one_fires_once_on_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let t = fixture_task("t-late");
    {
        let engine = Engine::open(dir.path(), fast_config()).unwrap();
        let store = engine.store();
        let ctx = shared_core::escalation::runner_context("acme", "seed", 0);
        store
            .commit(
                &ctx,
                vec![shared_core::ports::Change::Put {
                    new: shared_core::ports::Aggregate::Task(t.clone()),
                    expected_version: None,
                }],
                None,
            )
            .await
            .unwrap();
        let p = plan(&t, &Policy::default(), now()).unwrap();
        assert!(engine.escalation().schedule("acme", &p).await.unwrap());
        // Nothing is due yet at the time it was placed.
        assert_eq!(engine.fire_due_escalations(now()).await.unwrap(), 0);
    }
    // Down past the reminder and the due date; opened again on the 22nd at noon.
    let engine = Engine::open(dir.path(), fast_config()).unwrap();
    assert_eq!(engine.pending_escalations().await.unwrap(), 3);
    let later = Timestamp::parse("2026-03-21T12:00:00Z").unwrap();
    // The two late levels fire as one (the highest, telling both), the third waits.
    assert_eq!(engine.fire_due_escalations(later).await.unwrap(), 2);
    assert_eq!(engine.fire_due_escalations(later).await.unwrap(), 0);
    assert_eq!(engine.pending_escalations().await.unwrap(), 1);
    let task = engine.store().get_task("acme", "t-late").await.unwrap().unwrap();
    let reached = task.escalation.unwrap();
    assert_eq!((task.version, reached.level, reached.name.as_str()), (2, 2, "due"));
    assert_eq!(reached.notify, ["li"], "the reminder's assignee joins the due level's (no reporter)");
    let changes = engine.change_log_len().await.unwrap();
    assert_eq!(changes, 2, "one create, one escalation");
}

#[tokio::test]
async fn the_policy_endpoint_is_admin_only_versioned_and_walled_by_tenant() {
    let e = Escalating::new();
    let acme = e.n.key("acme", Role::Admin, None).await;
    let globex = e.n.key("globex", Role::Admin, None).await;
    let member = e.n.key("acme", Role::Member, None).await;
    let viewer = e.n.key("acme", Role::Viewer, None).await;

    let defaults = e.n.call(&acme, "GET", "/escalation-policy", None).await;
    assert_eq!(defaults.status, 200, "{}", defaults.body);
    assert_eq!(defaults.body["data"]["version"], 0);
    let names: Vec<&str> =
        defaults.body["data"]["levels"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["reminder", "due", "overdue"]);
    assert_eq!(defaults.body["data"]["slaMinutes"], json!({"high": 1440, "critical": 240}));

    for key in [&member, &viewer] {
        assert_eq!(e.n.call(key, "GET", "/escalation-policy", None).await.status, 403);
        let put = e.n.call(key, "PUT", "/escalation-policy", Some(policy_body(0, "ana"))).await;
        assert_eq!((put.status.as_u16(), put.code()), (403, "forbidden"));
    }

    let project = e.n.call(&acme, "POST", "/projects", Some(json!({"name": "Infra"}))).await;
    let project_id = project.body["data"]["id"].as_str().unwrap().to_owned();
    let mut body = policy_body(0, "ana");
    body["projects"] = json!({ project_id.clone(): {"lead": "omar", "utcOffsetMinutes": 60} });
    let put = e.n.call(&acme, "PUT", "/escalation-policy", Some(body.clone())).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["data"]["version"], 1);
    let levels: Vec<i64> =
        put.body["data"]["levels"].as_array().unwrap().iter().map(|l| l["offsetMinutes"].as_i64().unwrap()).collect();
    assert_eq!(levels, [-1440, 0, 1440], "stored in offset order");
    assert_eq!(put.body["data"]["projects"][&project_id]["lead"], "omar");

    // Stale, missing and read-back versions.
    let stale = e.n.call(&acme, "PUT", "/escalation-policy", Some(body.clone())).await;
    assert_eq!((stale.status.as_u16(), stale.code()), (409, "version_conflict"), "{}", stale.body);
    assert_eq!(stale.body["error"]["details"]["currentVersion"], 1);
    let mut unversioned = body.clone();
    unversioned.as_object_mut().unwrap().remove("version");
    assert_eq!(e.n.call(&acme, "PUT", "/escalation-policy", Some(unversioned)).await.status, 428);
    let read = e.n.call(&acme, "GET", "/escalation-policy", None).await;
    let again = e.n.call(&acme, "PUT", "/escalation-policy", Some(read.body["data"].clone())).await;
    assert_eq!(again.body["data"]["version"], 2, "what GET gives can be PUT back: {}", again.body);

    // Another tenant sees its own defaults, and acme's project does not exist for it.
    let theirs = e.n.call(&globex, "GET", "/escalation-policy", None).await;
    assert_eq!((theirs.body["data"]["version"].as_u64(), theirs.body["data"].get("lead")), (Some(0), None));
    let borrowed = e.n.call(&globex, "PUT", "/escalation-policy", Some(body.clone())).await;
    assert_eq!(borrowed.status, 422, "{}", borrowed.body);
    assert!(borrowed.body["error"]["message"].as_str().unwrap().contains("no such project"), "{}", borrowed.body);
    assert_eq!(e.n.call(&acme, "GET", "/escalation-policy", None).await.body["data"]["version"], 2);

    // Bad input: off the document is a 400, two levels at one offset a 422; nothing stored.
    let mut bad_name = policy_body(2, "ana");
    bad_name["levels"][0]["name"] = json!("Overdue!");
    let reply = e.n.call(&acme, "PUT", "/escalation-policy", Some(bad_name)).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (400, "validation_failed"), "{}", reply.body);
    let mut twins = policy_body(2, "ana");
    twins["levels"][1]["offsetMinutes"] = json!(1440);
    let reply = e.n.call(&acme, "PUT", "/escalation-policy", Some(twins)).await;
    assert_eq!(reply.status, 422, "{}", reply.body);
    let mut unknown = policy_body(2, "ana");
    unknown["surprise"] = json!(true);
    assert_eq!(e.n.call(&acme, "PUT", "/escalation-policy", Some(unknown)).await.status, 400);
    assert_eq!(e.n.call(&acme, "GET", "/escalation-policy", None).await.body["data"]["version"], 2);
    let stored = e.n.h.engine.escalation().policy("acme").await.unwrap().unwrap();
    assert_eq!(stored.rules.lead.as_deref(), Some("ana"));
}
