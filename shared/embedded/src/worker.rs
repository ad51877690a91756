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

/// Reads, applies and settles the consumer's live batches, then its replay's (see
/// [`take_in_a_row`]); returns how much they took (archive rows read plus retries), zero when
/// there was nothing to do.
pub(crate) async fn drain_once(
    db: &Arc<Db>,
    consumer: &dyn Consumer,
    config: &EngineConfig,
) -> Result<usize, EmbeddedError> {
    let live = drain_live(db, consumer, config).await?;
    let replayed = drain_replay(db, consumer, config).await?;
    Ok(live + replayed)
}

/// Batches past the consumer's own cursor (the first with its due retries), in a row while
/// they come full (see [`take_in_a_row`]).
async fn drain_live(db: &Arc<Db>, consumer: &dyn Consumer, config: &EngineConfig) -> Result<usize, EmbeddedError> {
    let name = consumer.name();
    let qc = config.queue.clone();
    let batch = db.read(move |conn| queue::read_batch(conn, name, &qc)).await?;
    if batch.taken() == 0 {
        return Ok(0);
    }
    take_in_a_row(db, consumer, config, batch).await
}

/// Batches of the oldest replay feeding this consumer, if one is: read, applied (marked as
/// replayed) and settled like live batches (see [`take_in_a_row`]).
pub(crate) async fn drain_replay(
    db: &Arc<Db>,
    consumer: &dyn Consumer,
    config: &EngineConfig,
) -> Result<usize, EmbeddedError> {
    let name = consumer.name();
    let limit = config.queue.batch_size;
    let Some(batch) = db.read(move |conn| replay::read_batch(conn, name, limit)).await? else { return Ok(0) };
    take_in_a_row(db, consumer, config, batch).await
}

/// How many batches a worker takes in a row before it turns to its other source (live
/// batches or a replay): enough for the pipelining to pay on a backlog, few enough that
/// neither source waits more than a few batches' time behind the other.
const RUN: usize = 16;

/// A batch a worker reads, applies and settles, and the batch that follows it.
trait RunBatch: Sized + Send + Sync + 'static {
    /// Where the following batch starts, known before this one settles.
    type Following: Send + 'static;
    /// The messages to apply, taken out of the batch.
    fn inbound(&mut self) -> Vec<InboundMessage>;
    /// How much of the source the batch took (never zero for a batch read).
    fn taken(&self, inbound: usize) -> usize;
    fn following(&self) -> Option<Self::Following>;
    fn read_following(
        conn: &Connection,
        consumer: &'static str,
        from: Self::Following,
        config: &EngineConfig,
    ) -> Result<Option<Self>, EmbeddedError>;
    fn settle(
        &self,
        tx: &Connection,
        consumer: &'static str,
        failures: &[(i64, String)],
        config: &EngineConfig,
    ) -> Result<bool, EmbeddedError>;
}

/// The messages of read events, their archived text handed over as it is (taken, not
/// copied): decoded once, by the consumer pipeline.
fn inbound_of<'a>(events: impl Iterator<Item = &'a mut queue::Received>) -> Vec<InboundMessage> {
    events.map(|m| InboundMessage { id: m.seq.to_string(), body: std::mem::take(&mut m.body) }).collect()
}

impl RunBatch for queue::Batch {
    type Following = i64;

    fn inbound(&mut self) -> Vec<InboundMessage> {
        inbound_of(self.fresh.iter_mut().chain(self.retries.iter_mut()))
    }

    fn taken(&self, _: usize) -> usize {
        queue::Batch::taken(self)
    }

    fn following(&self) -> Option<i64> {
        queue::Batch::following(self)
    }

    fn read_following(
        conn: &Connection,
        consumer: &'static str,
        from: i64,
        config: &EngineConfig,
    ) -> Result<Option<Self>, EmbeddedError> {
        let batch = queue::read_following(conn, consumer, from, &config.queue)?;
        Ok((batch.taken() > 0).then_some(batch))
    }

    fn settle(
        &self,
        tx: &Connection,
        consumer: &'static str,
        failures: &[(i64, String)],
        config: &EngineConfig,
    ) -> Result<bool, EmbeddedError> {
        queue::settle(tx, consumer, self, failures, &config.queue)
    }
}

impl RunBatch for replay::ReplayBatch {
    type Following = replay::ReplayBatch;

    fn inbound(&mut self) -> Vec<InboundMessage> {
        inbound_of(self.events.iter_mut())
    }

    fn taken(&self, inbound: usize) -> usize {
        // Never zero: a batch read moves the replay on even when it held nothing to apply.
        inbound.max(1)
    }

    fn following(&self) -> Option<replay::ReplayBatch> {
        replay::ReplayBatch::following(self)
    }

    fn read_following(
        conn: &Connection,
        consumer: &'static str,
        from: replay::ReplayBatch,
        config: &EngineConfig,
    ) -> Result<Option<Self>, EmbeddedError> {
        replay::read_following(conn, consumer, from, config.queue.batch_size)
    }

    fn settle(
        &self,
        tx: &Connection,
        consumer: &'static str,
        failures: &[(i64, String)],
        config: &EngineConfig,
    ) -> Result<bool, EmbeddedError> {
        replay::settle(tx, consumer, self, failures, &config.queue)
    }
}

