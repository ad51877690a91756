//! `GET /events/stream` over real HTTP against a `serve` process: a reconnect with
//! `Last-Event-ID` misses nothing and repeats nothing, another tenant's events never
//! appear, the filters hold, credentials are required, and shutdown ends open streams.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::{Server, create_key};

/// Long enough for the router to archive a write on a busy machine.
const WAIT: Duration = Duration::from_secs(20);

/// One parsed Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    id: i64,
    envelope: Value,
}

impl Sse {
    fn event_type(&self) -> &str {
        self.envelope["eventType"].as_str().unwrap()
    }
    fn aggregate(&self) -> &str {
        self.envelope["aggregateId"].as_str().unwrap_or_default()
    }
}

/// An open stream and the bytes read off it but not yet parsed.
struct Stream {
    response: reqwest::Response,
    buffer: String,
    comments: usize,
}

impl Stream {
    /// The next event, skipping comment lines (heartbeats); `None` when the server ended the
    /// stream. Panics after `WAIT` without one.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut data) = (None, String::new());
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Some(Sse {
                    id: id.expect("every event has an id"),
                    envelope: serde_json::from_str(&data).unwrap(),
                });
            }
            let chunk = tokio::time::timeout(WAIT, self.response.chunk())
                .await
                .expect("no event in time")
                .unwrap_or_else(|e| panic!("the stream broke off: {e:?}"));
            match chunk {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }

    /// Events until (and with) the first that `stop` picks.
    async fn until(&mut self, stop: impl Fn(&Sse) -> bool) -> Vec<Sse> {
        let mut seen = Vec::new();
        loop {
            let event = self.next().await.expect("the stream ended early");
            let done = stop(&event);
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(server: &Server) -> Self {
        Self { base: format!("http://{}", server.addr), http: reqwest::Client::new() }
    }

    async fn send(&self, key: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).header("x-api-key", key);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
    }

    /// Creates a task; its id.
    async fn create(&self, key: &str, title: &str) -> String {
        let (status, body) = self.send(key, reqwest::Method::POST, "/tasks", Some(json!({ "title": title }))).await;
        assert_eq!(status, 201, "{body}");
        body["data"]["id"].as_str().unwrap().to_owned()
    }

    async fn open(&self, key: &str, query: &str, last_event_id: Option<i64>) -> Stream {
        let mut request = self.http.get(format!("{}/events/stream{query}", self.base));
        if !key.is_empty() {
            request = request.header("x-api-key", key);
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{query}");
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Stream { response, buffer: String::new(), comments: 0 }
    }

    async fn refused(&self, key: &str, query: &str, last_event_id: Option<&str>) -> (u16, Value) {
        let mut request = self.http.get(format!("{}/events/stream{query}", self.base));
        if !key.is_empty() {
            request = request.header("x-api-key", key);
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
    }
}

fn start(data: &std::path::Path) -> Server {
    Server::start(data, &[("TASKSTREAM_STREAM_HEARTBEAT", "200ms")])
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());
    let api = Api::new(&server);
    let key = server.key.clone();

    let mut live = api.open(&key, "", None).await;
    let first = api.create(&key, "first").await;
    let before = live.until(|e| e.aggregate() == first).await;
    let last_seen = before.last().unwrap().id;
    drop(live);

    // Written while no one listens.
    let second = api.create(&key, "second").await;
    let (status, _) = api
        .send(
            &key,
            reqwest::Method::PUT,
            &format!("/tasks/{first}"),
            Some(json!({ "version": 1, "status": "in_progress" })),
        )
        .await;
    assert_eq!(status, 200);
    let third = api.create(&key, "third").await;

    let mut resumed = api.open(&key, "", Some(last_seen)).await;
    let after = resumed.until(|e| e.aggregate() == third).await;

    // The whole archive, read from its start, is exactly what the two connections saw.
    let mut everything = api.open(&key, "?lastEventId=0", None).await;
    let all = everything.until(|e| e.aggregate() == third).await;
    let seen: Vec<i64> = before.iter().chain(&after).map(|e| e.id).collect();
    let whole: Vec<i64> = all.iter().map(|e| e.id).collect();
    assert_eq!(&whole[whole.len() - seen.len()..], &seen[..], "no gap, no repeat, in order");
    assert!(after.iter().all(|e| e.id > last_seen), "nothing at or before the resume point comes again");
    assert!(after.iter().any(|e| e.aggregate() == second && e.event_type() == "TaskCreated"));
    assert!(after.iter().any(|e| e.aggregate() == first && e.envelope["aggregateVersion"] == 2));
    assert!(whole.windows(2).all(|w| w[0] < w[1]), "ids only grow: {whole:?}");
    let distinct: HashSet<&str> = all.iter().map(|e| e.envelope["eventId"].as_str().unwrap()).collect();
    assert_eq!(distinct.len(), all.len(), "each event once");

    // The query parameter resumes like the header; the header wins when both are sent.
    let mut by_query = api.open(&key, &format!("?lastEventId={last_seen}"), None).await;
    assert_eq!(by_query.next().await.unwrap().id, after[0].id);
    let mut both = api.open(&key, "?lastEventId=0", Some(last_seen)).await;
    assert_eq!(both.next().await.unwrap().id, after[0].id);

    // With nothing to send, the stream sends heartbeats (comment lines) and stays open.
    let mut quiet = api.open(&key, "", None).await;
    let early = tokio::time::timeout(Duration::from_millis(1500), quiet.next()).await;
    assert!(early.is_err(), "no event was written, so none came: {early:?}");
    assert!(quiet.comments >= 2 || quiet.buffer.contains(": heartbeat"), "heartbeats: {:?}", quiet.buffer);
    assert!(server.terminate().0.success());
}

#[tokio::test]
async fn another_tenants_events_never_appear() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());
    let api = Api::new(&server);
    let ours = server.key.clone();
    let theirs = create_key(data.path(), "globex", "member");

    let mut our_stream = api.open(&ours, "?lastEventId=0", None).await;
    let mut their_stream = api.open(&theirs, "?lastEventId=0", None).await;
    // Interleaved, each waited for on its own stream, so every write of the other tenant
    // is archived before the marker that ends the read.
    let a = api.create(&ours, "ours a").await;
    let mut our_seen = our_stream.until(|e| e.aggregate() == a).await;
    let b = api.create(&theirs, "theirs b").await;
    let mut their_seen = their_stream.until(|e| e.aggregate() == b).await;
    let c = api.create(&ours, "ours c").await;
    our_seen.extend(our_stream.until(|e| e.aggregate() == c).await);
    let d = api.create(&theirs, "theirs d").await;
    their_seen.extend(their_stream.until(|e| e.aggregate() == d).await);
    let e = api.create(&ours, "ours e").await;
    our_seen.extend(our_stream.until(|ev| ev.aggregate() == e).await);

    assert!(our_seen.iter().all(|e| e.envelope["tenant"] == "default"), "{our_seen:?}");
    assert!(their_seen.iter().all(|e| e.envelope["tenant"] == "globex"), "{their_seen:?}");
    assert!(!our_seen.iter().any(|ev| ev.aggregate() == b || ev.aggregate() == d));
    assert!(!their_seen.iter().any(|ev| ev.aggregate() == a || ev.aggregate() == c || ev.aggregate() == e));
    // Naming another tenant's task filters down to nothing of theirs.
    let mut peek = api.open(&ours, &format!("?lastEventId=0&taskId={b}"), None).await;
    let early = tokio::time::timeout(Duration::from_millis(800), peek.next()).await;
    assert!(early.is_err(), "another tenant's task shows nothing: {early:?}");
    assert!(server.terminate().0.success());
}

