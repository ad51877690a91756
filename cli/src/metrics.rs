//! `taskstream metrics <name>`: the task metrics of one tenant, as a table for people or
//! JSON for scripts, read from a data directory's metrics table (while `serve` runs, too:
//! the file is opened read-only, beside it), or with `--aws` from Timestream.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use events_schema::Timestamp;
use shared_aws::timestream::{Table, TimestreamMetrics};
use shared_core::metrics::{Interval, MetricName, MetricsAnswer, MetricsQuery};
use shared_core::ports::MetricsReader;

#[derive(clap::Args)]
pub struct MetricsArgs {
    /// throughput, cycle-time, velocity, sla, wip or burndown.
    #[arg(value_parser = parse_name)]
    name: MetricName,
    /// The data directory, as given to `serve`.
    #[arg(long, env = "TASKSTREAM_DATA", default_value = "./taskstream-data")]
    data: PathBuf,
    /// The tenant whose metrics to read.
    #[arg(long, default_value = "default")]
    tenant: String,
    /// Only tasks of this project (its id).
    #[arg(long)]
    project: Option<String>,
    /// Only tasks of this sprint (its id); burndown needs it.
    #[arg(long)]
    sprint: Option<String>,
    /// Only tasks of this assignee (at the time of each event).
    #[arg(long)]
    assignee: Option<String>,
    /// Events at or after this instant (RFC 3339, e.g. 2026-03-01T00:00:00Z).
    #[arg(long, value_parser = parse_instant)]
    from: Option<Timestamp>,
    /// Events before this instant (RFC 3339).
    #[arg(long, value_parser = parse_instant)]
    to: Option<Timestamp>,
    /// The width of a row's bucket: hour, day or week (from Monday, UTC).
    #[arg(long, default_value = "day", value_parser = parse_interval)]
    interval: Interval,
    /// Print `{"data": [rows]}` as `GET /metrics/{name}` answers, instead of a table.
    #[arg(long)]
    json: bool,
    /// Ask Timestream instead of the data directory (AWS credentials and region from the
    /// environment, as the AWS CLI takes them; `AWS_ENDPOINT_URL` for another endpoint).
    #[arg(long)]
    aws: bool,
    /// With --aws: the Timestream database (`<stage>_taskstream`).
    #[arg(long, env = "TIMESTREAM_DATABASE", default_value = "dev_taskstream")]
    database: String,
    /// With --aws: the Timestream table.
    #[arg(long, env = "TIMESTREAM_TABLE", default_value = "task_metrics")]
    table: String,
}

fn parse_name(text: &str) -> Result<MetricName, String> {
    MetricName::parse(text).ok_or_else(|| {
        let known: Vec<&str> = MetricName::ALL.iter().map(MetricName::as_str).collect();
        format!("expected one of {}, got {text:?}", known.join(", "))
    })
}

fn parse_interval(text: &str) -> Result<Interval, String> {
    Interval::parse(text).ok_or_else(|| format!("expected hour, day or week, got {text:?}"))
}

fn parse_instant(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text).map_err(|e| format!("expected an RFC 3339 instant such as 2026-03-01T00:00:00Z: {e}"))
}

pub async fn run(args: MetricsArgs) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from >= to
    {
        anyhow::bail!("--to ({to}) must be after --from ({from})");
    }
    if args.name == MetricName::Burndown && args.sprint.is_none() {
        anyhow::bail!("a burndown is of one sprint: give --sprint ID");
    }
    let query = MetricsQuery {
        project: args.project,
        sprint: args.sprint,
        assignee: args.assignee,
        from: args.from,
        to: args.to,
        interval: args.interval,
    };
    let answer = if args.aws {
        let config = shared_aws::env::sdk_config().await;
        let client = shared_aws::timestream::query_client(&config).await?;
        let table = Table { database: args.database, table: args.table };
        let described = format!("{}.{}", table.database, table.table);
        TimestreamMetrics::new(client, table)
            .query(&args.tenant, args.name, &query)
            .await
            .with_context(|| format!("querying Timestream {described}"))?
    } else {
        shared_embedded::query_metrics_file(&args.data, &args.tenant, args.name, &query)
            .with_context(|| format!("reading the metrics of {}", args.data.display()))?
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::json!({ "data": answer }))?;
    } else {
        write!(out, "{}", table(&answer))?;
    }
    Ok(())
}