/// Applies and settles `batch` and the batches that follow it, up to [`RUN`] of them while
/// each is read full, pipelined in three stages on three threads: while one batch's write
/// commits on the writer's thread, the next is decoded and applied on this one and the one
/// after it read on a reader's. A batch's write is queued only once the one before
/// it committed, so the cursor moves stay in order (each settlement is also fenced on the
/// cursor its batch was read from). Returns how much the batches took.
///
/// The consumer's writes that its stores could stage (see `batch_unit`) commit in the same
/// write as their batch's settlement: one savepoint, one commit, the effects and the cursor
/// move together or not at all. Should that write be refused for what one record holds, the
/// batch is applied again without staging, each event written alone so that only the events
/// at fault fail, and then settled on its own. When an event fails because the store itself
/// failed (unavailable: a full disk, an I/O error), nothing of its batch is settled: the
/// cursor stays, the batch is read again once the store works, and no event is charged a
/// failure that was not its own.
async fn take_in_a_row<B: RunBatch>(
    db: &Arc<Db>,
    consumer: &dyn Consumer,
    config: &EngineConfig,
    mut batch: B,
) -> Result<usize, EmbeddedError> {
    let name = consumer.name();
    let (mut taken, mut committing) = (0, None);
    for run in 1..=RUN {
        // The next batch is read on a reader's thread while this one is decoded and applied
        // on this one, and the one before it commits on the writer's.
        let next = batch.following().filter(|_| run < RUN).map(|from| {
            let (db, config) = (Arc::clone(db), config.clone());
            tokio::spawn(async move { db.read(move |conn| B::read_following(conn, name, from, &config)).await })
        });
        let inbound = batch.inbound();
        taken += batch.taken(inbound.len());
        let config_ = config.clone();
        let settle: Settle = Arc::new(move |tx, failures| batch.settle(tx, name, failures, &config_));
        let applied = apply(consumer, inbound, settle).await;
        let previous = match committing.take() {
            Some(previous) => finish(db, consumer, previous).await,
            None => Ok(true),
        };
        let applied = applied?;
        if !previous? {
            tracing::warn!(consumer = name, "another worker moved the cursor; the batch was applied twice, harmlessly");
            return Ok(taken);
        }
        committing = Some(queue_write(db, applied));
        let Some(next) = next else { break };
        match next.await.map_err(EmbeddedError::from).and_then(|read| read) {
            Ok(Some(following)) => batch = following,
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
        tracing::warn!(consumer = name, "another worker moved the cursor; the batch was applied twice, harmlessly");
    }
    Ok(taken)
}

/// Moves a batch's cursor and records its failures (archive position, reason); false when
/// another worker moved the cursor first.
type Settle = Arc<dyn Fn(&Connection, &[(i64, String)]) -> Result<bool, EmbeddedError> + Send + Sync>;

/// A batch applied through the consumer: what its stores staged and what to charge to its
/// events, not yet written.
struct Applied {
    inbound: Vec<InboundMessage>,
    held: batch_unit::Held,
    failures: Vec<(i64, String)>,
    settle: Settle,
}

/// A batch whose write is queued: its staged effects and settlement as one writer job.
struct Committing {
    inbound: Vec<InboundMessage>,
    settle: Settle,
    refused: Arc<AtomicBool>,
    /// Whom to wake once the write committed.
    wakes: Vec<Arc<tokio::sync::Notify>>,
    outcome: Pin<Box<dyn Future<Output = Result<bool, EmbeddedError>> + Send>>,
}

/// Runs the consumer over the batch with its stores' writes held back.
async fn apply(
    consumer: &dyn Consumer,
    inbound: Vec<InboundMessage>,
    settle: Settle,
) -> Result<Applied, EmbeddedError> {
    let (failures, held) = batch_unit::collect(process_batch(consumer, &inbound)).await;
    let failures = charged(failures)?;
    Ok(Applied { inbound, held, failures, settle })
}

/// Queues the batch's staged writes and its settlement as one writer job.
fn queue_write(db: &Db, applied: Applied) -> Committing {
    let Applied { inbound, held, failures, settle } = applied;
    let batch_unit::Held { writes, wakes } = held;
    let refused = Arc::new(AtomicBool::new(false));
    let (flag, then_settle) = (Arc::clone(&refused), Arc::clone(&settle));
    let outcome = db.write_queued(move |tx| {
        for write in writes {
            write(tx).inspect_err(|e| flag.store(batch_unit::is_refusal(e), Ordering::Relaxed))?;
        }
        then_settle(tx, &failures)
    });
    Committing { inbound, settle, refused, wakes, outcome: Box::pin(outcome) }
}

/// Waits for a queued batch's write; when it was refused for a record's content, applies
/// the batch again event by event and settles it.
async fn finish(db: &Arc<Db>, consumer: &dyn Consumer, committing: Committing) -> Result<bool, EmbeddedError> {
    let Committing { inbound, settle, refused, wakes, outcome } = committing;
    match outcome.await {
        Ok(settled) => {
            for wake in wakes {
                wake.notify_one();
            }
            Ok(settled)
        }
        Err(e) if refused.load(Ordering::Relaxed) => {
            // Applied again unstaged, the stores write and wake at once.
            tracing::warn!(consumer = consumer.name(), error = %e, "the batch's writes were refused together; applying its events one by one");
            let failures = charged(process_batch(consumer, &inbound).await)?;
            db.write(move |tx| settle(tx, &failures)).await
        }
        Err(e) => Err(e),
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
