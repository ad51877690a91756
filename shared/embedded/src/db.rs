//! The SQLite database: one file in WAL mode, one writer connection and a few readers.
//!
//! SQLite admits one writer at a time, so writes go to one thread that owns the write
//! connection and commits them in groups: it takes every write queued behind the first (up
//! to a limit), runs each in its own savepoint inside one transaction, and answers each
//! caller only after that transaction commits. A refused write rolls back its savepoint
//! alone. Under load this turns thousands of commits a second into a few hundred, for the
//! API and the consumers alike; alone, a write commits at once. Reads run on tokio's
//! blocking pool over a small pool of read connections (WAL lets them run beside writes);
//! at most [`MAX_READERS`] at once, so a burst of reads waits for a pooled connection
//! instead of opening (and parsing the schema of) one connection per read.
//!
//! A storage fault (disk full, I/O error) fails the writes it touches and nothing else: the
//! writer thread lives on, and the next group commits once the disk works again.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{Notify, Semaphore, watch};

use crate::EmbeddedError;

const SCHEMA: &str = include_str!("schema.sql");
pub(crate) const DB_FILE: &str = "taskstream.db";
const LOCK_FILE: &str = "taskstream.lock";
/// How many reads run at once, each on its own pooled connection. A new connection parses
/// the whole schema on its first statement and starts with cold caches; with reads bounded
/// to the pool, each connection is opened once and then reused. Eight keeps a few cores busy
/// with index lookups; more would only queue on the CPU instead of here.
const MAX_READERS: usize = 8;

/// A queued write: runs on the writer thread (`None` when no transaction could be opened)
/// and returns whether it succeeded plus how to answer its caller once the outcome of the
/// commit is known.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Completion) + Send>;
type Completion = Box<dyn FnOnce(Result<(), StorageFault>) + Send>;

/// Why a group's transaction did not commit, kept apart so a caller can tell "retry later"
/// (a full disk, an I/O error, the writer gone) from "the file is damaged".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StorageFault {
    Unavailable(String),
    Corrupt(String),
}

impl StorageFault {
    pub(crate) fn of(err: &rusqlite::Error) -> Self {
        if is_corruption(err) { Self::Corrupt(err.to_string()) } else { Self::Unavailable(err.to_string()) }
    }
}

impl From<StorageFault> for EmbeddedError {
    fn from(fault: StorageFault) -> Self {
        match fault {
            StorageFault::Unavailable(m) => EmbeddedError::Unavailable(m),
            StorageFault::Corrupt(m) => EmbeddedError::Corrupt(m),
        }
    }
}

/// SQLite's own word that the file is damaged; every other failure of a healthy file (full,
/// I/O, read-only, busy) passes once the disk or the other process lets go.
pub(crate) fn is_corruption(err: &rusqlite::Error) -> bool {
    matches!(err.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase))
}

/// How a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL` with the write-ahead log: the log is synced on every commit, so an
    /// acknowledged write survives power loss as well as a crash of the process.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the log is synced only at checkpoints. A crash of the process
    /// loses nothing; power loss may lose the last commits (never corrupts the file).
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        }
    }
}

/// Writes grouped into one transaction at most.
const MAX_GROUP: usize = 256;

pub struct Db {
    path: PathBuf,
    /// `Sender` is `Sync`: every write queues through it without a lock.
    writer: std::sync::mpsc::Sender<Job>,
    readers: Mutex<Vec<Connection>>,
    /// One permit per pooled read connection: [`Db::read`] waits for one.
    read_slots: Arc<Semaphore>,
    /// Woken after a write appends to the change log.
    pub(crate) changes: Notify,
    /// Bumped after events are archived: live readers of the archive wait on it.
    archived: watch::Sender<u64>,
    /// Woken per queue after messages are enqueued.
    queue_signals: Mutex<HashMap<String, Arc<Notify>>>,
    /// Held for the life of the process: two processes on one data dir would each reset the
    /// other's in-flight messages.
    _lock: Option<File>,
    /// Dropped with the database, which ends its checkpointer thread.
    _checkpoints: std::sync::mpsc::Sender<()>,
}

impl Db {
    /// Opens with durable commits ([`Durability::Full`]).
    pub fn open(dir: &Path) -> Result<Arc<Self>, EmbeddedError> {
        Self::open_with(dir, Durability::Full)
    }

    pub fn open_with(dir: &Path, durability: Durability) -> Result<Arc<Self>, EmbeddedError> {
        let data_dir = |e| EmbeddedError::DataDir(dir.to_owned(), e);
        owner_only::create_dir(dir).map_err(data_dir)?;
        let lock = File::create(dir.join(LOCK_FILE)).map_err(data_dir)?;
        lock.try_lock().map_err(|_| EmbeddedError::Locked(dir.to_owned()))?;
        // The database holds webhook signing secrets and people's Slack URLs: the owner's
        // alone, and so are the WAL and shared-memory files SQLite makes with its mode.
        owner_only::restrict_database(&dir.join(DB_FILE)).map_err(data_dir)?;
        Self::start(dir, durability, Some(lock))
    }

