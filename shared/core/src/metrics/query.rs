//! The questions analytics consumers ask of the metric records, and the shape of the
//! answers: the same for the embedded store, Timestream, `taskstream metrics` and
//! `GET /metrics/{name}`.

use events_schema::Timestamp;
use serde::Serialize;

/// The queries there are, by their names on the command line and in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricName {
    /// Tasks completed (and their points) per interval.
    Throughput,
    /// Median and 90th percentile of creation-to-completion time per interval.
    CycleTime,
    /// Tasks and points completed per sprint.
    Velocity,
    /// Completions against due dates per interval: how many were late.
    Sla,
    /// Tasks in progress at the end of each interval, with how many entered and left it.
    Wip,
    /// A sprint's remaining points at the end of each interval.
    Burndown,
}

impl MetricName {
    pub const ALL: [MetricName; 6] = [
        MetricName::Throughput,
        MetricName::CycleTime,
        MetricName::Velocity,
        MetricName::Sla,
        MetricName::Wip,
        MetricName::Burndown,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            MetricName::Throughput => "throughput",
            MetricName::CycleTime => "cycle-time",
            MetricName::Velocity => "velocity",
            MetricName::Sla => "sla",
            MetricName::Wip => "wip",
            MetricName::Burndown => "burndown",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// The width of the time buckets answers are grouped by. A bucket starts on the hour, at
/// midnight UTC, or on Monday at midnight UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Interval {
    Hour,
    #[default]
    Day,
    Week,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

impl Interval {
    pub const ALL: [Interval; 3] = [Interval::Hour, Interval::Day, Interval::Week];

    pub fn as_str(&self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
            Interval::Week => "week",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.as_str() == text)
    }

    /// The start of the bucket holding `time_ms`, in Unix milliseconds.
    pub fn bucket_start(&self, time_ms: i64) -> i64 {
        match self {
            Interval::Hour => time_ms.div_euclid(HOUR_MS) * HOUR_MS,
            Interval::Day => time_ms.div_euclid(DAY_MS) * DAY_MS,
            Interval::Week => {
                // Day 0 (1970-01-01) was a Thursday, three days after a Monday.
                let day = time_ms.div_euclid(DAY_MS);
                (day - (day + 3).rem_euclid(7)) * DAY_MS
            }
        }
    }

    /// The start of the bucket after the one starting at `start`.
    pub fn next_start(&self, start: i64) -> i64 {
        start
            + match self {
                Interval::Hour => HOUR_MS,
                Interval::Day => DAY_MS,
                Interval::Week => 7 * DAY_MS,
            }
    }
}

/// Which records a query looks at. Every query is within one tenant, always the caller's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsQuery {
    pub project: Option<String>,
    pub sprint: Option<String>,
    pub assignee: Option<String>,
    /// Records at or after this instant.
    pub from: Option<Timestamp>,
    /// Records before this instant.
    pub to: Option<Timestamp>,
    pub interval: Interval,
}

impl MetricsQuery {
    /// `from` and `to` in Unix milliseconds, open ends as the widest bounds.
    pub fn range_ms(&self) -> (i64, i64) {
        (self.from.map_or(i64::MIN, |t| t.unix_millis()), self.to.map_or(i64::MAX, |t| t.unix_millis()))
    }
}

/// A query's answer: one row per bucket (or per sprint, for velocity), oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetricsAnswer {
    Throughput(Vec<ThroughputRow>),
    CycleTime(Vec<CycleTimeRow>),
    Velocity(Vec<VelocityRow>),
    Sla(Vec<SlaRow>),
    Wip(Vec<WipRow>),
    Burndown(Vec<BurndownRow>),
}

impl MetricsAnswer {
    pub fn len(&self) -> usize {
        match self {
            MetricsAnswer::Throughput(r) => r.len(),
            MetricsAnswer::CycleTime(r) => r.len(),
            MetricsAnswer::Velocity(r) => r.len(),
            MetricsAnswer::Sla(r) => r.len(),
            MetricsAnswer::Wip(r) => r.len(),
            MetricsAnswer::Burndown(r) => r.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ThroughputRow {
    pub start: Timestamp,
    pub completed: u64,
    pub points: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleTimeRow {
    pub start: Timestamp,
    pub completed: u64,
    pub p50_seconds: u64,
    pub p90_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VelocityRow {
    pub sprint: String,
    pub completed: u64,
    pub points: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlaRow {
    pub start: Timestamp,
    pub completed: u64,
    /// Of the completed, those that had a due date.
    pub with_due_date: u64,
    /// Of those, the ones completed after the day they were due.
    pub breached: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WipRow {
    pub start: Timestamp,
    pub entered: u64,
    pub left: u64,
    /// Tasks in progress at the end of the bucket (everything before it counted).
    pub wip: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BurndownRow {
    pub start: Timestamp,
    /// The points of the sprint's tasks (each task's latest estimate, deleted tasks and
    /// tasks moved to another sprint left out).
    pub scope_points: u64,
    /// Points completed in the sprint by the end of the bucket.
    pub completed_points: u64,
    pub remaining_points: u64,
}

/// The nearest-rank percentile of `sorted` (ascending): the smallest value that at least
/// `percent`% of the values are at or below. 0 for no values.
pub fn percentile(sorted: &[u64], percent: u32) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    let rank = (n * percent as usize).div_ceil(100).clamp(1, n);
    sorted[rank - 1]
}

/// Unix milliseconds as an instant; out-of-range values (never produced by the stores) as
/// the epoch.
pub fn instant(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms).unwrap_or_else(|| Timestamp::from_unix_millis(0).unwrap_or_else(Timestamp::now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        Timestamp::parse(text).unwrap().unix_millis()
    }

    #[test]
    fn buckets_start_on_the_hour_at_midnight_and_on_monday() {
        let t = ms("2026-03-05T13:45:10.500Z"); // a Thursday
        assert_eq!(Interval::Hour.bucket_start(t), ms("2026-03-05T13:00:00.000Z"));
        assert_eq!(Interval::Day.bucket_start(t), ms("2026-03-05T00:00:00.000Z"));
        assert_eq!(Interval::Week.bucket_start(t), ms("2026-03-02T00:00:00.000Z"));
        let monday = ms("2026-03-02T00:00:00.000Z");
        assert_eq!(Interval::Week.bucket_start(monday), monday);
        assert_eq!(Interval::Week.bucket_start(monday - 1), ms("2026-02-23T00:00:00.000Z"));
        assert_eq!(Interval::Week.next_start(monday), ms("2026-03-09T00:00:00.000Z"));
        // Before the epoch too.
        assert_eq!(Interval::Week.bucket_start(0), ms("1969-12-29T00:00:00.000Z"));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
        assert_eq!(percentile(&values, 50), 50);
        assert_eq!(percentile(&values, 90), 90);
        assert_eq!(percentile(&[7], 90), 7);
        assert_eq!(percentile(&[1, 2, 3], 50), 2);
        assert_eq!(percentile(&[1, 2, 3, 4], 50), 2);
        assert_eq!(percentile(&[], 50), 0);
    }

    #[test]
    fn names_round_trip() {
        for name in MetricName::ALL {
            assert_eq!(MetricName::parse(name.as_str()), Some(name));
        }
        for interval in Interval::ALL {
            assert_eq!(Interval::parse(interval.as_str()), Some(interval));
        }
        assert_eq!(MetricName::parse("latency"), None);
    }
}
