//! Webhooks sent by `serve` over real HTTP to a receiver in the test: the body is the
//! envelope as the bus carries it, the signature is checked by an implementation that
//! shares no code with ours (Python's standard library, from the repository's `.venv`),
//! failing receivers are retried on the schedule, then dead-lettered with the reason, and an
//! address refused at delivery is dead at once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use support::Server;

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// An HTTP receiver on its own thread: records every POST and answers with the next
/// scripted status (200 once the script is spent).
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    /// While set, each request is recorded and then left without an answer for minutes.
    stalled: Arc<AtomicBool>,
}

impl Receiver {
    fn start(script: &[u16]) -> Self {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<u16>>()));
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let stalled = Arc::new(AtomicBool::new(false));
        let (g, s, st) = (Arc::clone(&got), Arc::clone(&script), Arc::clone(&stalled));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                let app = axum::Router::new().route(
                    "/hook",
                    axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                        let (g, s, st) = (Arc::clone(&g), Arc::clone(&s), Arc::clone(&st));
                        async move {
                            let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                            g.lock().unwrap().push(Received {
                                id: h("webhook-id"),
                                timestamp: h("webhook-timestamp"),
                                signature: h("webhook-signature"),
                                body: String::from_utf8(body.to_vec()).unwrap(),
                            });
                            if st.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_secs(300)).await;
                            }
                            let status = s.lock().unwrap().pop_front().unwrap_or(200);
                            StatusCode::from_u16(status).unwrap()
                        }
                    }),
                );
                axum::serve(listener, app).await.unwrap();
            });
        });
        Self { addr, got, stalled }
    }

    fn stall(&self, on: bool) {
        self.stalled.store(on, Ordering::SeqCst);
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests have come, or fails after 20 s.
    fn wait_for(&self, n: usize) -> Vec<Received> {
        wait(|| (self.received().len() >= n).then(|| self.received()), &format!("{n} requests at the receiver"))
    }
}

fn wait<T>(mut ready: impl FnMut() -> Option<T>, what: &str) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "waited 20 s for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn private(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![("TASKSTREAM_ALLOW_PRIVATE_WEBHOOKS", "true"), ("TASKSTREAM_WEBHOOK_RETRIES", "200ms,400ms")];
    env.extend_from_slice(extra);
    env
}

fn subscribe(server: &Server, url: &str, types: &[&str]) -> Value {
    let (status, body) = server.call("POST", "/webhooks", Some(&json!({"url": url, "eventTypes": types}).to_string()));
    assert_eq!(status, 201, "{body}");
    body["data"].clone()
}

