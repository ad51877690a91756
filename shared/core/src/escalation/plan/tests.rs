//! The plan, given a task, a policy and a time; then its levels, people and version.

use events_schema::events::Escalation;

use super::*;
use crate::escalation::policy::{Level, ProjectRules};

fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn task(due: Option<&str>) -> TaskSnapshot {
    let at = ts("2026-03-01T09:00:00Z");
    TaskSnapshot {
        id: "t1".into(),
        title: "Ship".into(),
        description: None,
        status: TaskStatus::Todo,
        priority: Priority::Medium,
        assignee: Some("li".into()),
        reporter: Some("maria".into()),
        category_id: None,
        project_id: Some("p1".into()),
        sprint_id: None,
        tags: vec![],
        due_date: due.map(str::to_owned),
        estimate_points: None,
        created_at: at,
        updated_at: at,
        status_changed_at: at,
        escalation: None,
        version: 1,
    }
}

fn policy_with_lead() -> Policy {
    let mut p = Policy::default();
    p.rules.lead = Some("ana".into());
    p
}

fn times(plan: &Plan) -> Vec<(u32, String, String)> {
    plan.steps.iter().map(|s| (s.level, s.name.clone(), s.at.to_string())).collect()
}

const EARLY: &str = "2026-03-02T00:00:00Z";

#[test]
fn a_due_date_gives_every_level_at_its_offset_from_the_end_of_the_due_day() {
    let plan = plan(&task(Some("2026-03-20")), &policy_with_lead(), ts(EARLY)).unwrap();
    assert_eq!(
        times(&plan),
        [
            (1, "reminder".into(), "2026-03-20T00:00:00.000Z".into()),
            (2, "due".into(), "2026-03-21T00:00:00.000Z".into()),
            (3, "overdue".into(), "2026-03-22T00:00:00.000Z".into()),
        ]
    );
    assert_eq!(plan.steps[0].notify, ["li"]);
    assert_eq!(plan.steps[1].notify, ["maria"]);
    assert_eq!(plan.steps[2].notify, ["ana", "li"]);
    assert_eq!(plan.steps[2].raise_priority, Some(Priority::Critical));
    assert_eq!(
        plan.guard,
        Guard { due_date: Some("2026-03-20".into()), todo_only: false, priority: Some(Priority::Medium) }
    );
    assert_eq!((plan.task_id.as_str(), plan.task_version), ("t1", 1));
}

#[test]
fn time_zones_move_the_due_instant_by_their_offset_and_store_utc() {
    let mut p = policy_with_lead();
    p.rules.utc_offset_minutes = 120;
    let east = plan(&task(Some("2026-03-20")), &p, ts(EARLY)).unwrap();
    assert_eq!(east.steps[1].at.to_string(), "2026-03-20T22:00:00.000Z");
    p.rules.utc_offset_minutes = -330;
    let west = plan(&task(Some("2026-03-20")), &p, ts(EARLY)).unwrap();
    assert_eq!(west.steps[1].at.to_string(), "2026-03-21T05:30:00.000Z");
    // Month, year and leap-day ends.
    assert_eq!(due_instant_ms("2028-02-29", 0), Some(ts("2028-03-01T00:00:00Z").unix_millis()));
    assert_eq!(due_instant_ms("2026-12-31", 60), Some(ts("2026-12-31T23:00:00Z").unix_millis()));
    assert_eq!(due_instant_ms("2026-02-29", 0), None, "not a day");
    assert_eq!(due_instant_ms("2026-3-1", 0), None);
}

#[test]
fn a_task_without_a_due_date_gets_its_priority_sla_while_in_todo() {
    let mut t = task(None);
    t.priority = Priority::Critical;
    let plan = plan(&t, &policy_with_lead(), ts("2026-03-01T10:00:00Z")).unwrap();
    assert_eq!(times(&plan), [(1, SLA_LEVEL.into(), "2026-03-01T13:00:00.000Z".into())]);
    assert_eq!(plan.steps[0].notify, ["li", "maria", "ana"]);
    assert_eq!(plan.guard, Guard { due_date: None, todo_only: true, priority: None });

    t.status = TaskStatus::InProgress;
    assert_eq!(super::plan(&t, &policy_with_lead(), ts(EARLY)), None, "started in time: the SLA is met");
    let mut low = task(None);
    low.priority = Priority::Low;
    assert_eq!(super::plan(&low, &policy_with_lead(), ts(EARLY)), None, "low has no SLA by default");
}

#[test]
fn a_project_override_changes_the_levels_and_the_lead() {
    let mut p = policy_with_lead();
    let levels = vec![Level {
        name: "late".into(),
        offset_minutes: 60,
        notify: vec![Target::Lead],
        raise_priority: Some(Priority::High),
    }];
    p.projects
        .insert("p1".into(), ProjectRules { levels: Some(levels), lead: Some("omar".into()), ..Default::default() });
    let own = plan(&task(Some("2026-03-20")), &p, ts(EARLY)).unwrap();
    assert_eq!(times(&own), [(1, "late".into(), "2026-03-21T01:00:00.000Z".into())]);
    assert_eq!(own.steps[0].notify, ["omar"]);
    let mut elsewhere = task(Some("2026-03-20"));
    elsewhere.project_id = Some("p2".into());
    assert_eq!(plan(&elsewhere, &p, ts(EARLY)).unwrap().steps.len(), 3, "another project keeps the tenant's");
}

