//! `taskstream`: runs the embedded backbone and operates it.

mod bench;
mod fixture;
mod http_server;
mod keys;
mod metrics;
mod operate;
mod publish;
mod route;
mod schema;
mod serve;
mod smtp_sender;
mod telemetry;
mod webhooks;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "taskstream", version, about = "The taskstream event backbone")]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "TASKSTREAM_LOG_FORMAT", default_value = "text")]
    log_format: telemetry::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API, the router and the consumers in one process over SQLite.
    Serve(serve::ServeArgs),
    /// Create, list and revoke API keys (works while serve runs).
    Keys(keys::KeysArgs),
    /// Task metrics of a tenant (throughput, cycle-time, velocity, sla, wip, burndown).
    Metrics(metrics::MetricsArgs),
    /// Print the events a DynamoDB Streams batch derives (NDJSON), offline.
    Route(route::RouteArgs),
    /// Write a synthetic DynamoDB Streams event (JSON) for benchmarks and tools.
    Fixture(fixture::FixtureArgs),
    /// Measure the embedded engine (`bench pipeline`: the router and consumers against the API).
    Bench(bench::BenchArgs),
    /// Export the event and command schemas, or check them against shipped ones.
    Schema(schema::SchemaArgs),
    /// Send commands (NDJSON, one a line) to a running serve; every refused line is reported.
    Publish(publish::PublishArgs),
    /// Replay a window of the archive into chosen consumers (`--dry-run` counts first);
    /// `replay list`, `replay cancel NAME`.
    Replay(operate::ReplayArgs),
    /// Dead letters: `list` with reasons, `show ID`, `redrive`, `purge --yes`.
    Dlq(operate::DlqArgs),
    /// Per consumer: events waiting, the oldest's age, retries, dead letters; exits 3 above
    /// `--max-age`.
    Lag(operate::LagArgs),
    /// Where one task's changes went: events derived, and per consumer applied, pending,
    /// retrying or dead-lettered.
    Trace(operate::TraceArgs),
    /// Webhook subscriptions of a tenant, through a running serve: list, create, show,
    /// update, delete, rotate-secret, deliveries, redeliver.
    Webhooks(webhooks::WebhooksArgs),
}

/// The allocator the Lambda handlers use, so `route --stats` measures what the stream-router
/// does; `serve` allocates per request and per event and gains from it as well.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Keys(args) => keys::run(args),
        Command::Metrics(args) => metrics::run(args).await,
        Command::Route(args) => route::run(args),
        Command::Fixture(args) => fixture::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Bench(args) => bench::run(args).await,
        Command::Publish(args) => publish::run(args).await,
        Command::Replay(args) => operate::replay::run(args).await,
        Command::Dlq(args) => operate::dlq::run(args).await,
        Command::Trace(args) => operate::trace::run(args).await,
        Command::Webhooks(args) => webhooks::run(args).await,
        // The one command whose exit status is an answer: 3 when the lag is above --max-age.
        Command::Lag(args) => match operate::lag::run(args).await {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The chain of causes on one line, never a backtrace: these are a user's errors
            // to read (a port in use, a missing file), not a crash report.
            eprintln!("taskstream: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