/// The answer as aligned columns, a header first; durations in days, hours and minutes.
pub fn table(answer: &MetricsAnswer) -> String {
    let (header, rows): (&[&str], Vec<Vec<String>>) = match answer {
        MetricsAnswer::Throughput(rows) => (
            &["start", "completed", "points"],
            rows.iter().map(|r| vec![r.start.to_string(), r.completed.to_string(), r.points.to_string()]).collect(),
        ),
        MetricsAnswer::CycleTime(rows) => (
            &["start", "completed", "median", "p90"],
            rows.iter()
                .map(|r| {
                    vec![r.start.to_string(), r.completed.to_string(), duration(r.p50_seconds), duration(r.p90_seconds)]
                })
                .collect(),
        ),
        MetricsAnswer::Velocity(rows) => (
            &["sprint", "completed", "points"],
            rows.iter().map(|r| vec![r.sprint.clone(), r.completed.to_string(), r.points.to_string()]).collect(),
        ),
        MetricsAnswer::Sla(rows) => (
            &["start", "completed", "with due date", "breached"],
            rows.iter()
                .map(|r| {
                    vec![
                        r.start.to_string(),
                        r.completed.to_string(),
                        r.with_due_date.to_string(),
                        r.breached.to_string(),
                    ]
                })
                .collect(),
        ),
        MetricsAnswer::Wip(rows) => (
            &["start", "entered", "left", "in progress"],
            rows.iter()
                .map(|r| vec![r.start.to_string(), r.entered.to_string(), r.left.to_string(), r.wip.to_string()])
                .collect(),
        ),
        MetricsAnswer::Burndown(rows) => (
            &["start", "scope", "completed", "remaining"],
            rows.iter()
                .map(|r| {
                    vec![
                        r.start.to_string(),
                        r.scope_points.to_string(),
                        r.completed_points.to_string(),
                        r.remaining_points.to_string(),
                    ]
                })
                .collect(),
        ),
    };
    if rows.is_empty() {
        return "no records match\n".to_owned();
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            // The first column (a time or a sprint) reads left-aligned, figures right-aligned.
            .map(|(i, (c, w))| if i == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut text = line(header.to_vec());
    for row in &rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// Seconds as `2d 3h`, `3h 20m`, `45m` or `30s`: what a person reads in a cycle time.
fn duration(seconds: u64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds % 86_400 / 3600, seconds % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared_core::metrics::{CycleTimeRow, VelocityRow};

    #[test]
    fn durations_read_as_a_person_would_say_them() {
        assert_eq!(duration(30), "30s");
        assert_eq!(duration(45 * 60 + 10), "45m");
        assert_eq!(duration(3 * 3600 + 20 * 60), "3h 20m");
        assert_eq!(duration(90_000), "1d 1h");
    }

    #[test]
    fn a_table_aligns_its_columns_under_a_header() {
        let start = Timestamp::parse("2026-03-02T00:00:00Z").unwrap();
        let answer =
            MetricsAnswer::CycleTime(vec![CycleTimeRow { start, completed: 12, p50_seconds: 90_000, p90_seconds: 30 }]);
        assert_eq!(
            table(&answer),
            "start                     completed  median  p90\n2026-03-02T00:00:00.000Z         12   1d 1h  30s\n"
        );
        let answer = MetricsAnswer::Velocity(vec![VelocityRow { sprint: "s".into(), completed: 1, points: 3 }]);
        assert_eq!(table(&answer), "sprint  completed  points\ns               1       3\n");
        assert_eq!(table(&MetricsAnswer::Wip(vec![])), "no records match\n");
    }
}
