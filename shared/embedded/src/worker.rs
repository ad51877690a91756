//! A consumer's worker: reads the archive past its cursor (and its due retries), drives the
//! core's consumer pipeline over the batch, the same code a Lambda runs on an SQS batch, and
//! settles the batch in the same write as the effects its stores could hold back for it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::Connection;
use shared_core::pipeline::{Consumer, InboundMessage, MessageFailure, process_batch};
use tokio::sync::watch;

use crate::db::Db;
use crate::operate::replay;
use crate::{EmbeddedError, EngineConfig, batch_unit, queue};

/// How long a worker waits before reading again after the store failed (a full disk, say):
/// short, so the batch comes back promptly once the store works again.
const STORE_RETRY: Duration = Duration::from_millis(250);

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
        let wait = match drain_once(&db, consumer.as_ref(), &config).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => config.idle_poll,
            Err(e) => {
                tracing::error!(consumer = name, error = %e, "the store is unavailable; the batch will be read again");
                STORE_RETRY
            }
        };
        tokio::select! {
            _ = signal.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!(consumer = name, "consumer stopped");
}

/// Reads one batch, applies it and settles it (see [`apply_and_settle`]); returns how much it
/// took (archive rows read plus retries), zero when there was nothing to do.
pub(crate) async fn drain_once(
    db: &Arc<Db>,
    consumer: &dyn Consumer,
    config: &EngineConfig,
) -> Result<usize, EmbeddedError> {
    let live = drain_live(db, consumer, config).await?;
    let replayed = drain_replay(db, consumer, config).await?;
    Ok(live + replayed)
}

/// One batch past the consumer's own cursor, and its due retries.
async fn drain_live(db: &Arc<Db>, consumer: &dyn Consumer, config: &EngineConfig) -> Result<usize, EmbeddedError> {
    let name = consumer.name();
    let qc = config.queue.clone();
    let mut batch = db.read(move |conn| queue::read_batch(conn, name, &qc)).await?;
    let taken = batch.taken();
    if taken == 0 {
        return Ok(0);
    }
    // The archived text is handed over as it is: decoded once, by the consumer pipeline.
    let inbound: Vec<InboundMessage> = batch
        .fresh
        .iter_mut()
        .chain(batch.retries.iter_mut())
        .map(|m| InboundMessage { id: m.seq.to_string(), body: std::mem::take(&mut m.body) })
        .collect();
    let qc = config.queue.clone();
    let settle: Settle = Arc::new(move |tx, failures| queue::settle(tx, name, &batch, failures, &qc));
    if !apply_and_settle(db, consumer, inbound, settle).await? {
        tracing::warn!(consumer = name, "another worker moved the cursor; the batch was applied twice, harmlessly");
    }
    Ok(taken)
}

/// Batches of the oldest replay feeding this consumer, if one is: read, applied (marked as
/// replayed) and settled like a live batch, each in a transaction of its own. Up to
/// [`REPLAY_RUN`] batches in a row, pipelined: while one batch's write commits on the
/// writer's thread, the next is read and decoded on this one. Each batch's write is queued
/// only once the one before it committed, so cursor moves stay in order.
pub(crate) async fn drain_replay(
    db: &Arc<Db>,
    consumer: &dyn Consumer,
    config: &EngineConfig,
) -> Result<usize, EmbeddedError> {
    let name = consumer.name();
    let limit = config.queue.batch_size;
    let Some(mut batch) = db.read(move |conn| replay::read_batch(conn, name, limit)).await? else { return Ok(0) };
    let (mut taken, mut committing) = (0, None);
    for run in 1..=REPLAY_RUN {
        let following = batch.following();
        let inbound: Vec<InboundMessage> = batch
            .events
            .iter_mut()
            .map(|m| InboundMessage { id: m.seq.to_string(), body: std::mem::take(&mut m.body) })
            .collect();
        // Never zero: a batch read moves the replay on even when it held nothing to apply.
        taken += inbound.len().max(1);
        let qc = config.queue.clone();
        let settle: Settle = Arc::new(move |tx, failures| replay::settle(tx, name, &batch, failures, &qc));
        let applied = apply(consumer, inbound, settle).await;
        let previous = match committing.take() {
            Some(previous) => finish(db, consumer, previous).await,
            None => Ok(true),
        };
        let applied = applied?;
        if !previous? {
            tracing::warn!(
                consumer = name,
                "another worker moved the replay's cursor; the batch was applied twice, harmlessly"
            );
            return Ok(taken);
        }
        committing = Some(queue_write(db, applied));
        let Some(head) = following.filter(|_| run < REPLAY_RUN) else { break };
        match db.read(move |conn| replay::read_following(conn, name, head, limit)).await {
            Ok(Some(next)) => batch = next,
            Ok(None) => break,
            Err(e) => {
                // The batch being written still counts; the next read starts from its cursor.
                if let Some(last) = committing.take() {
                    finish(db, consumer, last).await?;
                }
                return Err(e);
            }
        }
    }
    if let Some(last) = committing
        && !finish(db, consumer, last).await?
    {
        tracing::warn!(consumer = name, "another worker moved the replay's cursor; the batch was applied twice, harmlessly");
    }
    Ok(taken)
}

