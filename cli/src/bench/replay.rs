//! `taskstream bench replay`: an embedded replay of a large archive into one consumer, and
//! the operator's reads (`dlq show`, `trace`, `lag`) on the same data directory.
//!
//! The archive is filled the way the backbone fills it: tasks written through the store (a
//! change record each) and routed by the router, with the consumers stopped. The audit
//! history is empty, so the replay applies every event: the measure is events applied per
//! second, with the process's resident memory sampled through the replay to show it flat.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use shared_core::consumers::history::AuditHistory;
use shared_core::pipeline::Consumer;
use shared_core::ports::{Aggregate, Change, Operations, ReplayRequest, ReplayState};
use shared_core::{Identity, RequestContext, Role};
use shared_embedded::{Durability, Engine, EngineConfig};

#[derive(clap::Args)]
pub struct ReplayBenchArgs {
    /// Archived events to replay (one task created each).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    events: u64,
    /// Where to make the data directory (a new one inside; removed afterwards).
    #[arg(long, default_value = ".")]
    dir: std::path::PathBuf,
    /// Print the report as JSON instead of lines.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ReplayReport {
    events: u64,
    fill_seconds: f64,
    replay_seconds: f64,
    events_per_second: f64,
    applied: i64,
    unchanged: i64,
    rss_kib_at_start: u64,
    rss_kib_max_during: u64,
    rss_kib_at_end: u64,
    dlq_show_ms: Timing,
    dlq_list_ms: Timing,
    trace_ms: Timing,
    lag_ms: Timing,
}

#[derive(Debug, serde::Serialize)]
struct Timing {
    median: f64,
    max: f64,
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// `n` runs of `f`: the median and the slowest, in milliseconds.
async fn time<F, Fut, T>(n: usize, mut f: F) -> anyhow::Result<Timing>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f().await?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(Timing { median: ms[ms.len() / 2], max: ms[ms.len() - 1] })
}

pub async fn run(args: ReplayBenchArgs) -> anyhow::Result<()> {
    let data = tempfile_dir(&args.dir)?;
    let result = measure(&args, &data).await;
    if let Err(e) = std::fs::remove_dir_all(&data) {
        tracing::warn!(error = %e, dir = %data.display(), "the bench's data directory was not removed");
    }
    let report = result?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{report:#?}");
    }
    Ok(())
}

fn tempfile_dir(parent: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let dir = parent.join(format!("taskstream-bench-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

async fn measure(args: &ReplayBenchArgs, data: &std::path::Path) -> anyhow::Result<ReplayReport> {
    let started = Instant::now();
    fill(data, args.events).await?;
    let fill_seconds = started.elapsed().as_secs_f64();
    eprintln!("filled {} events in {fill_seconds:.1} s", args.events);

    // The replay runs with the default, durable commits.
    let engine = Engine::open(data, EngineConfig::default())?;
    let history: Arc<dyn Consumer> = Arc::new(AuditHistory::new(engine.history_store()));
    engine.register_queue(history.name())?;
    let ops = engine.operator();
    let request = ReplayRequest {
        name: Some("bench".into()),
        from: events_schema::Timestamp::parse("2000-01-01T00:00:00Z")?,
        to: events_schema::Timestamp::parse("2999-01-01T00:00:00Z")?,
        consumers: vec![history.name().to_owned()],
    };
    let rss_kib_at_start = rss_kib();
    let mut rss_kib_max_during = rss_kib_at_start;
    let started = Instant::now();
    ops.start_replay(None, &request).await?;
    let mut batches = 0u64;
    while engine.drain_replay_once(history.as_ref()).await? > 0 {
        batches += 1;
        if batches.is_multiple_of(64) {
            rss_kib_max_during = rss_kib_max_during.max(rss_kib());
        }
    }
    let replay_seconds = started.elapsed().as_secs_f64();
    let status = ops.replay(None, "bench").await?;
    anyhow::ensure!(status.state == ReplayState::Completed, "the replay did not complete: {status:?}");
    let (applied, unchanged) = (status.consumers[0].applied, status.consumers[0].unchanged);
    let rss_kib_at_end = rss_kib();

    // One dead letter to show, in the middle of the archive; a task from the middle to trace.
    let middle = i64::try_from(args.events / 2).unwrap_or(1).max(1);
    let (letter, task): (i64, String) = engine
        .db()
        .write(move |tx| {
            tx.execute(
                "INSERT INTO consumer_dead_letters (consumer, seq, receive_count, reason, failed_ms)
                 VALUES ('audit-history', ?1, 5, 'bench', 0)",
                [middle],
            )?;
            let letter = tx.last_insert_rowid();
            let task = tx.query_row(
                "SELECT json_extract(body, '$.detail.aggregateId') FROM archive WHERE seq = ?1",
                [middle],
                |r| r.get(0),
            )?;
            Ok((letter, task))
        })
        .await?;
    let dlq_show_ms = time(20, || async { Ok(ops.dead_letter(None, letter).await?) }).await?;
    let dlq_list_ms = time(20, || async { Ok(ops.dead_letters(None, None, 100).await?) }).await?;
    let trace_ms = time(20, || async { Ok(ops.trace(None, &task, None).await?) }).await?;
    let lag_ms = time(5, || async { Ok(ops.lag(None).await?) }).await?;
    Ok(ReplayReport {
        events: args.events,
        fill_seconds,
        replay_seconds,
        events_per_second: applied as f64 / replay_seconds,
        applied,
        unchanged,
        rss_kib_at_start,
        rss_kib_max_during,
        rss_kib_at_end,
        dlq_show_ms,
        dlq_list_ms,
        trace_ms,
        lag_ms,
    })
}

/// Writes `n` tasks through the store (100 a commit, many commits at once so they share
/// syncs) and routes them, consumers stopped: an archive of `n` TaskCreated events.
async fn fill(data: &std::path::Path, n: u64) -> anyhow::Result<()> {
    let config = EngineConfig { durability: Durability::Normal, ..EngineConfig::default() };
    let engine = Engine::open(data, config)?;
    let store = engine.store();
    let ctx = RequestContext {
        identity: Identity { tenant: "bench".into(), actor: "bench".into(), role: Role::Admin },
        correlation_id: "bench".into(),
    };
    let now = events_schema::Timestamp::now().to_string();
    // Task ids in UUIDv7's layout, numbered: the order of creation, as real ids keep it.
    let id = |n: u64| format!("0195a3c4-0000-7000-8000-{n:012x}");
    let mut written = 0u64;
    while written < n {
        let mut commits = Vec::new();
        for _ in 0..16 {
            let size = (n - written).min(100);
            if size == 0 {
                break;
            }
            let changes: Vec<Change> = (written..written + size)
                .map(|n| {
                    let task = serde_json::from_value(serde_json::json!({
                        "id": id(n), "title": "replayed", "status": "todo",
                        "priority": "medium", "tags": [], "createdAt": now, "updatedAt": now, "statusChangedAt": now, "version": 1
                    }))?;
                    Ok(Change::Put { new: Aggregate::Task(task), expected_version: None })
                })
                .collect::<anyhow::Result<_>>()?;
            written += size;
            let (store, ctx) = (Arc::clone(&store), ctx.clone());
            commits.push(tokio::spawn(async move { store.commit(&ctx, changes, None).await }));
        }
        for c in commits {
            c.await??;
        }
    }
    engine.route_pending().await?;
    Ok(())
}
