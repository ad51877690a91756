//! `taskstream route`: what a DynamoDB Streams batch will do, offline, with the router's
//! own code (decode the Lambda event, derive, plan the PutEvents calls).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use shared_aws::lambda::{StreamEvent, stream_records};
use shared_core::stream_router::{BusEntry, derive_batch, plan_calls};

#[derive(clap::Args)]
pub struct RouteArgs {
    /// A DynamoDB Streams Lambda event (JSON), as the stream-router receives it.
    #[arg(long)]
    input: PathBuf,
    /// Print counts and throughput instead of the events.
    #[arg(long)]
    stats: bool,
}

pub fn run(args: RouteArgs) -> anyhow::Result<()> {
    let bytes = std::fs::read(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let started = Instant::now();
    let event: StreamEvent = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a DynamoDB Streams event", args.input.display()))?;
    let records = stream_records(&event);
    let derived = derive_batch(&records);
    let mut entries = Vec::new();
    let mut poison = Vec::new();
    for (index, (record, result)) in records.iter().zip(&derived).enumerate() {
        match result
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|events| events.iter().map(|e| BusEntry::from_event(e, index)).collect::<Result<Vec<_>, _>>())
        {
            Ok(list) => entries.extend(list),
            Err(reason) => poison.push((record.sequence_number.clone(), reason)),
        }
    }
    let events = entries.len();
    let calls = plan_calls(entries.clone()).len();
    let elapsed = started.elapsed();

    for (sequence, reason) in &poison {
        eprintln!("record {sequence} would be parked: {reason}");
    }
    if args.stats {
        let secs = elapsed.as_secs_f64().max(f64::EPSILON);
        println!("records: {}", records.len());
        println!("events: {events}");
        println!("poison: {}", poison.len());
        println!("putevents_calls: {calls}");
        println!("seconds: {secs:.6}");
        println!("records_per_second: {:.0}", records.len() as f64 / secs);
        return Ok(());
    }
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for events in derived.into_iter().flatten() {
        for event in events {
            let envelope = event.to_envelope().context("encoding an event")?;
            let written = serde_json::to_writer(&mut out, &envelope)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"));
            match written {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other?,
            }
        }
    }
    match out.flush() {
        // `route … | head` closes the pipe early: that is the reader's choice, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
