//! `taskstream bench pipeline`: how fast `serve`'s pipeline (router and consumers) keeps up
//! with its own API. Each scenario starts a `serve` of this binary on a fresh data directory,
//! drives its real HTTP API, and watches the pipeline through a read-only connection:
//!
//! - `burst`: bulk and single writes over a few connections, as fast as they are answered;
//! - `backlog`: the same writes with the pipeline stopped, then a restart with the API idle,
//!   so the router and the consumers are measured alone on a backlog;
//! - `sustained`: single `POST /tasks` over many connections for a while; is the lag flat?

mod client;
mod load;
mod replay;
mod sampler;
mod server;
mod webhooks;

use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use sampler::{Sample, Sampler};
use server::{DataDir, Served};

#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchCommand,
}

#[derive(clap::Subcommand)]
enum BenchCommand {
    /// The embedded pipeline against its own API: acknowledged, routed and applied events/s,
    /// drain time, lag percentiles, peak memory.
    Pipeline(PipelineArgs),
    /// An embedded replay of a large archive into one consumer (events/s, memory through the
    /// run), and `dlq show`, `trace` and `lag` on the same data directory.
    Replay(replay::ReplayBenchArgs),
    /// Signed webhook deliveries sent and settled per second by serve's dispatcher, to a
    /// receiver on the same machine.
    Webhooks(webhooks::WebhookBenchArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Scenario {
    Burst,
    Backlog,
    Sustained,
}

#[derive(clap::Args)]
struct PipelineArgs {
    /// Events to produce in the burst and backlog scenarios (about; whole rounds of 80).
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(80..))]
    events: u64,
    /// Connections writing in the burst and backlog scenarios.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1024))]
    connections: u64,
    /// Connections sending single `POST /tasks` in the sustained scenario.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    single_connections: u64,
    /// Seconds the sustained scenario writes for.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Which scenarios to run (comma-separated); all by default.
    #[arg(long, value_delimiter = ',', default_value = "burst,backlog,sustained")]
    scenario: Vec<Scenario>,
    /// A quick run for CI (2 400 events, 2 connections, 2 s): checks the bench works, not speed.
    #[arg(long)]
    small: bool,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Extra flags for `serve` (e.g. `--serve-arg=--sync=normal`).
    #[arg(long = "serve-arg", allow_hyphen_values = true)]
    serve_args: Vec<String>,
}

/// What one scenario measured.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    scenario: Scenario,
    connections: u64,
    /// Task changes (writes) the API acknowledged, the change records in the log (the same
    /// number when the run measured only its own writes) and the events they derived.
    writes: u64,
    changes: i64,
    events: i64,
    /// Seconds from the first request to the last acknowledgement.
    ack_seconds: f64,
    ack_events_per_second: f64,
    /// Seconds from the scenario's start until the router had taken every change.
    router_seconds: f64,
    router_events_per_second: f64,
    consumers: Vec<ConsumerReport>,
    /// Seconds from the last acknowledgement (or the restart, for `backlog`) until every
    /// consumer was idle.
    drain_seconds: f64,
    /// Events over the time from the start until every consumer was idle.
    end_to_end_events_per_second: f64,
    /// The oldest unprocessed change's age, sampled through the run.
    lag_ms: Percentiles,
    /// Least-squares slope of that age over the load, in ms per second of run.
    lag_slope_ms_per_second: f64,
    samples: usize,
    /// The serve process's peak resident memory, in MiB.
    peak_rss_mib: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConsumerReport {
    name: String,
    events: i64,
    /// Seconds from the scenario's start until it was idle.
    seconds: f64,
    events_per_second: f64,
    dead: i64,
}

#[derive(Debug, Serialize, Default)]
struct Percentiles {
    p50: i64,
    p99: i64,
    max: i64,
}

