//! The search index over SQLite FTS5 (compiled into rusqlite's bundled SQLite).
//!
//! Four tables, created by this module on first use (`schema.sql` is the store's):
//! - `search_docs`: one row per indexed task: the fence version, the snapshot JSON and the
//!   columns filters and facets read;
//! - `search_text`: the FTS5 index over title, description and tags, its rowid the doc's;
//! - `search_suggestions`: the lower-cased suggestion inputs of each title (the title and
//!   its word tails, as `shared_core::ports::suggestion_inputs` defines them), range-scanned by prefix;
//! - `search_tombstones`: the version each task was removed at, so a late, older upsert
//!   cannot bring it back.
//!
//! The FTS5 index is shared by all tenants; every query joins it to `search_docs` and filters
//! by tenant, so no row of another tenant is returned or counted.

mod read;
#[cfg(test)]
mod tests;
mod write;

use std::sync::Arc;

use async_trait::async_trait;
use events_schema::events::TaskSnapshot;
use shared_core::ports::{SearchIndex, SearchQuery, SearchResults, StoreError};
use tokio::sync::OnceCell;

use crate::db::Db;
use crate::{EmbeddedError, batch_unit};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS search_docs (
    docid      INTEGER PRIMARY KEY,
    tenant     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    priority   TEXT    NOT NULL,
    assignee   TEXT,
    project_id TEXT,
    sprint_id  TEXT,
    body       TEXT    NOT NULL,
    UNIQUE (tenant, id)
);
-- Porter stemming over unicode61 without diacritics: 'Bugs' finds 'bug', 'résumé' finds 'resume'.
CREATE VIRTUAL TABLE IF NOT EXISTS search_text USING fts5(
    title, description, tags,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS search_suggestions (
    tenant TEXT    NOT NULL,
    input  TEXT    NOT NULL,
    docid  INTEGER NOT NULL,
    title  TEXT    NOT NULL,
    PRIMARY KEY (tenant, input, docid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_suggestions_by_doc ON search_suggestions (docid);
CREATE TABLE IF NOT EXISTS search_tombstones (
    tenant  TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
";

pub struct SqliteSearchIndex {
    db: Arc<Db>,
    schema: OnceCell<()>,
}

impl SqliteSearchIndex {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db, schema: OnceCell::new() }
    }

    /// Creates the tables once per instance, on first use, so building the index needs no
    /// blocking write and the store's schema file stays the store's.
    async fn ready(&self) -> Result<(), EmbeddedError> {
        self.schema
            .get_or_try_init(|| async {
                self.db.write(|tx| Ok(tx.execute_batch(SCHEMA)?)).await?;
                Ok::<_, EmbeddedError>(())
            })
            .await?;
        Ok(())
    }
}

impl SqliteSearchIndex {
    /// Writes at once, or, inside a consumer worker's batch, joins the batch's one write
    /// (see `batch_unit`): the index then commits with the batch's cursor move. The fence is
    /// checked when the staged write runs, in the batch's order, so a staged write answers
    /// `true` (taken) without knowing yet whether it was stale; only a debug line reads it.
    async fn write_or_stage(
        &self,
        write: impl FnOnce(&rusqlite::Connection) -> Result<bool, EmbeddedError> + Send + 'static,
    ) -> Result<bool, StoreError> {
        if batch_unit::active() {
            let staged: batch_unit::Staged = Box::new(move |tx| write(tx).map(drop));
            return batch_unit::stage_checked(staged).map(|()| true);
        }
        Ok(self.db.write(write).await?)
    }
}

#[async_trait]
impl SearchIndex for SqliteSearchIndex {
    async fn upsert(&self, tenant: &str, task: &TaskSnapshot, version: u64) -> Result<bool, StoreError> {
        self.ready().await?;
        let (tenant, task) = (tenant.to_owned(), task.clone());
        self.write_or_stage(move |tx| write::upsert(tx, &tenant, &task, version)).await
    }

    async fn remove(&self, tenant: &str, task_id: &str, version: u64) -> Result<bool, StoreError> {
        self.ready().await?;
        let (tenant, id) = (tenant.to_owned(), task_id.to_owned());
        self.write_or_stage(move |tx| write::remove(tx, &tenant, &id, version)).await
    }

    async fn search(&self, tenant: &str, query: &SearchQuery) -> Result<SearchResults, StoreError> {
        self.ready().await?;
        let (tenant, query) = (tenant.to_owned(), query.clone());
        Ok(self.db.read(move |conn| read::search(conn, &tenant, &query)).await?)
    }

    async fn suggest(&self, tenant: &str, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        self.ready().await?;
        let (tenant, prefix) = (tenant.to_owned(), prefix.to_owned());
        Ok(self.db.read(move |conn| read::suggest(conn, &tenant, &prefix, limit)).await?)
    }
}
