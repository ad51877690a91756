//! Who is calling, on AWS. API Gateway's Cognito user-pool authorizer has verified the token
//! before the Lambda runs and passes its claims in the request context, which `lambda_http`
//! puts in the request's extensions. Only that context is read: headers are the client's own
//! words, so an `x-tenant` (or any other) header can never choose a tenant.
//!
//! Claims: `sub` is the actor, `custom:tenant` the tenant, `cognito:groups` the role (the
//! highest of admin > member > viewer; other groups are ignored). Without a tenant or a
//! known group the caller is refused (401), never given a default.

use async_trait::async_trait;
use lambda_http::request::RequestContext;
use serde_json::{Map, Value};
use shared_core::ports::http::{Extensions, HeaderMap};
use shared_core::ports::{AuthError, Authenticator};
use shared_core::{Identity, Role};

pub const TENANT_CLAIM: &str = "custom:tenant";
pub const GROUPS_CLAIM: &str = "cognito:groups";
pub const SUBJECT_CLAIM: &str = "sub";

/// Authenticates from the API Gateway (REST API) Cognito authorizer context.
#[derive(Debug, Clone, Copy, Default)]
pub struct CognitoAuthenticator;

#[async_trait]
impl Authenticator for CognitoAuthenticator {
    async fn authenticate(&self, _client_headers: &HeaderMap, extensions: &Extensions) -> Result<Identity, AuthError> {
        identity(claims(extensions).ok_or(AuthError::Missing)?)
    }
}

/// The authorizer's claims, if this request came through an authorizer at all.
fn claims(extensions: &Extensions) -> Option<&Map<String, Value>> {
    match extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV1(context) => context.authorizer.fields.get("claims")?.as_object(),
        _ => None,
    }
}

/// The identity the claims establish.
pub fn identity(claims: &Map<String, Value>) -> Result<Identity, AuthError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty());
    let actor = text(SUBJECT_CLAIM).ok_or(AuthError::Invalid)?;
    let tenant = text(TENANT_CLAIM).filter(|t| plain_tenant(t)).ok_or(AuthError::Invalid)?;
    let role = claims.get(GROUPS_CLAIM).and_then(highest_role).ok_or(AuthError::Invalid)?;
    Ok(Identity { tenant: tenant.to_owned(), actor: actor.to_owned(), role })
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

    /// The extensions `lambda_http` builds for a REST API request with these claims.
    fn extensions(claims: Value) -> Extensions {
        let mut context = ApiGatewayProxyRequestContext::default();
        context.authorizer.fields.insert("claims".into(), claims);
        let mut extensions = Extensions::new();
        extensions.insert(RequestContext::ApiGatewayV1(context));
        extensions
    }

    async fn auth(headers: &HeaderMap, extensions: &Extensions) -> Result<Identity, AuthError> {
        CognitoAuthenticator.authenticate(headers, extensions).await
    }

    #[tokio::test]
    async fn valid_claims_make_the_identity_with_the_highest_group() {
        let ext = extensions(json!({"sub": "u-1", "custom:tenant": "acme", "cognito:groups": "viewer,admin,ops"}));
        let expected = Identity { tenant: "acme".into(), actor: "u-1".into(), role: Role::Admin };
        assert_eq!(auth(&HeaderMap::new(), &ext).await, Ok(expected));
        for groups in [json!(["member", "viewer"]), json!("[viewer member]"), json!("member")] {
            let ext = extensions(json!({"sub": "u-1", "custom:tenant": "acme", "cognito:groups": groups}));
            assert_eq!(auth(&HeaderMap::new(), &ext).await.map(|i| i.role), Ok(Role::Member), "{groups}");
        }
    }

    #[tokio::test]
    async fn no_tenant_no_known_group_or_no_subject_is_refused() {
        for claims in [
            json!({"sub": "u-1", "cognito:groups": "admin"}),
            json!({"sub": "u-1", "custom:tenant": "", "cognito:groups": "admin"}),
            json!({"sub": "u-1", "custom:tenant": "a#b", "cognito:groups": "admin"}),
            json!({"sub": "u-1", "custom:tenant": "acme"}),
            json!({"sub": "u-1", "custom:tenant": "acme", "cognito:groups": "ops,billing"}),
            json!({"custom:tenant": "acme", "cognito:groups": "admin"}),
        ] {
            assert_eq!(auth(&HeaderMap::new(), &extensions(claims.clone())).await, Err(AuthError::Invalid), "{claims}");
        }
    }

    #[tokio::test]
    async fn a_client_header_chooses_nothing() {
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", "globex".parse().unwrap());
        headers.insert("x-api-key", "tsk_0123456789abcdef_00".parse().unwrap());
        let ext = extensions(json!({"sub": "u-1", "custom:tenant": "acme", "cognito:groups": "member"}));
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
                "identity": {"sourceIp": "192.0.2.1"},
                "authorizer": {"claims": {"sub": "u-9", "custom:tenant": "acme", "cognito:groups": "viewer"}}
            },
            "body": null, "isBase64Encoded": false
        });
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        let identity = auth(request.headers(), request.extensions()).await.unwrap();
        assert_eq!(identity, Identity { tenant: "acme".into(), actor: "u-9".into(), role: Role::Viewer });
    }
}
