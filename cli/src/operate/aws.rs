//! The operator commands against a deployed stage (`--aws`): replays through EventBridge's
//! archive, dead letters in the consumers' SQS dead-letter queues. Credentials and region
//! come from the environment as the AWS CLI takes them (`AWS_ENDPOINT_URL` for another
//! endpoint); the stage's resources are found by the names the CDK app gives them.

use std::time::Duration;

use events_schema::Timestamp;
use shared_aws::operate::{AwsReplay, AwsReplayPlan, AwsReplays, SqsDeadLetterQueues, StageNames};

use super::progress_line::ProgressLine;
use super::table::Table;
use super::{age, print_json};

/// `--aws` and the stage; flattened into the commands that have an AWS side.
#[derive(clap::Args, Clone)]
pub struct AwsTarget {
    /// Work on a deployed stage instead of a data directory (AWS credentials and region from
    /// the environment; `AWS_ENDPOINT_URL` for another endpoint).
    #[arg(long)]
    pub aws: bool,
    /// With --aws: the stage, as the CDK app deployed it.
    #[arg(long, env = "TASKSTREAM_STAGE", default_value = "dev")]
    pub stage: String,
}

impl AwsTarget {
    /// AWS sees every tenant at once: an archive replays, and a queue holds, all of them.
    pub fn refuse_tenant(&self, tenant: Option<&str>) -> anyhow::Result<()> {
        if let Some(tenant) = tenant {
            anyhow::bail!(
                "--tenant {tenant} cannot be used with --aws: the stage's archive and queues hold every tenant's events"
            );
        }
        Ok(())
    }

    pub(super) fn names(&self) -> StageNames {
        StageNames::new(&self.stage)
    }

    async fn replays(&self) -> AwsReplays {
        let config = shared_aws::env::sdk_config().await;
        AwsReplays::from_config(&config, self.names())
    }

    async fn dead_letters(&self) -> SqsDeadLetterQueues {
        let config = shared_aws::env::sdk_config().await;
        SqsDeadLetterQueues::from_config(&config, self.names())
    }
}

/// How often a running replay is polled.
const REPLAY_POLL: Duration = Duration::from_secs(2);

/// A replay as the command line asks for it.
pub struct ReplaySpec {
    pub from: Timestamp,
    pub to: Timestamp,
    pub consumers: Vec<String>,
    pub name: Option<String>,
    pub dry_run: bool,
    pub no_wait: bool,
    pub json: bool,
}

pub async fn replay_start(target: &AwsTarget, spec: ReplaySpec) -> anyhow::Result<()> {
    let ReplaySpec { from, to, consumers, name, dry_run, no_wait, json } = spec;
    let replays = target.replays().await;
    let plan = replays.plan(from, to, &consumers).await?;
    if dry_run {
        return print_plan(&plan, json);
    }
    let name = name.unwrap_or_else(|| format!("taskstream-{}", Timestamp::now().unix_millis()));
    let mut replay = replays.start(&name, &plan).await?;
    tracing::info!(replay = %replay.name, "replay started");
    if !no_wait {
        let mut line = ProgressLine::new();
        while !replay.finished() {
            line.update(i64::from(replay.progress_permille()), &replay.state.to_lowercase());
            tokio::time::sleep(REPLAY_POLL).await;
            replay = replays.describe(&name).await?;
        }
        line.finish();
    }
    if json {
        return print_json(&replay);
    }
    print_replays(std::slice::from_ref(&replay));
    if replay.state == "FAILED" {
        anyhow::bail!("replay {} failed: {}", replay.name, replay.reason.unwrap_or_default());
    }
    Ok(())
}

pub async fn replay_list(target: &AwsTarget, json: bool) -> anyhow::Result<()> {
    let replays = target.replays().await.list().await?;
    if json {
        return print_json(&replays);
    }
    print_replays(&replays);
    Ok(())
}

pub async fn replay_cancel(target: &AwsTarget, name: &str, json: bool) -> anyhow::Result<()> {
    let state = target.replays().await.cancel(name).await?;
    if json {
        return print_json(&serde_json::json!({ "name": name, "state": state }));
    }
    println!("replay {name} {}", state.to_lowercase());
    Ok(())
}

fn print_plan(plan: &AwsReplayPlan, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(plan);
    }
    println!("dry run: replay from {}, {} to {}; nothing is sent", plan.archive, plan.from, plan.to);
    println!(
        "the archive holds {} events in all (EventBridge counts an archive only as a whole, not per window)",
        plan.archive_events
    );
    let mut table = Table::new(&["CONSUMER", "RULE"]);
    for (consumer, rule) in &plan.rules {
        table.row(vec![consumer.clone(), rule.clone()]);
    }
    print!("{}", table.render());
    Ok(())
}

fn print_replays(replays: &[AwsReplay]) {
    let mut table = Table::new(&["NAME", "STATE", "FROM", "TO", "PROGRESS", "REASON"]);
    for r in replays {
        table.row(vec![
            r.name.clone(),
            r.state.to_lowercase(),
            r.from.clone().unwrap_or_default(),
            r.to.clone().unwrap_or_default(),
            format!("{:.1}%", r.progress_permille() as f64 / 10.0),
            r.reason.clone().unwrap_or_default(),
        ]);
    }
    print!("{}", table.render());
}