struct Settings {
    events: u64,
    connections: u64,
    single_connections: u64,
    seconds: u64,
    period: Duration,
    serve_args: Vec<String>,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let args = match args.what {
        BenchCommand::Pipeline(args) => args,
        BenchCommand::Replay(args) => return replay::run(args).await,
        BenchCommand::Webhooks(args) => return webhooks::run(args).await,
    };
    let settings = if args.small {
        Settings {
            events: 2_400,
            connections: 2,
            single_connections: 4,
            seconds: 2,
            period: Duration::from_millis(20),
            serve_args: args.serve_args.clone(),
        }
    } else {
        Settings {
            events: args.events,
            connections: args.connections,
            single_connections: args.single_connections,
            seconds: args.seconds,
            period: Duration::from_millis(100),
            serve_args: args.serve_args.clone(),
        }
    };
    let mut reports = Vec::new();
    for scenario in &args.scenario {
        let report = match scenario {
            Scenario::Burst => burst(&settings).await,
            Scenario::Backlog => backlog(&settings).await,
            Scenario::Sustained => sustained(&settings).await,
        }
        .with_context(|| format!("scenario {scenario:?}"))?;
        if !args.json {
            print_report(&report);
        }
        reports.push(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "scenarios": reports }))?);
    }
    Ok(())
}

/// The bench measures the pipeline's own pace: serve's lag bound, which would hold the API
/// back to it, is off unless `--serve-arg` sets it.
fn serve_flags<'a>(settings: &'a Settings, more: &[&'a str]) -> Vec<&'a str> {
    ["--max-lag=0"]
        .into_iter()
        .chain(settings.serve_args.iter().map(String::as_str))
        .chain(more.iter().copied())
        .collect()
}

/// A "give up" bound far above any sane drain, so a stuck pipeline ends the bench.
const GIVE_UP: Duration = Duration::from_secs(1800);

async fn burst(settings: &Settings) -> anyhow::Result<Report> {
    let data = DataDir::new("burst")?;
    let served = Served::start(&data.0, &serve_flags(settings, &[]))?;
    let start = Instant::now();
    let sampler = Sampler::start(data.0.clone(), start, settings.period, GIVE_UP);
    let load = load::rounds(served.addr, &served.key, settings.connections, settings.events).await?;
    let ack_seconds = start.elapsed().as_secs_f64();
    let samples = sampler.finish()?;
    let rss = served.peak_rss_kib();
    let routed = routed_per_consumer(&data)?;
    served.stop()?;
    Ok(analyse(Scenario::Burst, settings.connections, load.writes, ack_seconds, ack_seconds, &samples, &routed, rss))
}

async fn backlog(settings: &Settings) -> anyhow::Result<Report> {
    let data = DataDir::new("backlog")?;
    let held = Served::start(&data.0, &serve_flags(settings, &["--no-pipeline"]))?;
    let written = Instant::now();
    let load = load::rounds(held.addr, &held.key, settings.connections, settings.events).await?;
    let ack_seconds = written.elapsed().as_secs_f64();
    held.stop()?;

    // The API idle: only the router and the consumers work from here.
    let start = Instant::now();
    let served = Served::start(&data.0, &serve_flags(settings, &[]))?;
    let samples = Sampler::start(data.0.clone(), start, settings.period, GIVE_UP).finish()?;
    let rss = served.peak_rss_kib();
    let routed = routed_per_consumer(&data)?;
    served.stop()?;
    let mut report =
        analyse(Scenario::Backlog, settings.connections, load.writes, ack_seconds, 0.0, &samples, &routed, rss);
    // Acknowledgement ran before the restart: its rate is over its own time.
    report.ack_events_per_second = rate(report.events, ack_seconds);
    Ok(report)
}

async fn sustained(settings: &Settings) -> anyhow::Result<Report> {
    let data = DataDir::new("sustained")?;
    let served = Served::start(&data.0, &serve_flags(settings, &[]))?;
    let start = Instant::now();
    let sampler = Sampler::start(data.0.clone(), start, settings.period, GIVE_UP);
    let load =
        load::singles(served.addr, &served.key, settings.single_connections, Duration::from_secs(settings.seconds))
            .await?;
    let ack_seconds = start.elapsed().as_secs_f64();
    let samples = sampler.finish()?;
    let rss = served.peak_rss_kib();
    let routed = routed_per_consumer(&data)?;
    served.stop()?;
    Ok(analyse(
        Scenario::Sustained,
        settings.single_connections,
        load.writes,
        ack_seconds,
        ack_seconds,
        &samples,
        &routed,
        rss,
    ))
}

fn routed_per_consumer(data: &DataDir) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(shared_embedded::Observer::open(&data.0)?.routed_per_consumer()?)
}

fn rate(events: i64, seconds: f64) -> f64 {
    if seconds > 0.0 { events as f64 / seconds } else { 0.0 }
}

