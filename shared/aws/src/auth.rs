//! Who is calling, on AWS. API Gateway's Cognito user-pool authorizer has verified the token
//! before the Lambda runs and passes its claims in the request context, which `lambda_http`
//! puts in the request's extensions. Only that context is read: headers are the client's own
//! words, so an `x-tenant` (or any other) header can never choose a tenant.
//!
//! Claims: `cognito:username` is the actor and so the person (the name tasks use as
//! `assignee`, `reporter` and `@mention`, whose notifications `/notifications` lists),
//! `custom:tenant` the tenant, `cognito:groups` the role (the highest of admin > member >
//! viewer; other groups are ignored). Without a username, a tenant or a known group the
//! caller is refused (401), never given a default. Why the username and not `sub`:
//! `docs/notifications.md`, "On AWS: people are Cognito users".
//!
//! API Gateway throttles each tenant on its own API key (a usage plan's limits apply to each
//! key separately). A token of one tenant with another tenant's key would spend that tenant's
//! allowance and escape its own, so the key API Gateway checked (its id is in the request
//! context) must belong to the token's tenant (`TENANT_API_KEYS`, written by the CDK app).
//! A key the table does not name is refused too.

use std::collections::HashMap;

use async_trait::async_trait;
use lambda_http::request::RequestContext;
use serde_json::{Map, Value};
use shared_core::ports::http::{Extensions, HeaderMap};
use shared_core::ports::{AuthError, Authenticator};
use shared_core::{Identity, Role};

pub const TENANT_CLAIM: &str = "custom:tenant";
pub const GROUPS_CLAIM: &str = "cognito:groups";
/// In the ID token, which is what a REST API's Cognito authorizer without OAuth scopes takes.
pub const USERNAME_CLAIM: &str = "cognito:username";

#[derive(Debug, thiserror::Error)]
pub enum TenantKeysError {
    #[error(transparent)]
    Missing(#[from] crate::env::MissingEnv),
    #[error("TENANT_API_KEYS must be a JSON list of [API key id, tenant] pairs: {0}")]
    Invalid(String),
}

/// Which tenant each API key belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantKeys(HashMap<String, String>);

impl TenantKeys {
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    /// `[["<key id>", "<tenant>"], …]`, as the CDK app writes `TENANT_API_KEYS`.
    pub fn parse(json: &str) -> Result<Self, TenantKeysError> {
        let pairs: Vec<(String, String)> =
            serde_json::from_str(json).map_err(|e| TenantKeysError::Invalid(e.to_string()))?;
        Ok(Self::new(pairs))
    }

    pub fn from_env() -> Result<Self, TenantKeysError> {
        Self::parse(&crate::env::required("TENANT_API_KEYS")?)
    }

    fn tenant_of(&self, key_id: &str) -> Option<&str> {
        self.0.get(key_id).map(String::as_str)
    }
}

/// Authenticates from the API Gateway (REST API) Cognito authorizer context, with the
/// tenant's own API key.
#[derive(Debug, Clone, Default)]
pub struct CognitoAuthenticator {
    keys: TenantKeys,
}

impl CognitoAuthenticator {
    pub fn new(keys: TenantKeys) -> Self {
        Self { keys }
    }
}

#[async_trait]
impl Authenticator for CognitoAuthenticator {
    async fn authenticate(&self, _client_headers: &HeaderMap, extensions: &Extensions) -> Result<Identity, AuthError> {
        let (claims, key_id) = authorized(extensions).ok_or(AuthError::Missing)?;
        let identity = identity(claims)?;
        match key_id.and_then(|id| self.keys.tenant_of(id)) {
            Some(tenant) if tenant == identity.tenant => Ok(identity),
            key_tenant => {
                tracing::warn!(
                    token_tenant = %identity.tenant,
                    key_id = key_id.unwrap_or("<none>"),
                    key_tenant = key_tenant.unwrap_or("<unknown>"),
                    "API key of another tenant, or of none"
                );
                Err(AuthError::Invalid)
            }
        }
    }
}

/// The authorizer's claims and the id of the API key API Gateway checked, if this request
/// came through an authorizer at all.
fn authorized(extensions: &Extensions) -> Option<(&Map<String, Value>, Option<&str>)> {
    match extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV1(context) => {
            let claims = context.authorizer.fields.get("claims")?.as_object()?;
            Some((claims, context.identity.api_key_id.as_deref()))
        }
        _ => None,
    }
}

