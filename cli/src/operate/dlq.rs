//! `taskstream dlq list | show | redrive | purge`: dead letters with their reasons, read
//! without removing them, sent back to their consumers, or deleted (with the count first).

use std::io::Write;

use shared_core::ports::{DEFAULT_DEAD_LETTER_LIMIT, Operations, RedriveRequest, StoreError};

use shared_aws::operate::router_failures::FAILURE_PREFIX;

use super::aws::AwsTarget;
use super::router_failures;
use super::table::Table;
use super::{Scope, age, print_json};

#[derive(clap::Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
}

#[derive(clap::Subcommand)]
enum DlqCommand {
    /// Depth and oldest age per consumer's dead letters, then the letters with their reasons.
    List {
        #[command(flatten)]
        scope: Scope,
        #[command(flatten)]
        aws: AwsTarget,
        #[arg(long)]
        consumer: Option<String>,
        /// At most this many letters, oldest first.
        #[arg(long, default_value_t = DEFAULT_DEAD_LETTER_LIMIT)]
        limit: usize,
    },
    /// One dead letter with its whole event.
    Show {
        #[command(flatten)]
        scope: Scope,
        #[command(flatten)]
        aws: AwsTarget,
        /// With --aws: only this consumer's queue is searched.
        #[arg(long)]
        consumer: Option<String>,
        /// The id `dlq list` shows (a number here, an SQS message id with --aws).
        id: String,
    },
    /// Send dead letters back to their consumers, due at once, their counts reset.
    Redrive {
        #[command(flatten)]
        scope: Scope,
        #[command(flatten)]
        aws: AwsTarget,
        #[arg(long)]
        consumer: Option<String>,
        /// At most this many, oldest first.
        #[arg(long)]
        max: Option<usize>,
        /// Only this one (the id `dlq list` shows).
        #[arg(long)]
        id: Option<String>,
        /// Print what would be redriven, and send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete dead letters for good: shows how many, and deletes only with --yes.
    Purge {
        #[command(flatten)]
        scope: Scope,
        #[command(flatten)]
        aws: AwsTarget,
        #[arg(long)]
        consumer: Option<String>,
        #[arg(long)]
        yes: bool,
    },
}

pub async fn run(args: DlqArgs) -> anyhow::Result<()> {
    match args.command {
        DlqCommand::List { scope, aws, consumer, limit }
            if aws.aws && router_failures::is_router(consumer.as_deref()) =>
        {
            aws.refuse_tenant(scope.tenant())?;
            router_failures::list(&aws, limit, scope.json).await
        }
        DlqCommand::Show { scope, aws, consumer, id }
            if aws.aws && (router_failures::is_router(consumer.as_deref()) || id.starts_with(FAILURE_PREFIX)) =>
        {
            aws.refuse_tenant(scope.tenant())?;
            router_failures::show(&aws, &id, scope.json).await
        }
        DlqCommand::Redrive { scope, aws, consumer, max, id, dry_run }
            if aws.aws && router_failures::is_router(consumer.as_deref()) =>
        {
            aws.refuse_tenant(scope.tenant())?;
            if max == Some(0) {
                anyhow::bail!("--max must be at least 1");
            }
            router_failures::redrive(&aws, max, id.as_deref(), dry_run, scope.json).await
        }
        DlqCommand::Purge { aws, consumer, .. } if aws.aws && router_failures::is_router(consumer.as_deref()) => {
            router_failures::refuse_purge()
        }
        DlqCommand::List { scope, aws, consumer, limit } if aws.aws => {
            aws.refuse_tenant(scope.tenant())?;
            super::aws::dlq_list(&aws, consumer.as_deref(), limit, scope.json).await
        }
        DlqCommand::Show { scope, aws, consumer, id } if aws.aws => {
            aws.refuse_tenant(scope.tenant())?;
            super::aws::dlq_show(&aws, consumer.as_deref(), &id, scope.json).await
        }
        DlqCommand::Redrive { scope, aws, consumer, max, id, dry_run } if aws.aws => {
            aws.refuse_tenant(scope.tenant())?;
            if max == Some(0) {
                anyhow::bail!("--max must be at least 1");
            }
            super::aws::dlq_redrive(&aws, consumer.as_deref(), max, id.as_deref(), dry_run, scope.json).await
        }
        DlqCommand::Purge { scope, aws, consumer, yes } if aws.aws => {
            aws.refuse_tenant(scope.tenant())?;
            super::aws::dlq_purge(&aws, consumer.as_deref(), yes, scope.json).await
        }
        DlqCommand::List { scope, consumer, limit, .. } if router_failures::is_router(consumer.as_deref()) => {
            router_list(&scope, limit).await
        }
        DlqCommand::Show { scope, consumer, id, .. } if router_failures::is_router(consumer.as_deref()) => {
            router_show(&scope, &id).await
        }
        DlqCommand::Redrive { scope, consumer, max, id, dry_run, .. }
            if router_failures::is_router(consumer.as_deref()) =>
        {
            if max == Some(0) {
                anyhow::bail!("--max must be at least 1");
            }
            router_redrive(&scope, max, id.as_deref(), dry_run).await
        }
        DlqCommand::Purge { consumer, .. } if router_failures::is_router(consumer.as_deref()) => {
            router_failures::refuse_purge()
        }
        DlqCommand::List { scope, consumer, limit, .. } => {
            let ops = scope.operator()?;
            let letters = ops.dead_letters(scope.tenant(), consumer.as_deref(), limit).await?;
            let lag = ops.lag(scope.tenant()).await?;
            if scope.json {
                return print_json(&serde_json::json!({ "queues": lag.consumers, "deadLetters": letters }));
            }
            let now = events_schema::Timestamp::now().unix_millis();
            let mut queues = Table::new(&["CONSUMER", "DEAD LETTERS", "OLDEST"]);
            for c in lag.consumers.iter().filter(|c| consumer.as_ref().is_none_or(|n| *n == c.consumer)) {
                let oldest = letters
                    .iter()
                    .filter(|l| l.consumer == c.consumer)
                    .filter_map(|l| events_schema::Timestamp::parse(&l.failed_at).ok())
                    .map(|t| now - t.unix_millis())
                    .max();
                queues.row(vec![c.consumer.clone(), c.dead_letters.to_string(), age(oldest)]);
            }
            if consumer.is_none() {
                queues.row(vec![router_failures::STREAM_ROUTER.to_owned(), lag.router_parked.to_string(), "-".into()]);
            }
            print!("{}", queues.render());
            if letters.is_empty() {
                return Ok(());
            }
            println!();
            let mut table = Table::new(&["ID", "CONSUMER", "EVENT", "TASK", "RECEIVES", "FAILED AT", "REASON"]);
            for l in &letters {
                table.row(vec![
                    l.id.to_string(),
                    l.consumer.clone(),
                    l.event_type.clone(),
                    if l.aggregate_id.is_empty() { "-".to_owned() } else { l.aggregate_id.clone() },
                    l.receive_count.to_string(),
                    l.failed_at.clone(),
                    match &l.replay_name {
                        Some(r) => format!("{} (replay {r})", l.reason),
                        None => l.reason.clone(),
                    },
                ]);
            }
            print!("{}", table.render());
            Ok(())
        }
        DlqCommand::Show { scope, id, .. } => {
            let id = local_id(&id)?;
            let letter = scope.operator()?.dead_letter(scope.tenant(), id).await.map_err(|e| match e {
                StoreError::NotFound => anyhow::anyhow!("no dead letter {id}"),
                other => other.into(),
            })?;
            if scope.json {
                return print_json(&letter);
            }
            println!("dead letter {} of {}", letter.id, letter.consumer);
            let task = if letter.aggregate_id.is_empty() { "unknown" } else { letter.aggregate_id.as_str() };
            println!("event      {} {} (task {task})", letter.event_type, letter.event_id);
            println!("occurred   {}", letter.occurred_at);
            println!("failed     {} after {} receives", letter.failed_at, letter.receive_count);
            if let Some(replay) = &letter.replay_name {
                println!("replay     {replay}");
            }
            println!("reason     {}", letter.reason);
            println!("{}", serde_json::to_string_pretty(&letter.event)?);
            Ok(())
        }
        DlqCommand::Redrive { scope, consumer, max, id, dry_run, .. } => {
            if max == Some(0) {
                anyhow::bail!("--max must be at least 1");
            }
            let id = id.as_deref().map(local_id).transpose()?;
            if dry_run {
                let ops = scope.operator()?;
                let count = match id {
                    Some(id) => {
                        ops.dead_letter(scope.tenant(), id).await.map_err(|e| match e {
                            StoreError::NotFound => anyhow::anyhow!("no dead letter {id}"),
                            other => other.into(),
                        })?;
                        1
                    }
                    None => {
                        let lag = ops.lag(scope.tenant()).await?;
                        let waiting: i64 = lag
                            .consumers
                            .iter()
                            .filter(|c| consumer.as_ref().is_none_or(|n| *n == c.consumer))
                            .map(|c| c.dead_letters)
                            .sum();
                        max.map_or(waiting, |max| waiting.min(i64::try_from(max).unwrap_or(i64::MAX)))
                    }
                };
                if scope.json {
                    return print_json(&serde_json::json!({ "dryRun": true, "count": count }));
                }
                println!("dry run: {count} dead letter(s) would be redriven; nothing is sent");
                return Ok(());
            }
            let count = scope.operator()?.redrive(scope.tenant(), &RedriveRequest { consumer, max, id }).await?;
            if scope.json {
                return print_json(&serde_json::json!({ "count": count }));
            }
            println!("redrove {count} dead letter(s); their consumers apply them at their next read");
            Ok(())
        }
        DlqCommand::Purge { scope, consumer, yes, .. } => {
            let ops = scope.operator()?;
            let lag = ops.lag(scope.tenant()).await?;
            let count: i64 = lag
                .consumers
                .iter()
                .filter(|c| consumer.as_ref().is_none_or(|n| *n == c.consumer))
                .map(|c| c.dead_letters)
                .sum();
            if !yes {
                println!("{count} dead letter(s) would be deleted for good; run again with --yes to delete them");
                std::io::stdout().flush()?;
                return Ok(());
            }
            let purged = ops.purge(scope.tenant(), consumer.as_deref()).await?;
            if scope.json {
                return print_json(&serde_json::json!({ "count": purged }));
            }
            println!("deleted {purged} dead letter(s)");
            Ok(())
        }
    }
}

/// A data directory's dead letters are numbered.
fn local_id(id: &str) -> anyhow::Result<i64> {
    id.parse().map_err(|_| anyhow::anyhow!("{id:?} is not a dead letter id here: `dlq list` shows them (numbers)"))
}

/// The change records the embedded router parked: `dlq list --consumer stream-router`.
async fn router_list(scope: &Scope, limit: usize) -> anyhow::Result<()> {
    let letters = scope.operator()?.router_dead_letters(scope.tenant(), limit).await?;
    if scope.json {
        return print_json(&serde_json::json!({ "deadLetters": letters }));
    }
    let mut table = Table::new(&["ID", "CONSUMER", "CHANGE", "TASK", "PARKED AT", "REASON"]);
    for l in &letters {
        table.row(vec![
            l.id.to_string(),
            l.consumer.clone(),
            l.event_type.clone(),
            l.aggregate_id.clone(),
            l.failed_at.clone(),
            l.reason.clone(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

async fn router_show(scope: &Scope, id: &str) -> anyhow::Result<()> {
    let id = local_id(id)?;
    let letter = scope.operator()?.router_dead_letter(scope.tenant(), id).await.map_err(|e| match e {
        StoreError::NotFound => anyhow::anyhow!("no change record {id} parked by the router"),
        other => other.into(),
    })?;
    if scope.json {
        return print_json(&letter);
    }
    println!("change record {} parked by the router", letter.id);
    println!("change     {} of task {} at {}", letter.event_type, letter.aggregate_id, letter.occurred_at);
    println!("parked     {}", letter.failed_at);
    println!("reason     {}", letter.reason);
    println!("{}", serde_json::to_string_pretty(&letter.event)?);
    Ok(())
}

/// Routes parked change records again with the router's own derivation.
async fn router_redrive(scope: &Scope, max: Option<usize>, id: Option<&str>, dry_run: bool) -> anyhow::Result<()> {
    let id = id.map(local_id).transpose()?;
    let ops = scope.operator()?;
    if dry_run {
        let count = match id {
            Some(id) => ops.router_dead_letter(scope.tenant(), id).await.map(|_| 1).map_err(|e| match e {
                StoreError::NotFound => anyhow::anyhow!("no change record {id} parked by the router"),
                other => other.into(),
            })?,
            None => ops.router_dead_letters(scope.tenant(), max.unwrap_or(usize::MAX)).await?.len(),
        };
        if scope.json {
            return print_json(&serde_json::json!({ "dryRun": true, "count": count }));
        }
        println!("dry run: {count} parked change record(s) would be routed again; nothing is sent");
        return Ok(());
    }
    let done = ops.redrive_router(scope.tenant(), max, id).await?;
    if scope.json {
        return print_json(&done);
    }
    println!("routed {} parked change record(s) again: {} event(s) published", done.routed, done.events);
    for poison in &done.still_poison {
        println!("still poison, left parked: {}: {}", poison.id, poison.reason);
    }
    Ok(())
}
