//! Sprint closure, embedded and in process: `POST /sprints/{id}/close` behind its walls,
//! then the escalation consumer carrying the unfinished tasks over through the store and
//! recording the summary, exactly once however often `SprintClosed` is delivered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod hooked;
mod support;

use std::sync::Arc;

use events_schema::events::{SprintSnapshot, SprintStatus};
use events_schema::{AggregateType, DomainEvent, EventData};
use hooked::Hooked;
use serde_json::{Value, json};
use shared_core::consumers::escalation::EscalationPlanner;
use shared_core::consumers::sprint_closure::SprintClosure;
use shared_core::pipeline::{Consumer, Delivery};
use shared_core::ports::{Aggregate, Store};
use shared_core::{ChangeRecord, Role};
use support::notify::NotifyHarness;

struct Closing {
    n: NotifyHarness,
    /// The escalation consumer as serve builds it: plans and sprint closure.
    consumer: Arc<dyn Consumer>,
    admin: String,
}

impl Closing {
    async fn new() -> Self {
        let n = NotifyHarness::new();
        let escalation = n.h.engine.escalation();
        let consumer: Arc<dyn Consumer> = Arc::new(
            EscalationPlanner::new(escalation.clone(), escalation)
                .with_sprint_closure(SprintClosure::new(n.h.engine.store())),
        );
        n.h.engine.register_queue(consumer.name()).unwrap();
        let admin = n.key("acme", Role::Admin, Some("ana")).await;
        Self { n, consumer, admin }
    }

    fn store(&self) -> Arc<dyn Store> {
        self.n.h.engine.store()
    }

