//! The search index and the audit history converge however their events arrive: every
//! archived event delivered twice, in a random order, to a fresh engine ends in the same
//! search results and the same history as the in-order delivery. And one write reaches both
//! through the running loops, as `taskstream serve` wires them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use std::sync::Arc;
use std::time::Duration;

use events_schema::events::TaskStatus;
use proptest::prelude::*;
use serde_json::{Value, json};
use shared_core::consumers::history::AuditHistory;
use shared_core::consumers::search::SearchIndexer;
use shared_core::domain::allowed_transitions;
use shared_core::pipeline::{InboundMessage, process_batch};
use support::Harness;

const WORDS: [&str; 6] = ["alpha", "beta", "gamma", "delta", "kafka", "redis"];
const PEOPLE: [&str; 3] = ["li", "maria", "sam"];
const TAGS: [&str; 2] = ["backend", "ops"];
const PRIORITIES: [&str; 4] = ["low", "medium", "high", "critical"];

#[derive(Debug, Clone)]
enum Op {
    Create { first: usize, second: usize, priority: usize, tag: Option<usize> },
    Update { task: usize, word: usize, status: usize, assignee: Option<usize>, priority: usize },
    Delete { task: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..WORDS.len(), 0..WORDS.len(), 0..PRIORITIES.len(), proptest::option::of(0..TAGS.len()))
            .prop_map(|(first, second, priority, tag)| Op::Create { first, second, priority, tag }),
        5 => (0..8usize, 0..WORDS.len(), 0..8usize, proptest::option::of(0..PEOPLE.len()), 0..PRIORITIES.len())
            .prop_map(|(task, word, status, assignee, priority)| Op::Update { task, word, status, assignee, priority }),
        1 => (0..8usize).prop_map(|task| Op::Delete { task }),
    ]
}

struct Live {
    id: String,
    version: u64,
    status: TaskStatus,
}

/// Applies the operations through the API; returns every task id and the ids still alive.
async fn write(h: &Harness, ops: &[Op]) -> (Vec<String>, Vec<String>) {
    let mut live: Vec<Live> = Vec::new();
    let mut all = Vec::new();
    for op in ops {
        match *op {
            Op::Create { first, second, priority, tag } => {
                let body = json!({
                    "title": format!("{} {}", WORDS[first], WORDS[second]),
                    "description": format!("about {}", WORDS[second]),
                    "priority": PRIORITIES[priority],
                    "tags": tag.map(|t| vec![TAGS[t]]).unwrap_or_default(),
                });
                let id = h.create(body).await["id"].as_str().unwrap().to_owned();
                all.push(id.clone());
                live.push(Live { id, version: 1, status: TaskStatus::Todo });
            }
            Op::Update { task, word, status, assignee, priority } if !live.is_empty() => {
                let n = live.len();
                let t = &mut live[task % n];
                let moves = allowed_transitions(t.status);
                let body = json!({
                    "version": t.version,
                    "title": format!("{} task", WORDS[word]),
                    "status": moves[status % moves.len()].as_str(),
                    "assignee": assignee.map(|a| PEOPLE[a]),
                    "priority": PRIORITIES[priority],
                });
                let reply = h.call("PUT", &format!("/tasks/{}", t.id), Some(body)).await;
                assert_eq!(reply.status, 200, "{}", reply.body);
                t.version = reply.body["data"]["version"].as_u64().unwrap();
                t.status = TaskStatus::parse(reply.body["data"]["status"].as_str().unwrap()).unwrap();
            }
            Op::Delete { task } if !live.is_empty() => {
                let n = live.len();
                let t = live.remove(task % n);
                let reply = h.call("DELETE", &format!("/tasks/{}?version={}", t.id, t.version), None).await;
                assert_eq!(reply.status, 204, "{}", reply.body);
            }
            Op::Update { .. } | Op::Delete { .. } => {}
        }
    }
    (all, live.into_iter().map(|l| l.id).collect())
}

