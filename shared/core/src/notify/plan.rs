//! From an event and the people it concerns to the notifications to record, each with the
//! id that makes it happen once.

use events_schema::{DomainEvent, EventData, Timestamp};
use uuid::Uuid;

use super::people::{Channel, Kind, Person};
use super::rules::{self, Audience};
use super::{Notification, Status};

/// Names notification ids: a v5 UUID of (event id, recipient, channel), so the same event
/// planned twice, or by two workers at once, yields the same ids and the store's
/// insert-if-absent keeps one.
pub const NOTIFICATION_ID_NAMESPACE: Uuid = Uuid::from_u128(0x0c4e_7a51_2f6d_4b8e_9e3a_51d7_c0b2_8f14);

/// A replay whose name starts with this re-notifies: each replay so named is its own round
/// of notifications (its name joins the dedupe key), sent once however often it runs.
pub const RENOTIFY_PREFIX: &str = "renotify-";

/// How a replay is to be treated: any other replay sends nothing.
pub fn renotify_round(replay_name: Option<&str>) -> Result<Option<&str>, Skip> {
    match replay_name {
        None => Ok(None),
        Some(name) if name.starts_with(RENOTIFY_PREFIX) => Ok(Some(name)),
        Some(_) => Err(Skip),
    }
}

/// A replayed event that must not notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip;

/// The id of the one notification of `event_id` to `recipient` over `channel` (in a
/// re-notify round, of that round).
pub fn notification_id(event_id: &Uuid, recipient: &str, channel: Channel, round: Option<&str>) -> Uuid {
    let mut name = String::with_capacity(36 + recipient.len() + 12 + round.map_or(0, str::len));
    name.push_str(&event_id.hyphenated().to_string());
    name.push('\n');
    name.push_str(recipient);
    name.push('\n');
    name.push_str(channel.as_str());
    if let Some(round) = round {
        name.push('\n');
        name.push_str(round);
    }
    Uuid::new_v5(&NOTIFICATION_ID_NAMESPACE, name.as_bytes())
}

/// The names an event's rules address, before own actions, preferences and mute: what the
/// consumer must look up (people's entries; a sprint's people).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Wanted<'a> {
    pub names: Vec<&'a str>,
    pub sprint: Option<&'a str>,
}

pub fn wanted(event: &DomainEvent) -> Wanted<'_> {
    let mut out = Wanted::default();
    for (_, audience) in rules::matching(&event.data) {
        match audience {
            Audience::One(name) => out.names.push(name),
            Audience::Many(names) => out.names.extend(names.iter().map(String::as_str)),
            Audience::Sprint(id) => out.sprint = Some(id),
        }
    }
    out
}

/// The notifications of one event. `person` finds a person's entry (`None`: they have none,
/// and get the defaults); `sprint_people` are the people of the sprint the event is about,
/// when a rule asks for them. The actor is never told of their own action; a person is told
/// once per channel even when several rules or mentions name them.
pub fn plan<'p>(
    event: &DomainEvent,
    round: Option<&str>,
    person: impl Fn(&str) -> Option<&'p Person>,
    sprint_people: &[String],
) -> Vec<Notification> {
    let mut out: Vec<Notification> = Vec::new();
    for (rule, audience) in rules::matching(&event.data) {
        let names: Box<dyn Iterator<Item = &str>> = match audience {
            Audience::One(name) => Box::new(std::iter::once(name)),
            Audience::Many(names) => Box::new(names.iter().map(String::as_str)),
            Audience::Sprint(_) => Box::new(sprint_people.iter().map(String::as_str)),
        };
        for name in names {
            if name == event.meta.actor {
                continue;
            }
            let unknown;
            let who = match person(name) {
                Some(p) => p,
                None => {
                    unknown = Person::unknown(name);
                    &unknown
                }
            };
            for channel in who.channels(rule.kind) {
                let id = notification_id(&event.meta.event_id, name, channel, round);
                if out.iter().any(|n| n.id == id) {
                    continue;
                }
                out.push(notification(event, id, name, channel, rule.kind));
            }
        }
    }
    out
}

