//! `taskstream dlq … --consumer stream-router --aws`: the batches Lambda gave up on (the
//! router's failure bucket) and the records the router parked (its parking queue), listed,
//! shown, and routed again with the router's own code.

use shared_aws::operate::router_failures::Shown;
use shared_aws::operate::{OperateError, RedriveSelection, RouterFailures, RouterRedrive};

use super::aws::AwsTarget;
use super::print_json;
use super::table::Table;

pub use shared_aws::lambda::STREAM_ROUTER;

/// Whether a `dlq` command is about the stream router rather than a consumer.
pub fn is_router(consumer: Option<&str>) -> bool {
    consumer == Some(STREAM_ROUTER)
}

async fn failures(target: &AwsTarget) -> RouterFailures {
    let config = shared_aws::env::sdk_config().await;
    RouterFailures::from_config(&config, target.names())
}

/// The router's row for `dlq list` over every consumer: none where the stage has no router.
pub async fn depth_if_deployed(
    target: &AwsTarget,
) -> anyhow::Result<Option<shared_aws::operate::router_failures::RouterDeadLetters>> {
    match failures(target).await.depth().await {
        Ok(depth) => Ok(Some(depth)),
        Err(OperateError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(target: &AwsTarget, limit: usize, json: bool) -> anyhow::Result<()> {
    let failures = failures(target).await;
    let depth = failures.depth().await?;
    let (batches, parked) = failures.list(limit).await?;
    if json {
        return print_json(&serde_json::json!({ "streamRouter": depth, "failedBatches": batches, "parked": parked }));
    }
    let mut table = Table::new(&["CONSUMER", "FAILED BATCHES", "PARKED RECORDS"]);
    table.row(vec![STREAM_ROUTER.to_owned(), depth.failed_batches.to_string(), depth.parked.to_string()]);
    print!("{}", table.render());
    if !batches.is_empty() {
        println!("\nbatches Lambda gave up on (s3://{}):", depth.bucket);
        let mut table = Table::new(&["ID", "CONDITION", "FAILED AT", "RECORDS", "SEQUENCES"]);
        for b in &batches {
            table.row(vec![
                b.key.clone(),
                b.condition.clone(),
                b.failed_at.clone(),
                b.records.to_string(),
                format!("{}..{}", b.first_sequence, b.last_sequence),
            ]);
        }
        print!("{}", table.render());
    }
    if !parked.is_empty() {
        println!("\nrecords the router parked:");
        let mut table = Table::new(&["ID", "RECORD", "ITEM", "PARKED AT", "REASON"]);
        for p in &parked {
            table.row(vec![
                p.id.clone(),
                format!("{} {}", p.event_name.as_deref().unwrap_or("-"), p.sequence_number.as_deref().unwrap_or("-")),
                p.item.clone().unwrap_or_else(|| "-".into()),
                p.parked_at.clone().unwrap_or_default(),
                p.reason.clone(),
            ]);
        }
        print!("{}", table.render());
    }
    Ok(())
}

pub async fn show(target: &AwsTarget, id: &str, json: bool) -> anyhow::Result<()> {
    let shown = failures(target).await.show(id).await?;
    if json {
        return print_json(&shown);
    }
    match shown {
        Shown::Batch(b) => {
            println!("failed batch {}", b.key);
            println!("condition  {} after {} invocations", b.condition, b.invocations);
            println!("failed     {}", b.failed_at);
            println!("shard      {} records {}..{} ({})", b.shard_id, b.first_sequence, b.last_sequence, b.records);
            println!("{}", serde_json::to_string_pretty(&b.payload)?);
        }
        Shown::Parked(p) => {
            println!("parked record {}", p.id);
            println!(
                "record     {} {} (item {})",
                p.event_name.as_deref().unwrap_or("-"),
                p.sequence_number.as_deref().unwrap_or("-"),
                p.item.as_deref().unwrap_or("-")
            );
            println!("parked     {}", p.parked_at.as_deref().unwrap_or("-"));
            println!("reason     {}", p.reason);
            println!("{}", serde_json::to_string_pretty(&p.record)?);
        }
    }
    Ok(())
}

pub async fn redrive(
    target: &AwsTarget,
    max: Option<usize>,
    id: Option<&str>,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<()> {
    let selection = RedriveSelection { max, id: id.map(str::to_owned), dry_run };
    let done = failures(target).await.redrive(&selection).await?;
    if json {
        print_json(&done)?;
    } else {
        print_redrive(&done);
    }
    if !done.failed.is_empty() {
        anyhow::bail!("{} item(s) could not be routed and stay for the next redrive", done.failed.len());
    }
    Ok(())
}

fn print_redrive(done: &RouterRedrive) {
    if done.dry_run {
        println!(
            "dry run: {} failed batch(es) and {} parked record(s) would be routed again: {} record(s), {} event(s); \
             {} record(s) would be parked again as still poison; nothing is sent",
            done.batches, done.parked_records, done.records, done.events, done.newly_parked
        );
    } else {
        println!(
            "routed {} failed batch(es) and {} parked record(s) again: {} record(s), {} event(s) published; \
             {} still-poison record(s) parked with their reasons",
            done.batches, done.parked_records, done.records, done.events, done.newly_parked
        );
        for key in &done.deleted_keys {
            println!("deleted {key}");
        }
    }
    for poison in &done.still_poison {
        println!("still poison, left parked: {poison}");
    }
    for failed in &done.failed {
        eprintln!("not routed: {failed}");
    }
}

/// The router's failures are the only copy of their records: they are not purged from here.
pub fn refuse_purge() -> anyhow::Result<()> {
    anyhow::bail!(
        "the stream router's failed batches and parked records are the only copy of their changes' events: \
         redrive them (dlq redrive --consumer {STREAM_ROUTER}); the bucket's lifecycle rule expires what is left"
    )
}