    /// Opens an existing data directory without taking its lock, beside a `serve` that may
    /// hold it: for the operator's commands, whose few writes SQLite serialises with the
    /// server's. Nothing here resets what the server has in flight.
    pub fn open_beside(dir: &Path) -> Result<Arc<Self>, EmbeddedError> {
        if !dir.join(DB_FILE).is_file() {
            return Err(EmbeddedError::DataDir(
                dir.to_owned(),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no taskstream database here (start serve on it first)",
                ),
            ));
        }
        Self::start(dir, Durability::Full, None)
    }

    fn start(dir: &Path, durability: Durability, lock: Option<File>) -> Result<Arc<Self>, EmbeddedError> {
        let path = dir.join(DB_FILE);
        let writer = open_connection(&path, Some(durability))?;
        writer.execute_batch(SCHEMA)?;
        add_missing_columns(&writer)?;
        let checkpointer = open_connection(&path, Some(durability))?;
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("taskstream-sqlite-writer".into())
            .spawn(move || write_loop(writer, queue))
            .map_err(|e| EmbeddedError::DataDir(dir.to_owned(), e))?;
        let (checkpoints, stop) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("taskstream-sqlite-checkpointer".into())
            .spawn(move || checkpoint_loop(checkpointer, stop))
            .map_err(|e| EmbeddedError::DataDir(dir.to_owned(), e))?;
        Ok(Arc::new(Self {
            path,
            writer: jobs,
            readers: Mutex::new(Vec::new()),
            read_slots: Arc::new(Semaphore::new(MAX_READERS)),
            changes: Notify::new(),
            archived: watch::Sender::new(0),
            queue_signals: Mutex::new(HashMap::new()),
            _lock: lock,
            _checkpoints: checkpoints,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `f` for the writer thread; `reply` gets its result once its group commits.
    fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, EmbeddedError> + Send + 'static,
        reply: impl FnOnce(Result<T, EmbeddedError>) + Send + 'static,
    ) {
        let job: Job = Box::new(move |conn| {
            let result = match conn {
                Some(conn) => f(conn),
                None => Err(EmbeddedError::Unavailable("the write transaction could not begin".into())),
            };
            let ok = result.is_ok();
            let completion: Completion = Box::new(move |commit| {
                reply(match (result, commit) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(fault)) => Err(fault.into()),
                })
            });
            (ok, completion)
        });
        if let Err(std::sync::mpsc::SendError(job)) = self.writer.send(job) {
            // The writer thread is gone (it only stops when the process does).
            let (_, completion) = job(None);
            completion(Err(StorageFault::Unavailable("the writer has stopped".into())));
        }
    }

    /// Runs `f` as one write (atomic: all of it or none) and waits for its commit, blocking
    /// this thread. For start-up and tools; async code uses [`Db::write`].
    pub fn write_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, EmbeddedError> + Send + 'static,
    ) -> Result<T, EmbeddedError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.submit(f, move |result| {
            let _ = tx.send(result);
        });
        rx.recv().map_err(|_| EmbeddedError::Unavailable("the writer dropped a write".into()))?
    }

    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, EmbeddedError>,
    ) -> Result<T, EmbeddedError> {
        let pooled = self.readers.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_connection(&self.path, None)?,
        };
        let result = f(&conn);
        let mut readers = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if readers.len() < MAX_READERS {
            readers.push(conn);
        }
        result
    }

    /// Runs `f` as one write (atomic: all of it or none) and waits for its commit.
    pub async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, EmbeddedError> + Send + 'static,
    ) -> Result<T, EmbeddedError> {
        self.write_queued(f).await
    }

    /// Queues `f` for the writer at once and returns what waits for its outcome, so the
    /// caller can go on working while the write commits: a replay reads and decodes its next
    /// batch meanwhile. Writes run in the order they were queued.
    pub(crate) fn write_queued<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, EmbeddedError> + Send + 'static,
    ) -> impl Future<Output = Result<T, EmbeddedError>> + Send + 'static {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(f, move |result| {
            let _ = tx.send(result);
        });
        async move { rx.await.map_err(|_| EmbeddedError::Unavailable("the writer dropped a write".into()))? }
    }

    /// A point lookup (a row or a few, by an index): run on the calling task's own thread
    /// over a pooled connection rather than handed to the blocking pool. Such a read takes a
    /// few microseconds, less than the two thread wake-ups of a hand-off, and the commands,
    /// deliveries and consumers that make most reads make several each. Anything that may scan
    /// (lists, searches, exports) goes through [`Db::read`].
    pub async fn lookup<T>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, EmbeddedError>,
    ) -> Result<T, EmbeddedError> {
        let _slot = self
            .read_slots
            .acquire()
            .await
            .map_err(|_| EmbeddedError::Unavailable("the read pool is closed".into()))?;
        self.read_blocking(f)
    }

    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> Result<T, EmbeddedError> + Send + 'static,
    ) -> Result<T, EmbeddedError> {
        let slot = Arc::clone(&self.read_slots)
            .acquire_owned()
            .await
            .map_err(|_| EmbeddedError::Unavailable("the read pool is closed".into()))?;
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let result = db.read_blocking(f);
            drop(slot);
            result
        })
        .await?
    }

    /// Tells live readers of the archive that events were archived.
    pub(crate) fn note_archived(&self) {
        self.archived.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes whenever [`Db::note_archived`] is called.
    pub(crate) fn archived(&self) -> watch::Receiver<u64> {
        self.archived.subscribe()
    }

    pub(crate) fn queue_signal(&self, queue: &str) -> Arc<Notify> {
        let mut signals = self.queue_signals.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(signals.entry(queue.to_owned()).or_default())
    }
}