    /// Routes and drains every consumer until all are idle.
    async fn settle(&self) {
        loop {
            self.n.settle().await;
            self.n.h.settle().await;
            let applied = self.n.h.engine.drain_once(self.consumer.as_ref()).await.unwrap();
            let routed = self.n.h.engine.route_pending().await.unwrap();
            if applied == 0 && routed == 0 {
                return;
            }
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> support::Reply {
        self.n.call(&self.admin, method, path, body).await
    }

    async fn project(&self) -> String {
        let reply = self.call("POST", "/projects", Some(json!({"name": "Platform"}))).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["data"]["id"].as_str().unwrap().to_owned()
    }

    async fn sprint(&self, project: &str, name: &str, start: bool) -> String {
        let reply = self.call("POST", &format!("/projects/{project}/sprints"), Some(json!({"name": name}))).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let id = reply.body["data"]["id"].as_str().unwrap().to_owned();
        if start {
            let started = self.call("POST", &format!("/sprints/{id}/start?version=1"), None).await;
            assert_eq!(started.status, 200, "{}", started.body);
        }
        id
    }

    /// A task of the sprint, moved to `status` through the allowed path.
    async fn task(&self, project: &str, sprint: &str, title: &str, points: u32, status: &str) -> String {
        let body = json!({"title": title, "projectId": project, "sprintId": sprint, "estimatePoints": points,
                          "assignee": "li"});
        let reply = self.call("POST", "/tasks", Some(body)).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let id = reply.body["data"]["id"].as_str().unwrap().to_owned();
        let path: &[&str] = match status {
            "todo" => &[],
            "in_progress" => &["in_progress"],
            "done" => &["in_progress", "done"],
            "cancelled" => &["cancelled"],
            other => panic!("no path to {other}"),
        };
        for (i, next) in path.iter().enumerate() {
            let body = json!({"version": i + 1, "status": next});
            let moved = self.call("PUT", &format!("/tasks/{id}"), Some(body)).await;
            assert_eq!(moved.status, 200, "{}", moved.body);
        }
        id
    }

    async fn get(&self, path: &str) -> Value {
        let reply = self.call("GET", path, None).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.body["data"].clone()
    }

    /// The `SprintClosed` event the router derives from the close, as a consumer receives it.
    async fn closed_event(&self, sprint_id: &str) -> DomainEvent {
        let closed = self.store().get_sprint("acme", sprint_id).await.unwrap().unwrap();
        let closed = SprintSnapshot { summary: None, moved_out: 0, ..closed };
        let version = closed.version;
        let active = SprintSnapshot {
            status: SprintStatus::Active,
            closed_at: None,
            carry_over_to: None,
            version: version - 1,
            ..closed.clone()
        };
        let record = ChangeRecord {
            tenant: "acme".into(),
            aggregate_type: AggregateType::Sprint,
            aggregate_id: sprint_id.into(),
            aggregate_version: version,
            at: closed.closed_at.unwrap(),
            correlation_id: "close-1".into(),
            actor: "ana".into(),
            old: Some(Aggregate::Sprint(active)),
            new: Some(Aggregate::Sprint(closed)),
        };
        let mut events = shared_core::derive(record).unwrap();
        assert!(matches!(events[0].data, EventData::SprintClosed(_)));
        events.remove(0)
    }
}

fn sprint_of(task: &Value) -> Option<&str> {
    task.get("sprintId").and_then(Value::as_str)
}

#[tokio::test]
async fn closing_carries_unfinished_tasks_to_the_backlog_and_records_the_summary() {
    let c = Closing::new().await;
    let project = c.project().await;
    let sprint = c.sprint(&project, "Sprint 14", true).await;
    let shipped = c.task(&project, &sprint, "Shipped", 3, "done").await;
    let also = c.task(&project, &sprint, "Also shipped", 5, "done").await;
    let open = c.task(&project, &sprint, "Not started", 8, "todo").await;
    let going = c.task(&project, &sprint, "Half-way", 2, "in_progress").await;
    let dropped = c.task(&project, &sprint, "Dropped", 1, "cancelled").await;
    c.settle().await;

    // No body: the backlog.
    let closed = c.call("POST", &format!("/sprints/{sprint}/close?version=2"), None).await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    assert_eq!(closed.body["data"]["status"], "closed");
    assert_eq!(closed.body["data"]["carryOverTo"], "backlog");
    c.settle().await;

    let summarized = c.get(&format!("/sprints/{sprint}")).await;
    assert_eq!(summarized["version"], 4, "closed at 3, summarized at 4: {summarized}");
    let summary = &summarized["summary"];
    assert_eq!(
        (
            &summary["completedCount"],
            &summary["completedPoints"],
            &summary["carriedOverCount"],
            &summary["carriedOverTo"]
        ),
        (&json!(2), &json!(8), &json!(2), &json!("backlog")),
        "{summarized}"
    );
    // The project's sprint list shows the same.
    let listed = c.get(&format!("/projects/{project}/sprints")).await;
    assert_eq!(listed[0]["summary"], *summary);

    for id in [&open, &going] {
        let task = c.get(&format!("/tasks/{id}")).await;
        assert_eq!(sprint_of(&task), None, "moved to the backlog: {task}");
        assert_eq!(task["projectId"], project.as_str(), "still in the project");
        // Moved through the store: the router derived TaskUpdated, history has it.
        let history = c.get(&format!("/tasks/{id}/history")).await;
        let last = history.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["actor"], "sprint-closure", "{history}");
        assert_eq!(last["events"][0]["type"], "TaskUpdated", "{history}");
    }
    for id in [&shipped, &also, &dropped] {
        let task = c.get(&format!("/tasks/{id}")).await;
        assert_eq!(sprint_of(&task), Some(sprint.as_str()), "finished tasks stay: {task}");
    }
    // The sprint's people hear of the summary.
    let li = c.n.key("acme", Role::Member, Some("li")).await;
    let inbox = c.n.inbox(&li).await;
    assert!(
        inbox
            .iter()
            .any(|(_, _, s)| s == "sprint \u{201c}Sprint 14\u{201d}: 2 done (8 points), 2 carried over to backlog"),
        "{inbox:?}"
    );
}

#[tokio::test]
async fn closing_into_a_named_sprint_moves_each_task_once_under_duplicate_delivery() {
    let c = Closing::new().await;
    let project = c.project().await;
    let sprint = c.sprint(&project, "Sprint 14", true).await;
    let next = c.sprint(&project, "Sprint 15", false).await;
    let done = c.task(&project, &sprint, "Shipped", 3, "done").await;
    let open = c.task(&project, &sprint, "Open", 5, "todo").await;
    let review = c.task(&project, &sprint, "Reviewing", 2, "in_progress").await;
    c.settle().await;

    let body = json!({"carryOverTo": next});
    let closed = c.call("POST", &format!("/sprints/{sprint}/close?version=2"), Some(body)).await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    assert_eq!(closed.body["data"]["carryOverTo"], next.as_str());
    let event = c.closed_event(&sprint).await;
    let before = c.n.h.change_log_len().await;

    // The same event twice, at once, racing on the store's conditional writes, then a third
    // time after: one delivery moves and summarizes, the others find nothing left to do.
    let racing = Hooked::new(c.store()).commits_together(2);
    let racing = Arc::new(SprintClosure::new(Arc::new(racing)));
    let live = Delivery::default();
    let (a, b) = tokio::join!(racing.apply(&event, &live), racing.apply(&event, &live));
    a.unwrap();
    b.unwrap();
    SprintClosure::new(c.store()).apply(&event, &Delivery::default()).await.unwrap();
    assert_eq!(c.n.h.change_log_len().await - before, 3, "two task moves and one summary, once");
    // And the pipeline's own delivery of the close, a fourth, changes nothing either.
    c.settle().await;
    assert_eq!(c.n.h.change_log_len().await - before, 3);

    for id in [&open, &review] {
        let task = c.get(&format!("/tasks/{id}")).await;
        assert_eq!(sprint_of(&task), Some(next.as_str()), "{task}");
        let history = c.get(&format!("/tasks/{id}/history")).await;
        let by_closure = history.as_array().unwrap().iter().filter(|h| h["actor"] == "sprint-closure").count();
        assert_eq!(by_closure, 1, "{history}");
    }
    assert_eq!(sprint_of(&c.get(&format!("/tasks/{done}")).await), Some(sprint.as_str()));
    let summary = c.get(&format!("/sprints/{sprint}")).await["summary"].clone();
    assert_eq!((&summary["carriedOverCount"], &summary["carriedOverTo"]), (&json!(2), &json!(next)), "{summary}");
    assert_eq!((&summary["completedCount"], &summary["completedPoints"]), (&json!(1), &json!(3)));
    let next_sprint = c.get(&format!("/sprints/{next}")).await;
    assert_eq!((&next_sprint["status"], next_sprint.get("summary")), (&json!("planned"), None));
}

#[tokio::test]
async fn a_replayed_close_moves_nothing() {
    let c = Closing::new().await;
    let project = c.project().await;
    let sprint = c.sprint(&project, "Sprint 14", true).await;
    let open = c.task(&project, &sprint, "Open", 5, "todo").await;
    let closed = c.call("POST", &format!("/sprints/{sprint}/close?version=2"), Some(json!({}))).await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let event = c.closed_event(&sprint).await;

    let replay = Delivery { replay_name: Some("r1".into()) };
    c.consumer.apply(&event, &replay).await.unwrap();
    assert_eq!(sprint_of(&c.get(&format!("/tasks/{open}")).await), Some(sprint.as_str()));
    assert_eq!(c.get(&format!("/sprints/{sprint}")).await.get("summary"), None);

    c.consumer.apply(&event, &Delivery::default()).await.unwrap();
    assert_eq!(sprint_of(&c.get(&format!("/tasks/{open}")).await), None);
    // Replayed after the fact, still nothing: the summary stays the one recorded.
    let summarized = c.get(&format!("/sprints/{sprint}")).await;
    c.consumer.apply(&event, &replay).await.unwrap();
    assert_eq!(c.get(&format!("/sprints/{sprint}")).await, summarized);
}

#[tokio::test]
async fn a_closure_stopped_between_batches_resumes_and_counts_every_task_once() {
    let c = Closing::new().await;
    let project = c.project().await;
    let sprint = c.sprint(&project, "Big", true).await;
    // More than one transaction's worth: 99 moves and the sprint, then the rest.
    for i in 0..130 {
        let body = json!({"title": format!("Task {i}"), "projectId": project, "sprintId": sprint, "estimatePoints": 1});
        assert_eq!(c.call("POST", "/tasks", Some(body)).await.status, 201);
    }
    let closed = c.call("POST", &format!("/sprints/{sprint}/close?version=2"), None).await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    let event = c.closed_event(&sprint).await;

    // The first batch commits, the second fails: the step stops half-way.
    let stopping = SprintClosure::new(Arc::new(Hooked::new(c.store()).fail_commits_from(1)));
    assert!(stopping.apply(&event, &Delivery::default()).await.is_err());
    let half = c.get(&format!("/sprints/{sprint}")).await;
    assert_eq!((&half["movedOut"], half.get("summary")), (&json!(99), None), "{half}");

    SprintClosure::new(c.store()).apply(&event, &Delivery::default()).await.unwrap();
    let done = c.get(&format!("/sprints/{sprint}")).await;
    assert_eq!(done["summary"]["carriedOverCount"], 130, "{done}");
    assert_eq!(done["version"], 5, "closed at 3, one batch at 4, the rest and the summary at 5");
    let left = c.get(&format!("/tasks?sprintId={sprint}&limit=100")).await;
    assert_eq!(left.as_array().map(Vec::len), Some(0), "{left}");
}

#[tokio::test]
async fn close_refuses_bad_targets_and_weak_roles_and_writes_nothing() {
    let c = Closing::new().await;
    let project = c.project().await;
    let other_project = c.project().await;
    let sprint = c.sprint(&project, "Sprint 14", true).await;
    let elsewhere = c.sprint(&other_project, "Theirs", false).await;
    let finished = c.sprint(&other_project, "Finished", true).await;
    let ok = c.call("POST", &format!("/sprints/{finished}/close?version=2"), None).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // A sprint of another tenant, with the same shape of id.
    let globex = c.n.key("globex", Role::Admin, Some("gus")).await;
    let theirs = c.n.call(&globex, "POST", "/projects", Some(json!({"name": "G"}))).await;
    let theirs = theirs.body["data"]["id"].as_str().unwrap().to_owned();
    let foreign = c.n.call(&globex, "POST", &format!("/projects/{theirs}/sprints"), Some(json!({"name": "G1"}))).await;
    let foreign = foreign.body["data"]["id"].as_str().unwrap().to_owned();

    let close = format!("/sprints/{sprint}/close?version=2");
    for (target, why) in
        [(foreign.as_str(), "no such sprint"), (elsewhere.as_str(), "another project"), (sprint.as_str(), "itself")]
    {
        let refused = c.call("POST", &close, Some(json!({"carryOverTo": target}))).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (422, "validation_failed"), "{}", refused.body);
        assert!(refused.body["error"]["message"].as_str().unwrap().contains(why), "{}", refused.body);
        assert_eq!(refused.body["error"]["details"]["fields"][0]["field"], "carryOverTo", "{}", refused.body);
    }
    let to_closed = c.call("POST", &close, Some(json!({"carryOverTo": finished}))).await;
    assert_eq!(to_closed.status, 422, "{}", to_closed.body);
    for body in [json!({"carryOverTo": "next"}), json!({"carryOverTo": 7}), json!({"carryOver": "backlog"})] {
        let bad = c.call("POST", &close, Some(body)).await;
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert!(bad.body["error"]["correlationId"].is_string(), "the error envelope: {}", bad.body);
    }

