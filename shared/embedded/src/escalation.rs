//! Escalation, embedded: the tenant's policy, and durable timers in the same SQLite file as
//! everything else, so a plan survives kill -9 and restarts, and a timer that came due while
//! `serve` was down fires on the next start.
//!
//! Firing a timer is core's conditional write ([`shared_core::escalation::reach`]): read the
//! task, check the step still applies, write the level on the version read. The timer row is
//! removed only after that write commits; a crash between the two leaves the row, and firing
//! it again finds the level reached and writes nothing. So each level is written once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use events_schema::Timestamp;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use shared_core::escalation::{Guard, Plan, Policy, Step, reach};
use shared_core::ports::{EscalationPolicies, EscalationSchedule, Store, StoreError};
use tokio::sync::watch;

use crate::db::Db;
use crate::{EmbeddedError, batch_unit};

/// The signal a new schedule gives the timer loop, so a step due now need not wait a poll.
const TIMER_SIGNAL: &str = "escalation-timers";
/// Due timers taken per round; their writes share group commits.
const FIRE_BATCH: usize = 1000;
/// How long a timer whose write failed (the store unavailable) waits before it is tried again.
const FAILED_RETRY_MS: i64 = 5_000;

pub struct SqliteEscalation {
    db: Arc<Db>,
}

impl SqliteEscalation {
    pub fn new(db: Arc<Db>) -> Self {
        Self { db }
    }
}

/// A timer's body: what firing needs besides its key.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TimerBody {
    guard: Guard,
    step: Step,
}

