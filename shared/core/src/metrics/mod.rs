//! Task metrics for analytics consumers: records built from events (pure), the queries
//! asked of them, and the answers' shapes. The table design and every query's SQL are in
//! `docs/analytics.md`.

mod query;
mod record;

pub use query::{
    BurndownRow, CycleTimeRow, Interval, MetricName, MetricsAnswer, MetricsQuery, SlaRow, ThroughputRow, VelocityRow,
    WipRow, instant, percentile,
};
pub use record::{Dimensions, Measures, MetricRecord, SPRINT_MEASURE, TASK_MEASURE, build, is_wip};
