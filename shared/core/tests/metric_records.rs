//! Metric records built from every golden event of `events-schema`, every version: the
//! committed `golden/metric-records.json` is what each one builds, and the figures that the
//! queries rest on are checked by hand below.
//!
//! After an intended change to the record design, regenerate the golden file with
//! `TASKSTREAM_BLESS=1 cargo test -p shared-core --test metric_records` and review the diff.

use std::collections::BTreeMap;
use std::path::PathBuf;

use events_schema::catalog::{self, CatalogEntry};
use events_schema::{DomainEvent, Envelope, routing};
use shared_core::metrics::{self, MetricRecord, SPRINT_MEASURE, TASK_MEASURE};

fn golden_event(entry: &CatalogEntry) -> DomainEvent {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events-schema/fixtures").join(entry.golden_path());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let envelope: Envelope = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    DomainEvent::from_envelope(envelope).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every golden event's record (or `None`), by the golden's file stem.
fn records() -> BTreeMap<String, Option<MetricRecord>> {
    catalog::entries().iter().map(|entry| (entry.file_stem(), metrics::build(&golden_event(entry)))).collect()
}

fn record(stem: &str) -> MetricRecord {
    records().remove(stem).flatten().unwrap_or_else(|| panic!("{stem} builds no record"))
}

#[test]
fn every_golden_event_builds_its_committed_record() {
    let mut text = serde_json::to_string_pretty(&records()).unwrap();
    text.push('\n');
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/metric-records.json");
    if std::env::var_os("TASKSTREAM_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} differs from what the golden events build; if the change is intended, regenerate with \
         TASKSTREAM_BLESS=1 and review the diff. Built:\n{text}",
        path.display()
    );
}

#[test]
fn exactly_the_events_routed_to_metrics_build_records() {
    let route = routing::route(routing::METRICS).unwrap();
    for (stem, record) in records() {
        let event_type = stem.split('.').next().unwrap();
        assert_eq!(
            record.is_some(),
            route.detail_types.contains(&event_type),
            "{stem}: a record is built exactly when the metrics consumer receives the event"
        );
    }
}

#[test]
fn a_status_change_of_version_2_carries_where_it_came_from_and_how_long_it_stayed() {
    let r = record("TaskStatusChanged.v2");
    assert_eq!(r.measure_name, TASK_MEASURE);
    assert_eq!(r.dimensions.tenant, "acme");
    assert_eq!(r.dimensions.event_type, "TaskStatusChanged");
    assert_eq!(r.dimensions.assignee.as_deref(), Some("li"));
    assert_eq!(r.dimensions.priority, Some("high"));
    assert_eq!(r.dimensions.project.as_deref(), Some("7d8c3f10-1a2b-4c3d-8e9f-0a1b2c3d4e5f"));
    assert_eq!(r.version, 4);
    // 2026-03-03T08:00:00Z
    assert_eq!(r.time_ms, 1_772_524_800_000);
    let m = &r.measures;
    assert_eq!((m.status_from, m.status_to), (Some("todo"), Some("in_progress")));
    assert_eq!(m.seconds_in_previous_status, Some(82_800));
    assert_eq!(m.wip_delta, Some(1), "todo → in_progress enters work in progress");
    assert_eq!(m.estimate_points, Some(3));
    assert_eq!((m.cycle_time_seconds, m.completed_points, m.overdue), (None, None, None));
}

#[test]
fn a_status_change_of_version_1_has_no_previous_status_so_no_wip_delta() {
    let m = record("TaskStatusChanged.v1").measures;
    assert_eq!(m.status_from, None);
    assert!(m.status_to.is_some());
    assert_eq!((m.seconds_in_previous_status, m.wip_delta), (None, None));
}

#[test]
fn a_completion_carries_cycle_time_points_and_whether_it_was_late() {
    let m = record("TaskCompleted.v1").measures;
    assert_eq!(m.cycle_time_seconds, Some(199_800));
    assert_eq!(m.completed_points, Some(3));
    assert_eq!(m.overdue, Some(false), "due 2026-03-20, completed 2026-03-04");
    assert_eq!(m.wip_delta, None, "the status change of the same version carries it");
    assert_eq!(m.events, 1);
}

#[test]
fn sprint_events_build_sprint_records_under_their_project_and_sprint() {
    for stem in ["SprintStarted.v1", "SprintClosed.v1"] {
        let r = record(stem);
        assert_eq!(r.measure_name, SPRINT_MEASURE, "{stem}");
        assert_eq!(r.dimensions.sprint.as_deref(), Some(r.dimensions.aggregate_id.as_str()), "{stem}");
        assert!(r.dimensions.project.is_some(), "{stem}");
        assert_eq!((r.dimensions.assignee.clone(), r.dimensions.priority), (None, None), "{stem}");
    }
}