/// How many batches of one replay a worker takes in a row before it looks at its live
/// batches again: enough for the pipelining to pay, few enough that live events wait at
/// most a few batches' time behind a long replay.
const REPLAY_RUN: usize = 16;

/// Moves a batch's cursor and records its failures (archive position, reason); false when
/// another worker moved the cursor first.
type Settle = Arc<dyn Fn(&Connection, &[(i64, String)]) -> Result<bool, EmbeddedError> + Send + Sync>;

/// A batch applied through the consumer: what its stores staged and what to charge to its
/// events, not yet written.
struct Applied {
    inbound: Vec<InboundMessage>,
    staged: Vec<batch_unit::Staged>,
    failures: Vec<(i64, String)>,
    settle: Settle,
}

/// A batch whose write is queued: its staged effects and settlement as one writer job.
struct Committing {
    inbound: Vec<InboundMessage>,
    settle: Settle,
    refused: Arc<AtomicBool>,
    outcome: Pin<Box<dyn Future<Output = Result<bool, EmbeddedError>> + Send>>,
}

/// Applies a batch and settles it. The consumer's writes that its stores could stage (see
/// `batch_unit`) commit in the same write as the settlement: one savepoint, one commit, the
/// effects and the cursor move together or not at all. Should that write be refused for
/// what one record holds, the batch is applied again without staging, each event written
/// alone so that only the events at fault fail, and then settled on its own.
///
/// When an event fails because the store itself failed (unavailable: a full disk, an I/O
/// error), nothing of the batch is settled: the cursor stays, the batch is read again once
/// the store works, and no event is charged a failure that was not its own.
async fn apply_and_settle(
    db: &Arc<Db>,
    consumer: &dyn Consumer,
    inbound: Vec<InboundMessage>,
    settle: Settle,
) -> Result<bool, EmbeddedError> {
    let applied = apply(consumer, inbound, settle).await?;
    finish(db, consumer, queue_write(db, applied)).await
}

/// Runs the consumer over the batch with its stores' writes held back.
async fn apply(consumer: &dyn Consumer, inbound: Vec<InboundMessage>, settle: Settle) -> Result<Applied, EmbeddedError> {
    let (failures, staged) = batch_unit::collect(process_batch(consumer, &inbound)).await;
    let failures = charged(failures)?;
    Ok(Applied { inbound, staged, failures, settle })
}

/// Queues the batch's staged writes and its settlement as one writer job.
fn queue_write(db: &Db, applied: Applied) -> Committing {
    let Applied { inbound, staged, failures, settle } = applied;
    let refused = Arc::new(AtomicBool::new(false));
    let (flag, then_settle) = (Arc::clone(&refused), Arc::clone(&settle));
    let outcome = db.write_queued(move |tx| {
        for write in staged {
            write(tx).inspect_err(|e| flag.store(batch_unit::is_refusal(e), Ordering::Relaxed))?;
        }
        then_settle(tx, &failures)
    });
    Committing { inbound, settle, refused, outcome: Box::pin(outcome) }
}

/// Waits for a queued batch's write; when it was refused for a record's content, applies
/// the batch again event by event and settles it.
async fn finish(db: &Arc<Db>, consumer: &dyn Consumer, committing: Committing) -> Result<bool, EmbeddedError> {
    let Committing { inbound, settle, refused, outcome } = committing;
    match outcome.await {
        Err(e) if refused.load(Ordering::Relaxed) => {
            tracing::warn!(consumer = consumer.name(), error = %e, "the batch's writes were refused together; applying its events one by one");
            let failures = charged(process_batch(consumer, &inbound).await)?;
            db.write(move |tx| settle(tx, &failures)).await
        }
        outcome => outcome,
    }
}
/// The failures to record against their events, or the store's failure when the store
/// failed (the batch then comes back whole).
fn charged(failures: Vec<MessageFailure>) -> Result<Vec<(i64, String)>, EmbeddedError> {
    if let Some(f) = failures.iter().find(|f| f.unavailable) {
        return Err(EmbeddedError::Unavailable(f.reason.clone()));
    }
    Ok(failures.into_iter().filter_map(|f| f.id.parse().ok().map(|seq| (seq, f.reason))).collect())
}
