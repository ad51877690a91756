//! `taskstream replay`: a window of the archive sent again to chosen consumers, marked as
//! replayed; `--dry-run` counts what it would do; `replay list` and `replay cancel`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use events_schema::Timestamp;
use shared_core::pipeline::Consumer;
use shared_core::ports::{Operations, ReplayPlan, ReplayRequest, ReplayState, ReplayStatus};
use shared_embedded::{EmbeddedError, Engine, EngineConfig};

use super::aws::AwsTarget;
use super::progress_line::ProgressLine;
use super::table::Table;
use super::{Scope, print_json};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReplayArgs {
    #[command(subcommand)]
    command: Option<ReplayCommand>,
    #[command(flatten)]
    start: StartArgs,
}

#[derive(clap::Subcommand)]
enum ReplayCommand {
    /// Replays and how far each has got.
    List {
        #[command(flatten)]
        scope: Scope,
        #[command(flatten)]
        aws: AwsTarget,
    },
    /// Stop a replay where it is.
    Cancel {
        #[command(flatten)]
        scope: Scope,
        #[command(flatten)]
        aws: AwsTarget,
        name: String,
    },
}

#[derive(clap::Args)]
struct StartArgs {
    #[command(flatten)]
    scope: Scope,
    #[command(flatten)]
    aws: AwsTarget,
    /// Events that occurred at or after this time (RFC 3339, e.g. 2026-03-01T00:00:00Z).
    #[arg(long, value_parser = parse_time)]
    from: Option<Timestamp>,
    /// Events that occurred before this time.
    #[arg(long, value_parser = parse_time)]
    to: Option<Timestamp>,
    /// A consumer to replay into (repeat for several; every consumer the engine runs when
    /// not given).
    #[arg(long = "consumer")]
    consumers: Vec<String>,
    /// Print the plan (per consumer: events, how many would apply, how many are held at their
    /// version already) and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// The replay's name (unique; generated when not given).
    #[arg(long)]
    name: Option<String>,
    /// Start the replay and return, without following it.
    #[arg(long)]
    no_wait: bool,
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text).map_err(|e| format!("expected an RFC 3339 time such as 2026-03-01T00:00:00Z: {e}"))
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    match args.command {
        Some(ReplayCommand::List { scope, aws }) if aws.aws => {
            aws.refuse_tenant(scope.tenant())?;
            super::aws::replay_list(&aws, scope.json).await
        }
        Some(ReplayCommand::Cancel { scope, aws, name }) if aws.aws => {
            aws.refuse_tenant(scope.tenant())?;
            super::aws::replay_cancel(&aws, &name, scope.json).await
        }
        Some(ReplayCommand::List { scope, .. }) => {
            let replays = scope.operator()?.replays(scope.tenant()).await?;
            if scope.json {
                return print_json(&replays);
            }
            let mut table =
                Table::new(&["NAME", "STATE", "FROM", "TO", "CONSUMER", "PROGRESS", "APPLIED", "UNCHANGED", "FAILED"]);
            for r in &replays {
                for c in &r.consumers {
                    table.row(vec![
                        r.name.clone(),
                        state(r.state).into(),
                        r.from.clone(),
                        r.to.clone(),
                        c.consumer.clone(),
                        format!("{:.1}%", c.progress_permille as f64 / 10.0),
                        c.applied.to_string(),
                        c.unchanged.to_string(),
                        c.failed.to_string(),
                    ]);
                }
            }
            print!("{}", table.render());
            Ok(())
        }
        Some(ReplayCommand::Cancel { scope, name, .. }) => {
            let status =
                scope.operator()?.cancel_replay(scope.tenant(), &name).await.map_err(|e| not_found(e, &name))?;
            if scope.json {
                return print_json(&status);
            }
            println!("replay {} cancelled", status.name);
            Ok(())
        }
        None => start(args.start).await,
    }
}

fn not_found(err: shared_core::ports::StoreError, name: &str) -> anyhow::Error {
    match err {
        shared_core::ports::StoreError::NotFound => anyhow::anyhow!("no replay named {name}"),
        other => other.into(),
    }
}

fn state(state: ReplayState) -> &'static str {
    match state {
        ReplayState::Running => "running",
        ReplayState::Completed => "completed",
        ReplayState::Cancelled => "cancelled",
    }
}