pub async fn dlq_list(target: &AwsTarget, consumer: Option<&str>, limit: usize, json: bool) -> anyhow::Result<()> {
    let dlqs = target.dead_letters().await;
    let queues = dlqs.queues(consumer).await?;
    let letters = dlqs.letters(consumer, limit).await?;
    let router = match consumer {
        None => super::router_failures::depth_if_deployed(target).await?,
        Some(_) => None,
    };
    if json {
        let mut out = serde_json::json!({ "queues": queues, "deadLetters": letters });
        if let Some(router) = &router {
            out["streamRouter"] = serde_json::to_value(router)?;
        }
        return print_json(&out);
    }
    let now = Timestamp::now().unix_millis();
    let oldest = |consumer: &str| {
        letters
            .iter()
            .filter(|l| l.consumer == consumer)
            .filter_map(|l| l.dead_lettered_at.as_deref().and_then(|t| Timestamp::parse(t).ok()))
            .map(|t| now - t.unix_millis())
            .max()
    };
    let mut table = Table::new(&["CONSUMER", "DEAD LETTERS", "OLDEST"]);
    for q in &queues {
        table.row(vec![q.consumer.clone(), q.depth.to_string(), age(oldest(&q.consumer))]);
    }
    if let Some(router) = &router {
        let waiting = router.failed_batches as i64 + router.parked;
        table.row(vec![super::router_failures::STREAM_ROUTER.to_owned(), waiting.to_string(), "-".to_owned()]);
    }
    print!("{}", table.render());
    if let Some(router) = router.filter(|r| r.failed_batches > 0 || r.parked > 0) {
        println!(
            "{}: {} failed batch(es), {} parked record(s); `dlq list --consumer {}` shows them",
            super::router_failures::STREAM_ROUTER,
            router.failed_batches,
            router.parked,
            super::router_failures::STREAM_ROUTER
        );
    }
    if letters.is_empty() {
        return Ok(());
    }
    println!();
    let mut table = Table::new(&["ID", "CONSUMER", "EVENT", "TASK", "RECEIVES", "DEAD-LETTERED AT", "REASON"]);
    for l in &letters {
        table.row(vec![
            l.id.clone(),
            l.consumer.clone(),
            l.event_type.clone().unwrap_or_else(|| "-".into()),
            l.aggregate_id.clone().unwrap_or_else(|| "-".into()),
            l.receives.map_or_else(|| "-".into(), |r| r.to_string()),
            l.dead_lettered_at.clone().unwrap_or_default(),
            l.reason.clone(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

pub async fn dlq_show(target: &AwsTarget, consumer: Option<&str>, id: &str, json: bool) -> anyhow::Result<()> {
    let letter = target.dead_letters().await.letter(consumer, id).await?;
    if json {
        return print_json(&letter);
    }
    println!("dead letter {} of {}", letter.id, letter.consumer);
    println!(
        "event      {} {} (task {})",
        letter.event_type.as_deref().unwrap_or("-"),
        letter.event_id.as_deref().unwrap_or("-"),
        letter.aggregate_id.as_deref().unwrap_or("unknown")
    );
    println!(
        "failed     {} after {} receives",
        letter.dead_lettered_at.as_deref().unwrap_or("-"),
        letter.receives.map_or_else(|| "?".into(), |r| r.to_string())
    );
    println!("reason     {}", letter.reason);
    println!("{}", serde_json::to_string_pretty(&letter.body)?);
    Ok(())
}

pub async fn dlq_redrive(
    target: &AwsTarget,
    consumer: Option<&str>,
    max: Option<usize>,
    id: Option<&str>,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<()> {
    let Some(consumer) = consumer else {
        anyhow::bail!("name the consumer whose dead letters go back with --consumer (each has its own queue on AWS)");
    };
    let dlqs = target.dead_letters().await;
    if dry_run {
        let count = match id {
            Some(id) => dlqs.letter(Some(consumer), id).await.map(|_| 1)?,
            None => {
                let depth = dlqs.queues(Some(consumer)).await?.first().map_or(0, |q| q.depth);
                max.map_or(depth, |max| depth.min(i64::try_from(max).unwrap_or(i64::MAX)))
            }
        };
        if json {
            return print_json(&serde_json::json!({ "dryRun": true, "consumer": consumer, "count": count }));
        }
        println!("dry run: about {count} dead letter(s) of {consumer} would go back to its queue; nothing is sent");
        return Ok(());
    }
    let redriven = dlqs.redrive(consumer, max, id).await?;
    if json {
        return print_json(&redriven);
    }
    if let Some(reason) = &redriven.fallback_reason {
        eprintln!("no SQS move task here ({reason}); moved by receive-and-resend");
    }
    println!(
        "redrove {} dead letter(s) of {} back to its queue ({})",
        redriven.moved,
        redriven.consumer,
        match redriven.method {
            shared_aws::operate::MoveMethod::MoveTask => "SQS move task",
            shared_aws::operate::MoveMethod::Resend => "receive-and-resend",
        }
    );
    Ok(())
}

pub async fn dlq_purge(target: &AwsTarget, consumer: Option<&str>, yes: bool, json: bool) -> anyhow::Result<()> {
    let Some(consumer) = consumer else {
        anyhow::bail!(
            "name the consumer whose dead letters are deleted with --consumer (each has its own queue on AWS)"
        );
    };
    let dlqs = target.dead_letters().await;
    if !yes {
        let depth = dlqs.queues(Some(consumer)).await?.first().map_or(0, |q| q.depth);
        println!(
            "about {depth} dead letter(s) of {consumer} would be deleted for good; run again with --yes to delete them"
        );
        return Ok(());
    }
    let purged = dlqs.purge(consumer).await?;
    if json {
        return print_json(&serde_json::json!({ "count": purged }));
    }
    println!("deleted about {purged} dead letter(s) of {consumer} (SQS purges within a minute)");
    Ok(())
}
