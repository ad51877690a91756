//! Logs: human-readable by default, JSON for log pipelines; `TASKSTREAM_LOG` filters
//! (same syntax as `RUST_LOG`, default `info`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("TASKSTREAM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never into a file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
    }
}
