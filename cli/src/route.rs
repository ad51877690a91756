//! `taskstream route`: what a DynamoDB Streams batch will do, offline, with the router's
//! own code (decode the Lambda event, derive, plan the PutEvents calls).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use shared_aws::dynamo::stream::decode_batch_with;
use shared_core::stream_router::{BusEntry, plan_calls, prepare};

#[derive(clap::Args)]
pub struct RouteArgs {
    /// A DynamoDB Streams Lambda event (JSON), as the stream-router receives it.
    #[arg(long)]
    input: PathBuf,
    /// Print counts and throughput instead of the events.
    #[arg(long)]
    stats: bool,
    /// With --stats: route the batch this many times and report the median pass (the first
    /// pass of a process pays for its memory; a warm Lambda does not).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: u32,
}

/// What one pass over the batch found.
struct Pass {
    records: usize,
    calls: Vec<Vec<BusEntry>>,
    poison: Vec<(String, String)>,
}

/// The router's per-batch work, as the Lambda does it: decode each record and build its bus
/// entries, then plan the PutEvents calls.
fn route(text: &str) -> anyhow::Result<Pass> {
    let prepared = decode_batch_with(text, prepare).context("the input is not a DynamoDB Streams event")?;
    let records = prepared.len();
    let mut entries = Vec::new();
    let mut poison = Vec::new();
    for record in prepared {
        match record.entries {
            Ok(list) => entries.extend(list),
            Err(reason) => poison.push((record.sequence_number, reason)),
        }
    }
    Ok(Pass { records, calls: plan_calls(entries), poison })
}

pub fn run(args: RouteArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let text = std::str::from_utf8(&bytes).with_context(|| format!("{} is not UTF-8 text", args.input.display()))?;
    let passes = if args.stats { args.repeat } else { 1 };
    let mut times = Vec::new();
    let mut pass = None;
    for _ in 0..passes {
        let started = Instant::now();
        let done = route(text).with_context(|| format!("routing {}", args.input.display()))?;
        times.push(started.elapsed());
        pass = Some(done);
    }
    let Some(Pass { records, calls, poison }) = pass else { return Ok(()) };

    for (sequence, reason) in &poison {
        // One id a line: a record the decoder refused is named by its event id already.
        if reason.starts_with("stream record ") {
            eprintln!("would be parked: {reason}");
        } else {
            eprintln!("record {sequence} would be parked: {reason}");
        }
    }
    if args.stats {
        times.sort();
        let median = times.get(times.len() / 2).copied().unwrap_or_default();
        let secs = median.as_secs_f64().max(f64::EPSILON);
        println!("records: {records}");
        println!("events: {}", calls.iter().map(Vec::len).sum::<usize>());
        println!("poison: {}", poison.len());
        println!("putevents_calls: {}", calls.len());
        println!("passes: {passes}");
        println!("seconds: {secs:.6}");
        println!("records_per_second: {:.0}", records as f64 / secs);
        return Ok(());
    }
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // Each event's envelope exactly as it would go on the bus (the PutEvents detail), in
    // record order.
    for entry in calls.iter().flatten() {
        let written = out.write_all(entry.detail.as_bytes()).and_then(|()| out.write_all(b"\n"));
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    match out.flush() {
        // `route … | head` closes the pipe early: that is the reader's choice, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
