//! `taskstream fixture`: a synthetic DynamoDB Streams event in the table's own layout, for
//! benchmarks and for feeding `route` or any other tool (see BENCHMARKS.md).

use std::io::Write;

#[derive(clap::Args)]
pub struct FixtureArgs {
    /// How many stream records.
    #[arg(long, default_value_t = 1000)]
    records: usize,
    /// The same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub fn run(args: FixtureArgs) -> anyhow::Result<()> {
    let event = shared_aws::dynamo::fixture::stream_event(args.records, args.seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer(&mut out, &event)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