fn archived_bodies(h: &Harness) -> Vec<String> {
    let conn = rusqlite::Connection::open(h.engine.db().path()).unwrap();
    let mut stmt = conn.prepare("SELECT body FROM archive ORDER BY seq").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Every body twice, in an order drawn from `seed` (Fisher–Yates over xorshift).
fn doubled_and_shuffled(bodies: &[String], seed: u64) -> Vec<InboundMessage> {
    let mut messages: Vec<InboundMessage> = bodies
        .iter()
        .chain(bodies)
        .enumerate()
        .map(|(i, body)| InboundMessage { id: i.to_string(), body: body.clone() })
        .collect();
    let mut state = seed | 1;
    for i in (1..messages.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = usize::try_from(state % (i as u64 + 1)).unwrap();
        messages.swap(i, j);
    }
    messages
}

/// What the API shows of the index: every page of several searches, facets and suggestions.
async fn views(h: &Harness) -> Vec<Value> {
    let mut paths = vec![
        "/search?facets=true&limit=100".to_owned(),
        "/search?status=todo&facets=true".to_owned(),
        "/search?tag=ops&facets=true".to_owned(),
        "/search?assignee=li".to_owned(),
        "/search?q=task&limit=2".to_owned(),
    ];
    for word in WORDS {
        paths.push(format!("/search?q={word}&facets=true"));
        paths.push(format!("/search/suggest?prefix={}&limit=20", &word[..2]));
    }
    let mut out = Vec::new();
    for path in paths {
        let reply = h.call("GET", &path, None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        out.push(json!({ "path": path, "body": reply.body }));
    }
    out
}

async fn converges(ops: Vec<Op>, seed: u64) {
    let original = Harness::new();
    let (all, alive) = write(&original, &ops).await;
    original.settle().await;

    let replica = Harness::new();
    let search = SearchIndexer::new(replica.engine.search_index());
    let history = AuditHistory::new(replica.engine.history_store());
    let messages = doubled_and_shuffled(&archived_bodies(&original), seed);
    for chunk in messages.chunks(5) {
        assert!(process_batch(&search, chunk).await.is_empty());
        assert!(process_batch(&history, chunk).await.is_empty());
    }

    // The in-order index holds exactly the tasks still alive...
    let everything = original.call("GET", "/search?limit=100", None).await;
    let mut found: Vec<String> =
        everything.body["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()).collect();
    let mut expected = alive.clone();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
    // ...at their latest version, as the store has them.
    for task in everything.body["data"].as_array().unwrap() {
        let stored = original.call("GET", &format!("/tasks/{}", task["id"].as_str().unwrap()), None).await;
        assert_eq!(&stored.body["data"], task);
    }

    // The shuffled, doubled delivery shows exactly the same.
    assert_eq!(views(&original).await, views(&replica).await);
    let (a, b) = (original.engine.history_store(), replica.engine.history_store());
    for id in &all {
        let expected = a.list("default", id).await.unwrap();
        assert!(!expected.is_empty());
        assert_eq!(expected, b.list("default", id).await.unwrap());
    }
}

proptest! {
    // Each case runs two engines end to end; a few dozen random histories cover the orders.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn search_and_history_converge_under_duplicated_shuffled_delivery(
        ops in proptest::collection::vec(op(), 1..16),
        seed in any::<u64>(),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(converges(ops, seed));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_write_reaches_history_and_search_through_the_running_loops() {
    let h = Harness::new();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let loops = vec![
        h.engine.spawn_router(stopped.clone()),
        h.engine.spawn_consumer(Arc::clone(&h.history), stopped.clone()).unwrap(),
        h.engine.spawn_consumer(Arc::clone(&h.search), stopped).unwrap(),
    ];
    let id = h.create(json!({"title": "Wire the indexer", "description": "end to end"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The loops run on their own: look until both views show the write. The timeout only
    // turns a hang into a failure; nothing here depends on how long the loops take.
    let (search, history) = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let search = h.call("GET", "/search?q=indexer", None).await;
            let history = h.call("GET", &format!("/tasks/{id}/history"), None).await;
            let shown = |r: &support::Reply| r.body["data"].as_array().is_some_and(|d| !d.is_empty());
            if shown(&search) && shown(&history) {
                return (search, history);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the write never reached both the history and the search index");

    assert_eq!(search.body["data"][0]["id"], id.as_str());
    assert_eq!(search.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(history.body["data"][0]["events"][0]["type"], "TaskCreated");
    assert_eq!(history.body["data"][0]["version"], 1);

    stop.send_replace(true);
    for handle in loops {
        handle.await.unwrap();
    }
}