#[tokio::test]
async fn the_type_and_task_filters_hold() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());
    let api = Api::new(&server);
    let key = server.key.clone();
    let one = api.create(&key, "one").await;
    let two = api.create(&key, "two").await;
    let (status, _) = api
        .send(&key, reqwest::Method::POST, &format!("/tasks/{one}/comments"), Some(json!({ "body": "a note" })))
        .await;
    assert_eq!(status, 201);
    let (status, _) = api
        .send(
            &key,
            reqwest::Method::PUT,
            &format!("/tasks/{two}"),
            Some(json!({ "version": 1, "status": "in_progress" })),
        )
        .await;
    assert_eq!(status, 200);
    // A last marker on task one, written after everything else.
    let (status, _) = api
        .send(&key, reqwest::Method::PUT, &format!("/tasks/{one}"), Some(json!({ "version": 1, "title": "one!" })))
        .await;
    assert_eq!(status, 200);

    let mut of_one = api.open(&key, &format!("?lastEventId=0&taskId={one}"), None).await;
    let seen = of_one.until(|e| e.aggregate() == one && e.envelope["aggregateVersion"] == 2).await;
    assert!(seen.iter().all(|e| e.aggregate() == one || e.envelope["data"]["comment"]["taskId"] == one.as_str()));
    assert!(seen.iter().any(|e| e.event_type() == "CommentAdded"), "comments on the task are its events: {seen:?}");
    assert!(seen.iter().any(|e| e.event_type() == "TaskCreated"));

    let mut changes = api.open(&key, "?lastEventId=0&type=TaskStatusChanged,TaskUpdated", None).await;
    let seen = changes.until(|e| e.aggregate() == one && e.event_type() == "TaskUpdated").await;
    let types: HashSet<&str> = seen.iter().map(Sse::event_type).collect();
    assert_eq!(types, HashSet::from(["TaskStatusChanged", "TaskUpdated"]), "{seen:?}");
    assert!(seen.iter().any(|e| e.aggregate() == two && e.event_type() == "TaskStatusChanged"));
    assert!(server.terminate().0.success());
}

