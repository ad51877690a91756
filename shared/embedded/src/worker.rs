//! A consumer's worker: receives batches from its queue and drives the core's consumer
//! pipeline, the same code a Lambda runs on an SQS batch.

use std::sync::Arc;

use shared_core::pipeline::{Consumer, InboundMessage, process_batch};
use tokio::sync::watch;

use crate::db::Db;
use crate::{EmbeddedError, EngineConfig, queue};

pub(crate) async fn run(
    db: Arc<Db>,
    consumer: Arc<dyn Consumer>,
    config: EngineConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let name = consumer.name();
    let signal = db.queue_signal(name);
    tracing::info!(consumer = name, "consumer started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        match drain_once(&db, consumer.as_ref(), &config).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(consumer = name, error = %e, "queue unavailable; retrying"),
        }
        tokio::select! {
            _ = signal.notified() => {}
            _ = tokio::time::sleep(config.idle_poll) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!(consumer = name, "consumer stopped");
}

/// Receives one batch, applies it and settles every message; returns the batch size.
pub(crate) async fn drain_once(
    db: &Arc<Db>,
    consumer: &dyn Consumer,
    config: &EngineConfig,
) -> Result<usize, EmbeddedError> {
    let name = consumer.name();
    let qc = config.queue.clone();
    let batch = db.write(move |tx| queue::receive(tx, name, &qc)).await?;
    if batch.is_empty() {
        return Ok(0);
    }
    let inbound: Vec<InboundMessage> =
        batch.iter().map(|m| InboundMessage { id: m.id.to_string(), body: m.body.clone() }).collect();
    let failures = process_batch(consumer, &inbound).await;
    let qc = config.queue.clone();
    let size = batch.len();
    db.write(move |tx| {
        for message in &batch {
            let id = message.id.to_string();
            match failures.iter().find(|f| f.id == id) {
                Some(failure) => {
                    queue::fail(tx, name, message, &failure.reason, &qc)?;
                }
                None => queue::delete(tx, message.id)?,
            }
        }
        Ok(())
    })
    .await?;
    Ok(size)
}
