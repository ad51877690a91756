//! The notifier as its Lambda runs it, against the local AWS emulator: task events from an
//! SQS batch → in-app notifications and send claims in the table, email through SES v2 as
//! the raw MIME message (read back from the emulator's record of sent mail, `/moto-api/data.json`,
//! by Python's own MIME parser), Slack as a Block Kit message to a receiver in the test.
//! Once each: the same batch again (after, or at the same time) sends nothing, a muted
//! person gets nothing, a replay sends nothing. Webhooks: a delivery recorded once per batch
//! however often it comes, sent after the batch and retried on the schedule's tick, signed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod aws;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use aws::{Moto, create_table, queue, receive, sqs_event, unique_name};
use events_schema::bridge::BridgeEvent;
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use events_schema::{AggregateType, Timestamp};
use serde_json::{Value, json};
use shared_aws::dynamo::DynamoStore;
use shared_aws::http_sender::HttpSender;
use shared_aws::lambda::consume_sqs;
use shared_aws::notifications::DynamoNotifications;
use shared_aws::ses::SesSender;
use shared_core::ChangeRecord;
use shared_core::consumers::notifier::Notifier;
use shared_core::notify::inline::InlineDelivery;
use shared_core::notify::{Channel, Kind, Person};
use shared_core::ports::{Aggregate, NotificationQuery, NotificationStore};
use shared_core::webhooks::retry::ATTEMPT_TIMEOUT;
use tokio::sync::Mutex;

const TENANT: &str = "acme";
const SENDER: &str = "Taskstream <robot@example.com>";

fn task(id: &str, assignee: Option<&str>, version: u64) -> TaskSnapshot {
    let at = Timestamp::parse("2026-03-01T09:00:00Z").unwrap();
    TaskSnapshot {
        id: id.into(),
        title: "Renew <the> certificate".into(),
        description: None,
        status: TaskStatus::Todo,
        priority: Priority::Medium,
        assignee: assignee.map(str::to_owned),
        reporter: Some("maria".into()),
        category_id: None,
        project_id: None,
        sprint_id: None,
        tags: vec![],
        due_date: None,
        estimate_points: None,
        created_at: at,
        updated_at: at,
        status_changed_at: at,
        escalation: None,
        version,
    }
}

/// The bus event (as the queue's messages carry it) of maria assigning a task to `who`.
fn assignment(who: &str) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    let change = ChangeRecord {
        tenant: TENANT.into(),
        aggregate_type: AggregateType::Task,
        aggregate_id: id.clone(),
        aggregate_version: 2,
        at: Timestamp::now(),
        correlation_id: unique_name("c"),
        actor: "maria".into(),
        old: Some(Aggregate::Task(task(&id, None, 1))),
        new: Some(Aggregate::Task(task(&id, Some(who), 2))),
    };
    let events = shared_core::derive(change).unwrap();
    let assigned = events.iter().find(|e| e.event_type() == "TaskAssigned").unwrap();
    serde_json::to_string(&BridgeEvent::wrap(&assigned.to_envelope().unwrap()).unwrap()).unwrap()
}

/// `GET` of a path of the emulator's own API, as JSON.
fn moto_api(moto: &Moto, path: &str) -> Value {
    let address = moto.endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap()
}

/// The raw messages SES recorded as sent to `to`.
fn sent_to(moto: &Moto, to: &str) -> Vec<String> {
    let data = moto_api(moto, "/moto-api/data.json");
    let sent = data["ses"]["RawMessage"].as_array().cloned().unwrap_or_default();
    sent.iter()
        .filter(|m| m["destinations"].as_array().is_some_and(|d| d.iter().any(|a| a.as_str().unwrap().contains(to))))
        .map(|m| m["raw_data"].as_str().unwrap().to_owned())
        .collect()
}

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() { venv } else { PathBuf::from("python3") }
}

