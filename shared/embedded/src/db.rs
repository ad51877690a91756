//! The SQLite database: one file in WAL mode, one writer connection and a few readers.
//!
//! SQLite calls block, so every call runs on tokio's blocking pool (`Db::read`/`Db::write`).
//! Writes go through one connection: SQLite admits one writer at a time anyway, and a
//! single writer never sees SQLITE_BUSY from itself.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::Notify;

use crate::EmbeddedError;

const SCHEMA: &str = include_str!("schema.sql");
const DB_FILE: &str = "taskstream.db";
const LOCK_FILE: &str = "taskstream.lock";
const MAX_IDLE_READERS: usize = 8;

pub struct Db {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Woken after a write appends to the change log.
    pub(crate) changes: Notify,
    /// Woken per queue after messages are enqueued.
    queue_signals: Mutex<HashMap<String, Arc<Notify>>>,
    /// Held for the life of the process: two processes on one data dir would each reset the
    /// other's in-flight messages.
    _lock: File,
}

impl Db {
    pub fn open(dir: &Path) -> Result<Arc<Self>, EmbeddedError> {
        std::fs::create_dir_all(dir).map_err(|e| EmbeddedError::DataDir(dir.to_owned(), e))?;
        let lock = File::create(dir.join(LOCK_FILE)).map_err(|e| EmbeddedError::DataDir(dir.to_owned(), e))?;
        lock.try_lock().map_err(|_| EmbeddedError::Locked(dir.to_owned()))?;

        let path = dir.join(DB_FILE);
        let writer = open_connection(&path, true)?;
        writer.execute_batch(SCHEMA)?;
        Ok(Arc::new(Self {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            changes: Notify::new(),
            queue_signals: Mutex::new(HashMap::new()),
            _lock: lock,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one IMMEDIATE transaction on the writer; commits when it returns `Ok`.
    pub fn write_blocking<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, EmbeddedError>,
    ) -> Result<T, EmbeddedError> {
        let mut conn = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }

    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, EmbeddedError>,
    ) -> Result<T, EmbeddedError> {
        let pooled = self.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.path, false)?,
        };
        let result = f(&conn);
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() < MAX_IDLE_READERS {
            readers.push(conn);
        }
        result
    }

    pub async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, EmbeddedError> + Send + 'static,
    ) -> Result<T, EmbeddedError> {
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || db.write_blocking(f)).await?
    }

    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, EmbeddedError> + Send + 'static,
    ) -> Result<T, EmbeddedError> {
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || db.read_blocking(f)).await?
    }

    pub(crate) fn queue_signal(&self, queue: &str) -> Arc<Notify> {
        let mut signals = self.queue_signals.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(signals.entry(queue.to_owned()).or_default())
    }
}

fn open_connection(path: &Path, writer: bool) -> Result<Connection, EmbeddedError> {
    let flags = if writer {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    if !writer {
        return Ok(conn);
    }
    // WAL lets readers run beside the writer; NORMAL sync is durable across process crashes
    // (a power cut may lose the last transactions, never corrupt the file).
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

pub fn now_ms() -> i64 {
    events_schema::Timestamp::now().unix_millis()
}
