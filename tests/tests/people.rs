//! `/people/{name}`: a person's own entry as a member, anyone's as an admin, nothing of
//! another tenant; API keys that speak for a person.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use axum::http::StatusCode;
use serde_json::json;
use shared_core::Role;
use support::notify::NotifyHarness;

fn entry() -> serde_json::Value {
    json!({"email": "li@example.com", "slackWebhookUrl": "https://hooks.slack.com/services/T/B/X",
           "preferences": {"assigned": ["email", "slack"]}, "muted": false})
}

#[tokio::test]
async fn a_member_edits_their_own_entry_an_admin_anyones() {
    let n = NotifyHarness::new();
    let li = n.key("acme", Role::Member, Some("li")).await;
    let rita = n.key("acme", Role::Member, Some("rita")).await;
    let admin = n.key("acme", Role::Admin, None).await;

    assert_eq!(n.call(&li, "GET", "/people/li", None).await.status, StatusCode::NOT_FOUND, "no entry yet");
    let saved = n.call(&li, "PUT", "/people/li", Some(entry())).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let read = n.call(&li, "GET", "/people/li", None).await;
    assert_eq!(read.body["data"], saved.body["data"]);
    assert_eq!(read.body["data"]["email"], "li@example.com");
    assert_eq!(read.body["data"]["version"], 1);

    for (method, body) in [("GET", None), ("PUT", Some(entry()))] {
        let reply = n.call(&rita, method, "/people/li", body).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "forbidden"), "rita {method}s li");
    }
    let by_admin = n.call(&admin, "PUT", "/people/li", Some(json!({"muted": true}))).await;
    assert_eq!((by_admin.status, by_admin.body["data"]["version"].as_u64()), (StatusCode::OK, Some(2)));
    assert_eq!(by_admin.body["data"]["email"], json!(null), "a PUT replaces the whole entry");
    assert_eq!(n.call(&admin, "GET", "/people/li", None).await.body["data"]["muted"], true);
    assert_eq!(n.call(&admin, "PUT", "/people/newcomer", Some(json!({}))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_viewer_reads_but_does_not_edit_their_own_entry() {
    let n = NotifyHarness::new();
    let admin = n.key("acme", Role::Admin, None).await;
    assert_eq!(n.call(&admin, "PUT", "/people/li", Some(entry())).await.status, StatusCode::OK);
    let viewer = n.key("acme", Role::Viewer, Some("li")).await;
    assert_eq!(n.call(&viewer, "GET", "/people/li", None).await.status, StatusCode::OK);
    let reply = n.call(&viewer, "PUT", "/people/li", Some(entry())).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "forbidden"));
}

#[tokio::test]
async fn another_tenants_people_do_not_exist() {
    let n = NotifyHarness::new();
    let acme = n.key("acme", Role::Admin, None).await;
    assert_eq!(n.call(&acme, "PUT", "/people/li", Some(entry())).await.status, StatusCode::OK);
    let globex = n.key("globex", Role::Admin, None).await;
    let reply = n.call(&globex, "GET", "/people/li", None).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::NOT_FOUND, "not_found"));
    // globex's own li is a separate entry; acme's is untouched by it.
    assert_eq!(n.call(&globex, "PUT", "/people/li", Some(json!({"muted": true}))).await.status, StatusCode::OK);
    let acme_li = n.call(&acme, "GET", "/people/li", None).await;
    assert_eq!(
        (acme_li.body["data"]["muted"].as_bool(), acme_li.body["data"]["version"].as_u64()),
        (Some(false), Some(1))
    );
}

#[tokio::test]
async fn bad_entries_are_refused_and_write_nothing() {
    let n = NotifyHarness::new();
    let li = n.key("acme", Role::Member, Some("li")).await;
    let cases = [
        json!({"email": "not-an-address"}),
        json!({"slackWebhookUrl": "ftp://hooks.example.com/x"}),
        json!({"preferences": {"assigned": ["pigeon"]}}),
        json!({"preferences": {"birthday": ["email"]}}),
        json!({"nickname": "lili"}),
        json!({"muted": "yes"}),
    ];
    for body in cases {
        let reply = n.call(&li, "PUT", "/people/li", Some(body.clone())).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {}", reply.body);
        assert!(reply.body["error"]["message"].is_string());
    }
    assert_eq!(n.call(&li, "GET", "/people/li", None).await.status, StatusCode::NOT_FOUND, "nothing half-written");
    let reply = n.call(&li, "PUT", "/people/li%20wei", Some(json!({}))).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "validation_failed"));
}

#[tokio::test]
async fn a_key_made_for_a_person_acts_as_them() {
    let n = NotifyHarness::new();
    let admin = n.key("acme", Role::Admin, None).await;
    let made = n.call(&admin, "POST", "/keys", Some(json!({"role": "member", "person": "li"}))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["data"]["person"], "li");
    let li = made.body["data"]["key"].as_str().unwrap().to_owned();
    let task = n.call(&li, "POST", "/tasks", Some(json!({"title": "mine"}))).await;
    let id = task.body["data"]["id"].as_str().unwrap();
    n.h.settle().await;
    let history = n.call(&li, "GET", &format!("/tasks/{id}/history"), None).await;
    assert_eq!(history.body["data"][0]["actor"], "li", "{}", history.body);
    let listed = n.call(&admin, "GET", "/keys", None).await;
    let people: Vec<&serde_json::Value> =
        listed.body["data"].as_array().unwrap().iter().map(|k| &k["person"]).collect();
    assert!(people.contains(&&json!("li")) && people.contains(&&json!(null)), "{}", listed.body);
    let bad = n.call(&admin, "POST", "/keys", Some(json!({"role": "member", "person": "li wei"}))).await;
    assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "validation_failed"));
}