/// The message as Python's `email` package reads it: subject, and each leaf part's type and text.
fn parsed(raw: &str) -> Value {
    let script = r#"
import email, email.policy, json, sys
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
parts = [{"type": p.get_content_type(), "text": p.get_content().replace("\r\n", "\n")}
         for p in m.walk() if not p.is_multipart()]
print(json.dumps({"subject": str(m["subject"]), "to": str(m["to"]), "type": m.get_content_type(), "parts": parts}))
"#;
    let mut child =
        Command::new(python()).args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(raw.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python could not read the message:\n{raw}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_batch_sends_each_email_once_through_ses_and_a_muted_person_none() {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let table = unique_name("notify");
    create_table(&moto.dynamodb(), &table).await;
    aws_sdk_sesv2::Client::new(&config)
        .create_email_identity()
        .email_identity("robot@example.com")
        .send()
        .await
        .unwrap();

    let store = Arc::new(DynamoStore::from_client(moto.dynamodb(), &table));
    let notifications = Arc::new(DynamoNotifications::from_client(moto.dynamodb(), &table, store));
    let (li, mo) = (format!("{}@example.com", unique_name("li")), format!("{}@example.com", unique_name("mo")));
    let mut entry = Person::unknown("li");
    entry.email = Some(li.clone());
    entry.preferences.insert(Kind::Assigned, vec![Channel::Email, Channel::InApp]);
    notifications.put_person(TENANT, &entry).await.unwrap();
    let mut muted = Person::unknown("mo");
    muted.email = Some(mo.clone());
    muted.preferences.insert(Kind::Assigned, vec![Channel::Email, Channel::InApp]);
    muted.muted = true;
    notifications.put_person(TENANT, &muted).await.unwrap();

    let ses = SesSender::new(&config, SENDER).unwrap();
    let inline = InlineDelivery::new(notifications.clone()).with_email(Arc::new(ses));
    let notifier = Notifier::new(notifications.clone()).with_inline(inline);

    let sqs = aws_sdk_sqs::Client::new(&config);
    let q = queue(&sqs, &unique_name("notifier"), 30).await;
    let li_event = assignment("li");
    for body in [li_event.clone(), assignment("mo")] {
        sqs.send_message().queue_url(&q.url).message_body(body).send().await.unwrap();
    }
    let messages = receive(&sqs, &q.url, 2).await;
    assert_eq!(messages.len(), 2);

    let response = consume_sqs(&notifier, sqs_event(&messages), None, None).await;
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    let sent = sent_to(&moto, &li);
    assert_eq!(sent.len(), 1, "one email to li");
    assert!(sent_to(&moto, &mo).is_empty(), "mo is muted");

    let message = parsed(&sent[0]);
    assert_eq!(message["type"], "multipart/alternative");
    assert_eq!(message["to"], li);
    assert_eq!(message["subject"], "[taskstream] maria assigned you \u{201c}Renew <the> certificate\u{201d}");
    let parts = message["parts"].as_array().unwrap();
    assert_eq!((parts[0]["type"].as_str(), parts[1]["type"].as_str()), (Some("text/plain"), Some("text/html")));
    assert!(
        parts[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Assigned to you\n\nmaria assigned you \u{201c}Renew <the> certificate\u{201d}\n")
    );
    assert!(
        parts[1]["text"]
            .as_str()
            .unwrap()
            .contains("<p>maria assigned you \u{201c}Renew &lt;the&gt; certificate\u{201d}</p>")
    );

    // The same batch again (a lost acknowledgement, a second worker): nothing is sent.
    let response = consume_sqs(&notifier, sqs_event(&messages), None, None).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(sent_to(&moto, &li).len(), 1, "the redelivered batch sends nothing");

    // A replayed event sends nothing either.
    let mut replayed: Value = serde_json::from_str(&li_event).unwrap();
    replayed["replay-name"] = "backfill-1".into();
    sqs.send_message().queue_url(&q.url).message_body(replayed.to_string()).send().await.unwrap();
    let again = receive(&sqs, &q.url, 1).await;
    let response = consume_sqs(&notifier, sqs_event(&again), None, None).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(sent_to(&moto, &li).len(), 1, "a replay sends nothing");

    // li's list shows both: the email, delivered once, and the in-app one; mo's is empty.
    let query = NotificationQuery { limit: 10, unread: false, cursor: None };
    let listed = notifications.list(TENANT, "li", &query).await.unwrap().items;
    let mut got: Vec<(Channel, &str, u32)> =
        listed.iter().map(|n| (n.channel, n.status.as_str(), n.attempts)).collect();
    got.sort();
    assert_eq!(got, [(Channel::Email, "delivered", 1), (Channel::InApp, "delivered", 0)]);
    assert!(notifications.list(TENANT, "mo", &query).await.unwrap().items.is_empty());
}

/// One request the Slack receiver got: its path, content type and body.
type Received = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A local stand-in for Slack's incoming webhooks: answers `ok` and keeps what it got.
async fn slack_receiver() -> (String, Received) {
    use axum::http::{HeaderMap, Uri};
    let received: Received = Arc::default();
    let kept = Arc::clone(&received);
    let app = axum::Router::new().fallback(axum::routing::post(move |uri: Uri, headers: HeaderMap, body: String| {
        let kept = Arc::clone(&kept);
        async move {
            let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let json = serde_json::from_str(&body).unwrap_or(Value::String(body));
            kept.lock().await.push((uri.path().to_owned(), kind, json));
            "ok"
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_batch_sends_one_block_kit_message_to_slack_however_often_it_comes() {
    let moto = Moto::shared();
    let config = moto.sdk_config();
    let table = unique_name("notify-slack");
    create_table(&moto.dynamodb(), &table).await;
    let (receiver, received) = slack_receiver().await;

    let store = Arc::new(DynamoStore::from_client(moto.dynamodb(), &table));
    let notifications = Arc::new(DynamoNotifications::from_client(moto.dynamodb(), &table, store));
    let mut sam = Person::unknown("sam");
    sam.slack_webhook_url = Some(format!("{receiver}/services/T000/B000/sam"));
    sam.preferences.insert(Kind::Assigned, vec![Channel::Slack, Channel::InApp]);
    notifications.put_person(TENANT, &sam).await.unwrap();

    // The consumer as `handlers/notifier` builds it, except that its Slack sender may reach
    // the receiver on loopback, which the Lambda's refuses.
    let slack = HttpSender::new(ATTEMPT_TIMEOUT, true).unwrap();
    let inline = InlineDelivery::new(notifications.clone()).with_slack(Arc::new(slack));
    let notifier = Notifier::new(notifications.clone()).with_inline(inline);

    let sqs = aws_sdk_sqs::Client::new(&config);
    let q = queue(&sqs, &unique_name("notifier-slack"), 30).await;
    sqs.send_message().queue_url(&q.url).message_body(assignment("sam")).send().await.unwrap();
    let messages = receive(&sqs, &q.url, 1).await;

    // The same batch twice at once (two workers), then once more (a lost acknowledgement).
    let (first, second) = tokio::join!(
        consume_sqs(&notifier, sqs_event(&messages), None, None),
        consume_sqs(&notifier, sqs_event(&messages), None, None)
    );
    assert!(first.batch_item_failures.is_empty(), "{:?}", first.batch_item_failures);
    assert!(second.batch_item_failures.is_empty(), "{:?}", second.batch_item_failures);
    let response = consume_sqs(&notifier, sqs_event(&messages), None, None).await;
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);

    let got = received.lock().await.clone();
    assert_eq!(got.len(), 1, "exactly one message at the receiver: {got:?}");
    let (path, kind, message) = &got[0];
    assert_eq!((path.as_str(), kind.as_str()), ("/services/T000/B000/sam", "application/json"));
    let summary = "maria assigned you \u{201c}Renew &lt;the&gt; certificate\u{201d}";
    assert_eq!(message["text"], summary, "{message}");
    let blocks = message["blocks"].as_array().unwrap();
    let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["header", "section", "context"], "{message}");
    assert_eq!((&blocks[0]["text"]["text"], &blocks[1]["text"]["text"]), (&json!("Assigned to you"), &json!(summary)));

    // sam's list: the Slack message delivered on its one attempt, and the in-app one.
    let query = NotificationQuery { limit: 10, unread: false, cursor: None };
    let listed = notifications.list(TENANT, "sam", &query).await.unwrap().items;
    let mut got: Vec<(Channel, &str, u32)> =
        listed.iter().map(|n| (n.channel, n.status.as_str(), n.attempts)).collect();
    got.sort();
    assert_eq!(got, [(Channel::Slack, "delivered", 1), (Channel::InApp, "delivered", 0)]);
}

/// What a webhook receiver got: each request's headers of interest and its body, and the
/// status it answered with.
type Hooked = Arc<Mutex<Vec<(axum::http::HeaderMap, String, u16)>>>;

/// A receiver that answers 500 to its first request and 204 to every later one.
async fn flaky_receiver() -> (String, Hooked) {
    use axum::http::{HeaderMap, StatusCode};
    let received: Hooked = Arc::default();
    let kept = Arc::clone(&received);
    let app = axum::Router::new().fallback(axum::routing::post(move |headers: HeaderMap, body: String| {
        let kept = Arc::clone(&kept);
        async move {
            let mut kept = kept.lock().await;
            let status = if kept.is_empty() { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::NO_CONTENT };
            kept.push((headers, body, status.as_u16()));
            status
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_delivery_is_recorded_once_per_batch_and_retried_on_the_clock_until_delivered_signed() {
    use shared_aws::notifier_lambda::handle;
    use shared_aws::webhooks::DynamoWebhooks;
    use shared_aws::webhooks::secrets::WebhookSecrets;
    use shared_core::ports::{DeliveryQuery, WebhookStore};
    use shared_core::webhooks::SubscriptionSpec;
    use shared_core::webhooks::dispatch::Dispatcher;
    use shared_core::webhooks::retry::RetrySchedule;
    use shared_core::webhooks::signing::verify;

    let moto = Moto::shared();
    let config = moto.sdk_config();
    let table = unique_name("notify-hooks");
    create_table(&moto.dynamodb(), &table).await;
    let (receiver, received) = flaky_receiver().await;

    let store = Arc::new(DynamoStore::from_client(moto.dynamodb(), &table));
    let notifications = Arc::new(DynamoNotifications::from_client(moto.dynamodb(), &table, store.clone()));
    let secrets = WebhookSecrets::new(aws_sdk_secretsmanager::Client::new(&config), format!("{table}/webhooks/"));
    let webhooks = Arc::new(DynamoWebhooks::new(&store, secrets));
    let spec =
        SubscriptionSpec { url: format!("{receiver}/hooks"), event_types: vec!["TaskAssigned".into()], active: true };
    let subscription = webhooks.create(TENANT, &spec).await.unwrap();

    // The consumer and dispatcher as `handlers/notifier` builds them, except that the sender
    // may reach the receiver on loopback (the Lambda's refuses) and the retry comes after a
    // second rather than five.
    let sender = Arc::new(HttpSender::new(ATTEMPT_TIMEOUT, true).unwrap());
    let notifier = Notifier::new(notifications.clone()).with_webhooks(webhooks.clone());
    let schedule = RetrySchedule::new(vec![std::time::Duration::from_secs(1)]);
    let dispatcher = Dispatcher::new(webhooks.clone(), sender, schedule).with_batch(32);

    let sqs = aws_sdk_sqs::Client::new(&config);
    let q = queue(&sqs, &unique_name("notifier-hooks"), 30).await;
    let message = assignment("sam");
    sqs.send_message().queue_url(&q.url).message_body(&message).send().await.unwrap();
    let batch = serde_json::to_value(sqs_event(&receive(&sqs, &q.url, 1).await)).unwrap();

    // The same batch twice: one delivery recorded, attempted once right after the batch (500).
    for _ in 0..2 {
        let answer = handle(&notifier, &dispatcher, None, batch.clone()).await.unwrap();
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    }
    let query = DeliveryQuery { limit: 10, cursor: None };
    let listed = webhooks.deliveries(TENANT, subscription.id, &query).await.unwrap().unwrap().items;
    assert_eq!(listed.len(), 1, "one delivery for the event: {listed:?}");
    assert_eq!((listed[0].status.as_str(), listed[0].attempts, listed[0].last_status_code), ("pending", 1, Some(500)));
    assert_eq!(received.lock().await.len(), 1);

    // The clock: a tick before the retry is due sends nothing; one after it, the retry.
    let tick = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    handle(&notifier, &dispatcher, None, tick.clone()).await.unwrap();
    assert_eq!(received.lock().await.len(), 1, "not due yet");
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    handle(&notifier, &dispatcher, None, tick.clone()).await.unwrap();
    handle(&notifier, &dispatcher, None, tick).await.unwrap();

    let got = received.lock().await.clone();
    assert_eq!(
        got.iter().map(|(_, _, status)| *status).collect::<Vec<_>>(),
        [500, 204],
        "one success, after one failure"
    );
    let listed = webhooks.deliveries(TENANT, subscription.id, &query).await.unwrap().unwrap().items;
    assert_eq!(
        (listed[0].status.as_str(), listed[0].attempts, listed[0].last_status_code),
        ("delivered", 2, Some(204))
    );

    // Signed per Standard Webhooks with the subscription's secret, the same id both times, and
    // the body the event's envelope as the bus carried it.
    let header = |headers: &axum::http::HeaderMap, name: &str| headers[name].to_str().unwrap().to_owned();
    let (headers, body, _) = &got[1];
    let id = header(headers, "webhook-id");
    assert_eq!(id, listed[0].id.to_string());
    assert_eq!(header(&got[0].0, "webhook-id"), id);
    let (timestamp, signature) = (header(headers, "webhook-timestamp"), header(headers, "webhook-signature"));
    let now = Timestamp::now().unix_millis() / 1000;
    assert_eq!(verify(&subscription.secret, &id, &timestamp, &signature, body.as_bytes(), now), Ok(()));
    assert!(verify(&subscription.secret, &id, &timestamp, &signature, format!("{body} ").as_bytes(), now).is_err());
    let sent: Value = serde_json::from_str(body).unwrap();
    let on_the_bus: Value = serde_json::from_str(&message).unwrap();
    assert_eq!(sent, on_the_bus["detail"], "the envelope as the bus carries it");
    assert_eq!(sent["eventType"], "TaskAssigned");
}

/// A send worth another attempt lets its claim go at once, for the event's next delivery, by
/// ending its lease (the functions may not call DeleteItem); a settled one keeps it.
#[tokio::test]
async fn a_claim_let_go_for_another_attempt_is_free_at_once_and_a_settled_one_is_kept() {
    use shared_core::notify::deliver::Attempted;
    use shared_core::notify::{Notification, Status, notification_id};
    use shared_core::ports::SendClaims;

    let moto = Moto::shared();
    let table = unique_name("notify-claims");
    create_table(&moto.dynamodb(), &table).await;
    let store = Arc::new(DynamoStore::from_client(moto.dynamodb(), &table));
    let notifications = DynamoNotifications::from_client(moto.dynamodb(), &table, store);
    let event_id = uuid::Uuid::now_v7();
    let n = Notification {
        id: notification_id(&event_id, "sam", Channel::Slack, None),
        tenant: TENANT.into(),
        recipient: "sam".into(),
        channel: Channel::Slack,
        kind: Kind::Assigned,
        event_id,
        event_type: "TaskAssigned".into(),
        task_id: Some("t-1".into()),
        sprint_id: None,
        actor: "maria".into(),
        summary: "maria assigned you a task".into(),
        occurred_at: Timestamp::now(),
        status: Status::Pending,
        read_at: None,
        attempts: 0,
        last_error: None,
    };
    assert_eq!(notifications.record(std::slice::from_ref(&n)).await.unwrap(), 1);
    let now = Timestamp::now();
    let lease = Timestamp::from_unix_millis(now.unix_millis() + 60_000).unwrap();
    assert!(notifications.claim(&n, now, lease).await.unwrap());
    assert!(!notifications.claim(&n, now, lease).await.unwrap(), "held while its lease runs");

    let outcome = |status| Attempted {
        id: n.id,
        status,
        attempts: 1,
        attempted_at: Timestamp::now(),
        next_attempt_at: None,
        error: Some("the receiver answered HTTP 503".into()),
    };
    notifications.settle_claim(&n, &outcome(Status::Pending)).await.unwrap();
    let claim = moto
        .dynamodb()
        .get_item()
        .table_name(&table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("T#{TENANT}#NOTIFIED#{}", n.id)))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("CLAIM".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(claim["leaseUntil"].as_n().unwrap(), "0", "let go by ending its lease: {claim:?}");
    assert!(notifications.claim(&n, Timestamp::now(), lease).await.unwrap(), "free at once, not after the lease");

    notifications.settle_claim(&n, &outcome(Status::Failed)).await.unwrap();
    let far = Timestamp::from_unix_millis(now.unix_millis() + 3_600_000).unwrap();
    assert!(!notifications.claim(&n, far, far).await.unwrap(), "a settled claim is kept");
}

/// A subscription failing for three days is turned off by the attempt that finds it so, and the
/// tenant's admins as the user pool has them are told in their lists, each by their own
/// preferences: not another tenant's admins, not a member, not an admin turned off in the pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_failing_for_days_is_turned_off_and_the_tenants_admins_in_the_pool_are_told() {
    use aws_sdk_cognitoidentityprovider::types::{AttributeDataType, AttributeType, SchemaAttributeType};
    use shared_aws::notifier_lambda::handle;
    use shared_aws::webhooks::DynamoWebhooks;
    use shared_aws::webhooks::admins::{AdminNotice, CognitoAdmins};
    use shared_aws::webhooks::secrets::WebhookSecrets;
    use shared_core::ports::WebhookStore;
    use shared_core::webhooks::SubscriptionSpec;
    use shared_core::webhooks::dispatch::Dispatcher;
    use shared_core::webhooks::retry::RetrySchedule;

    let moto = Moto::shared();
    let config = moto.sdk_config();
    let table = unique_name("notify-off");
    create_table(&moto.dynamodb(), &table).await;

    // The pool as the CDK app makes it: a `tenant` attribute, and a group per role.
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&config);
    let tenant_attribute = SchemaAttributeType::builder()
        .name("tenant")
        .attribute_data_type(AttributeDataType::String)
        .mutable(false)
        .build();
    let pool = cognito
        .create_user_pool()
        .pool_name(unique_name("users"))
        .schema(tenant_attribute)
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap()
        .id
        .unwrap();
    for group in ["admin", "member"] {
        cognito.create_group().user_pool_id(&pool).group_name(group).send().await.unwrap();
    }
    for (name, tenant, group) in [
        ("ada", TENANT, "admin"),
        ("bo", "globex", "admin"),
        ("cy", TENANT, "member"),
        ("dee", TENANT, "admin"),
        ("eve", TENANT, "admin"),
    ] {
        let attribute = AttributeType::builder().name("custom:tenant").value(tenant).build().unwrap();
        cognito.admin_create_user().user_pool_id(&pool).username(name).user_attributes(attribute).send().await.unwrap();
        cognito.admin_add_user_to_group().user_pool_id(&pool).username(name).group_name(group).send().await.unwrap();
    }
    cognito.admin_disable_user().user_pool_id(&pool).username("dee").send().await.unwrap();
    let admins = CognitoAdmins::from_client(cognito.clone(), &pool);
    assert_eq!(admins.admins(TENANT).await.unwrap(), ["ada", "eve"]);
    assert_eq!(admins.admins("globex").await.unwrap(), ["bo"]);

    let store = Arc::new(DynamoStore::from_client(moto.dynamodb(), &table));
    let notifications = Arc::new(DynamoNotifications::from_client(moto.dynamodb(), &table, store.clone()));
    // eve wants no notice of this kind; ada has no entry (in-app, the default).
    let eve = Person {
        name: "eve".into(),
        email: None,
        slack_webhook_url: None,
        preferences: [(Kind::WebhookDisabled, vec![])].into_iter().collect(),
        muted: false,
        version: 0,
    };
    notifications.put_person(TENANT, &eve).await.unwrap();
    let secrets = WebhookSecrets::new(aws_sdk_secretsmanager::Client::new(&config), format!("{table}/webhooks/"));
    let notice = AdminNotice::new(admins, notifications.clone());
    let webhooks = Arc::new(DynamoWebhooks::new(&store, secrets).with_admin_notice(notice));
    let (receiver, received) = flaky_receiver().await;
    let spec =
        SubscriptionSpec { url: format!("{receiver}/hooks"), event_types: vec!["TaskAssigned".into()], active: true };
    let subscription = webhooks.create(TENANT, &spec).await.unwrap();
    // Failing for four days already: the next failed attempt turns it off.
    let four_days_ago = Timestamp::now().unix_millis() - 4 * 86_400_000;
    moto.dynamodb()
        .update_item()
        .table_name(&table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("T#{TENANT}#WEBHOOK")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(subscription.id.to_string()))
        .update_expression("SET failingSinceMs = :since")
        .expression_attribute_values(":since", aws_sdk_dynamodb::types::AttributeValue::N(four_days_ago.to_string()))
        .send()
        .await
        .unwrap();

    let sender = Arc::new(HttpSender::new(ATTEMPT_TIMEOUT, true).unwrap());
    let notifier = Notifier::new(notifications.clone()).with_webhooks(webhooks.clone());
    let schedule = RetrySchedule::new(vec![std::time::Duration::from_secs(1)]);
    let dispatcher = Dispatcher::new(webhooks.clone(), sender, schedule).with_batch(32);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let q = queue(&sqs, &unique_name("notifier-off"), 30).await;
    sqs.send_message().queue_url(&q.url).message_body(assignment("sam")).send().await.unwrap();
    let batch = serde_json::to_value(sqs_event(&receive(&sqs, &q.url, 1).await)).unwrap();
    let answer = handle(&notifier, &dispatcher, None, batch).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    assert_eq!(received.lock().await.len(), 1, "one attempt, answered 500");

    let off = webhooks.get(TENANT, subscription.id).await.unwrap().unwrap();
    assert!(!off.active, "{off:?}");
    let (_, reason) = off.disabled.clone().expect("turned off, with why");
    assert!(reason.contains("500"), "{reason}");

    let inbox = |who: &'static str, tenant: &'static str| {
        let notifications = notifications.clone();
        async move {
            let query = NotificationQuery { limit: 10, unread: false, cursor: None };
            notifications.list(tenant, who, &query).await.unwrap().items
        }
    };
    let told = inbox("ada", TENANT).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!((told[0].kind, told[0].channel), (Kind::WebhookDisabled, Channel::InApp));
    assert!(told[0].summary.contains(&receiver), "the notice names the endpoint: {}", told[0].summary);
    for (who, tenant) in [("eve", TENANT), ("dee", TENANT), ("cy", TENANT), ("bo", "globex")] {
        assert!(inbox(who, tenant).await.is_empty(), "{who} is not told");
    }

    // Off, its deliveries wait: a later tick sends nothing and tells no one again.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let tick = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    handle(&notifier, &dispatcher, None, tick).await.unwrap();
    assert_eq!(received.lock().await.len(), 1, "nothing sent to a subscription turned off");
    assert_eq!(inbox("ada", TENANT).await.len(), 1);
}
