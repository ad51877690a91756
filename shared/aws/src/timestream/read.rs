//! The metric queries against Timestream: the SQL of `sql.rs` through the Query API, every
//! page of it, read back into the answer's rows by column name.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_timestreamquery::Client;
use aws_sdk_timestreamquery::error::{DisplayErrorContext, SdkError};
use aws_sdk_timestreamquery::operation::query::QueryError;
use aws_sdk_timestreamquery::types::Row;
use events_schema::Timestamp;
use shared_core::metrics::{
    BurndownRow, CycleTimeRow, MetricName, MetricsAnswer, MetricsQuery, SlaRow, ThroughputRow, VelocityRow, WipRow,
};
use shared_core::ports::{MetricsReader, StoreError};

use super::sql::{Table, query_sql};

/// Pages one query may read: far more than any of the queries returns (one row per bucket
/// or sprint), so a runaway pagination is cut off rather than followed for ever.
const MAX_PAGES: usize = 1000;

pub struct TimestreamMetrics {
    client: Client,
    table: Table,
}

impl TimestreamMetrics {
    pub fn new(client: Client, table: Table) -> Self {
        Self { client, table }
    }
}

/// One result row, its cells by column name; a null cell is absent.
type Cells = HashMap<String, String>;

#[async_trait]
impl MetricsReader for TimestreamMetrics {
    async fn query(&self, tenant: &str, name: MetricName, query: &MetricsQuery) -> Result<MetricsAnswer, StoreError> {
        let Some(sql) = query_sql(&self.table, tenant, name, query) else {
            // Only a burndown of no sprint has no SQL: there is nothing to burn down.
            return Ok(MetricsAnswer::Burndown(vec![]));
        };
        let mut rows = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page =
                self.client.query().query_string(&sql).set_next_token(next.take()).send().await.map_err(failed)?;
            let columns: Vec<String> =
                page.column_info().iter().map(|c| c.name().unwrap_or_default().to_owned()).collect();
            rows.extend(page.rows().iter().map(|row| cells(&columns, row)));
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_owned()),
                _ => return answer(name, &rows).map_err(StoreError::Corrupt),
            }
        }
        Err(StoreError::Unavailable(format!("the query did not end within {MAX_PAGES} pages")))
    }
}

fn failed(err: SdkError<QueryError, aws_sdk_timestreamquery::config::http::HttpResponse>) -> StoreError {
    match &err {
        SdkError::ServiceError(e) if matches!(e.err(), QueryError::ThrottlingException(_)) => {
            StoreError::Throttled(DisplayErrorContext(&err).to_string())
        }
        _ => StoreError::Unavailable(format!("Query failed: {}", DisplayErrorContext(&err))),
    }
}

fn cells(columns: &[String], row: &Row) -> Cells {
    columns
        .iter()
        .zip(row.data())
        .filter_map(|(name, datum)| datum.scalar_value().map(|v| (name.clone(), v.to_owned())))
        .collect()
}

/// A Timestream timestamp (`2026-03-02 00:00:00.000000000`, UTC) as an instant.
fn instant(text: &str) -> Result<Timestamp, String> {
    let iso = format!("{}Z", text.trim().replacen(' ', "T", 1));
    Timestamp::parse(&iso).map_err(|e| format!("{text:?} is not a Timestream timestamp: {e}"))
}

/// A count or a sum (null when nothing was summed: 0). A DOUBLE (an approximate percentile of
/// a few values) is rounded.
fn number(cells: &Cells, column: &str) -> Result<i64, String> {
    match cells.get(column) {
        None => Ok(0),
        Some(text) => text
            .parse::<i64>()
            .or_else(|_| text.parse::<f64>().map(|f| f.round() as i64))
            .map_err(|_| format!("column {column} holds {text:?}, not a number")),
    }
}

fn count(cells: &Cells, column: &str) -> Result<u64, String> {
    number(cells, column).map(|n| u64::try_from(n).unwrap_or(0))
}

fn start(cells: &Cells) -> Result<Timestamp, String> {
    instant(cells.get("start").ok_or("a row without its start")?)
}

/// The rows of `name` from the result cells.
fn answer(name: MetricName, rows: &[Cells]) -> Result<MetricsAnswer, String> {
    Ok(match name {
        MetricName::Throughput => MetricsAnswer::Throughput(
            rows.iter()
                .map(|c| {
                    Ok(ThroughputRow {
                        start: start(c)?,
                        completed: count(c, "completed")?,
                        points: count(c, "points")?,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
        MetricName::CycleTime => MetricsAnswer::CycleTime(
            rows.iter()
                .map(|c| {
                    Ok(CycleTimeRow {
                        start: start(c)?,
                        completed: count(c, "completed")?,
                        p50_seconds: count(c, "p50_seconds")?,
                        p90_seconds: count(c, "p90_seconds")?,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
        MetricName::Velocity => MetricsAnswer::Velocity(
            rows.iter()
                .map(|c| {
                    Ok(VelocityRow {
                        sprint: c.get("sprint").cloned().unwrap_or_default(),
                        completed: count(c, "completed")?,
                        points: count(c, "points")?,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
        MetricName::Sla => MetricsAnswer::Sla(
            rows.iter()
                .map(|c| {
                    Ok(SlaRow {
                        start: start(c)?,
                        completed: count(c, "completed")?,
                        with_due_date: count(c, "with_due_date")?,
                        breached: count(c, "breached")?,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
        MetricName::Wip => MetricsAnswer::Wip(
            rows.iter()
                .map(|c| {
                    Ok(WipRow {
                        start: start(c)?,
                        entered: count(c, "entered")?,
                        left: count(c, "left")?,
                        wip: number(c, "wip")?,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
        MetricName::Burndown => MetricsAnswer::Burndown(
            rows.iter()
                .map(|c| {
                    Ok(BurndownRow {
                        start: start(c)?,
                        scope_points: count(c, "scope_points")?,
                        completed_points: count(c, "completed_points")?,
                        remaining_points: count(c, "remaining_points")?,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestream_timestamps_and_numbers_read_back() {
        assert_eq!(
            instant("2026-03-02 00:00:00.000000000").unwrap(),
            Timestamp::parse("2026-03-02T00:00:00Z").unwrap()
        );
        let cells: Cells = [("a".to_owned(), "12".to_owned()), ("b".to_owned(), "90000.4".to_owned())].into();
        assert_eq!((number(&cells, "a"), number(&cells, "b"), number(&cells, "absent")), (Ok(12), Ok(90_000), Ok(0)));
        let bad: Cells = [("a".to_owned(), "twelve".to_owned())].into();
        assert!(number(&bad, "a").unwrap_err().contains("twelve"));
        assert!(instant("yesterday").is_err());
    }
}
