//! `trace --aws` runs its CloudWatch Logs Insights query itself: the operator gets the log
//! lines of a task's changes in the same answer as its history and dead letters, and the query
//! is still printed so it can be refined in the console.
//!
//! Logs Insights refuses a query naming a log group that does not exist (a handler that has
//! never run has none yet), so only the groups that exist are searched and the others are
//! reported. A query runs asynchronously: it is started, then polled until it ends or the
//! patience runs out (then it is cancelled, so it stops costing scanned bytes).

use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::QueryStatus;
use serde::Serialize;

use super::OperateError;

/// How long a query may run before the trace gives up on it.
const PATIENCE: Duration = Duration::from_secs(60);
/// The wait between polls of a running query.
const POLL: Duration = Duration::from_millis(500);

/// One log line the query found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// As Logs Insights writes it (`2026-12-01 20:06:28.706`, UTC); an answer in Unix
    /// milliseconds is written as RFC 3339.
    pub timestamp: String,
    pub log_group: String,
    pub message: String,
}

/// What the query searched and found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSearch {
    /// The groups searched: those of the handlers that exist.
    pub searched: Vec<String>,
    /// The handlers' groups that do not exist (yet): nothing of theirs can be found.
    pub absent: Vec<String>,
    /// `Complete`, or how the query ended otherwise (`Timeout`, `Failed`, ...).
    pub status: String,
    pub lines: Vec<LogLine>,
}

#[derive(Clone)]
pub struct LogsInsights {
    client: Client,
    patience: Duration,
}

impl LogsInsights {
    pub fn new(client: Client) -> Self {
        Self { client, patience: PATIENCE }
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }

    /// Runs `query` over the existing ones of `groups` between two Unix times (seconds).
    /// Only lines naming one of `terms` are kept: the query's own filter already asks for
    /// exactly those, and checking again means an answer that ignored the filter cannot put
    /// another task's lines in this one's trace.
    pub async fn search(
        &self,
        groups: &[String],
        query: &str,
        window: (i64, i64),
        terms: &[&str],
    ) -> Result<LogSearch, OperateError> {
        let mut searched = Vec::new();
        let mut absent = Vec::new();
        for group in groups {
            if self.exists(group).await? {
                searched.push(group.clone());
            } else {
                absent.push(group.clone());
            }
        }
        if searched.is_empty() {
            return Ok(LogSearch { searched, absent, status: "NotRun".to_owned(), lines: Vec::new() });
        }
        let started = self
            .client
            .start_query()
            .set_log_group_names(Some(searched.clone()))
            .start_time(window.0)
            .end_time(window.1)
            .query_string(query)
            .send()
            .await
            .map_err(|e| OperateError::aws("StartQuery", e))?;
        let id = started.query_id().ok_or_else(|| OperateError::aws_missing("StartQuery", "queryId"))?.to_owned();
        let deadline = tokio::time::Instant::now() + self.patience;
        loop {
            let answer = self
                .client
                .get_query_results()
                .query_id(&id)
                .send()
                .await
                .map_err(|e| OperateError::aws("GetQueryResults", e))?;
            let status = answer.status();
            if matches!(status, Some(QueryStatus::Running | QueryStatus::Scheduled)) {
                if tokio::time::Instant::now() >= deadline {
                    // Best effort: the trace reports the timeout either way.
                    let _ = self.client.stop_query().query_id(&id).send().await;
                    return Ok(LogSearch { searched, absent, status: "Timeout".to_owned(), lines: Vec::new() });
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
            let lines = answer
                .results()
                .iter()
                .map(|row| {
                    let field = |name: &str| {
                        row.iter().find(|f| f.field() == Some(name)).and_then(|f| f.value()).unwrap_or("").to_owned()
                    };
                    LogLine {
                        timestamp: readable_time(field("@timestamp")),
                        log_group: field("@log"),
                        message: field("@message"),
                    }
                })
                .filter(|line| terms.iter().any(|t| line.message.contains(t)))
                .collect();
            let status = status.map_or("Unknown", QueryStatus::as_str).to_owned();
            return Ok(LogSearch { searched, absent, status, lines });
        }
    }

    async fn exists(&self, group: &str) -> Result<bool, OperateError> {
        let found = self
            .client
            .describe_log_groups()
            .log_group_name_prefix(group)
            .send()
            .await
            .map_err(|e| OperateError::aws("DescribeLogGroups", e))?;
        Ok(found.log_groups().iter().any(|g| g.log_group_name() == Some(group)))
    }
}

/// Unix milliseconds, as some answers give `@timestamp`, turned into a time a person reads.
fn readable_time(raw: String) -> String {
    raw.parse::<i64>().ok().and_then(events_schema::Timestamp::from_unix_millis).map_or(raw, |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_unix_milliseconds_are_written_as_rfc_3339_and_others_kept() {
        assert_eq!(readable_time("1796164989021".to_owned()), "2026-12-01T22:43:09.021Z");
        assert_eq!(readable_time("2026-12-01 22:43:09.021".to_owned()), "2026-12-01 22:43:09.021");
    }
}
