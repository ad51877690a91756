//! The Timestream SQL of every metric query: what `taskstream metrics --aws` sends, what
//! `docs/analytics.md` lists for analysts to paste into the console, and what the Grafana
//! dashboard runs (a test holds the document to this code).
//!
//! Timestream takes no bound parameters, so values are written into the text as string
//! literals with their quotes doubled; ids and names come from the caller's own query.

use std::fmt::Write;

use shared_core::metrics::{Interval, MetricName, MetricsQuery};

/// The database and table a stage's records are in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub database: String,
    pub table: String,
}

impl Table {
    fn name(&self) -> String {
        format!("{}.{}", identifier(&self.database), identifier(&self.table))
    }
}

fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn unit(interval: Interval) -> &'static str {
    interval.as_str()
}

/// The predicate every query of a tenant's task records starts with, with the filters.
fn task_filter(tenant: &str, query: &MetricsQuery) -> String {
    let mut text = format!("measure_name = 'task' AND tenant = {}", literal(tenant));
    for (dimension, value) in [("project", &query.project), ("sprint", &query.sprint), ("assignee", &query.assignee)] {
        if let Some(value) = value {
            let _ = write!(text, " AND {dimension} = {}", literal(value));
        }
    }
    text
}

/// ` AND column >= from AND column < to`, for the ends the query has.
fn range(column: &str, query: &MetricsQuery) -> String {
    let mut text = String::new();
    if let Some(from) = query.from {
        let _ = write!(text, " AND {column} >= from_milliseconds({})", from.unix_millis());
    }
    if let Some(to) = query.to {
        let _ = write!(text, " AND {column} < from_milliseconds({})", to.unix_millis());
    }
    text
}

