//! API keys managed over HTTP: an admin lists, makes and revokes the keys of their own
//! tenant. `serve` implements it over its key table; on AWS, identities are Cognito's and
//! no engine offers it.

use async_trait::async_trait;

use super::StoreError;
use crate::Role;

/// What is known of a key besides its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySummary {
    pub key_id: String,
    pub tenant: String,
    pub role: Role,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The person the key speaks for (the actor of its requests), if any.
    pub person: Option<String>,
}

/// A key just made: the one moment its secret exists outside the client.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub summary: KeySummary,
    pub secret: String,
}

/// Every call is scoped to `tenant`: another tenant's key does not exist here
/// ([`StoreError::NotFound`]).
#[async_trait]
pub trait KeyDirectory: Send + Sync {
    /// The tenant's keys, revoked ones included, oldest first.
    async fn list(&self, tenant: &str) -> Result<Vec<KeySummary>, StoreError>;
    /// A new key of `tenant`; with `person`, its requests act as that person.
    async fn create(&self, tenant: &str, role: Role, person: Option<&str>) -> Result<IssuedKey, StoreError>;
    /// Revokes the key, effective at once for this process; revoking it again is no error.
    async fn revoke(&self, tenant: &str, key_id: &str) -> Result<KeySummary, StoreError>;
}
