//! `taskstream bench webhooks`: how many signed webhook deliveries `serve`'s dispatcher sends
//! and settles per second, to a receiver on the same machine.
//!
//! The outbox of a fresh data directory is filled with recorded deliveries (envelopes of the
//! size the bus carries, spread over several subscriptions), then the dispatcher and HTTP
//! sender `serve` uses send them all: each one read from SQLite, signed (HMAC-SHA256), POSTed
//! over HTTP/1.1 keep-alive to a local receiver that answers 204, and settled back in SQLite.
//! The receiver shares the machine's cores. Recording the deliveries (the notifier's part) is
//! not timed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use events_schema::Timestamp;
use shared_core::webhooks::dispatch::Dispatcher;
use shared_core::webhooks::retry::RetrySchedule;
use shared_core::webhooks::{NewDelivery, SubscriptionSpec, delivery_id};
use shared_embedded::{Engine, EngineConfig};
use uuid::Uuid;

use shared_aws::http_sender::HttpSender;

#[derive(clap::Args)]
pub struct WebhookBenchArgs {
    /// Deliveries to send in all (spread evenly over the subscriptions).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    deliveries: u64,
    /// Subscriptions the deliveries are spread over.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1000))]
    subscriptions: u64,
    /// Deliveries the dispatcher takes per round (all of a round are in flight at once).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=4096))]
    batch: u64,
}

/// An envelope as the bus carries a `TaskAssigned`, with its own event id.
fn envelope(event_id: &Uuid, n: u64) -> String {
    serde_json::json!({
        "eventId": event_id,
        "eventType": "TaskAssigned",
        "schemaVersion": 1,
        "occurredAt": "2026-01-01T00:00:00.000Z",
        "tenant": "bench",
        "aggregateType": "task",
        "aggregateId": format!("0195f0e4-7c3a-7000-8000-{n:012}"),
        "aggregateVersion": 2,
        "correlationId": format!("bench-{n}"),
        "actor": "maria",
        "data": {"previousAssignee": null, "assignee": "li", "task": {
            "id": format!("0195f0e4-7c3a-7000-8000-{n:012}"), "title": format!("Task number {n}"),
            "description": "Measure the webhook dispatcher.", "status": "todo", "priority": "medium",
            "assignee": "li", "reporter": "rita", "tags": ["bench"], "version": 2,
            "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"}}
    })
    .to_string()
}

/// A receiver that answers every POST with 204 and counts them.
async fn receiver() -> anyhow::Result<(String, Arc<AtomicU64>)> {
    let count = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&count);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let counted = Arc::clone(&counted);
            async move {
                counted.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the bench receiver stopped");
        }
    });
    Ok((url, count))
}

pub async fn run(args: WebhookBenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("taskstream-bench-webhooks-{}", Uuid::new_v4()));
    let engine = Engine::open(&dir, EngineConfig::default()).with_context(|| format!("opening {}", dir.display()))?;
    let store = engine.webhook_store();
    let (url, received) = receiver().await?;

    let spec = SubscriptionSpec { url, event_types: vec!["TaskAssigned".into()], active: true };
    let mut webhooks = Vec::new();
    for _ in 0..args.subscriptions {
        webhooks.push(store.create("bench", &spec).await?.id);
    }
    let mut batch = Vec::new();
    let mut recorded = 0;
    for n in 0..args.deliveries {
        let webhook_id = webhooks[usize::try_from(n % args.subscriptions).unwrap_or(0)];
        let event_id = Uuid::now_v7();
        batch.push(NewDelivery {
            id: delivery_id(&event_id, &webhook_id),
            tenant: "bench".into(),
            webhook_id,
            event_id,
            event_type: "TaskAssigned".into(),
            body: envelope(&event_id, n),
        });
        if batch.len() == 1000 || n + 1 == args.deliveries {
            recorded += store.enqueue(&batch).await?;
            batch.clear();
        }
    }
    let body_bytes = envelope(&Uuid::nil(), 0).len();

    let sender = HttpSender::new(Duration::from_secs(10), true)?;
    let dispatcher = Dispatcher::new(Arc::clone(&store), Arc::new(sender), RetrySchedule::default())
        .with_batch(usize::try_from(args.batch).unwrap_or(128));
    let started = Instant::now();
    let mut attempted = 0;
    loop {
        let n = dispatcher.round().await?;
        if n == 0 {
            break;
        }
        attempted += n;
    }
    let elapsed = started.elapsed();
    let got = received.load(Ordering::Relaxed);
    let pending = store.due(Timestamp::now(), 1).await?.len();
    let per_second = attempted as f64 / elapsed.as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "deliveries": recorded,
            "subscriptions": args.subscriptions,
            "batch": args.batch,
            "bodyBytes": body_bytes,
            "attempted": attempted,
            "receiverGot": got,
            "pendingAfter": pending,
            "seconds": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "deliveriesPerSecond": per_second.round(),
        })
    );
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(got == attempted as u64 && pending == 0, "not every delivery reached the receiver");
    Ok(())
}