#[test]
fn completed_and_cancelled_tasks_have_no_plan() {
    for status in [TaskStatus::Done, TaskStatus::Cancelled] {
        let mut t = task(Some("2026-03-20"));
        t.status = status;
        assert_eq!(plan(&t, &policy_with_lead(), ts(EARLY)), None, "{status:?}");
    }
    for status in [TaskStatus::InProgress, TaskStatus::InReview, TaskStatus::Blocked] {
        let mut t = task(Some("2026-03-20"));
        t.status = status;
        assert!(plan(&t, &policy_with_lead(), ts(EARLY)).is_some(), "{status:?} is still open");
    }
}

#[test]
fn a_due_date_moved_later_or_earlier_moves_every_level_and_makes_a_new_version() {
    let p = policy_with_lead();
    let before = plan(&task(Some("2026-03-20")), &p, ts(EARLY)).unwrap();
    let later = plan(&task(Some("2026-03-25")), &p, ts(EARLY)).unwrap();
    assert_eq!(later.steps[1].at.to_string(), "2026-03-26T00:00:00.000Z");
    assert_ne!(later.version, before.version);
    assert_eq!(later.guard.due_date.as_deref(), Some("2026-03-25"));

    // Moved so early that the first two levels are past: one step, now due, tells both.
    let now = ts("2026-03-10T12:00:00Z");
    let earlier = plan(&task(Some("2026-03-09")), &p, now).unwrap();
    assert_eq!(times(&earlier)[0], (2, "due".into(), "2026-03-10T00:00:00.000Z".into()));
    assert_eq!(earlier.steps[0].notify, ["li", "maria"]);
    assert_eq!(times(&earlier)[1], (3, "overdue".into(), "2026-03-11T00:00:00.000Z".into()));
}

#[test]
fn a_task_found_past_every_level_escalates_once_to_the_last_with_everything_joined() {
    let plan = plan(&task(Some("2026-03-01")), &policy_with_lead(), ts("2026-04-01T00:00:00Z")).unwrap();
    assert_eq!(plan.steps.len(), 1);
    let step = &plan.steps[0];
    assert_eq!((step.level, step.name.as_str()), (3, "overdue"));
    assert_eq!(step.notify, ["li", "maria", "ana"]);
    assert_eq!(step.raise_priority, Some(Priority::Critical));
}

#[test]
fn levels_already_reached_are_not_planned_again_and_the_version_stays() {
    let p = policy_with_lead();
    let mut t = task(Some("2026-03-20"));
    let fresh = plan(&t, &p, ts(EARLY)).unwrap();
    t.escalation = Some(Box::new(Escalation {
        level: 2,
        name: "due".into(),
        notify: vec!["maria".into()],
        plan: fresh.version.clone(),
        at: ts("2026-03-21T00:00:00Z"),
    }));
    t.version = 2;
    let rest = plan(&t, &p, ts("2026-03-21T00:00:01Z")).unwrap();
    assert_eq!(times(&rest), [(3, "overdue".into(), "2026-03-22T00:00:00.000Z".into())]);
    assert_eq!(rest.version, fresh.version, "the same plan, further along");
    t.escalation.as_mut().unwrap().level = 3;
    assert_eq!(plan(&t, &p, ts(EARLY)), None, "nothing left");
}

#[test]
fn the_version_depends_on_what_the_plan_decides_not_on_the_time_it_was_made() {
    let p = policy_with_lead();
    let t = task(Some("2026-03-20"));
    let a = plan(&t, &p, ts(EARLY)).unwrap();
    let b = plan(&t, &p, ts("2026-03-05T00:00:00Z")).unwrap();
    assert_eq!(a.version, b.version);
    assert_eq!(a.version.len(), 16);
    let mut title_changed = t.clone();
    title_changed.title = "Ship it now".into();
    title_changed.version = 2;
    assert_eq!(plan(&title_changed, &p, ts(EARLY)).unwrap().version, a.version, "a title is no input");
    let mut reassigned = t.clone();
    reassigned.assignee = Some("omar".into());
    assert_ne!(plan(&reassigned, &p, ts(EARLY)).unwrap().version, a.version, "the people are");
    let mut other = p.clone();
    other.rules.levels[0].offset_minutes = -120;
    assert_ne!(plan(&t, &other, ts(EARLY)).unwrap().version, a.version, "and so is the policy");
}

#[test]
fn nobody_behind_a_target_is_left_out() {
    let mut t = task(Some("2026-03-20"));
    t.assignee = None;
    let plan = plan(&t, &Policy::default(), ts(EARLY)).unwrap();
    assert!(plan.steps[0].notify.is_empty(), "no assignee to remind");
    assert!(plan.steps[2].notify.is_empty(), "no lead, no assignee");
}

#[test]
fn a_raise_to_where_the_task_already_is_is_no_raise_and_the_plan_remembers_the_priority_it_raises_from() {
    let mut t = task(Some("2026-03-20"));
    t.priority = Priority::Critical;
    let p = plan(&t, &policy_with_lead(), ts(EARLY)).unwrap();
    assert_eq!(p.steps[2].raise_priority, None);
    assert_eq!(p.guard.priority, None, "nothing raises: the priority is no condition");
    let medium = plan(&task(Some("2026-03-20")), &policy_with_lead(), ts(EARLY)).unwrap();
    assert_eq!(medium.guard.priority, Some(Priority::Medium));
    let mut high = task(Some("2026-03-20"));
    high.priority = Priority::High;
    assert_ne!(plan(&high, &policy_with_lead(), ts(EARLY)).unwrap().version, medium.version);
}
