//! The notifier in the embedded backbone: who is told what, in-app, once per (event,
//! recipient, channel) however events are delivered; `/notifications` per person, walled by
//! tenant.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use shared_core::Role;
use shared_core::pipeline::{Delivery, decode};
use support::notify::NotifyHarness;

/// maria makes a task reported by rita; keys for maria, li and rita of acme.
async fn team(n: &NotifyHarness) -> (String, String, String, String) {
    let maria = n.key("acme", Role::Member, Some("maria")).await;
    let li = n.key("acme", Role::Member, Some("li")).await;
    let rita = n.key("acme", Role::Member, Some("rita")).await;
    let made = n.call(&maria, "POST", "/tasks", Some(json!({"title": "Ship it", "reporter": "rita"}))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    (maria, li, rita, made.body["data"]["id"].as_str().unwrap().to_owned())
}

async fn put_task(n: &NotifyHarness, key: &str, id: &str, body: Value) -> u64 {
    let reply = n.call(key, "PUT", &format!("/tasks/{id}"), Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"]["version"].as_u64().unwrap()
}

fn row(kind: &str, summary: &str) -> (String, String, String) {
    (kind.to_owned(), "in_app".to_owned(), summary.to_owned())
}

#[tokio::test]
async fn assignment_mention_blocked_and_completion_reach_the_right_people_in_app() {
    let n = NotifyHarness::new();
    let (maria, li, rita, id) = team(&n).await;
    put_task(&n, &maria, &id, json!({"version": 1, "assignee": "li"})).await;
    let comment =
        n.call(&maria, "POST", &format!("/tasks/{id}/comments"), Some(json!({"body": "@li see @rita"}))).await;
    assert_eq!(comment.status, StatusCode::CREATED);
    put_task(&n, &li, &id, json!({"version": 2, "status": "in_progress"})).await;
    put_task(&n, &li, &id, json!({"version": 3, "status": "blocked"})).await;
    put_task(&n, &li, &id, json!({"version": 4, "status": "in_progress"})).await;
    put_task(&n, &li, &id, json!({"version": 5, "status": "in_review"})).await;
    put_task(&n, &li, &id, json!({"version": 6, "status": "done"})).await;
    n.settle().await;

    assert_eq!(
        n.inbox(&li).await,
        [
            row("mentioned", "maria mentioned you: \u{201c}@li see @rita\u{201d}"),
            row("assigned", "maria assigned you \u{201c}Ship it\u{201d}"),
        ]
    );
    assert_eq!(
        n.inbox(&rita).await,
        [
            row("completed", "li completed \u{201c}Ship it\u{201d}"),
            row("blocked", "li marked \u{201c}Ship it\u{201d} blocked"),
            row("mentioned", "maria mentioned you: \u{201c}@li see @rita\u{201d}"),
        ]
    );
    assert!(n.inbox(&maria).await.is_empty(), "maria's own actions tell her nothing");
}

#[tokio::test]
async fn sprint_start_and_close_tell_the_sprints_people_but_not_the_actor() {
    let n = NotifyHarness::new();
    let (_, li, rita, id) = team(&n).await;
    let boss = n.key("acme", Role::Admin, Some("boss")).await;
    let project = n.call(&boss, "POST", "/projects", Some(json!({"name": "Apollo"}))).await.body["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sprint =
        n.call(&boss, "POST", &format!("/projects/{project}/sprints"), Some(json!({"name": "Sprint 7"}))).await;
    assert_eq!(sprint.status, StatusCode::CREATED, "{}", sprint.body);
    let sprint = sprint.body["data"]["id"].as_str().unwrap().to_owned();
    put_task(&n, &boss, &id, json!({"version": 1, "projectId": project, "sprintId": sprint, "assignee": "boss"})).await;
    let other = n
        .call(
            &boss,
            "POST",
            "/tasks",
            Some(json!({"title": "Two", "projectId": project, "sprintId": sprint, "assignee": "li"})),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    assert_eq!(n.call(&boss, "POST", &format!("/sprints/{sprint}/start?version=1"), None).await.status, 200);
    assert_eq!(n.call(&boss, "POST", &format!("/sprints/{sprint}/close?version=2"), None).await.status, 200);
    n.settle().await;

    let sprint_rows = |inbox: Vec<(String, String, String)>| {
        inbox.into_iter().filter(|(kind, _, _)| kind == "sprint").map(|(_, _, s)| s).collect::<Vec<_>>()
    };
    let both = ["sprint \u{201c}Sprint 7\u{201d} closed", "sprint \u{201c}Sprint 7\u{201d} started"];
    assert_eq!(sprint_rows(n.inbox(&li).await), both, "li is assigned a task of the sprint");
    assert_eq!(sprint_rows(n.inbox(&rita).await), both, "rita reported one");
    assert!(sprint_rows(n.inbox(&boss).await).is_empty(), "boss started and closed it");
}

#[tokio::test]
async fn preferences_and_mute_decide_the_channels() {
    let n = NotifyHarness::new();
    let (maria, li, _, id) = team(&n).await;
    let prefs = json!({
        "email": "li@example.com",
        "preferences": {"assigned": ["email", "in_app"], "mentioned": []}
    });
    let saved = n.call(&li, "PUT", "/people/li", Some(prefs)).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(saved.body["data"]["preferences"]["assigned"], json!(["email", "in_app"]));
    assert_eq!(saved.body["data"]["preferences"]["completed"], json!(["in_app"]), "defaults shown for the rest");
    put_task(&n, &maria, &id, json!({"version": 1, "assignee": "li"})).await;
    n.call(&maria, "POST", &format!("/tasks/{id}/comments"), Some(json!({"body": "ping @li"}))).await;
    n.settle().await;
    let inbox = n.call(&li, "GET", "/notifications", None).await.body["data"].clone();
    let channels: Vec<(&str, &str, &str)> = inbox
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["kind"].as_str().unwrap(), x["channel"].as_str().unwrap(), x["status"].as_str().unwrap()))
        .collect();
    // Email waits in the outbox until a sender takes it; no mention went anywhere.
    let mut sorted = channels.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [("assigned", "email", "pending"), ("assigned", "in_app", "delivered")]);

    let muted = n.call(&li, "PUT", "/people/li", Some(json!({"email": "li@example.com", "muted": true}))).await;
    assert_eq!((muted.status, muted.body["data"]["version"].as_u64()), (StatusCode::OK, Some(2)));
    put_task(&n, &maria, &id, json!({"version": 2, "assignee": "rita"})).await;
    put_task(&n, &maria, &id, json!({"version": 3, "assignee": "li"})).await;
    n.settle().await;
    assert_eq!(n.inbox(&li).await.len(), 2, "nothing new while muted");
}

#[tokio::test]
async fn shuffled_and_duplicated_redelivery_and_replays_record_each_notification_once() {
    let n = NotifyHarness::new();
    let (maria, li, rita, id) = team(&n).await;
    put_task(&n, &maria, &id, json!({"version": 1, "assignee": "li"})).await;
    n.call(&maria, "POST", &format!("/tasks/{id}/comments"), Some(json!({"body": "@li @rita look"}))).await;
    put_task(&n, &li, &id, json!({"version": 2, "status": "blocked"})).await;
    n.settle().await;
    let (li_before, rita_before) = (n.inbox(&li).await, n.inbox(&rita).await);
    assert_eq!((li_before.len(), rita_before.len()), (2, 2));

    // Every archived event again, three times over in a scrambled order, as a queue that
    // redelivers and reorders would hand them over.
    let conn = rusqlite::Connection::open(n.h.engine.db().path()).unwrap();
    let bodies: Vec<String> = conn
        .prepare("SELECT body FROM archive ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut scrambled: Vec<&String> = bodies.iter().chain(bodies.iter()).chain(bodies.iter()).collect();
    scrambled.reverse();
    scrambled.rotate_left(bodies.len() / 2 + 1);
    for body in scrambled {
        let (event, delivery) = decode(body).unwrap();
        n.notifier.apply(&event, &delivery).await.unwrap();
        // A replay sends nothing: its keys may well be new (none are, here), but it is not asked.
        let replay = Delivery { replay_name: Some("backfill".into()) };
        n.notifier.apply(&event, &replay).await.unwrap();
    }
    assert_eq!(n.inbox(&li).await, li_before);
    assert_eq!(n.inbox(&rita).await, rita_before);

    // A replay named to re-notify is one more round, once however often it runs.
    for _ in 0..2 {
        for body in &bodies {
            let (event, _) = decode(body).unwrap();
            let round = Delivery { replay_name: Some("renotify-outage-1".into()) };
            n.notifier.apply(&event, &round).await.unwrap();
        }
    }
    assert_eq!(n.inbox(&li).await.len(), 4);
    assert_eq!(n.inbox(&rita).await.len(), 4);
}

#[tokio::test]
async fn the_list_pages_newest_first_filters_unread_and_marks_read() {
    let n = NotifyHarness::new();
    let (maria, li, _, id) = team(&n).await;
    for i in 0..5 {
        let reply =
            n.call(&maria, "POST", &format!("/tasks/{id}/comments"), Some(json!({"body": format!("{i} @li")}))).await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    n.settle().await;
    let first = n.call(&li, "GET", "/notifications?limit=2", None).await;
    let summaries = |v: &Value| {
        v["data"].as_array().unwrap().iter().map(|x| x["summary"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(
        summaries(&first.body),
        ["maria mentioned you: \u{201c}4 @li\u{201d}", "maria mentioned you: \u{201c}3 @li\u{201d}"]
    );
    let cursor = first.body["nextCursor"].as_str().unwrap();
    let second = n.call(&li, "GET", &format!("/notifications?limit=2&cursor={cursor}"), None).await;
    assert_eq!(summaries(&second.body).len(), 2);
    assert!(summaries(&second.body)[0].contains("2 @li"));
    let bad = n.call(&li, "GET", "/notifications?cursor=nonsense", None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);

    let ids: Vec<Value> = first.body["data"].as_array().unwrap().iter().map(|x| x["id"].clone()).collect();
    let marked = n.call(&li, "POST", "/notifications/read", Some(json!({"ids": ids}))).await;
    assert_eq!(marked.body["data"]["marked"], 2, "{}", marked.body);
    let again = n.call(&li, "POST", "/notifications/read", Some(json!({"ids": ids}))).await;
    assert_eq!(again.body["data"]["marked"], 0, "already read");
    let unread = n.call(&li, "GET", "/notifications?unread=true", None).await;
    assert_eq!(summaries(&unread.body).len(), 3);
    assert!(unread.body["data"].as_array().unwrap().iter().all(|x| x["readAt"].is_null()));
    let all = n.call(&li, "POST", "/notifications/read", Some(json!({"all": true}))).await;
    assert_eq!(all.body["data"]["marked"], 3);
    let unread = n.call(&li, "GET", "/notifications?unread=true", None).await;
    assert_eq!(summaries(&unread.body).len(), 0);

    for bad in [json!({}), json!({"all": false}), json!({"ids": []}), json!({"ids": ids, "all": true})] {
        let reply = n.call(&li, "POST", "/notifications/read", Some(bad.clone())).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "validation_failed"), "{bad}");
    }
}

#[tokio::test]
async fn notifications_are_walled_by_tenant_and_by_person() {
    let n = NotifyHarness::new();
    let (maria, li, _, id) = team(&n).await;
    put_task(&n, &maria, &id, json!({"version": 1, "assignee": "li"})).await;
    n.settle().await;
    let ids: Vec<Value> = n.call(&li, "GET", "/notifications", None).await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].clone())
        .collect();
    assert_eq!(ids.len(), 1);

    // globex's li is someone else: none of acme's li's notifications are hers.
    let globex_li = n.key("globex", Role::Admin, Some("li")).await;
    assert!(n.inbox(&globex_li).await.is_empty());
    let marked = n.call(&globex_li, "POST", "/notifications/read", Some(json!({"ids": ids}))).await;
    assert_eq!(marked.body["data"]["marked"], 0);
    assert_eq!(n.call(&li, "GET", "/notifications?unread=true", None).await.body["data"].as_array().unwrap().len(), 1);

    // Another person of the same tenant cannot read or mark li's either.
    let maria_marks = n.call(&maria, "POST", "/notifications/read", Some(json!({"ids": ids}))).await;
    assert_eq!(maria_marks.body["data"]["marked"], 0);

    // A viewer reads their own; a key that speaks for no one, even an admin's, has none.
    let viewer = n.key("acme", Role::Viewer, Some("li")).await;
    assert_eq!(n.inbox(&viewer).await.len(), 1);
    let nobody = n.key("acme", Role::Admin, None).await;
    assert!(n.inbox(&nobody).await.is_empty());
    let marked = n.call(&nobody, "POST", "/notifications/read", Some(json!({"all": true}))).await;
    assert_eq!(marked.body["data"]["marked"], 0);
    assert_eq!(n.call(&li, "GET", "/notifications?unread=true", None).await.body["data"].as_array().unwrap().len(), 1);
}
