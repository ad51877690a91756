//! The Grafana dashboard over the Timestream data source, `docs/grafana/taskstream.json`:
//! one panel per metric query, each running the SQL of `sql.rs` with the dashboard's
//! variables in place of the tenant, the sprint, the bucket width and the time range. A test
//! holds the committed file to this code; regenerate it with
//! `TASKSTREAM_BLESS=1 cargo test -p shared-aws --lib grafana`.

use serde_json::{Value, json};
use shared_core::metrics::{Interval, MetricName, MetricsQuery};

use super::sql::{Table, query_sql};

/// The SQL of `name` as the dashboard runs it: `${database}`.`${table}` of `${tenant}`, by
/// `${interval}`, within the dashboard's time range (`$__timeFilter`), a burndown of `${sprint}`.
pub fn panel_sql(name: MetricName) -> String {
    let table = Table { database: "${database}".into(), table: "${table}".into() };
    let query = MetricsQuery {
        sprint: (name == MetricName::Burndown).then(|| "${sprint}".to_owned()),
        interval: Interval::Day,
        ..MetricsQuery::default()
    };
    let sql = query_sql(&table, "${tenant}", name, &query).unwrap_or_default();
    let sql = sql.replace("date_trunc('day', time)", "date_trunc('${interval}', time)");
    // The time range: every read of the records of a tenant is limited to the dashboard's.
    let ranged = "tenant = '${tenant}' AND $__timeFilter";
    match name {
        // A burndown counts completions from the sprint's start: only its rows are ranged.
        MetricName::Burndown => sql.replacen(
            "ORDER BY start",
            "WHERE start BETWEEN from_milliseconds($__from) AND from_milliseconds($__to)\nORDER BY start",
            1,
        ),
        // Work in progress at a bucket's end counts what entered before the range too.
        MetricName::Wip => sql.replace("tenant = '${tenant}'", ranged).replace(
            "0 + sum(sum(wip_delta))",
            "(SELECT coalesce(sum(wip_delta), 0) FROM \"${database}\".\"${table}\" WHERE measure_name = 'task' \
             AND tenant = '${tenant}' AND wip_delta IS NOT NULL AND time < from_milliseconds($__from)) + sum(sum(wip_delta))",
        ),
        _ => sql.replace("tenant = '${tenant}'", ranged),
    }
}

fn panel(id: u32, name: MetricName, title: &str, kind: &str, y: u32, x: u32) -> Value {
    json!({
        "id": id,
        "title": title,
        "type": kind,
        "datasource": { "type": "grafana-timestream-datasource", "uid": "${datasource}" },
        "gridPos": { "h": 8, "w": 12, "x": x, "y": y },
        "fieldConfig": { "defaults": { "custom": { "spanNulls": true } }, "overrides": [] },
        "targets": [{
            "refId": "A",
            "datasource": { "type": "grafana-timestream-datasource", "uid": "${datasource}" },
            "format": if name == MetricName::Velocity { "table" } else { "time_series" },
            "rawQuery": panel_sql(name),
        }],
    })
}

fn variable(name: &str, label: &str, default: &str) -> Value {
    json!({ "name": name, "label": label, "type": "textbox", "query": default,
            "current": { "text": default, "value": default }, "hide": 0 })
}

/// The whole dashboard.
pub fn dashboard() -> Value {
    let intervals = ["hour", "day", "week"].map(|i| json!({ "text": i, "value": i, "selected": i == "day" }));
    json!({
        "title": "taskstream: task metrics",
        "uid": "taskstream-task-metrics",
        "description": "Throughput, cycle time, velocity, SLA, work in progress and burndown from the metrics consumer's Timestream table; the queries are those of docs/analytics.md.",
        "schemaVersion": 39,
        "editable": true,
        "time": { "from": "now-30d", "to": "now" },
        "templating": { "list": [
            { "name": "datasource", "label": "Timestream", "type": "datasource", "query": "grafana-timestream-datasource", "hide": 0 },
            variable("database", "database", "dev_taskstream"),
            variable("table", "table", "task_metrics"),
            variable("tenant", "tenant", "default"),
            variable("sprint", "sprint (burndown)", ""),
            { "name": "interval", "label": "bucket", "type": "custom", "query": "hour,day,week",
              "current": { "text": "day", "value": "day" }, "options": intervals, "hide": 0 },
        ]},
        "panels": [
            panel(1, MetricName::Throughput, "Throughput: tasks and points completed", "timeseries", 0, 0),
            panel(2, MetricName::CycleTime, "Cycle time: median and p90 (seconds, creation to completion)", "timeseries", 0, 12),
            panel(3, MetricName::Velocity, "Velocity per sprint", "barchart", 8, 0),
            panel(4, MetricName::Sla, "SLA: completed late", "timeseries", 8, 12),
            panel(5, MetricName::Wip, "Work in progress", "timeseries", 16, 0),
            panel(6, MetricName::Burndown, "Burndown of ${sprint}", "timeseries", 16, 12),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_dashboard_is_the_one_the_code_writes() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/grafana/taskstream.json");
        let mut text = serde_json::to_string_pretty(&dashboard()).unwrap();
        text.push('\n');
        if std::env::var_os("TASKSTREAM_BLESS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(committed == text, "{} differs from the code; regenerate with TASKSTREAM_BLESS=1", path.display());
    }

    #[test]
    fn every_panel_runs_its_querys_sql_in_the_dashboards_range() {
        for name in MetricName::ALL {
            let sql = panel_sql(name);
            assert!(sql.contains("tenant = '${tenant}'"), "{name:?}: {sql}");
            assert!(sql.contains("$__timeFilter") || sql.contains("$__from"), "{name:?}: {sql}");
            assert!(sql.contains("FROM \"${database}\".\"${table}\""), "{name:?}: {sql}");
            if name != MetricName::Velocity {
                assert!(sql.contains("date_trunc('${interval}', time)"), "{name:?}: {sql}");
            }
        }
        assert!(panel_sql(MetricName::Burndown).contains("sprint = '${sprint}'"));
    }
}
