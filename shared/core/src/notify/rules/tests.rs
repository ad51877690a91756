//! The rules table, row by row, then what the planner adds: own actions, preferences, mute,
//! and one notification per (event, recipient, channel).

use events_schema::envelope::ChangeContext;
use events_schema::events::{
    CommentAdded, CommentSnapshot, Priority, SprintClosed, SprintSnapshot, SprintStarted, SprintStatus,
    SprintSummarized, SprintSummary, TaskAssigned, TaskCompleted, TaskCreated, TaskEscalated, TaskSnapshot, TaskStatus,
    TaskStatusChanged,
};
use events_schema::{DomainEvent, EventData, Timestamp};

use super::RULES;
use crate::notify::{Channel, Kind, Notification, Person, notification_id, plan, renotify_round};

fn at() -> Timestamp {
    Timestamp::from_unix_millis(1_767_225_600_000).unwrap()
}

fn task(reporter: Option<&str>, assignee: Option<&str>) -> TaskSnapshot {
    TaskSnapshot {
        id: "t1".into(),
        title: "Ship it".into(),
        description: None,
        status: TaskStatus::Todo,
        priority: Priority::Medium,
        assignee: assignee.map(Into::into),
        reporter: reporter.map(Into::into),
        category_id: None,
        project_id: None,
        sprint_id: None,
        tags: vec![],
        due_date: None,
        estimate_points: None,
        created_at: at(),
        updated_at: at(),
        status_changed_at: at(),
        escalation: None,
        version: 2,
    }
}

fn event(actor: &str, data: EventData) -> DomainEvent {
    let aggregate_type = data.aggregate_type();
    let ctx = ChangeContext {
        tenant: "acme".into(),
        aggregate_type,
        aggregate_id: "t1".into(),
        aggregate_version: 2,
        occurred_at: at(),
        correlation_id: "corr".into(),
        actor: actor.into(),
    };
    DomainEvent::new(&ctx, data)
}

fn assigned(actor: &str, to: Option<&str>) -> DomainEvent {
    event(
        actor,
        EventData::TaskAssigned(TaskAssigned {
            task_id: "t1".into(),
            assignee: to.map(Into::into),
            previous_assignee: None,
            task: task(Some("rita"), to),
        }),
    )
}

fn status(actor: &str, status: TaskStatus) -> DomainEvent {
    let mut t = task(Some("rita"), Some("li"));
    t.status = status;
    event(
        actor,
        EventData::TaskStatusChanged(TaskStatusChanged {
            task_id: "t1".into(),
            status,
            previous_status: Some(TaskStatus::InProgress),
            seconds_in_previous_status: Some(60),
            task: t,
        }),
    )
}

fn comment(actor: &str, mentions: &[&str]) -> DomainEvent {
    let comment = CommentSnapshot {
        id: "c1".into(),
        task_id: "t1".into(),
        author: actor.into(),
        body: "please look".into(),
        mentions: mentions.iter().map(|m| (*m).to_owned()).collect(),
        created_at: at(),
    };
    event(actor, EventData::CommentAdded(CommentAdded { comment }))
}

fn sprint(status: SprintStatus) -> SprintSnapshot {
    SprintSnapshot {
        id: "s1".into(),
        project_id: "p1".into(),
        name: "Sprint 7".into(),
        status,
        started_at: Some(at()),
        closed_at: None,
        carry_over_to: None,
        moved_out: 0,
        summary: None,
        version: 2,
    }
}

/// (recipient, kind, channel) of each planned notification, with no entries for anyone.
fn told(event: &DomainEvent, sprint_people: &[&str]) -> Vec<(String, Kind, Channel)> {
    told_with(event, &[], sprint_people)
}

fn told_with(event: &DomainEvent, people: &[Person], sprint_people: &[&str]) -> Vec<(String, Kind, Channel)> {
    let sprint_people: Vec<String> = sprint_people.iter().map(|p| (*p).to_owned()).collect();
    plan(event, None, |name| people.iter().find(|p| p.name == name), &sprint_people)
        .into_iter()
        .map(|n| (n.recipient, n.kind, n.channel))
        .collect()
}

