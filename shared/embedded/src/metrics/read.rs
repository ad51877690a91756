//! The metric queries over the embedded table. Each selects its kind of rows of one tenant
//! (through a covering partial index) and folds them into buckets here: SQLite has no
//! percentile function, and one fold per query keeps every query's buckets and percentiles
//! defined in one place (`shared_core::metrics`). The Timestream SQL of the same queries is in
//! `docs/analytics.md`.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, params};
use shared_core::metrics::{
    BurndownRow, CycleTimeRow, MetricName, MetricsAnswer, MetricsQuery, SlaRow, ThroughputRow, VelocityRow, WipRow,
    instant, percentile,
};

use crate::EmbeddedError;

/// The most buckets a burndown lists: a year of hours.
const MAX_BUCKETS: usize = 366 * 24;

/// The filters every query shares: `?1` tenant, `?2`/`?3` the time range, `?4`–`?6` project,
/// sprint and assignee (NULL: any).
const FILTERS: &str = "tenant = ?1 AND time_ms >= ?2 AND time_ms < ?3
    AND (?4 IS NULL OR project = ?4) AND (?5 IS NULL OR sprint = ?5) AND (?6 IS NULL OR assignee = ?6)";

pub(crate) fn empty(name: MetricName) -> MetricsAnswer {
    match name {
        MetricName::Throughput => MetricsAnswer::Throughput(vec![]),
        MetricName::CycleTime => MetricsAnswer::CycleTime(vec![]),
        MetricName::Velocity => MetricsAnswer::Velocity(vec![]),
        MetricName::Sla => MetricsAnswer::Sla(vec![]),
        MetricName::Wip => MetricsAnswer::Wip(vec![]),
        MetricName::Burndown => MetricsAnswer::Burndown(vec![]),
    }
}

pub(crate) fn answer(
    conn: &Connection,
    tenant: &str,
    name: MetricName,
    query: &MetricsQuery,
    now_ms: i64,
) -> Result<MetricsAnswer, EmbeddedError> {
    Ok(match name {
        MetricName::Throughput => MetricsAnswer::Throughput(throughput(&completions(conn, tenant, query)?, query)),
        MetricName::CycleTime => MetricsAnswer::CycleTime(cycle_time(completions(conn, tenant, query)?, query)),
        MetricName::Velocity => MetricsAnswer::Velocity(velocity(&completions(conn, tenant, query)?)),
        MetricName::Sla => MetricsAnswer::Sla(sla(&completions(conn, tenant, query)?, query)),
        MetricName::Wip => MetricsAnswer::Wip(wip(conn, tenant, query)?),
        MetricName::Burndown => MetricsAnswer::Burndown(burndown(conn, tenant, query, now_ms)?),
    })
}

/// One `TaskCompleted` record.
struct Completion {
    time_ms: i64,
    sprint: String,
    cycle_time_seconds: u64,
    points: u64,
    overdue: Option<bool>,
}