/// Makes a task and assigns it: one TaskAssigned.
fn assign(server: &Server, title: &str) -> String {
    let (status, made) = server.call("POST", "/tasks", Some(&json!({"title": title}).to_string()));
    assert_eq!(status, 201, "{made}");
    let id = made["data"]["id"].as_str().unwrap().to_owned();
    let (status, put) = server.call("PUT", &format!("/tasks/{id}"), Some(r#"{"version": 1, "assignee": "li"}"#));
    assert_eq!(status, 200, "{put}");
    id
}

fn deliveries(server: &Server, webhook: &str) -> Vec<Value> {
    let (status, body) = server.call("GET", &format!("/webhooks/{webhook}/deliveries"), None);
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// A receiver's verifier, written from the Standard Webhooks specification with Python's
/// standard library only.
const VERIFIER: &str = r#"
import base64, hashlib, hmac, json, sys, time
case = json.load(sys.stdin)
key = base64.b64decode(case["secret"].split("_", 1)[1])
if abs(time.time() - int(case["timestamp"])) > 300:
    print("stale"); sys.exit(0)
signed = (case["id"] + "." + case["timestamp"] + ".").encode() + case["body"].encode()
expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
ok = any(hmac.compare_digest(s.split(",", 1)[1], expected) for s in case["signature"].split(" ") if s.startswith("v1,"))
print("valid" if ok else "invalid")
"#;

/// The repository's `.venv` python (scripts/test makes it), or python3 on the path.
fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        return venv;
    }
    let found = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(found, "no python to verify signatures with: run scripts/test, which makes .venv");
    PathBuf::from("python3")
}

fn python_says(secret: &str, r: &Received) -> String {
    let case =
        json!({"secret": secret, "id": r.id, "timestamp": r.timestamp, "signature": r.signature, "body": r.body});
    let mut child =
        Command::new(python()).args(["-c", VERIFIER]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(case.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the verifier failed: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_delivery_is_the_bus_envelope_signed_so_that_python_verifies_it() {
    let data = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[]);
    let server = Server::start(data.path(), &private(&[]));
    let made = subscribe(&server, &receiver.url(), &["TaskAssigned"]);
    let secret = made["secret"].as_str().unwrap().to_owned();
    let task = assign(&server, "Déploiement “v2”");

    let got = receiver.wait_for(1);
    let r = &got[0];
    let envelope: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (envelope["eventType"].as_str(), envelope["aggregateId"].as_str()),
        (Some("TaskAssigned"), Some(task.as_str()))
    );
    // Byte for byte what the bus archive holds for that event.
    let conn = rusqlite::Connection::open(data.path().join("taskstream.db")).unwrap();
    let archived: String = conn
        .query_row("SELECT body FROM archive WHERE event_id = ?1", [envelope["eventId"].as_str().unwrap()], |row| {
            row.get(0)
        })
        .unwrap();
    let archived: Value = serde_json::from_str(&archived).unwrap();
    assert_eq!(archived["detail"], envelope);
    // The webhook-id is the delivery's id, as the API lists it.
    let listed = deliveries(&server, made["id"].as_str().unwrap());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"].as_str(), Some(r.id.as_str()));
    let listed = wait(
        || {
            let d = deliveries(&server, made["id"].as_str().unwrap());
            (d[0]["status"] == "delivered").then_some(d)
        },
        "the delivery to be recorded delivered",
    );
    assert_eq!((listed[0]["attempts"].as_u64(), listed[0]["lastStatusCode"].as_u64()), (Some(1), Some(200)));
    assert!(listed[0]["lastLatencyMs"].is_u64());

    assert_eq!(python_says(&secret, r), "valid");
    let tampered = Received { body: r.body.replace("Déploiement", "Deployment"), ..r.clone() };
    assert_eq!(python_says(&secret, &tampered), "invalid");
    let other_id = Received { id: format!("{}x", r.id), ..r.clone() };
    assert_eq!(python_says(&secret, &other_id), "invalid");
    let stale = Received { timestamp: (r.timestamp.parse::<i64>().unwrap() - 600).to_string(), ..r.clone() };
    assert_eq!(python_says(&secret, &stale), "stale");
    let wrong_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert_eq!(python_says(wrong_secret, r), "invalid");

    // Rotated: the new secret shown once, and the next delivery signed with both.
    let (status, rotated) =
        server.call("POST", &format!("/webhooks/{}/rotate-secret", made["id"].as_str().unwrap()), None);
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["data"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated["data"]["previousSecretUntil"].is_string());
    assign(&server, "after the rotation");
    let got = receiver.wait_for(2);
    let r = &got[1];
    assert_eq!(r.signature.split(' ').count(), 2, "{}", r.signature);
    assert_eq!(python_says(&new_secret, r), "valid");
    assert_eq!(python_says(&secret, r), "valid", "the old secret still verifies during the overlap");
    assert!(server.terminate().0.success());
}

#[test]
fn a_receiver_down_then_up_gets_it_after_retries_and_redeliver_sends_it_again() {
    let data = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[503, 500]);
    let server = Server::start(data.path(), &private(&[]));
    let made = subscribe(&server, &receiver.url(), &["TaskAssigned"]);
    let webhook = made["id"].as_str().unwrap();
    assign(&server, "flaky receiver");

    let got = receiver.wait_for(3);
    assert!(got.iter().all(|r| r.id == got[0].id && r.body == got[0].body), "one delivery, one id: {got:?}");
    let d = wait(
        || {
            let d = deliveries(&server, webhook);
            d.first().filter(|d| d["status"] == "delivered").cloned()
        },
        "delivered",
    );
    assert_eq!(
        (d["attempts"].as_u64(), d["lastStatusCode"].as_u64(), &d["lastError"]),
        (Some(3), Some(200), &Value::Null)
    );

    let (status, again) = server.call("POST", &format!("/webhooks/{webhook}/deliveries/{}/redeliver", got[0].id), None);
    assert_eq!(status, 202, "{again}");
    assert_eq!((again["data"]["status"].as_str(), again["data"]["attempts"].as_u64()), (Some("pending"), Some(0)));
    let got = receiver.wait_for(4);
    assert_eq!(got[3].id, got[0].id, "a redelivery keeps its webhook-id");
    assert_eq!(got[3].body, got[0].body);
    let (status, missing) =
        server.call("POST", &format!("/webhooks/{webhook}/deliveries/{}/redeliver", uuid_like()), None);
    assert_eq!(status, 404, "{missing}");
    assert!(server.terminate().0.success());
}

fn uuid_like() -> &'static str {
    "0195a3c4-0000-7000-8000-000000000001"
}