fn in_app(name: &str, kind: Kind) -> (String, Kind, Channel) {
    (name.to_owned(), kind, Channel::InApp)
}

#[test]
fn every_row_names_a_routed_event_type() {
    let notifier = events_schema::routing::route(events_schema::routing::NOTIFIER).unwrap();
    for rule in RULES {
        assert!(notifier.detail_types.contains(&rule.event_type), "{} is not routed to the notifier", rule.event_type);
    }
}

#[test]
fn row_created_assigned_tells_the_assignee() {
    let created = |actor: &str, to: Option<&str>| {
        event(actor, EventData::TaskCreated(TaskCreated { task: task(Some(actor), to) }))
    };
    assert_eq!(told(&created("maria", Some("li")), &[]), [in_app("li", Kind::Assigned)]);
    assert!(told(&created("maria", None), &[]).is_empty(), "a task created unassigned tells no one");
    assert!(told(&created("li", Some("li")), &[]).is_empty(), "nor one assigned to its own author");
}

#[test]
fn row_assigned_tells_the_new_assignee() {
    assert_eq!(told(&assigned("maria", Some("li")), &[]), [in_app("li", Kind::Assigned)]);
    assert!(told(&assigned("maria", None), &[]).is_empty(), "an unassignment tells no one");
}

#[test]
fn row_completed_tells_the_reporter() {
    let completed = event(
        "li",
        EventData::TaskCompleted(TaskCompleted {
            task_id: "t1".into(),
            completed_at: at(),
            lead_time_seconds: 5,
            task: task(Some("rita"), Some("li")),
        }),
    );
    assert_eq!(told(&completed, &[]), [in_app("rita", Kind::Completed)]);
    let mut no_reporter = completed.clone();
    if let EventData::TaskCompleted(e) = &mut no_reporter.data {
        e.task.reporter = None;
    }
    assert!(told(&no_reporter, &[]).is_empty());
}

#[test]
fn row_blocked_tells_the_reporter_only_for_blocked() {
    assert_eq!(told(&status("li", TaskStatus::Blocked), &[]), [in_app("rita", Kind::Blocked)]);
    for other in [TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::InReview, TaskStatus::Cancelled] {
        assert!(told(&status("li", other), &[]).is_empty(), "{other:?}");
    }
}

#[test]
fn row_escalated_tells_the_people_the_level_names() {
    let mut t = task(Some("rita"), Some("li"));
    t.priority = Priority::Critical;
    let escalated = event(
        "escalation",
        EventData::TaskEscalated(TaskEscalated {
            task_id: "t1".into(),
            level: 3,
            name: "overdue".into(),
            notify: vec!["ana".into(), "li".into()],
            previous_priority: Some(Priority::Medium),
            task: t,
        }),
    );
    assert_eq!(told(&escalated, &[]), [in_app("ana", Kind::Escalated), in_app("li", Kind::Escalated)]);
    let planned = plan(&escalated, None, |_| None, &[]);
    assert_eq!(planned[0].summary, "\u{201c}Ship it\u{201d} escalated (overdue): priority medium \u{2192} critical");
    assert_eq!(planned[0].task_id.as_deref(), Some("t1"));
    let mut nobody = escalated.clone();
    if let EventData::TaskEscalated(e) = &mut nobody.data {
        e.notify.clear();
    }
    assert!(told(&nobody, &[]).is_empty());
}

#[test]
fn row_mention_tells_each_mentioned_person() {
    assert_eq!(
        told(&comment("maria", &["li", "sam.k"]), &[]),
        [in_app("li", Kind::Mentioned), in_app("sam.k", Kind::Mentioned)]
    );
    assert!(told(&comment("maria", &[]), &[]).is_empty());
}

