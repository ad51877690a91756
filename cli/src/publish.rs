//! `taskstream publish --file events.ndjson`: sends commands (one JSON command a line) to a
//! running `serve` in batches, and reports every line that was refused with its reason.

use std::path::PathBuf;
use std::time::Instant;

use std::collections::HashSet;

use anyhow::{Context, bail};
use clap::Args;
use events_schema::commands::TaskRef;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use shared_core::ingest::task_key;
use taskstream_client::{BatchReport, MAX_BATCH, PublishError, ServePublisher};

/// serve refuses bodies above 1 MiB; a batch stays under it with room for the headers.
const MAX_BATCH_BYTES: usize = 900 * 1024;

/// More batches in flight than this only queue up in serve.
const MAX_IN_FLIGHT: usize = 16;

#[derive(Args)]
pub struct PublishArgs {
    /// The commands, one JSON command envelope a line (`-` for standard input).
    #[arg(long)]
    file: PathBuf,
    /// The serve to send to.
    #[arg(long, env = "TASKSTREAM_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// An API key (member role at least) of the tenant the commands are for; by default the
    /// admin key serve wrote into its data directory.
    #[arg(long, env = "TASKSTREAM_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Where to find `admin.key` when no key is given.
    #[arg(long, env = "TASKSTREAM_DATA", default_value = "taskstream-data")]
    data: PathBuf,
    /// Commands per request (at most 1000).
    #[arg(long, default_value_t = MAX_BATCH)]
    batch: usize,
    /// Batches sent at once (1–16); batches naming the same task still go one after another.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
}

pub async fn run(args: PublishArgs) -> anyhow::Result<()> {
    let key = match args.key {
        Some(key) => key,
        None => {
            let path = args.data.join("admin.key");
            std::fs::read_to_string(&path)
                .with_context(|| format!("no --key given, and {} cannot be read", path.display()))?
                .trim()
                .to_owned()
        }
    };
    let text = if args.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file.display()))?
    };
    let publisher = ServePublisher::new(&args.url, key)?;
    let per_batch = args.batch.clamp(1, MAX_BATCH);
    let in_flight = args.in_flight.clamp(1, MAX_IN_FLIGHT);
    let started = Instant::now();
    let tally = send(&publisher, batches(&text, per_batch), in_flight).await?;
    let mut refusals = tally.refusals;
    refusals.sort_by_key(|(line, _)| *line);
    for (line, reason) in &refusals {
        eprintln!("line {line}: {reason}");
    }
    let Tally { total, applied, duplicates, rejected, .. } = tally;
    let seconds = started.elapsed().as_secs_f64();
    let rate = if seconds > 0.0 { total as f64 / seconds } else { 0.0 };
    println!(
        "{total} commands in {seconds:.2} s ({rate:.0}/s): {applied} applied, {duplicates} duplicates, {rejected} rejected"
    );
    if rejected > 0 {
        bail!("{rejected} of {total} commands were rejected (listed above by line)");
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    total: usize,
    applied: usize,
    duplicates: usize,
    rejected: usize,
    /// (line number in the file, why it was refused).
    refusals: Vec<(usize, String)>,
}

/// Sends the batches, up to `in_flight` at once, but a batch that names a task also named by
/// a batch still in flight waits for it: commands about one task reach serve in the file's
/// order, while batches about different tasks overlap (serve applies one batch while the next
/// is on its way). A batch that cannot be sent stops the run; commands carry their own ids,
/// so running the same file again is safe (what was applied comes back as duplicates).
async fn send(publisher: &ServePublisher, batches: Vec<Vec<(usize, &str)>>, in_flight: usize) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let mut busy: HashSet<TaskRef> = HashSet::new();
    let mut running = FuturesUnordered::new();
    for batch in batches {
        let keys = keys_of(&batch);
        while running.len() >= in_flight || (!running.is_empty() && keys.iter().any(|k| busy.contains(k))) {
            if let Some(done) = running.next().await {
                settle(done, &mut busy, &mut tally)?;
            }
        }
        busy.extend(keys.iter().cloned());
        let body: Vec<u8> = batch.iter().flat_map(|(_, line)| line.bytes().chain([b'\n'])).collect();
        running.push(async move { (publisher.send_ndjson(body).await, batch, keys) });
    }
    while let Some(done) = running.next().await {
        settle(done, &mut busy, &mut tally)?;
    }
    Ok(tally)
}

type Sent<'a> = (Result<BatchReport, PublishError>, Vec<(usize, &'a str)>, Vec<TaskRef>);

/// Counts one answered batch and frees the tasks it named.
fn settle(sent: Sent<'_>, busy: &mut HashSet<TaskRef>, tally: &mut Tally) -> anyhow::Result<()> {
    let (report, batch, keys) = sent;
    for key in &keys {
        busy.remove(key);
    }
    let first = batch.first().map_or(0, |(n, _)| *n);
    let report = report.with_context(|| {
        format!("the batch from line {first} could not be sent; running the same file again is safe")
    })?;
    if report.results.len() != batch.len() {
        bail!("serve answered {} results for a batch of {} lines", report.results.len(), batch.len());
    }
    tally.total += batch.len();
    tally.applied += report.applied;
    tally.duplicates += report.duplicates;
    tally.rejected += report.rejected;
    for result in report.results.iter().filter(|r| !r.ok) {
        let line = result.line.checked_sub(1).and_then(|i| batch.get(i)).map_or(0, |(n, _)| *n);
        let reason = match &result.error {
            Some(error) => {
                let reason = error.details.get("reason").and_then(|r| r.as_str()).unwrap_or(&error.code);
                format!("{reason}: {}", error.message)
            }
            None => "refused".to_owned(),
        };
        tally.refusals.push((line, reason));
    }
    Ok(())
}

/// The tasks a batch's commands name, by serve's own ordering rule. A line that is not a
/// command names none (serve refuses it on its own).
fn keys_of(batch: &[(usize, &str)]) -> Vec<TaskRef> {
    let keys: HashSet<TaskRef> = batch
        .iter()
        .filter_map(|(_, line)| {
            let value: serde_json::Value = serde_json::from_str(line).ok()?;
            let command_type = value.get("commandType")?.as_str()?;
            task_key(command_type, value.get("data")?)
        })
        .collect();
    keys.into_iter().collect()
}

/// The non-blank lines with their line numbers (from 1), in batches of at most `per_batch`
/// lines and [`MAX_BATCH_BYTES`].
fn batches(text: &str, per_batch: usize) -> Vec<Vec<(usize, &str)>> {
    let mut batches: Vec<Vec<(usize, &str)>> = Vec::new();
    let mut bytes = 0;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fits = batches.last().is_some_and(|b| b.len() < per_batch && bytes + line.len() < MAX_BATCH_BYTES);
        if !fits {
            batches.push(Vec::new());
            bytes = 0;
        }
        bytes += line.len() + 1;
        if let Some(batch) = batches.last_mut() {
            batch.push((n + 1, line));
        }
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_numbers_across_batches_and_blank_ones_are_skipped() {
        let text = "a\n\nb\nc\n  \nd\n";
        let got = batches(text, 2);
        assert_eq!(got, vec![vec![(1, "a"), (3, "b")], vec![(4, "c"), (6, "d")]]);
    }
}
