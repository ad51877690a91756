//! `taskstream replay | dlq | lag | trace`: the operator's commands over a data directory.
//!
//! Like `taskstream keys`, they open the SQLite file beside a running `serve` (SQLite
//! serialises the two processes' writes) and work the same when none runs. A replay needs a
//! consumer's worker to apply it: with `serve` running, its workers do, and the command
//! follows the progress; without, the command runs the consumers itself, in this process,
//! until the replay is through.

pub mod aws;
pub mod dlq;
pub mod lag;
mod progress_line;
pub mod replay;
pub mod router_failures;
pub(crate) mod table;
pub mod trace;

use std::path::{Path, PathBuf};

use anyhow::Context;
pub use dlq::DlqArgs;
pub use lag::LagArgs;
pub use replay::ReplayArgs;
use shared_embedded::Operator;
pub use trace::TraceArgs;

/// Where to look and how to answer; every operator command takes these.
#[derive(clap::Args)]
pub struct Scope {
    /// The data directory, as given to `serve`.
    #[arg(long, env = "TASKSTREAM_DATA", default_value = "./taskstream-data")]
    data: PathBuf,
    /// Only this tenant's events (every tenant's when not given).
    #[arg(long)]
    tenant: Option<String>,
    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    json: bool,
}

impl Scope {
    fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    fn operator(&self) -> anyhow::Result<Operator> {
        open(&self.data)
    }
}

fn open(data: &Path) -> anyhow::Result<Operator> {
    Operator::open(data).with_context(|| format!("opening {}", data.display()))
}

/// Prints `value` as one line of JSON.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

/// Milliseconds as people read an age: `850ms`, `12.3s`, `4m05s`, `2h10m`.
fn age(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "-".to_owned() };
    match ms {
        ..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}
