//! [`EventFeed`] over the archive table. The positions are its `seq`: one writer assigns
//! them in commit order and AUTOINCREMENT never reuses one, so once the archive's last
//! position is `h`, every event at or below `h` is committed and no later commit lands
//! below it. A reader that has seen everything up to `h` therefore never looks there again.
//!
//! An archived body that is not an EventBridge event with a `detail` object (the archive
//! takes what the bus was given) is sent as what the row's own columns say, marked
//! `"unreadable": true`, rather than failing every read that passes it.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::params;
use shared_core::ports::{EventFeed, FeedEvent, FeedFilter, FeedPage, MAX_FEED_BATCH, StoreError};
use tokio::sync::watch;

use crate::db::Db;

pub(crate) struct SqliteEventFeed {
    db: Arc<Db>,
}

impl SqliteEventFeed {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

fn head(conn: &rusqlite::Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM archive", [], |r| r.get(0))
}

#[async_trait]
impl EventFeed for SqliteEventFeed {
    async fn after(
        &self,
        tenant: &str,
        position: i64,
        filter: &FeedFilter,
        limit: usize,
    ) -> Result<FeedPage, StoreError> {
        let tenant = tenant.to_owned();
        // JSON text of the wanted types: one bound parameter however many there are.
        let types = if filter.types.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&filter.types).map_err(|e| StoreError::Unavailable(e.to_string()))?)
        };
        let task = filter.task_id.clone();
        let limit = limit.clamp(1, MAX_FEED_BATCH);
        let read = self.db.read(move |conn| {
            let head = head(conn)?;
            // The primary key walks forward from `position` up to the head read above; the
            // tenant and the filters are checked on the rows it passes.
            let mut stmt = conn.prepare_cached(
                "SELECT seq, detail_type,
                        COALESCE(CASE WHEN json_valid(body) THEN
                                     CASE WHEN json_type(body, '$.detail') = 'object' THEN json_extract(body, '$.detail') END
                                 END,
                                 json_object('eventId', event_id, 'eventType', detail_type, 'tenant', tenant,
                                             'occurredAt', occurred_at, 'unreadable', json('true')))
                 FROM archive
                 WHERE seq > ?1 AND seq <= ?2 AND tenant = ?3
                   AND (?4 IS NULL OR detail_type IN (SELECT value FROM json_each(?4)))
                   AND (?5 IS NULL OR ?5 IN (CASE WHEN json_valid(body) THEN json_extract(body, '$.detail.aggregateId') END,
                                            CASE WHEN json_valid(body) THEN json_extract(body, '$.detail.data.comment.taskId') END))
                 ORDER BY seq LIMIT ?6",
            )?;
            let events = stmt
                .query_map(params![position, head, tenant, types, task, i64::try_from(limit).unwrap_or(1)], |r| {
                    Ok(FeedEvent { position: r.get(0)?, event_type: r.get(1)?, envelope: r.get(2)? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            // A full page may stop short of the head; otherwise everything up to it was seen.
            let through = match events.last() {
                Some(last) if events.len() == limit => last.position,
                _ => head.max(position),
            };
            Ok(FeedPage { events, through })
        });
        Ok(read.await.map_err(StoreError::from)?)
    }

    async fn head(&self) -> Result<i64, StoreError> {
        Ok(self.db.read(|conn| Ok(head(conn)?)).await.map_err(StoreError::from)?)
    }

    fn archived(&self) -> watch::Receiver<u64> {
        self.db.archived()
    }
}
