//! `taskstream trace TASK_ID [--version N]`: the task's change records, the events each
//! derived, and where each event stands with every consumer.

use shared_aws::operate::{AwsTracer, LogSearch};
use shared_core::ports::{ChangeState, DeliveryState, Operations, StoreError};

use super::aws::AwsTarget;
use super::{Scope, print_json};

#[derive(clap::Args)]
pub struct TraceArgs {
    #[command(flatten)]
    scope: Scope,
    #[command(flatten)]
    aws: AwsTarget,
    task_id: String,
    /// Only this version's change.
    #[arg(long)]
    version: Option<u64>,
    /// With --aws: print the Logs Insights query without running it.
    #[arg(long, requires = "aws")]
    no_logs: bool,
}

/// `trace --aws --json`: the stage's trace and, when the query ran, its log lines.
#[derive(serde::Serialize)]
struct AwsTraceOutput<'a> {
    #[serde(flatten)]
    trace: &'a shared_aws::operate::AwsTrace,
    logs: Option<&'a LogSearch>,
}

pub async fn run(args: TraceArgs) -> anyhow::Result<()> {
    if args.aws.aws {
        return run_aws(&args).await;
    }
    let trace =
        args.scope.operator()?.trace(args.scope.tenant(), &args.task_id, args.version).await.map_err(|e| match e {
            StoreError::NotFound => anyhow::anyhow!("no change of task {} in this data directory", args.task_id),
            other => other.into(),
        })?;
    if args.scope.json {
        return print_json(&trace);
    }
    println!("task {}", trace.task_id);
    for change in &trace.changes {
        let state = match change.state {
            ChangeState::Routed => "routed".to_owned(),
            ChangeState::Pending => "not routed yet".to_owned(),
            ChangeState::Parked => format!("PARKED by the router: {}", change.reason.as_deref().unwrap_or("")),
        };
        println!(
            "v{}  {}  by {}  correlation {}  {}",
            change.version, change.at, change.actor, change.correlation_id, state
        );
        for event in &change.events {
            let archived = if event.archived { "" } else { "  (not on the bus yet)" };
            println!("  {} v{}  {}{archived}", event.event_type, event.schema_version, event.event_id);
            for d in &event.deliveries {
                let state = match d.state {
                    DeliveryState::Applied => "applied",
                    DeliveryState::Pending => "pending",
                    DeliveryState::Retrying => "RETRYING",
                    DeliveryState::DeadLettered => "DEAD-LETTERED",
                };
                match &d.reason {
                    Some(reason) => println!("    {:<16} {state}: {reason}", d.consumer),
                    None => println!("    {:<16} {state}", d.consumer),
                }
            }
        }
    }
    Ok(())
}

/// `trace --aws`: what the stage keeps of the task's changes, and their log lines by the Logs
/// Insights query (printed too, to refine it in the console).
async fn run_aws(args: &TraceArgs) -> anyhow::Result<()> {
    let Some(tenant) = args.scope.tenant() else {
        anyhow::bail!("trace --aws needs --tenant T: the table keeps each task under its tenant");
    };
    let config = shared_aws::env::sdk_config().await;
    let tracer = AwsTracer::from_config(&config, args.aws.names());
    let trace = tracer.trace(tenant, &args.task_id, args.version).await?;
    let logs = if args.no_logs { None } else { Some(tracer.search_logs(&trace).await?) };
    if args.scope.json {
        return print_json(&AwsTraceOutput { trace: &trace, logs: logs.as_ref() });
    }
    let now = trace.current_version.map_or_else(|| "not in the table".to_owned(), |v| format!("at version {v}"));
    println!("task {} of {} ({now})", trace.task_id, trace.tenant);
    for change in &trace.changes {
        println!(
            "v{}  {}  by {}  correlation {}",
            change.version, change.occurred_at, change.actor, change.correlation_id
        );
        for event in &change.events {
            println!("  {} v{}  {}  (in the audit history)", event.event_type, event.schema_version, event.event_id);
        }
    }
    for v in &trace.missing_versions {
        println!("v{v}  no audit-history item: not applied yet, dead-lettered or parked (below), or see the logs");
    }
    for l in &trace.dead_letters {
        println!(
            "dead letter of {}: {} {}: {}",
            l.consumer,
            l.event_type.as_deref().unwrap_or("-"),
            l.event_id.as_deref().unwrap_or("-"),
            l.reason
        );
    }
    for p in &trace.parked {
        println!("parked by the router: {} {}: {}", p.event_name.as_deref().unwrap_or("-"), p.id, p.reason);
    }
    println!("\nits log lines, by this Logs Insights query over the handlers' log groups:");
    println!("{}", trace.query);
    let Some(logs) = logs else {
        println!("(not run: --no-logs; the groups are {})", trace.log_groups.join(" "));
        return Ok(());
    };
    if !logs.absent.is_empty() {
        println!("(no log group yet, not searched: {})", logs.absent.join(" "));
    }
    match logs.status.as_str() {
        "Complete" if logs.lines.is_empty() => println!("no log line names the task or its correlation ids"),
        "Complete" => {
            for line in &logs.lines {
                println!("{}  {}  {}", line.timestamp, line.log_group, line.message.trim_end());
            }
        }
        "NotRun" => println!("not run: none of the handlers has a log group yet"),
        other => println!("the query ended {other}: run it in the console for its lines"),
    }
    Ok(())
}