/// The SQL of `name` for `tenant`. Rows come back in the order and with the columns of the
/// answer's rows (`start`, `completed`, …); a burndown of no sprint is `None`.
pub fn query_sql(table: &Table, tenant: &str, name: MetricName, query: &MetricsQuery) -> Option<String> {
    let t = table.name();
    let bucket = format!("date_trunc('{}', time)", unit(query.interval));
    let filter = task_filter(tenant, query) + &range("time", query);
    Some(match name {
        MetricName::Throughput => format!(
            "SELECT {bucket} AS start, count(*) AS completed, sum(completed_points) AS points\n\
             FROM {t}\n\
             WHERE {filter} AND event_type = 'TaskCompleted'\n\
             GROUP BY {bucket}\n\
             ORDER BY start"
        ),
        MetricName::CycleTime => format!(
            "SELECT {bucket} AS start, count(*) AS completed,\n\
             \x20 approx_percentile(cycle_time_seconds, 0.5) AS p50_seconds,\n\
             \x20 approx_percentile(cycle_time_seconds, 0.9) AS p90_seconds\n\
             FROM {t}\n\
             WHERE {filter} AND event_type = 'TaskCompleted'\n\
             GROUP BY {bucket}\n\
             ORDER BY start"
        ),
        MetricName::Velocity => format!(
            "SELECT sprint, count(*) AS completed, sum(completed_points) AS points\n\
             FROM {t}\n\
             WHERE {filter} AND event_type = 'TaskCompleted' AND sprint IS NOT NULL\n\
             GROUP BY sprint\n\
             ORDER BY min(time)"
        ),
        MetricName::Sla => format!(
            "SELECT {bucket} AS start, count(*) AS completed, count(overdue) AS with_due_date,\n\
             \x20 sum(CASE WHEN overdue THEN 1 ELSE 0 END) AS breached\n\
             FROM {t}\n\
             WHERE {filter} AND event_type = 'TaskCompleted'\n\
             GROUP BY {bucket}\n\
             ORDER BY start"
        ),
        MetricName::Wip => {
            // What was in progress before the range, so the running sum starts from it.
            let before = match query.from {
                Some(from) => format!(
                    "(SELECT coalesce(sum(wip_delta), 0) FROM {t} WHERE {} AND wip_delta IS NOT NULL AND time < from_milliseconds({}))",
                    task_filter(tenant, query),
                    from.unix_millis()
                ),
                None => "0".to_owned(),
            };
            format!(
                "SELECT {bucket} AS start,\n\
                 \x20 sum(CASE WHEN wip_delta > 0 THEN 1 ELSE 0 END) AS entered,\n\
                 \x20 sum(CASE WHEN wip_delta < 0 THEN 1 ELSE 0 END) AS \"left\",\n\
                 \x20 {before} + sum(sum(wip_delta)) OVER (ORDER BY {bucket}) AS wip\n\
                 FROM {t}\n\
                 WHERE {filter} AND wip_delta IS NOT NULL\n\
                 GROUP BY {bucket}\n\
                 ORDER BY start"
            )
        }
        MetricName::Burndown => {
            let sprint = literal(query.sprint.as_deref()?);
            // Per task, its record of the highest version (a deletion ahead of the other
            // events of its version): in this sprint and not deleted, it is in the scope.
            let rank = "version * 2 + CASE WHEN event_type = 'TaskDeleted' THEN 1 ELSE 0 END";
            // Completions count from the sprint's start whatever the range: `remaining` is
            // what is left of the whole sprint; the range only picks the rows shown.
            let done_filter = task_filter(tenant, query);
            let shown = match range("start", query) {
                r if r.is_empty() => r,
                r => format!("WHERE {}\n", r.trim_start_matches(" AND ")),
            };
            let tenant = literal(tenant);
            format!(
                "WITH tasks AS (\n\
                 \x20 SELECT aggregate_id, max_by(sprint, {rank}) AS sprint,\n\
                 \x20   max_by(event_type, {rank}) AS last_event, max_by(estimate_points, {rank}) AS points\n\
                 \x20 FROM {t}\n\
                 \x20 WHERE measure_name = 'task' AND tenant = {tenant} AND aggregate_id IN\n\
                 \x20   (SELECT aggregate_id FROM {t} WHERE measure_name = 'task' AND tenant = {tenant} AND sprint = {sprint})\n\
                 \x20 GROUP BY aggregate_id\n\
                 ),\n\
                 scope AS (SELECT coalesce(sum(points), 0) AS points FROM tasks WHERE sprint = {sprint} AND last_event <> 'TaskDeleted'),\n\
                 done AS (\n\
                 \x20 SELECT {bucket} AS start, sum(completed_points) AS points\n\
                 \x20 FROM {t}\n\
                 \x20 WHERE {done_filter} AND event_type = 'TaskCompleted'\n\
                 \x20 GROUP BY {bucket}\n\
                 )\n\
                 SELECT start, scope_points, completed_points, scope_points - completed_points AS remaining_points\n\
                 FROM (\n\
                 \x20 SELECT done.start, scope.points AS scope_points, sum(done.points) OVER (ORDER BY done.start) AS completed_points\n\
                 \x20 FROM done CROSS JOIN scope\n\
                 )\n\
                 {shown}ORDER BY start"
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use events_schema::Timestamp;
    use shared_core::metrics::MetricName;

    use super::*;

    fn table() -> Table {
        Table { database: "dev_taskstream".into(), table: "task_metrics".into() }
    }

    #[test]
    fn values_are_quoted_so_a_filter_cannot_break_out_of_its_literal() {
        let query = MetricsQuery { assignee: Some("o'brien' OR tenant <> 'x".into()), ..MetricsQuery::default() };
        let sql = query_sql(&table(), "acme", MetricName::Throughput, &query).unwrap();
        assert!(sql.contains("AND assignee = 'o''brien'' OR tenant <> ''x'"), "{sql}");
        let sql = query_sql(&table(), "it's", MetricName::Velocity, &MetricsQuery::default()).unwrap();
        assert!(sql.contains("tenant = 'it''s'"), "{sql}");
        let odd = Table { database: "a\"b".into(), table: "t".into() };
        assert!(
            query_sql(&odd, "acme", MetricName::Sla, &MetricsQuery::default())
                .unwrap()
                .contains("FROM \"a\"\"b\".\"t\"")
        );
    }

    #[test]
    fn every_query_is_scoped_to_the_tenant_and_the_range() {
        let query = MetricsQuery {
            from: Some(Timestamp::parse("2026-03-01T00:00:00Z").unwrap()),
            to: Some(Timestamp::parse("2026-04-01T00:00:00Z").unwrap()),
            sprint: Some("s-1".into()),
            interval: Interval::Week,
            ..MetricsQuery::default()
        };
        for name in MetricName::ALL {
            let sql = query_sql(&table(), "acme", name, &query).unwrap();
            let scoped = sql.matches("tenant = 'acme'").count();
            let reads = sql.matches("FROM \"dev_taskstream\".\"task_metrics\"").count();
            assert_eq!(scoped, reads, "{name:?}: every read of the table names the tenant:\n{sql}");
            assert!(sql.contains("from_milliseconds(1772323200000)"), "{name:?}: {sql}");
            assert!(sql.contains("from_milliseconds(1775001600000)"), "{name:?}: {sql}");
            assert!(sql.contains("sprint = 's-1'"), "{name:?}: {sql}");
            if name != MetricName::Velocity {
                assert!(sql.contains("date_trunc('week', time)"), "{name:?}: {sql}");
            }
        }
        let no_sprint = MetricsQuery::default();
        assert_eq!(query_sql(&table(), "acme", MetricName::Burndown, &no_sprint), None);
    }

    /// The SQL `docs/analytics.md` lists: tenant `acme`, stage `dev`, by day (a burndown of
    /// sprint `SPRINT_ID`), no other filter.
    pub(crate) fn documented(name: MetricName) -> String {
        let query = MetricsQuery {
            sprint: (name == MetricName::Burndown).then(|| "SPRINT_ID".to_owned()),
            ..MetricsQuery::default()
        };
        query_sql(&table(), "acme", name, &query).unwrap()
    }

    #[test]
    fn the_analytics_document_lists_every_query_as_the_code_writes_it() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/analytics.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let missing: Vec<String> = MetricName::ALL
            .into_iter()
            .map(|name| (name, documented(name)))
            .filter(|(_, sql)| !doc.contains(&format!("```sql\n{sql}\n```")))
            .map(|(name, sql)| format!("#### `{}`\n\n```sql\n{sql}\n```\n", name.as_str()))
            .collect();
        assert!(missing.is_empty(), "docs/analytics.md lacks the SQL of these queries:\n\n{}", missing.join("\n"));
    }
}
