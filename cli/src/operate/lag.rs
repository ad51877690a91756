//! `taskstream lag [--watch] [--max-age D]`: per consumer, events waiting, the oldest one's
//! age, retries, dead letters and running replays, and the router's backlog; with `--aws`,
//! a deployed stage's queues and the router's iterator age (`shared_aws::operate::lag`). Above
//! `--max-age` the command exits with status 3 (2 is a usage error), so it can gate a deploy or a cron.

use std::process::ExitCode;
use std::time::Duration;

use shared_aws::operate::{AwsLag, AwsLagReader};
use shared_core::ports::{Lag, Operations};

use super::aws::AwsTarget;
use super::table::Table;
use super::{Scope, age, print_json};

/// The exit status when the lag is above `--max-age`.
pub const LAGGING: u8 = 3;

#[derive(clap::Args)]
pub struct LagArgs {
    #[command(flatten)]
    scope: Scope,
    #[command(flatten)]
    aws: AwsTarget,
    /// Look again every --interval until interrupted (or, with --max-age, until above it).
    #[arg(long)]
    watch: bool,
    /// Seconds between looks with --watch.
    #[arg(long, default_value = "2s", value_parser = crate::serve::parse_duration)]
    interval: Duration,
    /// Exit with status 3 when any stage's oldest waiting event is older than this
    /// (`500ms`, `30s`, `2m`, or seconds).
    #[arg(long, value_parser = crate::serve::parse_duration)]
    max_age: Option<Duration>,
}

pub async fn run(args: LagArgs) -> anyhow::Result<ExitCode> {
    if args.aws.aws {
        args.aws.refuse_tenant(args.scope.tenant())?;
        let config = shared_aws::env::sdk_config().await;
        let reader = AwsLagReader::from_config(&config, args.aws.names());
        return watch(&args, || async {
            let lag = reader.read().await?;
            if args.scope.json {
                print_json(&lag)?;
            } else {
                print!("{}", render_aws(&lag));
            }
            Ok(lag.max_age_ms())
        })
        .await;
    }
    let ops = args.scope.operator()?;
    watch(&args, || async {
        let lag = ops.lag(args.scope.tenant()).await?;
        if args.scope.json {
            print_json(&lag)?;
        } else {
            print!("{}", render(&lag));
        }
        Ok(lag.max_age_ms())
    })
    .await
}

/// Shows the lag (`look` prints it and answers the largest age), again every --interval
/// with --watch; the exit status says whether it was above --max-age.
async fn watch<F, Fut>(args: &LagArgs, look: F) -> anyhow::Result<ExitCode>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<i64>>>,
{
    loop {
        let max_age_ms = look().await?;
        let over = args
            .max_age
            .is_some_and(|max| max_age_ms.is_some_and(|ms| u128::try_from(ms).unwrap_or(0) > max.as_millis()));
        if over {
            eprintln!("taskstream: the lag is above --max-age");
            return Ok(ExitCode::from(LAGGING));
        }
        if !args.watch {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::select! {
            _ = tokio::time::sleep(args.interval) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
        if !args.scope.json {
            println!();
        }
    }
}

fn render(lag: &Lag) -> String {
    let mut table = Table::new(&["STAGE", "DEPTH", "OLDEST", "RETRYING", "DEAD LETTERS", "REPLAYS", "EVENTS/S"]);
    table.row(vec![
        "router".into(),
        lag.router_pending.to_string(),
        age(lag.router_oldest_age_ms),
        "-".into(),
        format!("{} parked", lag.router_parked),
        "-".into(),
        "-".into(),
    ]);
    for c in &lag.consumers {
        table.row(vec![
            c.consumer.clone(),
            c.depth.to_string(),
            age(c.oldest_age_ms),
            c.retrying.to_string(),
            c.dead_letters.to_string(),
            c.replays_running.to_string(),
            // The first look has no earlier one to measure from; --watch shows it from the second.
            c.events_per_second.map_or_else(|| "-".into(), |r| format!("{r:.1}")),
        ]);
    }
    table.render()
}

/// A deployed stage: the router's iterator age and parked records, then per consumer what
/// SQS and CloudWatch say of its queues.
fn render_aws(lag: &AwsLag) -> String {
    let mut table = Table::new(&["STAGE", "DEPTH", "OLDEST", "IN FLIGHT", "DEAD LETTERS"]);
    table.row(vec![
        "router".into(),
        "-".into(),
        format!("{} (iterator age)", age(lag.router.iterator_age_ms)),
        "-".into(),
        lag.router.parked.map_or_else(|| "-".into(), |p| format!("{p} parked")),
    ]);
    for c in &lag.consumers {
        table.row(vec![
            c.consumer.clone(),
            c.depth.to_string(),
            age(c.oldest_age_ms),
            c.in_flight.to_string(),
            c.dead_letters.to_string(),
        ]);
    }
    table.render()
}
