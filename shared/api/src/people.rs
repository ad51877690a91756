//! `/people/{name}`: a person's addresses, their channel per kind of notification, and the
//! mute switch. A person reads and (as a member) edits their own entry; an admin anyone's.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared_core::Role;
use shared_core::context::RequestContext;
use shared_core::domain::FieldError;
use shared_core::notify::{Channel, Kind, Person, parse_email, parse_name, parse_slack_url};

use super::error::ApiError;
use super::extract::{Ctx, Json};
use super::notifications::Notifications;
use super::tasks::data;

/// A person's name as the document states it: no white space or control characters (what
/// `UserName` refuses).
pub const NAME_PATTERN: &str = r"^[^\s\x00-\x1f\x7f-\x9f]+$";
/// A Slack incoming-webhook URL as the document states it (what `parse_slack_url` takes).
const SLACK_URL_PATTERN: &str = r"^https?://[^\s\x00-\x1f\x7f-\x9f/?#@]+([/?#][^\s\x00-\x1f\x7f-\x9f]*)?$";

/// A kind of notification, as preferences name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KindName {
    Assigned,
    Completed,
    Blocked,
    Mentioned,
    Escalated,
    Sprint,
    DueSoon,
    WebhookDisabled,
}

impl From<KindName> for Kind {
    fn from(k: KindName) -> Self {
        match k {
            KindName::Assigned => Kind::Assigned,
            KindName::Completed => Kind::Completed,
            KindName::Blocked => Kind::Blocked,
            KindName::Mentioned => Kind::Mentioned,
            KindName::Escalated => Kind::Escalated,
            KindName::Sprint => Kind::Sprint,
            KindName::DueSoon => Kind::DueSoon,
            KindName::WebhookDisabled => Kind::WebhookDisabled,
        }
    }
}

impl From<Kind> for KindName {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Assigned => KindName::Assigned,
            Kind::Completed => KindName::Completed,
            Kind::Blocked => KindName::Blocked,
            Kind::Mentioned => KindName::Mentioned,
            Kind::Escalated => KindName::Escalated,
            Kind::Sprint => KindName::Sprint,
            Kind::DueSoon => KindName::DueSoon,
            Kind::WebhookDisabled => KindName::WebhookDisabled,
        }
    }
}

/// A channel a notification can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelName {
    Email,
    Slack,
    InApp,
}

impl From<ChannelName> for Channel {
    fn from(c: ChannelName) -> Self {
        match c {
            ChannelName::Email => Channel::Email,
            ChannelName::Slack => Channel::Slack,
            ChannelName::InApp => Channel::InApp,
        }
    }
}

impl From<Channel> for ChannelName {
    fn from(c: Channel) -> Self {
        match c {
            Channel::Email => ChannelName::Email,
            Channel::Slack => ChannelName::Slack,
            Channel::InApp => ChannelName::InApp,
        }
    }
}

/// A person's whole entry; what is left out is cleared (preferences: every kind in-app only).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PersonBody {
    #[schemars(email, length(min = 3, max = 254))]
    email: Option<String>,
    /// A Slack incoming-webhook URL (http or https).
    #[schemars(length(min = 8, max = 2048), regex(pattern = SLACK_URL_PATTERN))]
    slack_webhook_url: Option<String>,
    /// Kind → the channels it goes to; a kind left out goes in-app only, an empty list nowhere.
    #[serde(default)]
    preferences: BTreeMap<KindName, Vec<ChannelName>>,
    /// Nothing is sent to a muted person.
    #[serde(default)]
    muted: bool,
}

/// A person as the API shows it: every kind with the channels chosen for it.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonView {
    name: String,
    email: Option<String>,
    slack_webhook_url: Option<String>,
    preferences: BTreeMap<KindName, Vec<ChannelName>>,
    muted: bool,
    version: u64,
}

impl From<Person> for PersonView {
    fn from(p: Person) -> Self {
        let preferences = Kind::ALL
            .iter()
            .map(|k| {
                let chosen = p.preferences.get(k).map(Vec::as_slice).unwrap_or(shared_core::notify::DEFAULT_CHANNELS);
                ((*k).into(), chosen.iter().map(|c| (*c).into()).collect())
            })
            .collect();
        Self {
            name: p.name,
            email: p.email,
            slack_webhook_url: p.slack_webhook_url,
            preferences,
            muted: p.muted,
            version: p.version,
        }
    }
}

/// Refuses unless the caller is `name` with at least `own_role`, or an admin.
fn may_touch<'a>(ctx: &'a Ctx, name: &str, own_role: Role) -> Result<&'a RequestContext, ApiError> {
    if ctx.0.identity.person() == Some(name) { ctx.require(own_role) } else { ctx.require(Role::Admin) }
}

pub async fn get(ctx: Ctx, Notifications(store): Notifications, Path(raw): Path<String>) -> Result<Response, ApiError> {
    // A name that cannot be a person's is nobody's entry.
    let name = parse_name(&raw).map_err(|_| ApiError::not_found("the person"))?;
    let ctx = may_touch(&ctx, &name, Role::Viewer)?;
    let person = store.person(ctx.tenant(), &name).await?.ok_or_else(|| ApiError::not_found("the person"))?;
    Ok(data(PersonView::from(person)).into_response())
}

pub async fn put(
    ctx: Ctx,
    Notifications(store): Notifications,
    Path(raw): Path<String>,
    Json(body): Json<PersonBody>,
) -> Result<Response, ApiError> {
    let name = parse_name(&raw).map_err(|e| ApiError::invalid_fields(vec![e]))?;
    let ctx = may_touch(&ctx, &name, Role::Member)?;
    let mut errors: Vec<FieldError> = Vec::new();
    let email = body.email.as_deref().map(parse_email).transpose().unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let slack = body.slack_webhook_url.as_deref().map(parse_slack_url).transpose().unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if !errors.is_empty() {
        return Err(ApiError::invalid_fields(errors));
    }
    let preferences = body
        .preferences
        .into_iter()
        .map(|(kind, channels)| {
            let mut channels: Vec<Channel> = channels.into_iter().map(Channel::from).collect();
            channels.sort_unstable();
            channels.dedup();
            (Kind::from(kind), channels)
        })
        .collect();
    let person = Person { name, email, slack_webhook_url: slack, preferences, muted: body.muted, version: 0 };
    let stored = store.put_person(ctx.tenant(), &person).await?;
    tracing::info!(person = %stored.name, version = stored.version, "person saved");
    Ok(data(PersonView::from(stored)).into_response())
}