fn notification(event: &DomainEvent, id: Uuid, recipient: &str, channel: Channel, kind: Kind) -> Notification {
    let (task_id, sprint_id) = subject(&event.data);
    Notification {
        id,
        tenant: event.meta.tenant.clone(),
        recipient: recipient.to_owned(),
        channel,
        kind,
        event_id: event.meta.event_id,
        event_type: event.event_type().to_owned(),
        task_id,
        sprint_id,
        actor: event.meta.actor.clone(),
        summary: summary(event, kind),
        occurred_at: event.meta.occurred_at,
        // In-app is delivered by being recorded; the other channels wait for their sender.
        status: if channel == Channel::InApp { Status::Delivered } else { Status::Pending },
        read_at: None::<Timestamp>,
        attempts: 0,
        last_error: None,
    }
}

/// The task and sprint an event is about, for links.
fn subject(data: &EventData) -> (Option<String>, Option<String>) {
    match data {
        EventData::TaskCreated(e) => (Some(e.task.id.clone()), e.task.sprint_id.clone()),
        EventData::TaskAssigned(e) => (Some(e.task_id.clone()), e.task.sprint_id.clone()),
        EventData::TaskCompleted(e) => (Some(e.task_id.clone()), e.task.sprint_id.clone()),
        EventData::TaskStatusChanged(e) => (Some(e.task_id.clone()), e.task.sprint_id.clone()),
        EventData::TaskEscalated(e) => (Some(e.task_id.clone()), e.task.sprint_id.clone()),
        EventData::CommentAdded(e) => (Some(e.comment.task_id.clone()), None),
        EventData::SprintStarted(e) => (None, Some(e.sprint.id.clone())),
        EventData::SprintClosed(e) => (None, Some(e.sprint.id.clone())),
        EventData::SprintSummarized(e) => (None, Some(e.sprint.id.clone())),
        _ => (None, None),
    }
}

/// The most characters of a comment quoted in a mention's summary.
const QUOTE_CHARS: usize = 140;

/// One line saying what happened, for the in-app list and as the subject of a message.
pub fn summary(event: &DomainEvent, kind: Kind) -> String {
    let actor = &event.meta.actor;
    match (&event.data, kind) {
        (EventData::TaskCreated(e), _) => {
            format!("{actor} created \u{201c}{}\u{201d} and assigned it to you", e.task.title)
        }
        (EventData::TaskAssigned(e), _) => format!("{actor} assigned you \u{201c}{}\u{201d}", e.task.title),
        (EventData::TaskCompleted(e), _) => format!("{actor} completed \u{201c}{}\u{201d}", e.task.title),
        (EventData::TaskStatusChanged(e), _) => {
            format!("{actor} marked \u{201c}{}\u{201d} {}", e.task.title, e.status.as_str())
        }
        (EventData::CommentAdded(e), _) => {
            let mut quote: String = e.comment.body.chars().take(QUOTE_CHARS).collect();
            if e.comment.body.chars().nth(QUOTE_CHARS).is_some() {
                quote.push('\u{2026}');
            }
            format!("{actor} mentioned you: \u{201c}{quote}\u{201d}")
        }
        (EventData::TaskEscalated(e), _) => match e.previous_priority {
            Some(was) => format!(
                "\u{201c}{}\u{201d} escalated ({}): priority {} \u{2192} {}",
                e.task.title,
                e.name,
                was.as_str(),
                e.task.priority.as_str()
            ),
            None => format!("\u{201c}{}\u{201d} escalated ({})", e.task.title, e.name),
        },
        (EventData::SprintStarted(e), _) => format!("sprint \u{201c}{}\u{201d} started", e.sprint.name),
        (EventData::SprintClosed(e), _) => format!("sprint \u{201c}{}\u{201d} closed", e.sprint.name),
        (EventData::SprintSummarized(e), _) => format!(
            "sprint \u{201c}{}\u{201d}: {} done ({} points), {} carried over to {}",
            e.sprint.name,
            e.summary.completed_count,
            e.summary.completed_points,
            e.summary.carried_over_count,
            e.summary.carried_over_to
        ),
        (_, kind) => format!("{} ({})", event.event_type(), kind.as_str()),
    }
}
