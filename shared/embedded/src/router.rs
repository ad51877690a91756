//! The embedded router: reads the change log in commit order, derives events and publishes
//! them, advancing its cursor in the same transaction, so each record is routed exactly once
//! even across crashes. A record that cannot be derived is parked whole with the reason and
//! never blocks the ones behind it.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use shared_core::ports::Aggregate;
use shared_core::{ChangeRecord, derive};
use tokio::sync::watch;

use crate::bus::ArchiveRow;
use crate::db::{Db, now_ms};
use crate::{EmbeddedError, EngineConfig};

const CURSOR: &str = "router";

pub(crate) async fn run(db: Arc<Db>, config: EngineConfig, mut shutdown: watch::Receiver<bool>) {
    tracing::info!("router started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        match route_batch(&db, config.router_batch).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "routing failed; retrying"),
        }
        tokio::select! {
            _ = db.changes.notified() => {}
            _ = tokio::time::sleep(config.idle_poll) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!("router stopped");
}

/// How many batches the router takes in a row while they come full, each read and derived
/// while the one before it is written.
const RUN: usize = 16;

/// Routes up to `limit` records, and the batches after them while each comes full (up to
/// [`RUN`] batches); returns how many records it took.
///
/// The records are read and their events derived and encoded on a reader, beside the
/// writer; the writer only inserts the rows and moves the cursor, after checking that the
/// cursor is still where the read found it (a second router, `taskstream route` beside
/// `serve`, may have moved it: then nothing is written and the next read starts after it).
/// The next batch is read from where the one being written will leave the cursor, and its
/// write is queued only once that one committed.
pub(crate) async fn route_batch(db: &Arc<Db>, limit: usize) -> Result<usize, EmbeddedError> {
    let Some(mut batch) = db.read(move |conn| derive_batch(conn, None, limit)).await? else { return Ok(0) };
    let (mut taken, mut writing) = (0, None);
    for run in 1..=RUN {
        let (full, last) = (batch.records.len() >= limit, batch.last);
        taken += batch.records.len();
        if let Some(previous) = writing.take()
            && !archived(db, previous).await?
        {
            return Ok(taken);
        }
        let consumers = batch.consumers.clone();
        let write: Pending = Box::pin(db.write_queued(move |tx| write_batch(tx, &batch)));
        writing = Some((write, consumers));
        if !full || run == RUN {
            break;
        }
        match db.read(move |conn| derive_batch(conn, Some(last), limit)).await {
            Ok(Some(next)) => batch = next,
            Ok(None) => break,
            Err(e) => {
                if let Some(previous) = writing.take() {
                    archived(db, previous).await?;
                }
                return Err(e);
            }
        }
    }
    if let Some(previous) = writing {
        archived(db, previous).await?;
    }
    Ok(taken)
}

/// A batch's queued write: true once archived, false when the cursor had moved.
type Pending = std::pin::Pin<Box<dyn Future<Output = Result<bool, EmbeddedError>> + Send>>;

/// A batch's queued write, and the consumers its events go to.
type Writing = (Pending, Vec<&'static str>);

/// Waits for a batch's write and wakes its consumers; false when another router had moved
/// the cursor (nothing was written).
async fn archived(db: &Db, (write, consumers): Writing) -> Result<bool, EmbeddedError> {
    if !write.await? {
        tracing::debug!("another router moved the cursor; reading again");
        return Ok(false);
    }
    db.note_archived();
    for consumer in consumers {
        db.queue_signal(consumer).notify_one();
    }
    Ok(true)
}

/// A batch of change records past the router's cursor, each with its encoded events or
/// the reason it derives none.
struct Derived {
    cursor: i64,
    last: i64,
    records: Vec<(i64, Result<Vec<ArchiveRow>, String>)>,
    consumers: Vec<&'static str>,
}

fn cursor(conn: &Connection) -> Result<i64, EmbeddedError> {
    Ok(conn
        .prepare_cached("SELECT seq FROM cursors WHERE name = ?1")?
        .query_row([CURSOR], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// The records past `after` (by default the router's cursor), derived and encoded.
fn derive_batch(conn: &Connection, after: Option<i64>, limit: usize) -> Result<Option<Derived>, EmbeddedError> {
    let cursor = match after {
        Some(after) => after,
        None => cursor(conn)?,
    };
    // Each record is derived as it is read: only its encoded events are kept, never a
    // batch's worth of decoded records (a batch of those is large enough that growing it
    // went to fresh pages from the kernel every time).
    let mut consumers: Vec<&'static str> = Vec::new();
    let mut records = Vec::with_capacity(limit.min(4096));
    let mut stmt = conn.prepare_cached(
        "SELECT seq, tenant, aggregate_type, aggregate_id, aggregate_version, at, correlation_id, actor, old_image, new_image
         FROM change_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![cursor, i64::try_from(limit).unwrap_or(256)])?;
    while let Some(row) = rows.next()? {
        let seq: i64 = row.get(0)?;
        let encoded = RawRecord::from_row(row)?
            .decode()
            .and_then(|r| derive(r).map_err(|e| e.to_string()))
            .and_then(|events| crate::bus::encode(&events, &mut consumers));
        records.push((seq, encoded));
    }
    let Some(&(last, _)) = records.last() else { return Ok(None) };
    Ok(Some(Derived { cursor, last, records, consumers }))
}

/// Archives a derived batch and moves the cursor past it, unless the cursor moved since
/// the batch was read (then it writes nothing and says so).
fn write_batch(tx: &Connection, batch: &Derived) -> Result<bool, EmbeddedError> {
    if cursor(tx)? != batch.cursor {
        return Ok(false);
    }
    for (seq, encoded) in &batch.records {
        match encoded {
            Ok(rows) => crate::bus::archive(tx, rows)?,
            Err(reason) => park(tx, *seq, reason)?,
        }
    }
    tx.prepare_cached(
        "INSERT INTO cursors (name, seq) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
    )?
    .execute(params![CURSOR, batch.last])?;
    Ok(true)
}

/// The change log row as stored, before its text columns are trusted.
pub(crate) struct RawRecord {
    pub tenant: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub aggregate_version: u64,
    pub at: String,
    pub correlation_id: String,
    pub actor: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl RawRecord {
    /// From the columns `seq, tenant, aggregate_type, aggregate_id, aggregate_version, at,
    /// correlation_id, actor, old_image, new_image` of the change log, in that order.
    pub(crate) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            tenant: r.get(1)?,
            aggregate_type: r.get(2)?,
            aggregate_id: r.get(3)?,
            aggregate_version: r.get(4)?,
            at: r.get(5)?,
            correlation_id: r.get(6)?,
            actor: r.get(7)?,
            old: r.get(8)?,
            new: r.get(9)?,
        })
    }

    pub(crate) fn decode(self) -> Result<ChangeRecord, String> {
        let aggregate_type = events_schema::AggregateType::parse(&self.aggregate_type)
            .ok_or_else(|| format!("unknown aggregate type {:?}", self.aggregate_type))?;
        let image = |which: &str, text: Option<String>| -> Result<Option<Aggregate>, String> {
            text.map(|t| {
                let mut json = serde_json::Deserializer::from_str(&t);
                Aggregate::deserialize_as(aggregate_type, &mut json)
                    .and_then(|image| json.end().map(|()| image))
                    .map_err(|e| format!("the {which} image is not a {} snapshot: {e}", aggregate_type.as_str()))
            })
            .transpose()
        };
        Ok(ChangeRecord {
            aggregate_type,
            at: events_schema::Timestamp::parse(&self.at).map_err(|e| format!("bad timestamp {:?}: {e}", self.at))?,
            old: image("old", self.old)?,
            new: image("new", self.new)?,
            tenant: self.tenant,
            aggregate_id: self.aggregate_id,
            aggregate_version: self.aggregate_version,
            correlation_id: self.correlation_id,
            actor: self.actor,
        })
    }
}

/// A record routed again: how many events, and the consumers they go to; or why it still
/// cannot be derived.
pub(crate) type Rerouted = Result<(usize, Vec<&'static str>), String>;

/// Derives and publishes the events of change record `seq` again, as [`route_batch`] does (a
/// parked record, redriven after a fix). The bus keeps one copy per event id, so a record
/// routed twice publishes its events once.
pub(crate) fn reroute(tx: &Connection, seq: i64) -> Result<Rerouted, EmbeddedError> {
    let raw = tx
        .prepare_cached(
            "SELECT seq, tenant, aggregate_type, aggregate_id, aggregate_version, at, correlation_id, actor, old_image, new_image
             FROM change_log WHERE seq = ?1",
        )?
        .query_row([seq], RawRecord::from_row)
        .optional()?;
    let Some(raw) = raw else { return Ok(Err(format!("change record {seq} is no longer in the change log"))) };
    let mut consumers = Vec::new();
    let encoded = raw
        .decode()
        .and_then(|r| derive(r).map_err(|e| e.to_string()))
        .and_then(|events| crate::bus::encode(&events, &mut consumers));
    match encoded {
        Ok(rows) => {
            crate::bus::archive(tx, &rows)?;
            Ok(Ok((rows.len(), consumers)))
        }
        Err(reason) => Ok(Err(reason)),
    }
}

fn park(tx: &Connection, seq: i64, reason: &str) -> Result<(), EmbeddedError> {
    tracing::error!(seq, %reason, "change record parked: it derives no events");
    // The whole row, as JSON, so it can be inspected and re-driven after a fix.
    let record: String = tx.query_row(
        "SELECT json_object('seq', seq, 'tenant', tenant, 'aggregateType', aggregate_type, 'aggregateId', aggregate_id,
                'aggregateVersion', aggregate_version, 'at', at, 'correlationId', correlation_id, 'actor', actor,
                'old', old_image, 'new', new_image)
         FROM change_log WHERE seq = ?1",
        [seq],
        |r| r.get(0),
    )?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO router_dead_letters (seq, record, reason, parked_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![seq, record, reason, now_ms()])?;
    Ok(())
}

pub(crate) fn parked(conn: &rusqlite::Connection) -> Result<Vec<(i64, String)>, EmbeddedError> {
    let mut stmt = conn.prepare("SELECT seq, reason FROM router_dead_letters ORDER BY seq")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    Ok(rows)
}