#[test]
fn a_receiver_down_for_good_is_dead_lettered_with_the_reason() {
    let data = tempfile::tempdir().unwrap();
    let failing = Receiver::start(&[500, 500, 500, 500]);
    // A port nothing listens on: bound, then let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let server = Server::start(data.path(), &private(&[]));
    let answering = subscribe(&server, &failing.url(), &["TaskAssigned"]);
    let silent = subscribe(&server, &format!("http://{closed}/hook"), &["TaskAssigned"]);
    assign(&server, "nobody home");

    let dead = |webhook: &Value| {
        wait(
            || {
                let d = deliveries(&server, webhook["id"].as_str().unwrap());
                d.first().filter(|d| d["status"] == "dead").cloned()
            },
            "a dead delivery",
        )
    };
    let d = dead(&answering);
    assert_eq!((d["attempts"].as_u64(), d["lastStatusCode"].as_u64()), (Some(3), Some(500)));
    assert_eq!(d["lastError"], "the receiver answered HTTP 500 (gave up after 3 attempts)");
    assert_eq!(d["nextAttemptAt"], Value::Null);
    assert_eq!(failing.received().len(), 3, "three attempts: the first and two retries");
    let d = dead(&silent);
    assert_eq!((d["attempts"].as_u64(), &d["lastStatusCode"]), (Some(3), &Value::Null));
    let reason = d["lastError"].as_str().unwrap();
    assert!(reason.contains("onnection refused") && reason.contains("gave up after 3 attempts"), "{reason}");
    assert!(server.terminate().0.success());
}

#[test]
fn an_address_refused_at_delivery_is_dead_at_once() {
    let data = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[]);
    let server = Server::start(data.path(), &private(&[]));
    let made = subscribe(&server, &receiver.url(), &["TaskAssigned"]);
    assert!(server.terminate().0.success());

    // The same subscription, served by a serve that does not allow private addresses.
    let server = Server::start(data.path(), &[]);
    assign(&server, "to a loopback receiver");
    let d = wait(
        || {
            let d = deliveries(&server, made["id"].as_str().unwrap());
            d.first().filter(|d| d["status"] == "dead").cloned()
        },
        "a dead delivery",
    );
    assert_eq!(d["attempts"].as_u64(), Some(1));
    assert_eq!(d["lastError"], "refused: 127.0.0.1 is a loopback address: webhooks go to public addresses only");
    assert!(receiver.received().is_empty(), "nothing reached the receiver");
    assert!(server.terminate().0.success());
}

#[test]
fn a_kill_9_mid_burst_loses_no_delivery_and_resends_with_the_same_id() {
    const TASKS: usize = 40;
    let data = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(&[]);
    receiver.stall(true);
    // Attempts may take their time, so those under way when serve dies have reached the
    // receiver without their answer being recorded.
    let env = private(&[("TASKSTREAM_WEBHOOK_TIMEOUT", "60s")]);
    let mut server = Server::start(data.path(), &env);
    let subs: Vec<Value> = (0..2).map(|_| subscribe(&server, &receiver.url(), &["TaskAssigned"])).collect();
    for i in 0..TASKS {
        assign(&server, &format!("burst {i}"));
    }
    let before = receiver.wait_for(1);
    std::thread::sleep(Duration::from_millis(300));
    server.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    server.child.wait().unwrap();
    let at_kill = receiver.received().len();
    assert!(!before.is_empty() && at_kill < 2 * TASKS, "the kill came mid-burst: {at_kill} of {}", 2 * TASKS);

    receiver.stall(false);
    let server = Server::start(data.path(), &env);
    // Every (event, subscription) has its one id; wait until each has arrived.
    let conn = rusqlite::Connection::open(data.path().join("taskstream.db")).unwrap();
    let events: Vec<String> = conn
        .prepare("SELECT event_id FROM archive WHERE detail_type = 'TaskAssigned'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(events.len(), TASKS);
    let mut expected: Vec<String> = Vec::new();
    for event in &events {
        for sub in &subs {
            let (e, w) = (event.parse().unwrap(), sub["id"].as_str().unwrap().parse().unwrap());
            expected.push(shared_core::webhooks::delivery_id(&e, &w).hyphenated().to_string());
        }
    }
    expected.sort();
    let distinct = |got: &[Received]| {
        let mut ids: Vec<String> = got.iter().map(|r| r.id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let got = wait(
        || {
            let got = receiver.received();
            (distinct(&got).len() >= expected.len()).then_some(got)
        },
        "every delivery after the restart",
    );
    assert_eq!(distinct(&got), expected, "each (event, subscription) arrived, under its own id, and nothing else");
    // At least once: the attempts under way at the kill were sent again after the restart,
    // under the same id and with the same body, so a receiver that drops ids it has seen
    // acts once on each.
    let repeats = got.len() - expected.len();
    eprintln!(
        "{} deliveries, {at_kill} reached the receiver before the kill, {repeats} sent again after it",
        expected.len()
    );
    assert!(repeats > 0 && repeats <= at_kill, "{repeats} repeats, {at_kill} under way at the kill");
    for r in &got {
        let first = got.iter().find(|g| g.id == r.id).unwrap();
        assert_eq!(first.body, r.body, "a repeat carries the same body");
    }
    for sub in &subs {
        let delivered = wait(
            || {
                let d = deliveries(&server, sub["id"].as_str().unwrap());
                d.iter().all(|d| d["status"] == "delivered").then_some(d)
            },
            "every delivery recorded delivered",
        );
        assert_eq!(delivered.len(), TASKS);
    }
    assert!(server.terminate().0.success());
}