    // Roles below admin may not close; another tenant does not see the sprint at all.
    for role in [Role::Viewer, Role::Member] {
        let key = c.n.key("acme", role, Some("li")).await;
        let refused = c.n.call(&key, "POST", &close, None).await;
        assert_eq!((refused.status.as_u16(), refused.code()), (403, "forbidden"), "{}", refused.body);
    }
    let hidden = c.n.call(&globex, "POST", &close, Some(json!({"carryOverTo": "backlog"}))).await;
    assert_eq!((hidden.status.as_u16(), hidden.code()), (404, "not_found"), "{}", hidden.body);

    let still = c.get(&format!("/sprints/{sprint}")).await;
    assert_eq!((&still["status"], &still["version"]), (&json!("active"), &json!(2)), "nothing written: {still}");
    let theirs_still = c.n.call(&globex, "GET", &format!("/sprints/{foreign}"), None).await;
    assert_eq!(theirs_still.body["data"]["version"], 1);
}

#[tokio::test]
async fn a_named_sprint_closed_before_the_step_runs_sends_the_tasks_to_the_backlog() {
    let c = Closing::new().await;
    let project = c.project().await;
    let sprint = c.sprint(&project, "Sprint 14", true).await;
    let next = c.sprint(&project, "Sprint 15", false).await;
    let open = c.task(&project, &sprint, "Open", 5, "todo").await;
    let closed =
        c.call("POST", &format!("/sprints/{sprint}/close?version=2"), Some(json!({"carryOverTo": next}))).await;
    assert_eq!(closed.status, 200, "{}", closed.body);
    // Before the closing step runs, the named sprint starts and closes too.
    let started = c.call("POST", &format!("/sprints/{next}/start?version=1"), None).await;
    assert_eq!(started.status, 200, "{}", started.body);
    let gone = c.call("POST", &format!("/sprints/{next}/close?version=2"), None).await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    c.settle().await;

    let task = c.get(&format!("/tasks/{open}")).await;
    assert_eq!(sprint_of(&task), None, "never into a closed sprint: {task}");
    let summary = c.get(&format!("/sprints/{sprint}")).await["summary"].clone();
    assert_eq!((&summary["carriedOverCount"], &summary["carriedOverTo"]), (&json!(1), &json!("backlog")), "{summary}");
    let other = c.get(&format!("/sprints/{next}")).await["summary"].clone();
    assert_eq!((&other["carriedOverCount"], &other["completedCount"]), (&json!(0), &json!(0)), "{other}");
}
