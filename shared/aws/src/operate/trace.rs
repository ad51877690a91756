//! `trace --aws`: where one task's changes went on a deployed stage, from what the stage keeps.
//! The audit history holds one item per version and event type (the events each change
//! derived, with their ids, schema versions and correlation ids); the consumers' dead-letter
//! queues and the router's parking queue hold what failed, with the reasons; and the
//! handlers' logs hold every line each change left, found by its correlation id with the
//! CloudWatch Logs Insights query this builds ([`AwsTrace::query`], run by
//! [`AwsTracer::search_logs`]).

use serde::Serialize;
use shared_core::ports::{HistoryStore, Store};

use super::logs::{LogSearch, LogsInsights};
use super::router_failures::{ParkedRecord, RouterFailures};
use super::{AwsDeadLetter, OperateError, SqsDeadLetterQueues, StageNames};
use crate::dynamo::DynamoStore;
use crate::lambda::STREAM_ROUTER;

/// How many dead letters of each queue are read looking for the task.
const LETTERS_READ: usize = 1000;
/// How far before a task's first change its log lines are looked for: the API logs a request
/// before the change's time is taken, and clocks differ a little between functions.
const LOG_LEAD_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsTrace {
    pub tenant: String,
    pub task_id: String,
    /// The task's version in the table now (none: no such task, or deleted).
    pub current_version: Option<u64>,
    /// Per version, what the audit history recorded of it.
    pub changes: Vec<AwsTraceChange>,
    /// Versions up to the current one the audit history has no item of: not applied yet, or
    /// their events are dead letters (below) or were parked by the router.
    pub missing_versions: Vec<u64>,
    pub dead_letters: Vec<AwsDeadLetter>,
    pub parked: Vec<ParkedRecord>,
    /// The handlers' log groups the query runs over.
    pub log_groups: Vec<String>,
    /// A Logs Insights query for every log line of these changes, by correlation id.
    pub query: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsTraceChange {
    pub version: u64,
    pub occurred_at: String,
    pub actor: String,
    pub correlation_id: String,
    pub events: Vec<AwsTraceEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsTraceEvent {
    pub event_id: String,
    pub event_type: String,
    pub schema_version: u32,
}

pub struct AwsTracer {
    store: DynamoStore,
    dead_letters: SqsDeadLetterQueues,
    router: RouterFailures,
    logs: LogsInsights,
    names: StageNames,
}

impl AwsTracer {
    pub fn new(
        store: DynamoStore,
        dead_letters: SqsDeadLetterQueues,
        router: RouterFailures,
        logs: LogsInsights,
        names: StageNames,
    ) -> Self {
        Self { store, dead_letters, router, logs, names }
    }

    pub fn from_config(config: &aws_config::SdkConfig, names: StageNames) -> Self {
        Self::new(
            DynamoStore::new(config, names.table()),
            SqsDeadLetterQueues::from_config(config, names.clone()),
            RouterFailures::from_config(config, names.clone()),
            LogsInsights::from_config(config),
            names,
        )
    }

    pub async fn trace(&self, tenant: &str, task_id: &str, version: Option<u64>) -> Result<AwsTrace, OperateError> {
        let unavailable =
            |e: shared_core::ports::StoreError| OperateError::Aws { call: "Query", message: e.to_string() };
        let current_version = self.store.get_task(tenant, task_id).await.map_err(unavailable)?.map(|t| t.version);
        let records = self.store.list(tenant, task_id).await.map_err(unavailable)?;
        let mut changes: Vec<AwsTraceChange> = Vec::new();
        for r in records.into_iter().filter(|r| version.is_none_or(|v| v == r.version)) {
            let event = AwsTraceEvent {
                event_id: r.event_id.to_string(),
                event_type: r.event_type.clone(),
                schema_version: r.schema_version,
            };
            match changes.last_mut() {
                Some(last) if last.version == r.version => last.events.push(event),
                _ => changes.push(AwsTraceChange {
                    version: r.version,
                    occurred_at: r.occurred_at.to_string(),
                    actor: r.actor.clone(),
                    correlation_id: r.correlation_id.clone(),
                    events: vec![event],
                }),
            }
        }
        let missing_versions = match (current_version, version) {
            (Some(current), None) => (1..=current).filter(|v| !changes.iter().any(|c| c.version == *v)).collect(),
            (Some(current), Some(v)) if v <= current && changes.is_empty() => vec![v],
            _ => Vec::new(),
        };
        let dead_letters = self
            .dead_letters
            .letters(None, LETTERS_READ)
            .await?
            .into_iter()
            .filter(|l| l.aggregate_id.as_deref() == Some(task_id))
            .collect();
        let parked = match self.router.list(LETTERS_READ).await {
            Ok((_, parked)) => {
                // The item's key is `T#<tenant>#TASK#<id>`.
                let key = format!("#{tenant}#TASK#{task_id}");
                parked.into_iter().filter(|p| p.item.as_deref().is_some_and(|i| i.ends_with(&key))).collect()
            }
            Err(OperateError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        };
        if current_version.is_none() && changes.is_empty() {
            return Err(OperateError::NotFound(format!(
                "no task {task_id} of tenant {tenant} in {} and no history of it",
                self.names.table()
            )));
        }
        let correlations: Vec<&str> = changes.iter().map(|c| c.correlation_id.as_str()).collect();
        let log_groups = self.log_groups();
        let query = query(task_id, &correlations);
        Ok(AwsTrace {
            tenant: tenant.to_owned(),
            task_id: task_id.to_owned(),
            current_version,
            changes,
            missing_versions,
            dead_letters,
            parked,
            log_groups,
            query,
        })
    }

    /// Runs the trace's Logs Insights query, from a little before the task's first change to
    /// now (the last day when the history holds none of it).
    pub async fn search_logs(&self, trace: &AwsTrace) -> Result<LogSearch, OperateError> {
        let now = events_schema::Timestamp::now().unix_millis() / 1000;
        let first = trace
            .changes
            .iter()
            .filter_map(|c| events_schema::Timestamp::parse(&c.occurred_at).ok())
            .map(|t| t.unix_millis() / 1000)
            .min();
        let start = first.map_or(now - 24 * 3600, |f| f - LOG_LEAD_SECS);
        let mut terms = vec![trace.task_id.as_str()];
        terms.extend(trace.changes.iter().map(|c| c.correlation_id.as_str()));
        self.logs.search(&trace.log_groups, &trace.query, (start, now + 60), &terms).await
    }

    /// Every handler's log group (rust-function.ts: `/aws/lambda/<function>`): the API that
    /// took the write, the router, and each consumer.
    fn log_groups(&self) -> Vec<String> {
        let handlers =
            ["task-api", STREAM_ROUTER].into_iter().chain(events_schema::routing::ROUTES.iter().map(|r| r.name));
        handlers.map(|h| format!("/aws/lambda/{}", self.names.function(h))).collect()
    }
}

/// Lines naming the task or any of its changes' correlation ids, oldest first. Quotes and
/// backslashes are dropped from the values: ids never hold them, and a query is no place
/// for an unescaped one.
fn query(task_id: &str, correlations: &[&str]) -> String {
    let clean = |v: &str| v.chars().filter(|c| !matches!(c, '"' | '\\')).collect::<String>();
    let mut terms = vec![format!("@message like \"{}\"", clean(task_id))];
    terms.extend(correlations.iter().map(|c| format!("@message like \"{}\"", clean(c))));
    format!("fields @timestamp, @log, @message\n| filter {}\n| sort @timestamp asc\n| limit 1000", terms.join(" or "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_names_the_task_and_each_correlation_id_and_nothing_can_break_out_of_it() {
        let q = query("t-1", &["c-1", "c\"2\\"]);
        assert!(q.contains("@message like \"t-1\" or @message like \"c-1\" or @message like \"c2\""), "{q}");
        assert!(q.starts_with("fields @timestamp, @log, @message") && q.ends_with("| limit 1000"), "{q}");
    }
}