async fn start(args: StartArgs) -> anyhow::Result<()> {
    let (Some(from), Some(to)) = (args.from, args.to) else {
        anyhow::bail!("give the window with --from and --to (or use `replay list` / `replay cancel`)");
    };
    if args.aws.aws {
        args.aws.refuse_tenant(args.scope.tenant())?;
        let spec = super::aws::ReplaySpec {
            from,
            to,
            consumers: args.consumers,
            name: args.name,
            dry_run: args.dry_run,
            no_wait: args.no_wait,
            json: args.scope.json,
        };
        return super::aws::replay_start(&args.aws, spec).await;
    }
    // With the data directory free, this process runs the consumers; otherwise `serve` does.
    let engine = match Engine::open(&args.scope.data, EngineConfig::default()) {
        Ok(engine) => Some(engine),
        Err(EmbeddedError::Locked(_)) => None,
        Err(e) => return Err(e).with_context(|| format!("opening {}", args.scope.data.display())),
    };
    let local: Vec<Arc<dyn Consumer>> = engine.as_ref().map(crate::serve::consumers).unwrap_or_default();
    let operator = match &engine {
        Some(engine) => engine.operator(),
        None => args.scope.operator()?,
    };
    let runs = operator.consumers().await?;
    let consumers = if args.consumers.is_empty() { runs.clone() } else { args.consumers.clone() };
    if let Some(missing) = consumers.iter().find(|c| !runs.contains(c)) {
        anyhow::bail!("{missing} is not a consumer this data directory runs (it runs {})", runs.join(", "));
    }
    let request = ReplayRequest { name: args.name.clone(), from, to, consumers };
    if let Err(errors) = request.validate() {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::bail!("{}", text.join("; "));
    }
    let tenant = args.scope.tenant();
    if args.dry_run {
        let plan = operator.plan_replay(tenant, &request).await?;
        return print_plan(&plan, tenant, args.scope.json);
    }
    let mut status = operator.start_replay(tenant, &request).await.map_err(|e| match e {
        shared_core::ports::StoreError::AlreadyExists(name) => anyhow::anyhow!("a replay named {name} exists already"),
        other => other.into(),
    })?;
    tracing::info!(replay = %status.name, "replay started");
    if args.no_wait {
        return finish(&status, args.scope.json);
    }
    let mut line = ProgressLine::new();
    while status.state == ReplayState::Running {
        match &engine {
            Some(engine) => {
                for consumer in local.iter().filter(|c| request.consumers.iter().any(|n| n == c.name())) {
                    engine.drain_replay_once(consumer.as_ref()).await?;
                }
            }
            None => tokio::time::sleep(Duration::from_millis(250)).await,
        }
        status = operator.replay(tenant, &status.name).await?;
        let permille = status.consumers.iter().map(|c| c.progress_permille).min().unwrap_or(1000);
        let applied: i64 = status.consumers.iter().map(|c| c.applied).sum();
        line.update(permille, &format!("{} applied", applied));
    }
    line.finish();
    finish(&status, args.scope.json)
}

fn print_plan(plan: &ReplayPlan, tenant: Option<&str>, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(plan);
    }
    println!(
        "dry run: replay from the {} of {}, {} to {}; nothing is sent",
        plan.archive,
        tenant.map_or_else(|| "every tenant".to_owned(), |t| format!("tenant {t}")),
        plan.from,
        plan.to
    );
    let mut table = Table::new(&["CONSUMER", "EVENTS", "WOULD APPLY", "UNCHANGED (BY VERSION)"]);
    for c in &plan.consumers {
        table.row(vec![c.consumer.clone(), c.events.to_string(), c.would_apply.to_string(), c.unchanged.to_string()]);
    }
    print!("{}", table.render());
    Ok(())
}

fn finish(status: &ReplayStatus, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(status);
    }
    println!("replay {} {} ({} to {})", status.name, state(status.state), status.from, status.to);
    let mut table = Table::new(&["CONSUMER", "PROGRESS", "APPLIED", "UNCHANGED", "FAILED"]);
    for c in &status.consumers {
        table.row(vec![
            c.consumer.clone(),
            format!("{:.1}%", c.progress_permille as f64 / 10.0),
            c.applied.to_string(),
            c.unchanged.to_string(),
            c.failed.to_string(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}