/// How often the checkpointer copies the write-ahead log back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Past this many pages in the write-ahead log (64 MiB of 4 KiB pages) the writer checkpoints
/// itself: a backstop for a checkpointer that cannot keep up, never the usual path.
const WRITER_CHECKPOINT_PAGES: i64 = 16_384;

/// The checkpointer thread: copies committed pages from the write-ahead log into the database
/// file, beside the writer rather than inside its commits. Left to SQLite, the commit that
/// takes the log past 1 000 pages does it, on the writer's thread, with the writes queued
/// behind it waiting: a backlog's drain spent an eighth of the writer's time there. A passive
/// checkpoint takes no lock a writer or a reader waits on; once it has copied the whole log,
/// the next commit starts the log over. Ends when the database is dropped.
fn checkpoint_loop(conn: Connection, stop: std::sync::mpsc::Receiver<()>) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            // A busy log or a full disk: the next round tries again, and the writer's own
            // backstop keeps the log bounded meanwhile.
            tracing::debug!(error = %e, "checkpoint skipped");
        }
    }
}

/// The writer thread: group commit, until every sender is gone.
fn write_loop(mut conn: Connection, queue: std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut completions = Vec::with_capacity(group.len());
        let commit = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(mut tx) => {
                let mut jobs = group.into_iter();
                let mut lost = None;
                for job in jobs.by_ref() {
                    match tx.savepoint() {
                        Ok(savepoint) => {
                            let (ok, completion) = job(Some(&savepoint));
                            // Dropping a savepoint rolls it back; a refused write leaves nothing.
                            if ok && let Err(e) = savepoint.commit() {
                                tracing::error!(error = %e, "savepoint release failed");
                            }
                            completions.push(completion);
                        }
                        Err(_) => completions.push(job(None).1),
                    }
                    // After a full disk or an I/O error SQLite may roll the whole transaction
                    // back: the writes before are gone too, and a later savepoint would open a
                    // transaction of its own that this one's commit no longer covers.
                    if tx.is_autocommit() {
                        lost = Some(StorageFault::Unavailable(
                            "the write transaction was rolled back after a storage error".into(),
                        ));
                        break;
                    }
                }
                completions.extend(jobs.map(|job| job(None).1));
                match lost {
                    Some(fault) => Err(fault),
                    None => tx.commit().map_err(|e| StorageFault::of(&e)),
                }
            }
            Err(e) => {
                completions.extend(group.into_iter().map(|job| job(None).1));
                Err(StorageFault::of(&e))
            }
        };
        if let Err(e) = &commit {
            tracing::error!(error = ?e, writes = completions.len(), "a write group failed to commit");
        }
        for completion in completions {
            completion(commit.clone());
        }
    }
}

/// Columns added to tables after they first shipped (`CREATE TABLE IF NOT EXISTS` leaves an
/// existing table as it is): retries and dead letters remember the replay that delivered an
/// event, so a retry of a replayed event is still a replayed delivery; the outbox keeps each
/// email and Slack notification's attempts, its next attempt and its last error.
fn add_missing_columns(conn: &Connection) -> Result<(), EmbeddedError> {
    for (table, column, declared) in [
        ("consumer_retries", "replay", "TEXT"),
        ("consumer_dead_letters", "replay", "TEXT"),
        ("notifications", "attempts", "INTEGER NOT NULL DEFAULT 0"),
        ("notifications", "next_attempt_ms", "INTEGER"),
        ("notifications", "last_error", "TEXT"),
        ("webhooks", "failing_since_ms", "INTEGER"),
        ("webhooks", "disabled_at", "TEXT"),
        ("webhooks", "disabled_reason", "TEXT"),
    ] {
        let has: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
            [table, column],
            |r| r.get(0),
        )?;
        if !has {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {declared}"))?;
        }
    }
    // Made here, after the columns it covers exist in a database from before them. Only
    // what still waits for a sender is indexed.
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS notifications_due ON notifications (next_attempt_ms)
         WHERE status = 'pending' AND channel != 'in_app'",
    )?;
    Ok(())
}