fn completions(conn: &Connection, tenant: &str, query: &MetricsQuery) -> Result<Vec<Completion>, EmbeddedError> {
    let (from, to) = query.range_ms();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT time_ms, sprint, cycle_time_seconds, completed_points, overdue FROM metric_records
         WHERE event_type = 'TaskCompleted' AND {FILTERS} ORDER BY time_ms"
    ))?;
    let rows = stmt.query_map(params![tenant, from, to, query.project, query.sprint, query.assignee], |r| {
        Ok(Completion {
            time_ms: r.get(0)?,
            sprint: r.get(1)?,
            cycle_time_seconds: r.get::<_, Option<u64>>(2)?.unwrap_or(0),
            points: r.get::<_, Option<u64>>(3)?.unwrap_or(0),
            overdue: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn throughput(rows: &[Completion], query: &MetricsQuery) -> Vec<ThroughputRow> {
    let mut buckets: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for c in rows {
        let b = buckets.entry(query.interval.bucket_start(c.time_ms)).or_default();
        b.0 += 1;
        b.1 += c.points;
    }
    buckets
        .into_iter()
        .map(|(start, (completed, points))| ThroughputRow { start: instant(start), completed, points })
        .collect()
}

fn cycle_time(rows: Vec<Completion>, query: &MetricsQuery) -> Vec<CycleTimeRow> {
    let mut buckets: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for c in rows {
        buckets.entry(query.interval.bucket_start(c.time_ms)).or_default().push(c.cycle_time_seconds);
    }
    buckets
        .into_iter()
        .map(|(start, mut times)| {
            times.sort_unstable();
            CycleTimeRow {
                start: instant(start),
                completed: times.len() as u64,
                p50_seconds: percentile(&times, 50),
                p90_seconds: percentile(&times, 90),
            }
        })
        .collect()
}

/// Per sprint, in the order of each sprint's first completion; completions outside any
/// sprint are left out.
fn velocity(rows: &[Completion]) -> Vec<VelocityRow> {
    let mut order: Vec<&str> = Vec::new();
    let mut sums: HashMap<&str, (u64, u64)> = HashMap::new();
    for c in rows.iter().filter(|c| !c.sprint.is_empty()) {
        let sum = sums.entry(c.sprint.as_str()).or_insert_with(|| {
            order.push(c.sprint.as_str());
            (0, 0)
        });
        sum.0 += 1;
        sum.1 += c.points;
    }
    order
        .into_iter()
        .map(|sprint| {
            let (completed, points) = sums.get(sprint).copied().unwrap_or_default();
            VelocityRow { sprint: sprint.to_owned(), completed, points }
        })
        .collect()
}

fn sla(rows: &[Completion], query: &MetricsQuery) -> Vec<SlaRow> {
    let mut buckets: BTreeMap<i64, (u64, u64, u64)> = BTreeMap::new();
    for c in rows {
        let b = buckets.entry(query.interval.bucket_start(c.time_ms)).or_default();
        b.0 += 1;
        if let Some(overdue) = c.overdue {
            b.1 += 1;
            b.2 += u64::from(overdue);
        }
    }
    buckets
        .into_iter()
        .map(|(start, (completed, with_due_date, breached))| SlaRow {
            start: instant(start),
            completed,
            with_due_date,
            breached,
        })
        .collect()
}

fn wip(conn: &Connection, tenant: &str, query: &MetricsQuery) -> Result<Vec<WipRow>, EmbeddedError> {
    let (from, to) = query.range_ms();
    let filter = params![tenant, i64::MIN, from, query.project, query.sprint, query.assignee];
    // Everything before the range counts toward the work in progress it starts with.
    let mut running: i64 = conn
        .prepare_cached(&format!(
            "SELECT COALESCE(SUM(wip_delta), 0) FROM metric_records WHERE wip_delta IS NOT NULL AND {FILTERS}"
        ))?
        .query_row(filter, |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT time_ms, wip_delta FROM metric_records WHERE wip_delta IS NOT NULL AND {FILTERS} ORDER BY time_ms"
    ))?;
    let rows = stmt.query_map(params![tenant, from, to, query.project, query.sprint, query.assignee], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
    })?;
    let mut out: Vec<WipRow> = Vec::new();
    for row in rows {
        let (time_ms, delta) = row?;
        let start = query.interval.bucket_start(time_ms);
        if out.last().is_none_or(|last| last.start.unix_millis() != start) {
            out.push(WipRow { start: instant(start), entered: 0, left: 0, wip: running });
        }
        running += delta;
        if let Some(last) = out.last_mut() {
            last.entered += u64::from(delta > 0);
            last.left += u64::from(delta < 0);
            last.wip = running;
        }
    }
    Ok(out)
}

/// A sprint's scope and remaining points per bucket, from the sprint's start (or the range's
/// `from`) to its close (or `to`, or now). Without a sprint there is nothing to burn down.
fn burndown(
    conn: &Connection,
    tenant: &str,
    query: &MetricsQuery,
    now_ms: i64,
) -> Result<Vec<BurndownRow>, EmbeddedError> {
    let Some(sprint) = query.sprint.as_deref() else { return Ok(vec![]) };
    let scope = scope_points(conn, tenant, sprint)?;
    let sprint_time = |event_type: &str| -> Result<Option<i64>, EmbeddedError> {
        Ok(conn
            .prepare_cached(
                "SELECT MIN(time_ms) FROM metric_records
                 WHERE tenant = ?1 AND sprint = ?2 AND aggregate_id = ?2 AND event_type = ?3",
            )?
            .query_row(params![tenant, sprint, event_type], |r| r.get(0))?)
    };
    // The range is the sprint's own unless asked otherwise; completions are counted from its
    // start either way, so `remaining` is what is left of the whole sprint.
    let started = sprint_time("SprintStarted")?;
    let closed = sprint_time("SprintClosed")?;
    let whole = MetricsQuery { from: None, to: None, ..query.clone() };
    let done = completions(conn, tenant, &whole)?;
    let Some(from) = query.from.map(|t| t.unix_millis()).or(started).or(done.first().map(|c| c.time_ms)) else {
        return Ok(vec![]);
    };
    let to = query.to.map(|t| t.unix_millis()).or(closed).unwrap_or(now_ms).max(from + 1);
    let mut out = Vec::new();
    let mut start = query.interval.bucket_start(from);
    let mut completed_points = 0u64;
    let mut next = done.iter().peekable();
    while start < to && out.len() < MAX_BUCKETS {
        let end = query.interval.next_start(start);
        while let Some(c) = next.next_if(|c| c.time_ms < end) {
            completed_points += c.points;
        }
        out.push(BurndownRow {
            start: instant(start),
            scope_points: scope,
            completed_points,
            remaining_points: scope.saturating_sub(completed_points),
        });
        start = end;
    }
    Ok(out)
}

/// The points of the tasks whose latest record puts them in `sprint` and that are not deleted.
fn scope_points(conn: &Connection, tenant: &str, sprint: &str) -> Result<u64, EmbeddedError> {
    let mut stmt = conn.prepare_cached(
        "SELECT aggregate_id, version, event_type, sprint, estimate_points FROM metric_records
         WHERE tenant = ?1 AND measure_name = 'task' AND aggregate_id IN
             (SELECT aggregate_id FROM metric_records WHERE tenant = ?1 AND sprint = ?2 AND measure_name = 'task')",
    )?;
    let rows = stmt.query_map(params![tenant, sprint], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, u64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<u64>>(4)?,
        ))
    })?;
    // Per task: its record of the highest version; at one version a deletion wins (it is the
    // task's last word).
    let mut latest: HashMap<String, (u64, bool, bool, u64)> = HashMap::new();
    for row in rows {
        let (id, version, event_type, in_sprint, points) = row?;
        let deleted = event_type == "TaskDeleted";
        let candidate = (version, deleted, in_sprint == sprint, points.unwrap_or(0));
        let slot = latest.entry(id).or_insert(candidate);
        if (candidate.0, candidate.1) > (slot.0, slot.1) {
            *slot = candidate;
        }
    }
    Ok(latest.values().filter(|(_, deleted, in_sprint, _)| *in_sprint && !deleted).map(|t| t.3).sum())
}
