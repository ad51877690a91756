//! Authentication: who the caller is, and so which tenant every read and write is scoped to.

use async_trait::async_trait;
use http::{Extensions, HeaderMap, header};

use crate::context::Identity;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials were presented")]
    Missing,
    #[error("the credentials are not valid")]
    Invalid,
    /// The credentials could not be checked (their store is down): not the caller's fault,
    /// so not a 401.
    #[error("the credentials could not be checked: {0}")]
    Unavailable(String),
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

/// Where API Gateway (and so every client of ours) puts an API key.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The credential a request presents: the `x-api-key` header, else the token of an
/// `Authorization: Bearer` header. `None` when neither is there or is readable text. One
/// reading of the headers for the authenticator and the rate limiter alike, so both agree on
/// who is asking.
pub fn presented_credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(API_KEY_HEADER) {
        return value.to_str().ok().map(str::trim).filter(|v| !v.is_empty());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap_or_else(|_| http::HeaderValue::from_static("")));
        }
        map
    }

    #[test]
    fn the_credential_comes_from_x_api_key_first_then_a_bearer_token() {
        assert_eq!(presented_credential(&headers(&[("x-api-key", "k1")])), Some("k1"));
        assert_eq!(presented_credential(&headers(&[("authorization", "Bearer k2")])), Some("k2"));
        assert_eq!(presented_credential(&headers(&[("authorization", "bearer  k2 ")])), Some("k2"));
        assert_eq!(presented_credential(&headers(&[("x-api-key", "k1"), ("authorization", "Bearer k2")])), Some("k1"));
        assert_eq!(presented_credential(&headers(&[("authorization", "Basic dTpw")])), None);
        assert_eq!(presented_credential(&headers(&[("authorization", "Bearer ")])), None);
        assert_eq!(presented_credential(&headers(&[("x-api-key", "")])), None);
        assert_eq!(presented_credential(&HeaderMap::new()), None);
    }
}