/// Figures from the samples. `load_end` is when the last write was acknowledged, on the
/// samples' clock (0 when the load ran before the samples' start).
#[allow(clippy::too_many_arguments)]
fn analyse(
    scenario: Scenario,
    connections: u64,
    writes: u64,
    ack_seconds: f64,
    load_end: f64,
    samples: &[Sample],
    routed: &[(String, i64)],
    rss_kib: Option<u64>,
) -> Report {
    let last = samples.last();
    let changes = last.map_or(0, |s| s.progress.changes);
    let events = last.map_or(0, |s| s.progress.archived);
    let after_load = || samples.iter().filter(|s| s.t >= load_end);
    let router_seconds = after_load().find(|s| s.progress.routed >= changes).or(last).map_or(0.0, |s| s.t);
    let consumers: Vec<ConsumerReport> = routed
        .iter()
        .map(|(name, n)| {
            let state = |s: &Sample| s.progress.consumers.iter().find(|c| &c.name == name).cloned();
            let done = after_load()
                .find(|s| s.progress.routed >= changes && state(s).is_some_and(|c| c.pending == 0))
                .or(last);
            let seconds = done.map_or(0.0, |s| s.t);
            let dead = last.and_then(state).map_or(0, |c| c.dead);
            ConsumerReport { name: name.clone(), events: *n, seconds, events_per_second: rate(*n, seconds), dead }
        })
        .collect();
    let all_idle = last.map_or(0.0, |s| s.t);
    let mut ages: Vec<i64> = samples.iter().map(|s| s.progress.oldest_age_ms().unwrap_or(0)).collect();
    ages.sort_unstable();
    let pick = |p: f64| ages.get(((ages.len().saturating_sub(1)) as f64 * p).round() as usize).copied().unwrap_or(0);
    let during: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.t <= load_end)
        .map(|s| (s.t, s.progress.oldest_age_ms().unwrap_or(0) as f64))
        .collect();
    Report {
        scenario,
        connections,
        writes,
        changes,
        events,
        ack_seconds,
        ack_events_per_second: rate(events, ack_seconds),
        router_seconds,
        router_events_per_second: rate(events, router_seconds),
        consumers,
        drain_seconds: (all_idle - load_end).max(0.0),
        end_to_end_events_per_second: rate(events, all_idle),
        lag_ms: Percentiles { p50: pick(0.5), p99: pick(0.99), max: ages.last().copied().unwrap_or(0) },
        lag_slope_ms_per_second: slope(&during),
        samples: samples.len(),
        peak_rss_mib: rss_kib.map(|k| k as f64 / 1024.0),
    }
}

/// Least-squares slope of y over x.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (mx, my) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + (x - mx) * (y - my), b + (x - mx).powi(2)));
    if den == 0.0 { 0.0 } else { num / den }
}

fn print_report(r: &Report) {
    println!("## {:?}: {} connections", r.scenario, r.connections);
    println!("| measure | value |");
    println!("|---|---|");
    println!("| writes acknowledged | {} in {:.2} s ({} change records) |", r.writes, r.ack_seconds, r.changes);
    println!("| events | {} |", r.events);
    println!("| acknowledged events/s | {:.0} |", r.ack_events_per_second);
    println!("| router events/s | {:.0} (done at {:.2} s) |", r.router_events_per_second, r.router_seconds);
    for c in &r.consumers {
        println!(
            "| {} events/s | {:.0} ({} events, idle at {:.2} s, {} dead) |",
            c.name, c.events_per_second, c.events, c.seconds, c.dead
        );
    }
    println!("| end to end events/s | {:.0} |", r.end_to_end_events_per_second);
    println!("| drain after the last acknowledgement | {:.2} s |", r.drain_seconds);
    println!("| lag p50 / p99 / max | {} / {} / {} ms |", r.lag_ms.p50, r.lag_ms.p99, r.lag_ms.max);
    println!("| lag slope during the load | {:.1} ms/s |", r.lag_slope_ms_per_second);
    match r.peak_rss_mib {
        Some(mib) => println!("| serve's peak RSS | {mib:.1} MiB |"),
        None => println!("| serve's peak RSS | not available on this system |"),
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_and_of_a_flat_series() {
        let line: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 3.0 * f64::from(i) + 1.0)).collect();
        assert!((slope(&line) - 3.0).abs() < 1e-9);
        let flat: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 5.0)).collect();
        assert_eq!(slope(&flat), 0.0);
        assert_eq!(slope(&[(1.0, 2.0)]), 0.0);
    }
}
