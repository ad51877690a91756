//! Who is told when a tenant's webhook subscription is turned off for failing: the tenant's
//! admins. On AWS an admin is a user of the Cognito pool in its `admin` group whose
//! `custom:tenant` is the tenant, the same facts the task API reads from an ID token
//! ([`crate::auth`]); the table does not know them, so the pool is asked.

use std::sync::Arc;

use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::error::DisplayErrorContext;
use aws_sdk_cognitoidentityprovider::types::UserType;
use shared_core::notify::Person;
use shared_core::notify::inline::InlineDelivery;
use shared_core::ports::{NotificationStore, StoreError};
use shared_core::webhooks::health::Disabled;

use crate::auth::TENANT_CLAIM;

/// The pool group whose members are admins (the task API maps `cognito:groups` the same way).
const ADMIN_GROUP: &str = "admin";

/// A tenant's admins as the user pool has them.
pub struct CognitoAdmins {
    client: Client,
    pool_id: String,
}

impl CognitoAdmins {
    pub fn new(config: &aws_config::SdkConfig, pool_id: impl Into<String>) -> Self {
        Self::from_client(Client::new(config), pool_id)
    }

    pub fn from_client(client: Client, pool_id: impl Into<String>) -> Self {
        Self { client, pool_id: pool_id.into() }
    }

    /// Each admin's user name once, in name order; users turned off in the pool are left out.
    pub async fn admins(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        let users = self
            .client
            .list_users_in_group()
            .user_pool_id(&self.pool_id)
            .group_name(ADMIN_GROUP)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| StoreError::Unavailable(format!("Cognito ListUsersInGroup: {}", DisplayErrorContext(e))))?;
        let of_tenant = |user: &UserType| {
            user.enabled() && user.attributes().iter().any(|a| a.name() == TENANT_CLAIM && a.value() == Some(tenant))
        };
        let mut names: Vec<String> =
            users.iter().filter(|u| of_tenant(u)).filter_map(|u| u.username().map(str::to_owned)).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

/// Tells a tenant's admins that one of its subscriptions was turned off: a `webhook_disabled`
/// notification each, by their own preferences (in-app for an admin with no entry), recorded
/// in their list and, for email and Slack, claimed and sent as the notifier sends the others.
pub struct AdminNotice {
    admins: CognitoAdmins,
    notifications: Arc<dyn NotificationStore>,
    inline: Option<InlineDelivery>,
}

impl AdminNotice {
    pub fn new(admins: CognitoAdmins, notifications: Arc<dyn NotificationStore>) -> Self {
        Self { admins, notifications, inline: None }
    }

    /// Email and Slack notices are sent through `inline`; without it they are only recorded.
    pub fn with_inline(mut self, inline: InlineDelivery) -> Self {
        self.inline = Some(inline);
        self
    }

    /// Records (and sends) the notices of `disabled`; returns how many admins were told. The
    /// notices' ids come from the disabling, so telling twice records nothing new.
    pub async fn tell(&self, disabled: &Disabled) -> Result<usize, StoreError> {
        let names = self.admins.admins(&disabled.tenant).await?;
        let asked: Vec<&str> = names.iter().map(String::as_str).collect();
        let found = self.notifications.people(&disabled.tenant, &asked).await?;
        let people: Vec<Person> = names
            .iter()
            .map(|name| found.iter().find(|p| &p.name == name).cloned().unwrap_or_else(|| Person::unknown(name)))
            .collect();
        let notices = disabled.notices(&people);
        self.notifications.record(&notices).await?;
        if let Some(inline) = &self.inline
            && let Err(e) = inline.deliver(&notices, &people).await
        {
            // The disabling is not undone for a mail server's hiccup; the notice stays in
            // the admins' lists.
            tracing::warn!(error = %e, tenant = %disabled.tenant, "a webhook_disabled notice could not be sent");
        }
        Ok(people.len())
    }
}