#[async_trait]
impl EscalationPolicies for SqliteEscalation {
    async fn policy(&self, tenant: &str) -> Result<Option<Policy>, StoreError> {
        let tenant = tenant.to_owned();
        Ok(self
            .db
            .read(move |conn| {
                let row = conn
                    .prepare_cached("SELECT body, version FROM escalation_policies WHERE tenant = ?1")?
                    .query_row(params![tenant], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
                    .optional()?;
                row.map(|(body, version)| {
                    let mut policy: Policy = serde_json::from_str(&body)?;
                    policy.version = version;
                    Ok(policy)
                })
                .transpose()
            })
            .await?)
    }

    async fn put_policy(&self, tenant: &str, policy: &Policy, expected: u64) -> Result<Policy, StoreError> {
        let (tenant, mut policy) = (tenant.to_owned(), policy.clone());
        Ok(self
            .db
            .write(move |tx| {
                let current: u64 = tx
                    .prepare_cached("SELECT version FROM escalation_policies WHERE tenant = ?1")?
                    .query_row(params![tenant], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0);
                if current != expected {
                    return Err(StoreError::Conflict { expected, current }.into());
                }
                policy.version = current + 1;
                tx.prepare_cached(
                    "INSERT INTO escalation_policies (tenant, version, body) VALUES (?1, ?2, ?3)
                     ON CONFLICT (tenant) DO UPDATE SET version = excluded.version, body = excluded.body",
                )?
                .execute(params![tenant, policy.version, serde_json::to_string(&policy)?])?;
                Ok(policy)
            })
            .await?)
    }
}

/// The task version of the decision in place, if any.
fn fence(tx: &rusqlite::Connection, tenant: &str, task_id: &str) -> Result<Option<u64>, EmbeddedError> {
    Ok(tx
        .prepare_cached("SELECT task_version FROM escalation_plans WHERE tenant = ?1 AND task_id = ?2")?
        .query_row(params![tenant, task_id], |r| r.get(0))
        .optional()?)
}

fn place(
    tx: &rusqlite::Connection,
    tenant: &str,
    task_id: &str,
    task_version: u64,
    plan: &str,
) -> Result<(), EmbeddedError> {
    tx.prepare_cached("DELETE FROM escalation_timers WHERE tenant = ?1 AND task_id = ?2")?
        .execute(params![tenant, task_id])?;
    tx.prepare_cached(
        "INSERT INTO escalation_plans (tenant, task_id, task_version, plan) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, task_id) DO UPDATE SET task_version = excluded.task_version, plan = excluded.plan",
    )?
    .execute(params![tenant, task_id, task_version, plan])?;
    Ok(())
}

/// Places `plan`'s timers unless the task's fence is past its version; true when placed.
fn place_plan(tx: &rusqlite::Connection, tenant: &str, plan: &Plan) -> Result<bool, EmbeddedError> {
    if fence(tx, tenant, &plan.task_id)?.is_some_and(|v| v > plan.task_version) {
        return Ok(false);
    }
    place(tx, tenant, &plan.task_id, plan.task_version, &plan.version)?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO escalation_timers (tenant, task_id, level, due_ms, plan, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for step in &plan.steps {
        let body = TimerBody { guard: plan.guard.clone(), step: step.clone() };
        insert.execute(params![
            tenant,
            plan.task_id,
            step.level,
            step.at.unix_millis(),
            plan.version,
            serde_json::to_string(&body)?
        ])?;
    }
    Ok(true)
}

/// Drops the task's timers unless its fence is past `task_version`; true when dropped.
fn cancel_plan(
    tx: &rusqlite::Connection,
    tenant: &str,
    task_id: &str,
    task_version: u64,
) -> Result<bool, EmbeddedError> {
    if fence(tx, tenant, task_id)?.is_some_and(|v| v > task_version) {
        return Ok(false);
    }
    place(tx, tenant, task_id, task_version, "")?;
    Ok(true)
}

/// Inside a consumer worker's batch, a schedule or a cancel joins the batch's one write (see
/// `batch_unit`) and commits with its cursor move; the fence is then checked when the write
/// runs, so it answers `true` (taken) before knowing whether it was stale, and the timer
/// loop is woken once the batch committed.
#[async_trait]
impl EscalationSchedule for SqliteEscalation {
    async fn schedule(&self, tenant: &str, plan: &Plan) -> Result<bool, StoreError> {
        let tenant = tenant.to_owned();
        let plan = plan.clone();
        let signal = self.db.queue_signal(TIMER_SIGNAL);
        if batch_unit::active() {
            batch_unit::stage_checked(Box::new(move |tx| place_plan(tx, &tenant, &plan).map(drop)))?;
            batch_unit::wake_after_commit(signal);
            return Ok(true);
        }
        let placed = self.db.write(move |tx| place_plan(tx, &tenant, &plan)).await?;
        if placed {
            signal.notify_one();
        }
        Ok(placed)
    }

    async fn cancel(&self, tenant: &str, task_id: &str, task_version: u64) -> Result<bool, StoreError> {
        let (tenant, task_id) = (tenant.to_owned(), task_id.to_owned());
        if batch_unit::active() {
            batch_unit::stage_checked(Box::new(move |tx| cancel_plan(tx, &tenant, &task_id, task_version).map(drop)))?;
            return Ok(true);
        }
        Ok(self.db.write(move |tx| cancel_plan(tx, &tenant, &task_id, task_version)).await?)
    }
}

/// One due timer, as read.
struct Due {
    tenant: String,
    task_id: String,
    level: u32,
    plan: String,
    body: TimerBody,
}

/// A task's due timers fire as one: the highest level, with the people and priority raise
/// of the lower ones joined (what the plan does with levels already due when it is made).
struct Firing {
    tenant: String,
    task_id: String,
    plan: String,
    guard: Guard,
    step: Step,
    /// Every level this firing settles (the lower ones it folds in too).
    levels: Vec<u32>,
}

fn group(due: Vec<Due>) -> Vec<Firing> {
    let mut out: Vec<Firing> = Vec::new();
    // Sorted by tenant, task and level: a task's timers are adjacent, lowest level first.
    for d in due {
        if let Some(last) = out.last_mut()
            && last.tenant == d.tenant
            && last.task_id == d.task_id
            && last.plan == d.plan
        {
            let mut notify = std::mem::take(&mut last.step.notify);
            for person in d.body.step.notify {
                if !notify.contains(&person) {
                    notify.push(person);
                }
            }
            let raise = last.step.raise_priority.max(d.body.step.raise_priority);
            last.step = Step { notify, raise_priority: raise, ..d.body.step };
            last.levels.push(d.level);
            continue;
        }
        out.push(Firing {
            tenant: d.tenant,
            task_id: d.task_id,
            plan: d.plan,
            guard: d.body.guard,
            step: d.body.step,
            levels: vec![d.level],
        });
    }
    out
}

/// Fires every timer due at `now` (up to a batch); returns how many timers it settled.
pub(crate) async fn fire_due(db: &Arc<Db>, store: &Arc<dyn Store>, now: Timestamp) -> Result<usize, EmbeddedError> {
    let now_ms = now.unix_millis();
    let due = db
        .read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT tenant, task_id, level, plan, body FROM escalation_timers WHERE due_ms <= ?1
                 ORDER BY tenant, task_id, level LIMIT ?2",
            )?;
            let limit = i64::try_from(FIRE_BATCH).unwrap_or(i64::MAX);
            let rows = stmt.query_map(params![now_ms, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (tenant, task_id, level, plan, body) = row?;
                let body: TimerBody = serde_json::from_str(&body)?;
                out.push(Due { tenant, task_id, level, plan, body });
            }
            Ok(out)
        })
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    // Every task's write at once: the writer commits them in groups.
    let mut running = tokio::task::JoinSet::new();
    for firing in group(due) {
        let store = Arc::clone(store);
        running.spawn(async move {
            let f = &firing;
            let outcome = reach(store.as_ref(), &f.tenant, &f.task_id, &f.plan, &f.guard, &f.step, now).await;
            (firing, outcome)
        });
    }
    let mut settled: Vec<(String, String, String, Vec<u32>)> = Vec::new();
    let mut failed: Vec<(String, String, String)> = Vec::new();
    while let Some(joined) = running.join_next().await {
        let (firing, outcome) = joined?;
        match outcome {
            Ok(_) => settled.push((firing.tenant, firing.task_id, firing.plan, firing.levels)),
            Err(e) => {
                tracing::warn!(task_id = %firing.task_id, level = firing.step.level, error = %e, "escalation write failed; trying again later");
                failed.push((firing.tenant, firing.task_id, firing.plan));
            }
        }
    }
    let count = settled.iter().map(|s| s.3.len()).sum();
    db.write(move |tx| {
        // Only the rows of the plan that fired: a newer plan placed meanwhile keeps its own.
        let mut delete = tx.prepare_cached(
            "DELETE FROM escalation_timers WHERE tenant = ?1 AND task_id = ?2 AND level = ?3 AND plan = ?4",
        )?;
        for (tenant, task_id, plan, levels) in &settled {
            for level in levels {
                delete.execute(params![tenant, task_id, level, plan])?;
            }
        }
        let mut later = tx.prepare_cached(
            "UPDATE escalation_timers SET due_ms = ?4 WHERE tenant = ?1 AND task_id = ?2 AND plan = ?3 AND due_ms <= ?5",
        )?;
        for (tenant, task_id, plan) in &failed {
            later.execute(params![tenant, task_id, plan, now_ms + FAILED_RETRY_MS, now_ms])?;
        }
        Ok(())
    })
    .await?;
    Ok(count)
}

