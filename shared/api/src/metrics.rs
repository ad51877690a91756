//! `GET /metrics/{name}`: the task metrics of the caller's tenant, for dashboards. The same
//! queries `taskstream metrics` runs; their definitions are in `docs/analytics.md`.
//!
//! The records are written by the metrics consumer, so a write shows up here once its
//! events have been applied (eventual consistency), never across tenants.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use events_schema::Timestamp;
use serde::Deserialize;
use shared_core::Role;
use shared_core::domain::FieldError;
use shared_core::metrics::{Interval, MetricName, MetricsQuery};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::extract::{Ctx, Query, normalise_id};
use super::tasks::Errors;

/// An RFC 3339 instant, as `from` and `to` take it.
pub const INSTANT_PATTERN: &str = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$";

/// The query string of `GET /metrics/{name}`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsParams {
    /// Only tasks of this project.
    #[schemars(extend("format" = "uuid"))]
    project_id: Option<String>,
    /// Only tasks of this sprint; `burndown` needs it.
    #[schemars(extend("format" = "uuid"))]
    sprint_id: Option<String>,
    /// Only tasks of this assignee (at the time of each event).
    assignee: Option<String>,
    /// Events at or after this instant (RFC 3339).
    #[schemars(regex(pattern = INSTANT_PATTERN))]
    from: Option<String>,
    /// Events before this instant (RFC 3339).
    #[schemars(regex(pattern = INSTANT_PATTERN))]
    to: Option<String>,
    /// The width of a row's time bucket: hour, day (the default) or week (from Monday, UTC).
    interval: Option<IntervalParam>,
}

#[derive(Deserialize, schemars::JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum IntervalParam {
    Hour,
    Day,
    Week,
}

/// The metric names, as the path takes them.
#[derive(schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
pub enum MetricNameDoc {
    Throughput,
    CycleTime,
    Velocity,
    Sla,
    Wip,
    Burndown,
}

impl MetricsParams {
    /// The query, or why not: 400 for what breaks the documented schema, 422 for what fits it
    /// but cannot be answered (a date that does not exist, `from` not before `to`, a burndown
    /// of no sprint).
    fn parse(self, name: MetricName) -> Result<MetricsQuery, ApiError> {
        let mut invalid = Errors::default();
        let mut refused = Errors::default();
        let id = |field: &str, raw: Option<String>, e: &mut Errors| {
            raw.and_then(|r| {
                normalise_id(&r).or_else(|| e.take(Err(FieldError::new(field, format!("{r:?} is not an id")))))
            })
        };
        let project = id("projectId", self.project_id, &mut invalid);
        let sprint = id("sprintId", self.sprint_id, &mut invalid);
        let mut instant = |field: &str, raw: Option<String>| {
            let raw = raw?;
            match Timestamp::parse(&raw) {
                Ok(t) => Some(t),
                Err(_) if !looks_like_an_instant(&raw) => {
                    invalid.0.push(FieldError::new(field, format!("{raw:?} is not an RFC 3339 instant")));
                    None
                }
                Err(e) => {
                    refused.0.push(FieldError::new(field, format!("{raw:?} is not an instant that exists: {e}")));
                    None
                }
            }
        };
        let from = instant("from", self.from);
        let to = instant("to", self.to);
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            refused.0.push(FieldError::new("to", format!("must be after from ({f}), got {t}")));
        }
        if name == MetricName::Burndown && sprint.is_none() && invalid.0.is_empty() {
            refused.0.push(FieldError::new("sprintId", "a burndown is of one sprint: give sprintId"));
        }
        invalid.check_with_links(refused)?;
        let interval = match self.interval.unwrap_or(IntervalParam::Day) {
            IntervalParam::Hour => Interval::Hour,
            IntervalParam::Day => Interval::Day,
            IntervalParam::Week => Interval::Week,
        };
        Ok(MetricsQuery { project, sprint, assignee: self.assignee, from, to, interval })
    }
}

/// Whether `text` has the shape of [`INSTANT_PATTERN`], so that a failure to parse it is a
/// date that does not exist rather than text that is not a date.
fn looks_like_an_instant(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let at = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    let head = digits(0..4)
        && at(4, b"-")
        && digits(5..7)
        && at(7, b"-")
        && digits(8..10)
        && at(10, b"Tt")
        && digits(11..13)
        && at(13, b":")
        && digits(14..16)
        && at(16, b":")
        && digits(17..19);
    if !head {
        return false;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if !(1..=9).contains(&n) {
            return false;
        }
        rest = &fraction[n..];
    }
    let r = rest.as_bytes();
    matches!(rest, "Z" | "z")
        || (r.len() == 6
            && (r[0] == b'+' || r[0] == b'-')
            && r[1..3].iter().all(u8::is_ascii_digit)
            && r[3] == b':'
            && r[4..6].iter().all(u8::is_ascii_digit))
}

pub async fn get(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    Query(params): Query<MetricsParams>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Viewer)?;
    let Some(name) = MetricName::parse(&name) else {
        let known: Vec<&str> = MetricName::ALL.iter().map(MetricName::as_str).collect();
        return Err(ApiError::not_found(&format!("the metric {name:?} (there are {})", known.join(", "))));
    };
    let query = params.parse(name)?;
    let Some(reader) = &state.metrics else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "this deployment keeps no task metrics (its metrics sink is none)",
        ));
    };
    let answer = reader.query(ctx.tenant(), name, &query).await?;
    Ok(axum::Json(serde_json::json!({ "data": answer })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instant_shape_is_the_documented_pattern() {
        for good in [
            "2026-03-02T10:00:00Z",
            "2026-03-02t10:00:00.5z",
            "2026-13-45T10:00:00+14:00",
            "2026-03-02T10:00:00.123456789-05:30",
        ] {
            assert!(looks_like_an_instant(good), "{good}");
        }
        for bad in [
            "2026-03-02",
            "yesterday",
            "2026-03-02T10:00:00",
            "2026-03-02T10:00:00.Z",
            "2026-03-02T10:00:00+0500",
            "2026-03-02T10:00:00.1234567890Z",
        ] {
            assert!(!looks_like_an_instant(bad), "{bad}");
        }
    }
}