#[test]
fn rows_sprint_started_closed_and_summarized_tell_the_sprints_people() {
    let started = event("maria", EventData::SprintStarted(SprintStarted { sprint: sprint(SprintStatus::Active) }));
    let closed = event("maria", EventData::SprintClosed(SprintClosed { sprint: sprint(SprintStatus::Closed) }));
    let summary = SprintSummary {
        completed_count: 4,
        completed_points: 13,
        carried_over_count: 2,
        carried_over_to: "backlog".into(),
        summarized_at: at(),
    };
    let summarized = event(
        "sprint-closure",
        EventData::SprintSummarized(SprintSummarized { summary, sprint: sprint(SprintStatus::Closed) }),
    );
    assert!(
        crate::notify::summary(&summarized, Kind::Sprint).ends_with("4 done (13 points), 2 carried over to backlog"),
        "{}",
        crate::notify::summary(&summarized, Kind::Sprint)
    );
    for e in [started, closed, summarized] {
        assert_eq!(told(&e, &["li", "rita"]), [in_app("li", Kind::Sprint), in_app("rita", Kind::Sprint)]);
        assert!(told(&e, &[]).is_empty());
    }
}

#[test]
fn own_action_never_notifies() {
    assert!(told(&assigned("li", Some("li")), &[]).is_empty());
    assert!(told(&status("rita", TaskStatus::Blocked), &[]).is_empty());
    assert_eq!(told(&comment("li", &["li", "rita"]), &[]), [in_app("rita", Kind::Mentioned)]);
    let started = event("rita", EventData::SprintStarted(SprintStarted { sprint: sprint(SprintStatus::Active) }));
    assert_eq!(told(&started, &["li", "rita"]), [in_app("li", Kind::Sprint)]);
}

#[test]
fn preferences_choose_the_channels_and_mute_silences() {
    let mut li = Person::unknown("li");
    li.email = Some("li@example.com".into());
    li.preferences.insert(Kind::Assigned, vec![Channel::Email, Channel::InApp]);
    li.preferences.insert(Kind::Mentioned, vec![]);
    let got = told_with(&assigned("maria", Some("li")), std::slice::from_ref(&li), &[]);
    assert_eq!(got, [("li".into(), Kind::Assigned, Channel::Email), in_app("li", Kind::Assigned)]);
    assert!(told_with(&comment("maria", &["li"]), std::slice::from_ref(&li), &[]).is_empty());
    li.muted = true;
    assert!(told_with(&assigned("maria", Some("li")), &[li], &[]).is_empty());
}

#[test]
fn a_person_named_twice_is_told_once_per_channel() {
    let e = comment("maria", &["li", "li"]);
    assert_eq!(told(&e, &[]), [in_app("li", Kind::Mentioned)]);
}

#[test]
fn ids_are_the_dedupe_key_the_same_however_often_an_event_is_planned() {
    let e = assigned("maria", Some("li"));
    let first: Vec<Notification> = plan(&e, None, |_| None, &[]);
    let again: Vec<Notification> = plan(&e, None, |_| None, &[]);
    assert_eq!(first, again);
    assert_eq!(first[0].id, notification_id(&e.meta.event_id, "li", Channel::InApp, None));
    assert_ne!(first[0].id, notification_id(&e.meta.event_id, "li", Channel::Email, None));
    assert_ne!(first[0].id, notification_id(&e.meta.event_id, "rita", Channel::InApp, None));
    let round = plan(&e, Some("renotify-2026-12-01"), |_| None, &[]);
    assert_ne!(round[0].id, first[0].id, "a re-notify round is its own key");
}

#[test]
fn replays_notify_only_when_named_to() {
    assert_eq!(renotify_round(None), Ok(None));
    assert!(renotify_round(Some("backfill-search")).is_err());
    assert_eq!(renotify_round(Some("renotify-outage")), Ok(Some("renotify-outage")));
}

#[test]
fn summaries_say_who_did_what() {
    let planned = plan(&assigned("maria", Some("li")), None, |_| None, &[]);
    assert_eq!(planned[0].summary, "maria assigned you \u{201c}Ship it\u{201d}");
    assert_eq!(planned[0].task_id.as_deref(), Some("t1"));
    let planned = plan(&status("li", TaskStatus::Blocked), None, |_| None, &[]);
    assert_eq!(planned[0].summary, "li marked \u{201c}Ship it\u{201d} blocked");
}