#[tokio::test]
async fn an_unreadable_archived_event_is_sent_as_such_and_the_stream_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());
    let api = Api::new(&server);
    let key = server.key.clone();
    let mut live = api.open(&key, "", None).await;
    let before = api.create(&key, "before").await;
    live.until(|e| e.aggregate() == before).await;
    // What no consumer can read either: a body with no envelope.
    let conn = rusqlite::Connection::open(data.path().join("taskstream.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.execute(
        "INSERT INTO archive (event_id, detail_type, tenant, occurred_at, archived_ms, body)
         VALUES ('broken', 'TaskCreated', 'default', '2026-01-01T00:00:00.000Z', 0, 'not json at all')",
        [],
    )
    .unwrap();
    drop(conn);
    let after = api.create(&key, "after").await;
    let seen = live.until(|e| e.envelope["aggregateId"] == after.as_str()).await;
    let broken = seen.iter().find(|e| e.envelope["eventId"] == "broken").expect("the unreadable event is sent");
    assert_eq!(broken.envelope["unreadable"], true);
    assert_eq!(broken.envelope["eventType"], "TaskCreated");
    // A task filter passes over it without failing.
    let mut of_after = api.open(&key, &format!("?lastEventId=0&taskId={after}"), None).await;
    assert_eq!(of_after.next().await.unwrap().aggregate(), after);
    assert!(server.terminate().0.success());
}

#[tokio::test]
async fn a_stream_needs_a_key_and_says_why_it_refuses() {
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path());
    let api = Api::new(&server);

    for key in ["", "tsk_0123456789abcdef_not-a-secret"] {
        let (status, body) = api.refused(key, "", None).await;
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthenticated")), "{key:?}: {body}");
        assert!(body["error"]["correlationId"].is_string());
    }
    // Viewer is the least role there is, and it may read the stream.
    let viewer = create_key(data.path(), "default", "viewer");
    let mut stream = api.open(&viewer, "", None).await;
    let task = api.create(&server.key, "seen by a viewer").await;
    assert_eq!(stream.next().await.unwrap().aggregate(), task);

    let (status, body) = api.refused(&viewer, "?type=NoSuchEvent", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("validation_failed")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("NoSuchEvent"));
    let (status, body) = api.refused(&viewer, "", Some("yesterday")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("validation_failed")), "{body}");
    let (status, body) = api.refused(&viewer, "?taskId=not-a-uuid", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("validation_failed")), "{body}");
    let (status, body) = api.refused(&viewer, "?follow=1", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(server.terminate().0.success());
}

#[tokio::test]
async fn shutdown_ends_open_streams_instead_of_waiting_out_the_grace() {
    let data = tempfile::tempdir().unwrap();
    // A grace far longer than the wait below: serve stops within the wait only if it ends
    // the stream itself.
    let server =
        Server::start(data.path(), &[("TASKSTREAM_STREAM_HEARTBEAT", "200ms"), ("TASKSTREAM_SHUTDOWN_GRACE", "120")]);
    let api = Api::new(&server);
    let mut stream = api.open(&server.key, "", None).await;
    let stopping = tokio::task::spawn_blocking(move || server.terminate());
    let (status, _) = tokio::time::timeout(Duration::from_secs(60), stopping)
        .await
        .expect("serve still waits on the open stream")
        .unwrap();
    assert!(status.success());
    assert!(stream.next().await.is_none(), "the stream ended with the server");
}
