//! How far the pipeline has got: the router's position in the change log, each consumer's
//! backlog, and the age of the oldest change some stage has not finished. `serve --max-lag`
//! and `taskstream bench pipeline` read the same figures; the bench reads them from another
//! process over a read-only connection, so nothing here takes the data directory's lock.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use crate::EmbeddedError;
use crate::db::{DB_FILE, now_ms};

/// One look at the pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// When the look was taken (Unix milliseconds).
    pub at_ms: i64,
    /// The last change record written, by sequence number.
    pub changes: i64,
    /// The last change record the router has taken.
    pub routed: i64,
    /// Events archived so far.
    pub archived: i64,
    /// Age of the oldest change the router has not taken, in milliseconds.
    pub router_oldest_age_ms: Option<i64>,
    pub consumers: Vec<ConsumerProgress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerProgress {
    pub name: String,
    /// Archived events past this consumer's cursor (it has yet to read them; those the
    /// routing table does not send it, it steps over).
    pub pending: i64,
    /// Age of the change behind the first event past the cursor, in milliseconds.
    pub oldest_age_ms: Option<i64>,
    /// Failed events waiting for another attempt (not counted in the age: a poison event
    /// must not hold up the pipeline's measure of lag).
    pub retrying: i64,
    pub dead: i64,
}

impl Progress {
    /// The age of the oldest change that some stage (the router or a consumer) has not
    /// finished; `None` when every stage is idle.
    pub fn oldest_age_ms(&self) -> Option<i64> {
        self.consumers.iter().map(|c| c.oldest_age_ms).chain([self.router_oldest_age_ms]).flatten().max()
    }

    /// Whether every stage has caught up with every change written.
    pub fn idle(&self) -> bool {
        self.routed >= self.changes && self.consumers.iter().all(|c| c.pending == 0)
    }
}

/// A read-only view of a data directory that another process may be serving.
pub struct Observer {
    conn: Connection,
}

impl Observer {
    pub fn open(dir: &Path) -> Result<Self, EmbeddedError> {
        let conn = Connection::open_with_flags(
            dir.join(DB_FILE),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Self { conn })
    }

    pub fn progress(&self) -> Result<Progress, EmbeddedError> {
        read(&self.conn)
    }

    /// How many archived events each registered consumer is subscribed to, by the routing
    /// table: what each one has to apply once it is idle.
    pub fn routed_per_consumer(&self) -> Result<Vec<(String, i64)>, EmbeddedError> {
        let mut by_type = self.conn.prepare("SELECT detail_type, COUNT(*) FROM archive GROUP BY detail_type")?;
        let counts: Vec<(String, i64)> =
            by_type.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(consumer_names(&self.conn)?
            .into_iter()
            .map(|name| {
                let n = counts
                    .iter()
                    .filter(|(t, _)| events_schema::routing::consumers_of(t).any(|c| c == name))
                    .map(|(_, n)| n)
                    .sum();
                (name, n)
            })
            .collect())
    }
}

fn consumer_names(conn: &Connection) -> Result<Vec<String>, EmbeddedError> {
    let mut stmt = conn.prepare_cached("SELECT name FROM consumer_cursors ORDER BY name")?;
    let names = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(names)
}

fn age_of(now: i64, at: Option<String>) -> Option<i64> {
    let at = events_schema::Timestamp::parse(&at?).ok()?;
    Some((now - at.unix_millis()).max(0))
}

pub(crate) fn read(conn: &Connection) -> Result<Progress, EmbeddedError> {
    // One snapshot, so the stages' positions are seen at one instant.
    let snapshot = conn.unchecked_transaction()?;
    let progress = read_in(&snapshot)?;
    snapshot.finish()?;
    Ok(progress)
}

fn read_in(conn: &Connection) -> Result<Progress, EmbeddedError> {
    let now = now_ms();
    let changes: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM change_log", [], |r| r.get(0))?;
    let routed: i64 = conn
        .prepare_cached("SELECT seq FROM cursors WHERE name = 'router'")?
        .query_row([], |r| r.get(0))
        .optional()?
        .unwrap_or(0);
    let archived: i64 = conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM archive", [], |r| r.get(0))?;
    let router_oldest: Option<String> = conn
        .prepare_cached("SELECT at FROM change_log WHERE seq > ?1 ORDER BY seq LIMIT 1")?
        .query_row([routed], |r| r.get(0))
        .optional()?;
    let mut consumers = Vec::new();
    let cursors: Vec<(String, i64)> = conn
        .prepare_cached("SELECT name, seq FROM consumer_cursors ORDER BY name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (name, cursor) in cursors {
        // The first event past the cursor is the oldest this consumer has not read past.
        let oldest: Option<String> = conn
            .prepare_cached("SELECT occurred_at FROM archive WHERE seq > ?1 ORDER BY seq LIMIT 1")?
            .query_row([cursor], |r| r.get(0))
            .optional()?;
        let retrying: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM consumer_retries WHERE consumer = ?1")?
            .query_row([&name], |r| r.get(0))?;
        let dead: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM consumer_dead_letters WHERE consumer = ?1")?
            .query_row([&name], |r| r.get(0))?;
        consumers.push(ConsumerProgress {
            oldest_age_ms: age_of(now, oldest),
            pending: (archived - cursor).max(0),
            retrying,
            name,
            dead,
        });
    }
    Ok(Progress { at_ms: now, changes, routed, archived, router_oldest_age_ms: age_of(now, router_oldest), consumers })
}