/// When the next timer is due, if any.
async fn next_due(db: &Arc<Db>) -> Result<Option<i64>, EmbeddedError> {
    db.read(|conn| Ok(conn.query_row("SELECT MIN(due_ms) FROM escalation_timers", [], |r| r.get(0))?)).await
}

/// How many timers are pending.
pub(crate) async fn pending(db: &Arc<Db>) -> Result<i64, EmbeddedError> {
    db.read(|conn| Ok(conn.query_row("SELECT COUNT(*) FROM escalation_timers", [], |r| r.get(0))?)).await
}

/// Fires due timers until `shutdown` turns true; sleeps until the next one is due (at most
/// `idle_poll`), or until a new schedule wakes it.
pub(crate) async fn run(db: Arc<Db>, store: Arc<dyn Store>, idle_poll: Duration, mut shutdown: watch::Receiver<bool>) {
    let signal = db.queue_signal(TIMER_SIGNAL);
    tracing::info!("escalation timers started");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let wait = match fire_due(&db, &store, Timestamp::now()).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => match next_due(&db).await {
                Ok(Some(at)) => {
                    let ms = u64::try_from(at - Timestamp::now().unix_millis()).unwrap_or(0);
                    Duration::from_millis(ms).min(idle_poll)
                }
                Ok(None) => idle_poll,
                Err(e) => {
                    tracing::error!(error = %e, "escalation timers could not be read");
                    idle_poll
                }
            },
            Err(e) => {
                tracing::error!(error = %e, "escalation timers could not be fired; trying again");
                idle_poll
            }
        };
        tokio::select! {
            _ = signal.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
    tracing::info!("escalation timers stopped");
}
