//! People: who can be told something, how they want to be told, and the mute switch.
//!
//! A person's name is the same string tasks use as `assignee` and `reporter` and comments
//! use as `@name`, so the rules can address someone straight from an event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{FieldError, UserName};

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Slack,
    InApp,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Email, Channel::Slack, Channel::InApp];

    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Slack => "slack",
            Channel::InApp => "in_app",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// What a notification is about; preferences are set per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Assigned,
    Completed,
    Blocked,
    Mentioned,
    Escalated,
    Sprint,
    DueSoon,
    /// To a tenant's admins: one of the tenant's webhook subscriptions failed for so long
    /// that it was turned off.
    WebhookDisabled,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Assigned,
        Kind::Completed,
        Kind::Blocked,
        Kind::Mentioned,
        Kind::Escalated,
        Kind::Sprint,
        Kind::DueSoon,
        Kind::WebhookDisabled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Assigned => "assigned",
            Kind::Completed => "completed",
            Kind::Blocked => "blocked",
            Kind::Mentioned => "mentioned",
            Kind::Escalated => "escalated",
            Kind::Sprint => "sprint",
            Kind::DueSoon => "due_soon",
            Kind::WebhookDisabled => "webhook_disabled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// The channels of a kind nobody chose for: in-app only, which needs no address and can
/// never reach anyone outside.
pub const DEFAULT_CHANNELS: &[Channel] = &[Channel::InApp];

/// The most characters of an email address (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;
/// The most characters of a Slack incoming-webhook URL.
const MAX_URL: usize = 2048;

/// One person of a tenant and how they want to be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    pub name: String,
    pub email: Option<String>,
    /// A Slack incoming-webhook URL: a secret (it lets anyone post to the channel).
    pub slack_webhook_url: Option<String>,
    /// Kind → channels; a kind left out gets [`DEFAULT_CHANNELS`], an empty list none.
    #[serde(default)]
    pub preferences: BTreeMap<Kind, Vec<Channel>>,
    #[serde(default)]
    pub muted: bool,
    pub version: u64,
}

impl Person {
    /// Someone with no entry: in-app for every kind, nothing else (there is no address).
    pub fn unknown(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            email: None,
            slack_webhook_url: None,
            preferences: BTreeMap::new(),
            muted: false,
            version: 0,
        }
    }

    /// The channels a notification of `kind` goes to: none when muted; a channel without
    /// its address (email, Slack URL) is left out.
    pub fn channels(&self, kind: Kind) -> impl Iterator<Item = Channel> + '_ {
        let chosen = if self.muted {
            &[][..]
        } else {
            self.preferences.get(&kind).map(Vec::as_slice).unwrap_or(DEFAULT_CHANNELS)
        };
        chosen.iter().copied().filter(move |c| match c {
            Channel::Email => self.email.is_some(),
            Channel::Slack => self.slack_webhook_url.is_some(),
            Channel::InApp => true,
        })
    }
}

/// A person's name as a path or key gives it: a user handle.
pub fn parse_name(raw: &str) -> Result<String, FieldError> {
    UserName::parse("name", raw).map(UserName::into_inner)
}

/// An email address, checked for shape only (one `@`, a dotted domain, no spaces): whether
/// it reaches anyone is the mail server's to say.
pub fn parse_email(raw: &str) -> Result<String, FieldError> {
    let bad = || FieldError::new("email", format!("must be an email address such as li@example.com, got {raw:?}"));
    if raw.chars().count() > MAX_EMAIL {
        return Err(FieldError::new("email", format!("must be at most {MAX_EMAIL} characters")));
    }
    let (local, domain) = raw.split_once('@').ok_or_else(bad)?;
    let ok = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'));
    if ok { Ok(raw.to_owned()) } else { Err(bad()) }
}

/// A Slack incoming-webhook URL: `https://` (or `http://`, for a receiver on the operator's
/// own network), a host, no credentials in it, no white space.
pub fn parse_slack_url(raw: &str) -> Result<String, FieldError> {
    let field = "slackWebhookUrl";
    if raw.chars().count() > MAX_URL {
        return Err(FieldError::new(field, format!("must be at most {MAX_URL} characters")));
    }
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or_else(|| FieldError::new(field, "must be an http(s) URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(field, "must be an http(s) URL with a host and no credentials"));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> Person {
        let mut p = Person::unknown("li");
        p.email = Some("li@example.com".into());
        p
    }

    #[test]
    fn a_kind_without_preferences_goes_in_app_only() {
        assert_eq!(person().channels(Kind::Assigned).collect::<Vec<_>>(), [Channel::InApp]);
    }

    #[test]
    fn chosen_channels_apply_and_a_channel_without_its_address_is_dropped() {
        let mut p = person();
        p.preferences.insert(Kind::Assigned, vec![Channel::Email, Channel::Slack, Channel::InApp]);
        p.preferences.insert(Kind::Sprint, vec![]);
        assert_eq!(p.channels(Kind::Assigned).collect::<Vec<_>>(), [Channel::Email, Channel::InApp]);
        assert_eq!(p.channels(Kind::Sprint).count(), 0);
        p.slack_webhook_url = Some("https://hooks.slack.com/services/T/B/X".into());
        assert_eq!(p.channels(Kind::Assigned).collect::<Vec<_>>(), Channel::ALL);
    }

    #[test]
    fn mute_silences_every_kind() {
        let mut p = person();
        p.preferences.insert(Kind::Mentioned, vec![Channel::Email]);
        p.muted = true;
        assert!(Kind::ALL.iter().all(|k| p.channels(*k).next().is_none()));
    }

    #[test]
    fn addresses_are_checked_for_shape() {
        assert!(parse_email("li@example.com").is_ok());
        for bad in ["li", "@example.com", "li@", "li@localhost", "li@@example.com", "li wei@example.com", "li@.com"] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
        assert!(parse_slack_url("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(parse_slack_url("http://127.0.0.1:9000/hook").is_ok());
        for bad in ["ftp://x", "https://", "https://u:p@host/x", "hooks.slack.com/x", "https://a b"] {
            assert!(parse_slack_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_and_channels_read_back_from_their_names() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(k));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }
}