/// The identity the claims establish.
pub fn identity(claims: &Map<String, Value>) -> Result<Identity, AuthError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty());
    let actor = text(USERNAME_CLAIM).filter(|u| person_name(u)).ok_or(AuthError::Invalid)?;
    let tenant = text(TENANT_CLAIM).filter(|t| plain_tenant(t)).ok_or(AuthError::Invalid)?;
    let role = claims.get(GROUPS_CLAIM).and_then(highest_role).ok_or(AuthError::Invalid)?;
    Ok(Identity { tenant: tenant.to_owned(), actor: actor.to_owned(), role })
}

/// Cognito's usernames have no white space and at most 128 characters, so each is a person's
/// name; the check holds should the pool be configured otherwise. `key:…` is how an API key
/// that speaks for no one is recorded (`Identity::person`), so no user may be named that way.
fn person_name(username: &str) -> bool {
    !username.starts_with("key:") && shared_core::notify::parse_name(username).is_ok()
}

/// Tenants end up inside table keys: the same plain names the embedded API keys allow.
fn plain_tenant(tenant: &str) -> bool {
    tenant.len() <= 64 && tenant.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The groups claim arrives as a JSON array, or (REST APIs flatten claims to strings) as
/// `"a,b"` or `"[a b]"`; every spelling is read the same way.
fn highest_role(groups: &Value) -> Option<Role> {
    let names: Vec<&str> = match groups {
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        Value::String(text) => text
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split(|c: char| c == ',' || c.is_whitespace())
            .collect(),
        _ => Vec::new(),
    };
    names.into_iter().filter_map(|name| Role::parse(name.trim())).max()
}

#[cfg(test)]
mod tests {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
    use serde_json::json;

    use super::*;

    /// The extensions `lambda_http` builds for a REST API request with these claims, made
    /// with acme's API key.
    fn extensions(claims: Value) -> Extensions {
        with_key(claims, Some("k-acme"))
    }

    fn with_key(claims: Value, key_id: Option<&str>) -> Extensions {
        let mut context = ApiGatewayProxyRequestContext::default();
        context.authorizer.fields.insert("claims".into(), claims);
        context.identity.api_key_id = key_id.map(str::to_owned);
        let mut extensions = Extensions::new();
        extensions.insert(RequestContext::ApiGatewayV1(context));
        extensions
    }

    fn authenticator() -> CognitoAuthenticator {
        CognitoAuthenticator::new(TenantKeys::new([
            ("k-acme".to_owned(), "acme".to_owned()),
            ("k-globex".to_owned(), "globex".to_owned()),
        ]))
    }

    async fn auth(headers: &HeaderMap, extensions: &Extensions) -> Result<Identity, AuthError> {
        authenticator().authenticate(headers, extensions).await
    }

    #[tokio::test]
    async fn valid_claims_make_the_identity_with_the_highest_group() {
        let ext = extensions(
            json!({"sub": "u-1", "cognito:username": "li", "custom:tenant": "acme", "cognito:groups": "viewer,admin,ops"}),
        );
        let expected = Identity { tenant: "acme".into(), actor: "li".into(), role: Role::Admin };
        assert_eq!(auth(&HeaderMap::new(), &ext).await, Ok(expected));
        for groups in [json!(["member", "viewer"]), json!("[viewer member]"), json!("member")] {
            let ext = extensions(
                json!({"sub": "u-1", "cognito:username": "li", "custom:tenant": "acme", "cognito:groups": groups}),
            );
            assert_eq!(auth(&HeaderMap::new(), &ext).await.map(|i| i.role), Ok(Role::Member), "{groups}");
        }
    }

    #[tokio::test]
    async fn no_tenant_no_known_group_or_no_usable_username_is_refused() {
        for claims in [
            json!({"sub": "u-1", "cognito:groups": "admin"}),
            json!({"sub": "u-1", "cognito:username": "li", "custom:tenant": "", "cognito:groups": "admin"}),
            json!({"sub": "u-1", "cognito:username": "li", "custom:tenant": "a#b", "cognito:groups": "admin"}),
            json!({"sub": "u-1", "cognito:username": "li", "custom:tenant": "acme"}),
            json!({"sub": "u-1", "cognito:username": "li", "custom:tenant": "acme", "cognito:groups": "ops,billing"}),
            json!({"sub": "u-1", "custom:tenant": "acme", "cognito:groups": "admin"}),
            json!({"sub": "u-1", "cognito:username": " ", "custom:tenant": "acme", "cognito:groups": "admin"}),
            json!({"sub": "u-1", "cognito:username": "li li", "custom:tenant": "acme", "cognito:groups": "admin"}),
            json!({"sub": "u-1", "cognito:username": "l".repeat(129), "custom:tenant": "acme", "cognito:groups": "admin"}),
            // The shape of an API key's actor, which speaks for no one.
            json!({"sub": "u-1", "cognito:username": "key:0123", "custom:tenant": "acme", "cognito:groups": "admin"}),
        ] {
            assert_eq!(auth(&HeaderMap::new(), &extensions(claims.clone())).await, Err(AuthError::Invalid), "{claims}");
        }
    }

    #[tokio::test]
    async fn the_username_is_the_actor_and_the_person_not_the_subject() {
        let ext = extensions(json!({
            "sub": "5f1c2e4a-0000-4000-8000-000000000001", "cognito:username": "maria",
            "email": "maria@example.com", "custom:tenant": "acme", "cognito:groups": "member"
        }));
        let identity = auth(&HeaderMap::new(), &ext).await.unwrap();
        assert_eq!((identity.actor.as_str(), identity.person()), ("maria", Some("maria")));
    }

    #[tokio::test]
    async fn the_api_key_must_be_the_tokens_tenants() {
        let acme = json!({"sub": "u-1", "cognito:username": "li", "custom:tenant": "acme", "cognito:groups": "member"});
        assert_eq!(
            auth(&HeaderMap::new(), &with_key(acme.clone(), Some("k-acme"))).await.map(|i| i.tenant),
            Ok("acme".into())
        );
        for key in [Some("k-globex"), Some("k-unknown"), None] {
            assert_eq!(auth(&HeaderMap::new(), &with_key(acme.clone(), key)).await, Err(AuthError::Invalid), "{key:?}");
        }
    }

    #[test]
    fn tenant_keys_read_the_cdk_apps_pairs() {
        let keys = TenantKeys::parse(r#"[["abc123", "acme"], ["def456", "globex"]]"#).unwrap();
        assert_eq!(keys.tenant_of("def456"), Some("globex"));
        assert_eq!(keys.tenant_of("acme"), None);
        assert_eq!(TenantKeys::parse("[]").unwrap(), TenantKeys::default());
        for bad in ["", "{}", r#"[["abc123"]]"#, r#"[{"abc123": "acme"}]"#] {
            assert!(TenantKeys::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_client_header_chooses_nothing() {
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", "globex".parse().unwrap());
        headers.insert("x-api-key", "tsk_0123456789abcdef_00".parse().unwrap());
        let ext = extensions(
            json!({"sub": "u-1", "cognito:username": "li", "custom:tenant": "acme", "cognito:groups": "member"}),
        );
        assert_eq!(auth(&headers, &ext).await.map(|i| i.tenant), Ok("acme".into()));
        // Headers alone, without the authorizer's context, are no credentials at all.
        assert_eq!(auth(&headers, &Extensions::new()).await, Err(AuthError::Missing));
    }

    #[tokio::test]
    async fn a_real_api_gateway_event_reaches_the_claims() {
        let event = json!({
            "resource": "/tasks", "path": "/tasks", "httpMethod": "GET",
            "headers": {"x-tenant": "globex", "Host": "api.example.com"},
            "multiValueHeaders": {"x-tenant": ["globex"], "Host": ["api.example.com"]},
            "queryStringParameters": null, "multiValueQueryStringParameters": null,
            "pathParameters": null, "stageVariables": null,
            "requestContext": {
                "resourcePath": "/tasks", "httpMethod": "GET", "path": "/prod/tasks", "stage": "prod",
                "requestId": "r-1", "accountId": "123456789012", "apiId": "abc123",
                "identity": {"sourceIp": "192.0.2.1", "apiKeyId": "k-acme"},
                "authorizer": {"claims": {"sub": "u-9", "cognito:username": "maria", "custom:tenant": "acme", "cognito:groups": "viewer"}}
            },
            "body": null, "isBase64Encoded": false
        });
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let identity = auth(request.headers(), request.extensions()).await.unwrap();
        assert_eq!(identity, Identity { tenant: "acme".into(), actor: "maria".into(), role: Role::Viewer });
    }
}
