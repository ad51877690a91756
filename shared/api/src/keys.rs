//! `/keys`: an admin lists, makes and revokes the API keys of their own tenant. The secret
//! of a new key is in the 201 response and nowhere else, so this POST takes no
//! `Idempotency-Key` (a replay would need the secret stored).
//!
//! The routes answer only where the engine manages keys: `serve` puts a [`KeysHandle`] in
//! the request extensions; without one (the Lambda, where Cognito owns identities) they
//! are 404 like any unknown path.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared_core::Role;
use shared_core::domain::FieldError;
use shared_core::ports::{KeyDirectory, KeySummary};

use super::IDEMPOTENCY_HEADER;
use super::error::ApiError;
use super::extract::{Ctx, Json};
use super::tasks::data;

/// The engine's keys, as `serve` hands them to the router.
#[derive(Clone)]
pub struct KeysHandle(pub Arc<dyn KeyDirectory>);

pub struct Keys(Arc<dyn KeyDirectory>);

impl<S: Send + Sync> FromRequestParts<S> for Keys {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<KeysHandle>() {
            Some(handle) => Ok(Keys(Arc::clone(&handle.0))),
            None => Err(super::error::not_found().await),
        }
    }
}

/// A key as the API shows it; `key` (the secret) only in the answer that made it.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// The part of the key after `tsk_`, up to the next `_`: how the key is named.
    key_id: String,
    tenant: String,
    role: RoleName,
    created_at: String,
    revoked_at: Option<String>,
    /// The person the key speaks for: requests made with it act as them.
    person: Option<String>,
    /// The whole key, shown once: send it as `x-api-key` or `Authorization: Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl KeyView {
    fn of(summary: KeySummary, key: Option<String>) -> Self {
        Self {
            key_id: summary.key_id,
            tenant: summary.tenant,
            role: summary.role.into(),
            created_at: summary.created_at,
            revoked_at: summary.revoked_at,
            person: summary.person,
            key,
        }
    }
}

#[derive(Clone, Copy, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    Viewer,
    Member,
    Admin,
}

impl From<Role> for RoleName {
    fn from(role: Role) -> Self {
        match role {
            Role::Viewer => RoleName::Viewer,
            Role::Member => RoleName::Member,
            Role::Admin => RoleName::Admin,
        }
    }
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Self {
        match role {
            RoleName::Viewer => Role::Viewer,
            RoleName::Member => Role::Member,
            RoleName::Admin => Role::Admin,
        }
    }
}

/// A new key of the caller's tenant.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    role: RoleName,
    /// The person the key speaks for (a user name, as tasks use for assignee): requests made
    /// with it act as them, and `/notifications` shows theirs.
    #[schemars(length(min = 1, max = 128), regex(pattern = super::people::NAME_PATTERN))]
    person: Option<String>,
}

pub async fn list(ctx: Ctx, Keys(keys): Keys) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let listed = keys.list(ctx.tenant()).await?;
    Ok(data(listed.into_iter().map(|k| KeyView::of(k, None)).collect::<Vec<_>>()).into_response())
}

pub async fn create(
    ctx: Ctx,
    Keys(keys): Keys,
    headers: HeaderMap,
    Json(body): Json<KeyBody>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    if headers.contains_key(IDEMPOTENCY_HEADER) {
        return Err(ApiError::invalid_fields(vec![FieldError::new(
            IDEMPOTENCY_HEADER,
            "is not taken here: the answer holds a secret that is never stored, so it cannot be replayed",
        )]));
    }
    let person = body
        .person
        .as_deref()
        .map(|p| {
            shared_core::notify::parse_name(p).map_err(|mut e| {
                e.field = "person".into();
                ApiError::invalid_fields(vec![e])
            })
        })
        .transpose()?;
    let issued = keys.create(ctx.tenant(), body.role.into(), person.as_deref()).await?;
    tracing::info!(key_id = %issued.summary.key_id, tenant = %ctx.tenant(), "API key created over the API");
    Ok((StatusCode::CREATED, data(KeyView::of(issued.summary, Some(issued.secret)))).into_response())
}

pub async fn revoke(
    ctx: Ctx,
    Keys(keys): Keys,
    axum::extract::Path(key_id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Admin)?;
    let not_found = || ApiError::not_found("the key");
    // Revoking the key a request is made with would lock its admin out mid-request.
    if ctx.identity.actor == format!("key:{key_id}") {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            super::error::ErrorCode::InUse,
            "this is the key making the request; revoke it with another admin key",
        ));
    }
    // Key ids are 16 lowercase hex digits; anything else cannot exist.
    if key_id.len() != 16 || !key_id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(not_found());
    }
    let revoked = keys.revoke(ctx.tenant(), &key_id).await.map_err(|e| match e {
        shared_core::ports::StoreError::NotFound => not_found(),
        other => other.into(),
    })?;
    tracing::info!(%key_id, tenant = %ctx.tenant(), "API key revoked over the API");
    Ok(data(KeyView::of(revoked, None)).into_response())
}