/// A read connection (`durability: None`) or the one write connection.
fn open_connection(path: &Path, durability: Option<Durability>) -> Result<Connection, EmbeddedError> {
    let flags = if durability.is_some() {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let Some(durability) = durability else { return Ok(conn) };
    // WAL lets readers run beside the writer; `synchronous` is a per-connection setting, and
    // only the writer's commits need it.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", durability.pragma())?;
    // A group's savepoints keep what they would roll back in memory, not in temporary files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The checkpointer thread keeps the log short; this is the backstop (see checkpoint_loop).
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
    // Once started over, the log is cut back to this size rather than kept at its peak.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(conn)
}

/// Files of the data directory that hold secrets are readable by their owner alone.
pub(crate) mod owner_only {
    use std::path::Path;

    /// Creates the directory (and missing parents) readable by its owner alone; a directory
    /// that exists keeps its mode (its secret files are closed on their own).
    pub(crate) fn create_dir(dir: &Path) -> std::io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)
    }

    /// Makes the database file exist with mode 0600 before SQLite opens it (SQLite gives its
    /// WAL and shared-memory files the database's mode), and narrows files a data directory
    /// from before already has.
    pub(crate) fn restrict_database(db: &Path) -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        drop(options.open(db)?);
        #[cfg(unix)]
        for suffix in ["", "-wal", "-shm"] {
            use std::os::unix::fs::PermissionsExt;
            let mut path = db.as_os_str().to_owned();
            path.push(suffix);
            match std::fs::metadata(&path) {
                Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

pub fn now_ms() -> i64 {
    events_schema::Timestamp::now().unix_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_data_directory_and_the_database_files_are_the_owners_alone() {
        use std::os::unix::fs::PermissionsExt;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let db = Db::open(&dir).unwrap();
        db.write(|tx| Ok(tx.execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)")?)).await.unwrap();
        assert_eq!(mode(&dir), 0o700);
        for file in [DB_FILE, "taskstream.db-wal", "taskstream.db-shm"] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        drop(db);
        // A data directory from before, readable by all, is narrowed on the next open.
        let old = parent.path().join("old");
        std::fs::create_dir(&old).unwrap();
        std::fs::write(old.join(DB_FILE), b"").unwrap();
        std::fs::set_permissions(old.join(DB_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(Db::open(&old).unwrap());
        assert_eq!(mode(&old.join(DB_FILE)), 0o600);
    }

    /// The mode the write connection really runs in, as SQLite reports it (2 = FULL, 1 = NORMAL).
    fn writer_synchronous(db: &Db) -> i64 {
        db.write_blocking(|c| Ok(c.pragma_query_value(None, "synchronous", |r| r.get(0))?)).unwrap()
    }

    #[test]
    fn commits_are_synced_on_every_commit_unless_asked_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        assert_eq!(writer_synchronous(&db), 2, "FULL by default");
        let journal: String =
            db.write_blocking(|c| Ok(c.pragma_query_value(None, "journal_mode", |r| r.get(0))?)).unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(Durability::default(), Durability::Full);
        drop(db);
        let db = Db::open_with(dir.path(), Durability::Normal).unwrap();
        assert_eq!(writer_synchronous(&db), 1, "NORMAL only when asked for");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_write_rolls_back_alone_within_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        db.write(|c| Ok(c.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY)")?)).await.unwrap();
        let writes: Vec<_> = (0..200i64)
            .map(|n| {
                let db = Arc::clone(&db);
                tokio::spawn(async move {
                    db.write(move |c| {
                        c.execute("INSERT INTO t (n) VALUES (?1)", [n])?;
                        // Odd writes fail after writing: their row must not survive.
                        if n % 2 == 1 { Err(EmbeddedError::Corrupt(format!("refused {n}"))) } else { Ok(n) }
                    })
                    .await
                })
            })
            .collect();
        let mut ok = 0;
        for w in writes {
            if w.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        let rows: i64 = db.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?)).await.unwrap();
        let odd: i64 =
            db.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM t WHERE n % 2 = 1", [], |r| r.get(0))?)).await.unwrap();
        assert_eq!((ok, rows, odd), (100, 100, 0));
    }
}
