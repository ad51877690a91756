//! Authentication: who the caller is, and so which tenant every read and write is scoped to.

use async_trait::async_trait;
use axum::http::{Extensions, HeaderMap};

use crate::context::Identity;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials were presented")]
    Missing,
    #[error("the credentials are not valid")]
    Invalid,
}

/// Turns request headers into an identity. The tenant comes only from here.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// `extensions` carries what the transport knows of the caller (on Lambda, the API
    /// Gateway authorizer context); `headers` carries what the client sent.
    async fn authenticate(&self, headers: &HeaderMap, extensions: &Extensions) -> Result<Identity, AuthError>;
}

/// Everyone is the same caller of one tenant: for a single-user embedded setup.
#[derive(Debug, Clone)]
pub struct SingleTenant(pub Identity);

#[async_trait]
impl Authenticator for SingleTenant {
    async fn authenticate(&self, _: &HeaderMap, _: &Extensions) -> Result<Identity, AuthError> {
        Ok(self.0.clone())
    }
}
