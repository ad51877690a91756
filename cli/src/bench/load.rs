//! The write load: what a busy team's clients send.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::client::{Conn, created_id};

/// Tasks a round creates; each then moves to `in_progress` and to `done` in two bulk calls.
const ROUND_TASKS: usize = 20;
/// Events a round derives: per task, created (1), started (1), done (status + completed: 2).
pub const ROUND_EVENTS: u64 = 4 * ROUND_TASKS as u64;

pub struct Load {
    /// Task changes the API acknowledged.
    pub writes: u64,
}

/// Rounds of single creates and bulk status changes over `connections`, until about
/// `events` events are due.
pub async fn rounds(addr: SocketAddr, key: &str, connections: u64, events: u64) -> anyhow::Result<Load> {
    let planned = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..connections)
        .map(|w| {
            let (planned, key) = (Arc::clone(&planned), key.to_owned());
            tokio::spawn(async move {
                let mut conn = Conn::open(addr, &key).await?;
                let mut writes = 0u64;
                let mut round = 0u64;
                while planned.fetch_add(ROUND_EVENTS, Ordering::Relaxed) < events {
                    let mut ids = Vec::with_capacity(ROUND_TASKS);
                    for i in 0..ROUND_TASKS {
                        let body = format!(r#"{{"title":"bench {w}-{round}-{i}","priority":"high","tags":["bench"]}}"#);
                        ids.push(created_id(&conn.call("POST", "/tasks", &body, 201).await?)?);
                    }
                    let ids = serde_json::to_string(&ids)?;
                    for status in ["in_progress", "done"] {
                        let body = format!(r#"{{"action":"set_status","status":"{status}","ids":{ids}}}"#);
                        conn.call("POST", "/tasks/bulk", &body, 200).await?;
                    }
                    writes += 3 * ROUND_TASKS as u64;
                    round += 1;
                }
                anyhow::Ok(writes)
            })
        })
        .collect();
    let mut writes = 0;
    for worker in workers {
        writes += worker.await??;
    }
    Ok(Load { writes })
}

/// Single `POST /tasks` over `connections` for `duration`.
pub async fn singles(addr: SocketAddr, key: &str, connections: u64, duration: Duration) -> anyhow::Result<Load> {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|w| {
            let (stop, key) = (Arc::clone(&stop), key.to_owned());
            tokio::spawn(async move {
                let mut conn = Conn::open(addr, &key).await?;
                let mut writes = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let body = format!(r#"{{"title":"single {w}-{writes}","priority":"low"}}"#);
                    conn.call("POST", "/tasks", &body, 201).await?;
                    writes += 1;
                }
                anyhow::Ok(writes)
            })
        })
        .collect();
    tokio::time::sleep(duration.saturating_sub(started.elapsed())).await;
    stop.store(true, Ordering::Relaxed);
    let mut writes = 0;
    for worker in workers {
        writes += worker.await??;
    }
    Ok(Load { writes })
}
