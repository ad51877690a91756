//! `/webhooks`: subscriptions managed by a tenant's admin, walled by tenant and role; URLs
//! pointing inside the network refused unless allowed; one delivery recorded per (event,
//! subscription) however often the event arrives, none for a replay. Sending over HTTP is
//! in cli/tests/webhooks.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use shared_core::Role;
use shared_core::consumers::notifier::Notifier;
use shared_core::pipeline::{Delivery, decode};
use shared_core::ports::DeliveryQuery;
use support::Reply;
use support::notify::NotifyHarness;
use uuid::Uuid;

fn hook(url: &str, types: &[&str]) -> Value {
    json!({"url": url, "eventTypes": types})
}

const PUBLIC: &str = "https://93.184.215.14/hooks/taskstream";

async fn create(n: &NotifyHarness, key: &str, body: Value) -> Value {
    let reply = n.call(key, "POST", "/webhooks", Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"].clone()
}

#[tokio::test]
async fn an_admin_makes_reads_changes_and_deletes_a_subscription_and_sees_the_secret_once() {
    let n = NotifyHarness::new();
    let admin = n.key("acme", Role::Admin, None).await;
    let made = create(&n, &admin, hook(PUBLIC, &["TaskCompleted", "TaskAssigned", "TaskCompleted"])).await;
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(made["eventTypes"], json!(["TaskAssigned", "TaskCompleted"]), "sorted, each once");
    assert_eq!((made["active"].as_bool(), made["url"].as_str()), (Some(true), Some(PUBLIC)));
    let secret = made["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");

    let listed = n.call(&admin, "GET", "/webhooks", None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert!(!listed.body.to_string().contains(secret), "the list shows no secret");
    let read = n.call(&admin, "GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!((read.status, read.body["data"]["id"].as_str()), (StatusCode::OK, Some(id.as_str())));
    assert!(read.body["data"].get("secret").is_none());

    let changed = n
        .call(
            &admin,
            "PUT",
            &format!("/webhooks/{id}"),
            Some(json!({"url": "https://93.184.215.14/v2", "eventTypes": ["CommentAdded"], "active": false})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["data"]["eventTypes"], json!(["CommentAdded"]));
    assert_eq!(
        (changed.body["data"]["active"].as_bool(), changed.body["data"]["url"].as_str()),
        (Some(false), Some("https://93.184.215.14/v2"))
    );
    assert!(changed.body["data"].get("secret").is_none());
    let stored = n.webhooks.get("acme", id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(stored.secret.expose(), secret, "a change keeps the secret");

    let gone = n.call(&admin, "DELETE", &format!("/webhooks/{id}"), None).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(n.call(&admin, "GET", &format!("/webhooks/{id}"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(n.call(&admin, "DELETE", &format!("/webhooks/{id}"), None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn subscriptions_are_walled_by_tenant_and_need_the_admin_role() {
    let n = NotifyHarness::new();
    let acme = n.key("acme", Role::Admin, None).await;
    let id = create(&n, &acme, hook(PUBLIC, &["TaskAssigned"])).await["id"].as_str().unwrap().to_owned();
    let delivery = Uuid::new_v4();
    let routes = [
        ("GET", format!("/webhooks/{id}"), None),
        ("PUT", format!("/webhooks/{id}"), Some(hook("https://93.184.215.14/mine", &["TaskCompleted"]))),
        ("DELETE", format!("/webhooks/{id}"), None),
        ("POST", format!("/webhooks/{id}/rotate-secret"), None),
        ("GET", format!("/webhooks/{id}/deliveries"), None),
        ("POST", format!("/webhooks/{id}/deliveries/{delivery}/redeliver"), None),
    ];
    let globex = n.key("globex", Role::Admin, None).await;
    for (method, path, body) in &routes {
        let reply = n.call(&globex, method, path, body.clone()).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::NOT_FOUND, "not_found"), "globex {method} {path}");
    }
    assert_eq!(n.call(&globex, "GET", "/webhooks", None).await.body["data"], json!([]));
    for role in [Role::Member, Role::Viewer] {
        let weak = n.key("acme", role, Some("li")).await;
        let all = routes.iter().cloned().chain([
            ("GET", "/webhooks".to_owned(), None),
            ("POST", "/webhooks".to_owned(), Some(hook(PUBLIC, &["TaskAssigned"]))),
        ]);
        for (method, path, body) in all {
            let reply = n.call(&weak, method, &path, body).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::FORBIDDEN, "forbidden"), "{role:?} {method} {path}");
        }
    }
    // Untouched by all of that: same URL, same types, same secret.
    let after = n.webhooks.get("acme", id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(
        (after.url.as_str(), after.event_types.clone(), after.previous_secret),
        (PUBLIC, vec!["TaskAssigned".to_owned()], None)
    );
    assert_eq!(n.webhooks.list("acme").await.unwrap().len(), 1);
}

#[tokio::test]
async fn urls_pointing_inside_the_network_are_refused_unless_the_operator_allows_them() {
    let inside = [
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::1]:9000/hook", "loopback"),
        ("http://localhost:9000/hook", "loopback"),
        ("http://192.168.0.10/", "private"),
        ("http://[::ffff:10.0.0.1]/", "private"),
    ];
    let n = NotifyHarness::new();
    let admin = n.key("acme", Role::Admin, None).await;
    for (url, why) in inside {
        let reply = n.call(&admin, "POST", "/webhooks", Some(hook(url, &["TaskAssigned"]))).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            "{url}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(why) && message.contains("--allow-private-webhooks"), "{url}: {message}");
    }
    // A change to an inside URL is refused the same way and changes nothing.
    let id = create(&n, &admin, hook(PUBLIC, &["TaskAssigned"])).await["id"].as_str().unwrap().to_owned();
    let reply =
        n.call(&admin, "PUT", &format!("/webhooks/{id}"), Some(hook("http://10.0.0.1/", &["TaskAssigned"]))).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(n.webhooks.list("acme").await.unwrap().iter().map(|s| s.url.as_str()).collect::<Vec<_>>(), [PUBLIC]);

    let allowed = NotifyHarness::allowing_private_webhooks();
    let admin = allowed.key("acme", Role::Admin, None).await;
    for (url, _) in inside {
        create(&allowed, &admin, hook(url, &["TaskAssigned"])).await;
    }
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_the_field_named_and_write_nothing() {
    let n = NotifyHarness::allowing_private_webhooks();
    let admin = n.key("acme", Role::Admin, None).await;
    let cases = [
        (json!({"url": "ftp://example.com/x", "eventTypes": ["TaskAssigned"]}), StatusCode::BAD_REQUEST, "url"),
        (
            json!({"url": "https://user:pw@example.com/", "eventTypes": ["TaskAssigned"]}),
            StatusCode::BAD_REQUEST,
            "url",
        ),
        (json!({"url": "/relative", "eventTypes": ["TaskAssigned"]}), StatusCode::BAD_REQUEST, "url"),
        (json!({"url": PUBLIC, "eventTypes": []}), StatusCode::BAD_REQUEST, "eventTypes"),
        (json!({"url": PUBLIC, "eventTypes": ["TaskExploded"]}), StatusCode::BAD_REQUEST, "TaskExploded"),
        (json!({"url": PUBLIC}), StatusCode::BAD_REQUEST, "eventTypes"),
        (json!({"url": PUBLIC, "eventTypes": ["TaskAssigned"], "secret": "mine"}), StatusCode::BAD_REQUEST, "secret"),
        (
            json!({"url": "https://no-such-host.invalid/", "eventTypes": ["TaskAssigned"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "does not resolve",
        ),
    ];
    for (body, status, named) in cases {
        let reply = n.call(&admin, "POST", "/webhooks", Some(body.clone())).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert!(reply.body["error"]["message"].as_str().unwrap().contains(named), "{body}: {}", reply.body);
    }
    assert!(n.webhooks.list("acme").await.unwrap().is_empty());
    let not_an_id = n.call(&admin, "GET", "/webhooks/not-a-uuid", None).await;
    assert_eq!(not_an_id.status, StatusCode::NOT_FOUND);
}

/// The event types of a subscription's recorded deliveries, sorted, and the deliveries.
async fn deliveries_of(
    n: &NotifyHarness,
    tenant: &str,
    sub: &Value,
) -> (Vec<String>, Vec<shared_core::webhooks::Delivery>) {
    let id: Uuid = sub["id"].as_str().unwrap().parse().unwrap();
    let page = n.webhooks.deliveries(tenant, id, &DeliveryQuery { limit: 100, cursor: None }).await.unwrap().unwrap();
    let mut types: Vec<String> = page.items.iter().map(|d| d.event_type.clone()).collect();
    types.sort();
    (types, page.items)
}

#[tokio::test]
async fn each_event_is_recorded_once_per_subscription_and_replays_record_nothing() {
    let n = NotifyHarness::new();
    let admin = n.key("acme", Role::Admin, None).await;
    let maria = n.key("acme", Role::Member, Some("maria")).await;
    let assigned = create(&n, &admin, hook(PUBLIC, &["TaskAssigned"])).await;
    let both = create(&n, &admin, hook("https://93.184.215.14/both", &["TaskAssigned", "TaskCompleted"])).await;
    let idle = create(&n, &admin, json!({"url": PUBLIC, "eventTypes": ["TaskAssigned"], "active": false})).await;
    let globex = n.key("globex", Role::Admin, None).await;
    let other_tenant = create(&n, &globex, hook(PUBLIC, &["TaskAssigned"])).await;

    let made = n.call(&maria, "POST", "/tasks", Some(json!({"title": "Ship it"}))).await;
    let task = made.body["data"]["id"].as_str().unwrap().to_owned();
    let put = n.call(&maria, "PUT", &format!("/tasks/{task}"), Some(json!({"version": 1, "assignee": "li"}))).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    for (version, status) in [(2, "in_progress"), (3, "done")] {
        let moved =
            n.call(&maria, "PUT", &format!("/tasks/{task}"), Some(json!({"version": version, "status": status}))).await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    }
    n.settle().await;

    let (a, a_items) = deliveries_of(&n, "acme", &assigned).await;
    let (b, _) = deliveries_of(&n, "acme", &both).await;
    assert_eq!(a, ["TaskAssigned"]);
    assert_eq!(b, ["TaskAssigned", "TaskCompleted"]);
    assert!(deliveries_of(&n, "acme", &idle).await.0.is_empty(), "an inactive subscription is recorded nothing");
    assert!(deliveries_of(&n, "globex", &other_tenant).await.0.is_empty(), "another tenant's events are not its own");
    let only = &a_items[0];
    assert_eq!(
        only.id,
        shared_core::webhooks::delivery_id(&only.event_id, &assigned["id"].as_str().unwrap().parse().unwrap())
    );
    assert_eq!((only.status.as_str(), only.attempts), ("pending", 0));

    // Every archived event again, three times over in a scrambled order, then as a replay
    // and a re-notifying replay: nothing new for any subscription.
    let conn = rusqlite::Connection::open(n.h.engine.db().path()).unwrap();
    let bodies: Vec<String> = conn
        .prepare("SELECT body FROM archive ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut scrambled: Vec<&String> = bodies.iter().chain(&bodies).chain(&bodies).collect();
    scrambled.reverse();
    scrambled.rotate_left(bodies.len() / 2 + 1);
    let notifier: &Notifier = &Notifier::new(n.store.clone()).with_webhooks(n.webhooks.clone());
    for body in scrambled {
        let (event, delivery) = decode(body).unwrap();
        shared_core::pipeline::Consumer::apply(notifier, &event, &delivery).await.unwrap();
        for replay in ["backfill", "renotify-outage-1"] {
            let replay = Delivery { replay_name: Some(replay.into()) };
            shared_core::pipeline::Consumer::apply(notifier, &event, &replay).await.unwrap();
        }
    }
    let count: i64 = conn.query_row("SELECT count(*) FROM webhook_deliveries", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 3, "one for `assigned`, two for `both`");
    assert_eq!(deliveries_of(&n, "acme", &both).await.0, ["TaskAssigned", "TaskCompleted"]);

    // Deleting a subscription takes its deliveries with it.
    let id = both["id"].as_str().unwrap();
    assert_eq!(n.call(&admin, "DELETE", &format!("/webhooks/{id}"), None).await.status, StatusCode::NO_CONTENT);
    let count: i64 = conn.query_row("SELECT count(*) FROM webhook_deliveries", [], |r| r.get(0)).unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn an_endpoint_failing_every_attempt_for_three_days_is_turned_off_and_the_tenants_admins_are_told() {
    use shared_core::webhooks::{DeliveryStatus, Settled};

    let n = NotifyHarness::new();
    let ada = n.key("acme", Role::Admin, Some("ada")).await;
    let bo = n.key("acme", Role::Admin, Some("bo")).await;
    let maria = n.key("acme", Role::Member, Some("maria")).await;
    let gus = n.key("globex", Role::Admin, Some("gus")).await;
    let sub = create(&n, &ada, hook(PUBLIC, &["TaskAssigned"])).await;
    let id = sub["id"].as_str().unwrap().to_owned();
    let theirs = create(&n, &gus, hook(PUBLIC, &["TaskAssigned"])).await;
    for title in ["one", "two", "three"] {
        let made = n.call(&maria, "POST", "/tasks", Some(json!({"title": title}))).await;
        let task = made.body["data"]["id"].as_str().unwrap().to_owned();
        let put = n.call(&maria, "PUT", &format!("/tasks/{task}"), Some(json!({"version": 1, "assignee": "li"}))).await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    }
    n.settle().await;
    let (_, deliveries) = deliveries_of(&n, "acme", &sub).await;
    assert_eq!(deliveries.len(), 3);

    // Attempts as the dispatcher records them, at chosen instants: all failing, over three days.
    let hour = 60 * 60 * 1000;
    let start = events_schema::Timestamp::now().unix_millis() - 100 * hour;
    let at = |ms: i64| events_schema::Timestamp::from_unix_millis(ms).unwrap();
    let attempt = |delivery: &shared_core::webhooks::Delivery, when: i64, error: Option<&str>| Settled {
        id: delivery.id,
        tenant: "acme".into(),
        webhook_id: delivery.webhook_id,
        status: if error.is_some() { DeliveryStatus::Pending } else { DeliveryStatus::Delivered },
        attempts: 1,
        attempted_at: at(when),
        next_attempt_at: error.map(|_| at(when + 5_000)),
        status_code: error.map(|_| 503),
        error: error.map(str::to_owned),
        latency_ms: 3,
    };
    let refused = Some("the receiver answered HTTP 503");
    let view = |reply: Reply| reply.body["data"].clone();
    n.webhooks.settle(&[attempt(&deliveries[0], start, refused)]).await.unwrap();
    let failing = view(n.call(&ada, "GET", &format!("/webhooks/{id}"), None).await);
    assert_eq!(failing["failingSince"], json!(at(start).to_string()), "{failing}");
    assert_eq!((failing["active"].as_bool(), &failing["disabledAt"]), (Some(true), &Value::Null));
    n.webhooks.settle(&[attempt(&deliveries[1], start + 71 * hour, refused)]).await.unwrap();
    assert_eq!(view(n.call(&ada, "GET", &format!("/webhooks/{id}"), None).await)["active"], true, "not three days yet");
    n.webhooks.settle(&[attempt(&deliveries[2], start + 72 * hour, refused)]).await.unwrap();

    let off = view(n.call(&ada, "GET", &format!("/webhooks/{id}"), None).await);
    assert_eq!(
        (off["active"].as_bool(), off["disabledAt"].as_str()),
        (Some(false), Some(at(start + 72 * hour).to_string().as_str()))
    );
    let reason = off["disabledReason"].as_str().unwrap();
    assert!(reason.contains("HTTP 503") && reason.contains(&at(start).to_string()), "{reason}");
    // Each admin of the tenant is told, in-app by default; the member and the other tenant's
    // admin are not, and the other tenant's subscription is untouched.
    for admin in [&ada, &bo] {
        let told: Vec<_> = n.inbox(admin).await.into_iter().filter(|(kind, _, _)| kind == "webhook_disabled").collect();
        assert_eq!(told.len(), 1, "{told:?}");
        assert_eq!(told[0].1, "in_app");
        assert!(told[0].2.contains(PUBLIC) && told[0].2.contains(&id), "{}", told[0].2);
    }
    assert!(n.inbox(&maria).await.iter().all(|(kind, _, _)| kind != "webhook_disabled"));
    assert!(n.inbox(&gus).await.iter().all(|(kind, _, _)| kind != "webhook_disabled"));
    let other = theirs["id"].as_str().unwrap();
    assert_eq!(view(n.call(&gus, "GET", &format!("/webhooks/{other}"), None).await)["active"], true);
    // Another failure of the same subscription tells no one again.
    n.webhooks.settle(&[attempt(&deliveries[0], start + 73 * hour, refused)]).await.unwrap();
    let told = n.inbox(&ada).await.into_iter().filter(|(kind, _, _)| kind == "webhook_disabled").count();
    assert_eq!(told, 1);

    // Turned on again: a fresh start. A failure starts the clock; a success stops it.
    let on = json!({"url": PUBLIC, "eventTypes": ["TaskAssigned"], "active": true});
    let back = view(n.call(&ada, "PUT", &format!("/webhooks/{id}"), Some(on)).await);
    assert_eq!(
        (back["active"].as_bool(), &back["disabledAt"], &back["failingSince"]),
        (Some(true), &Value::Null, &Value::Null)
    );
    let now = events_schema::Timestamp::now().unix_millis();
    n.webhooks.settle(&[attempt(&deliveries[1], now, refused)]).await.unwrap();
    assert_eq!(
        view(n.call(&ada, "GET", &format!("/webhooks/{id}"), None).await)["failingSince"],
        json!(at(now).to_string())
    );
    n.webhooks.settle(&[attempt(&deliveries[2], now + 1, None)]).await.unwrap();
    assert_eq!(view(n.call(&ada, "GET", &format!("/webhooks/{id}"), None).await)["failingSince"], Value::Null);
}
