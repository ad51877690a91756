//! `taskstream trace TASK_ID [--version N]`: the task's change records, the events each
//! derived, and where each event stands with every consumer.

use shared_core::ports::{ChangeState, DeliveryState, Operations, StoreError};

use super::{Scope, print_json};

#[derive(clap::Args)]
pub struct TraceArgs {
    #[command(flatten)]
    scope: Scope,
    task_id: String,
    /// Only this version's change.
    #[arg(long)]
    version: Option<u64>,
}

pub async fn run(args: TraceArgs) -> anyhow::Result<()> {
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
