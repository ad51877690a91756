//! `taskstream publish --file events.ndjson`: sends commands (one JSON command a line) to a
//! running `serve` in batches, and reports every line that was refused with its reason.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use taskstream_client::{MAX_BATCH, ServePublisher};

/// serve refuses bodies above 1 MiB; a batch stays under it with room for the headers.
const MAX_BATCH_BYTES: usize = 900 * 1024;

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
    let started = Instant::now();
    let (mut total, mut applied, mut duplicates, mut rejected) = (0, 0, 0, 0);
    for batch in batches(&text, per_batch) {
        let body = batch.iter().flat_map(|(_, line)| line.bytes().chain([b'\n'])).collect();
        let report = publisher.send_ndjson(body).await?;
        if report.results.len() != batch.len() {
            bail!("serve answered {} results for a batch of {} lines", report.results.len(), batch.len());
        }
        total += batch.len();
        applied += report.applied;
        duplicates += report.duplicates;
        rejected += report.rejected;
        for result in report.results.iter().filter(|r| !r.ok) {
            let line = result.line.checked_sub(1).and_then(|i| batch.get(i)).map_or(0, |(n, _)| *n);
            match &result.error {
                Some(error) => {
                    let reason = error.details.get("reason").and_then(|r| r.as_str()).unwrap_or(&error.code);
                    eprintln!("line {line}: {reason}: {}", error.message);
                }
                None => eprintln!("line {line}: refused"),
            }
        }
    }
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
