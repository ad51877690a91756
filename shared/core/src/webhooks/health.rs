//! When a subscription's endpoint has failed every attempt for three days straight, it is
//! turned off and the tenant's admins are told: a receiver gone for good should not keep
//! the outbox busy with deliveries that will all be dead-lettered, and the people who
//! subscribed it should hear of it from us rather than from its missing data.
//!
//! "Straight" is measured between attempts: the clock starts at the first failed attempt
//! after a success (or ever), any 2xx stops it, and the check is made at each failed
//! attempt. Turning the subscription back on (`active: true`) starts afresh.

use events_schema::Timestamp;
use uuid::Uuid;

use crate::notify::{Channel, Kind, Notification, Person, Status, notification_id};

/// How long an endpoint may fail every attempt before it is turned off.
pub const DISABLE_AFTER_MS: i64 = 3 * 24 * 60 * 60 * 1000;

/// The event type disable notices are recorded under (no bus event carries it).
pub const NOTICE_EVENT_TYPE: &str = "WebhookDisabled";

/// What an attempt's outcome means for its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It answered 2xx: no failure streak.
    Healthy,
    /// It is failing, and has been since this instant (milliseconds).
    FailingSince(i64),
    /// It has failed for [`DISABLE_AFTER_MS`] or longer, since this instant: turn it off.
    Disable { since_ms: i64 },
}

/// Judges an attempt at `attempted_ms` that succeeded or not, given since when the endpoint
/// had been failing before it.
pub fn judge(failing_since_ms: Option<i64>, attempted_ms: i64, succeeded: bool) -> Verdict {
    if succeeded {
        return Verdict::Healthy;
    }
    let since_ms = failing_since_ms.unwrap_or(attempted_ms).min(attempted_ms);
    if attempted_ms.saturating_sub(since_ms) >= DISABLE_AFTER_MS {
        Verdict::Disable { since_ms }
    } else {
        Verdict::FailingSince(since_ms)
    }
}

/// A subscription just turned off for failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disabled {
    pub tenant: String,
    pub webhook_id: Uuid,
    pub url: String,
    pub failing_since: Timestamp,
    pub disabled_at: Timestamp,
    /// The last attempt's error.
    pub last_error: String,
}

impl Disabled {
    /// Why it is off, as the subscription shows it.
    pub fn reason(&self) -> String {
        format!("failed every attempt since {}; the last: {}", self.failing_since, self.last_error)
    }

    /// The notices to `admins` (each by their own preferences for [`Kind::WebhookDisabled`];
    /// in-app when they chose nothing), with ids that make a second recording of the same
    /// disabling record nothing.
    pub fn notices(&self, admins: &[Person]) -> Vec<Notification> {
        let event_id = self.notice_event_id();
        let summary = format!(
            "The webhook to {} was turned off: {}. Turn it on again (PUT /webhooks/{} with \"active\": true) once the receiver works.",
            self.url,
            self.reason(),
            self.webhook_id
        );
        admins
            .iter()
            .flat_map(|admin| admin.channels(Kind::WebhookDisabled).map(move |channel| (admin, channel)))
            .map(|(admin, channel)| Notification {
                id: notification_id(&event_id, &admin.name, channel, None),
                tenant: self.tenant.clone(),
                recipient: admin.name.clone(),
                channel,
                kind: Kind::WebhookDisabled,
                event_id,
                event_type: NOTICE_EVENT_TYPE.to_owned(),
                task_id: None,
                sprint_id: None,
                actor: "taskstream".to_owned(),
                summary: summary.clone(),
                occurred_at: self.disabled_at,
                status: if channel == Channel::InApp { Status::Delivered } else { Status::Pending },
                read_at: None,
                attempts: 0,
                last_error: None,
            })
            .collect()
    }

    /// One id per disabling of a subscription (it may be turned on and off again later).
    fn notice_event_id(&self) -> Uuid {
        let mut name = Vec::with_capacity(24);
        name.extend_from_slice(self.webhook_id.as_bytes());
        name.extend_from_slice(&self.disabled_at.unix_millis().to_be_bytes());
        Uuid::new_v5(&super::DELIVERY_ID_NAMESPACE, &name)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const HOUR: i64 = 60 * 60 * 1000;

    #[test]
    fn three_days_of_failed_attempts_turn_an_endpoint_off_and_one_success_resets_the_clock() {
        assert_eq!(judge(None, 1_000, false), Verdict::FailingSince(1_000));
        assert_eq!(judge(Some(1_000), 1_000 + 71 * HOUR, false), Verdict::FailingSince(1_000));
        assert_eq!(judge(Some(1_000), 1_000 + 72 * HOUR, false), Verdict::Disable { since_ms: 1_000 });
        assert_eq!(judge(Some(1_000), 1_000 + 72 * HOUR, true), Verdict::Healthy);
        assert_eq!(judge(None, 1_000 + 72 * HOUR, false), Verdict::FailingSince(1_000 + 72 * HOUR));
        // A clock that went back does not make a streak longer than it was.
        assert_eq!(judge(Some(5_000), 1_000, false), Verdict::FailingSince(1_000));
    }

    fn person(name: &str, prefs: &[(Kind, Vec<Channel>)], email: Option<&str>) -> Person {
        Person {
            email: email.map(str::to_owned),
            preferences: prefs.iter().cloned().collect::<BTreeMap<_, _>>(),
            ..Person::unknown(name)
        }
    }

    #[test]
    fn each_admin_is_told_by_their_own_preferences_and_the_ids_are_stable() {
        let disabled = Disabled {
            tenant: "acme".into(),
            webhook_id: Uuid::from_u128(5),
            url: "https://hooks.example.com/in".into(),
            failing_since: Timestamp::from_unix_millis(0).unwrap(),
            disabled_at: Timestamp::from_unix_millis(72 * HOUR).unwrap(),
            last_error: "the receiver answered HTTP 503".into(),
        };
        let admins = [
            person("ana", &[], None),
            person("bo", &[(Kind::WebhookDisabled, vec![Channel::Email, Channel::InApp])], Some("bo@example.com")),
            person("cy", &[(Kind::WebhookDisabled, vec![])], None),
        ];
        let notices = disabled.notices(&admins);
        let sent: Vec<(&str, Channel, Status)> =
            notices.iter().map(|n| (n.recipient.as_str(), n.channel, n.status)).collect();
        assert_eq!(
            sent,
            [
                ("ana", Channel::InApp, Status::Delivered),
                ("bo", Channel::Email, Status::Pending),
                ("bo", Channel::InApp, Status::Delivered)
            ]
        );
        assert!(notices[0].summary.contains("https://hooks.example.com/in"), "{}", notices[0].summary);
        assert!(notices[0].summary.contains("HTTP 503") && notices[0].summary.contains("1970-01-01"));
        assert_eq!(notices, disabled.notices(&admins), "the same disabling, the same ids");
        let later = Disabled { disabled_at: Timestamp::from_unix_millis(200 * HOUR).unwrap(), ..disabled.clone() };
        assert_ne!(later.notices(&admins)[0].id, notices[0].id, "a later disabling is told again");
    }
}
