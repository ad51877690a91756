//! The Lambda path of the API without deploying it: API Gateway REST proxy events (JSON, as
//! the Lambda runtime hands them over) → `lambda_http`'s conversion → the service the binary
//! runs (stage prefix off, the core's router, the Cognito authenticator) → the JSON response
//! the runtime returns to API Gateway. The store is the embedded engine's.
//!
//! `lambda_http::Adapter` is what `lambda_http::run` wraps the service in; calling it here
//! leaves out only the runtime's polling loop.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent, Service};
use serde_json::{Value, json};
use shared_api::AppState;
use shared_aws::api::lambda_service;
use shared_aws::auth::{CognitoAuthenticator, TenantKeys};
use shared_core::ports::{EscalationPolicies, NotificationStore, WebhookStore};
use shared_embedded::{Engine, EngineConfig};

struct Api {
    state: AppState,
    policies: Arc<dyn EscalationPolicies>,
    notifications: Arc<dyn NotificationStore>,
    webhooks: Arc<dyn WebhookStore>,
    _engine: Engine,
    _dir: tempfile::TempDir,
}

/// What the runtime sends back to API Gateway, read back.
struct Answer {
    status: u64,
    headers: Value,
    body: Value,
}

impl Api {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
        let state = AppState {
            store: engine.store(),
            history: engine.history_store(),
            search: engine.search_index(),
            metrics: None,
            // Each tenant's key, as the CDK app lists them in TENANT_API_KEYS.
            auth: Arc::new(CognitoAuthenticator::new(TenantKeys::new([
                ("key-acme".to_owned(), "acme".to_owned()),
                ("key-globex".to_owned(), "globex".to_owned()),
            ]))),
            exports: None,
        };
        Self {
            state,
            policies: engine.escalation(),
            notifications: engine.notification_store(),
            webhooks: engine.webhook_store(),
            _engine: engine,
            _dir: dir,
        }
    }

    /// One invocation, the event given as API Gateway writes it.
    async fn invoke(&self, event: Value) -> Answer {
        let request: LambdaRequest = serde_json::from_value(event).unwrap();
        let app = task_api::app(
            self.state.clone(),
            Arc::clone(&self.policies),
            Arc::clone(&self.notifications),
            Arc::clone(&self.webhooks),
        );
        let mut adapter = Adapter::from(lambda_service(app));
        let response = adapter.call(LambdaEvent::new(request, Context::default())).await.unwrap();
        let response = serde_json::to_value(response).unwrap();
        let body = match response["body"].as_str() {
            Some(text) if !text.is_empty() => serde_json::from_str(text).unwrap(),
            _ => Value::Null,
        };
        Answer {
            status: response["statusCode"].as_u64().unwrap(),
            headers: response["multiValueHeaders"].clone(),
            body,
        }
    }
}

fn claims(tenant: &str, groups: &str) -> Value {
    json!({"sub": "0f6c1d8e-u1", "cognito:username": "maria", "custom:tenant": tenant, "cognito:groups": groups, "email": "maria@example.com"})
}

/// A REST API proxy event through stage `prod` of the `/{proxy+}` resource, as the CDK's
/// proxy integration delivers it; `claims` as the Cognito authorizer passes them (none: no
/// authorizer ran).
fn event(method: &str, path: &str, query: Option<Value>, body: Option<Value>, claims: Option<Value>) -> Value {
    // The caller's services call with their own tenant's API key.
    let tenant = claims.as_ref().and_then(|c| c["custom:tenant"].as_str()).unwrap_or("none");
    let key_id = format!("key-{tenant}");
    let mut context = json!({
        "resourceId": "r1", "resourcePath": "/{proxy+}", "httpMethod": method,
        "path": format!("/prod{path}"), "stage": "prod", "protocol": "HTTP/1.1",
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "requestTimeEpoch": 1_767_225_600_000_i64,
        "accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
        "identity": {"sourceIp": "192.0.2.1", "userAgent": "curl/8.5.0", "apiKey": "key-value", "apiKeyId": key_id}
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({ "claims": claims });
    }
    let multi_query = query.as_ref().map(|q| {
        let map = q.as_object().unwrap().iter().map(|(k, v)| (k.clone(), json!([v]))).collect();
        Value::Object(map)
    });
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "X-Forwarded-Proto": "https",
            // A client's word only: it must choose nothing.
            "x-tenant": "globex"
        },
        "multiValueHeaders": {
            "Accept": ["application/json"],
            "Content-Type": ["application/json"],
            "Host": ["abc123.execute-api.eu-west-1.amazonaws.com"],
            "X-Forwarded-Proto": ["https"],
            "x-tenant": ["globex"]
        },
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": context,
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

#[tokio::test]
async fn a_member_creates_a_task_through_api_gateway_and_reads_it_back() {
    let api = Api::new();
    let created = api
        .invoke(event(
            "POST",
            "/tasks",
            None,
            Some(json!({"title": "Write the release notes", "priority": "high"})),
            Some(claims("acme", "member")),
        ))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let task = &created.body["data"];
    assert_eq!((task["title"].as_str(), task["version"].as_u64()), (Some("Write the release notes"), Some(1)));
    assert!(created.headers["content-type"][0].as_str().unwrap().starts_with("application/json"));
    let id = task["id"].as_str().unwrap();

    let read = api.invoke(event("GET", &format!("/tasks/{id}"), None, None, Some(claims("acme", "viewer")))).await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert_eq!(read.body["data"], *task);

    // Query parameters travel too: a filter that keeps the task, one that does not.
    let todo = json!({"status": "todo"});
    let listed = api.invoke(event("GET", "/tasks", Some(todo), None, Some(claims("acme", "viewer")))).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1, "{}", listed.body);
    let done = json!({"status": "done"});
    let none = api.invoke(event("GET", "/tasks", Some(done), None, Some(claims("acme", "viewer")))).await;
    assert_eq!(none.body["data"], json!([]), "{}", none.body);
}

#[tokio::test]
async fn without_the_authorizers_claims_the_answer_is_401_in_the_error_shape() {
    let api = Api::new();
    let answer = api.invoke(event("GET", "/tasks", None, None, None)).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert!(answer.body["error"]["code"].is_string(), "{}", answer.body);
    assert!(answer.body["error"]["correlationId"].is_string(), "{}", answer.body);

    let no_tenant = json!({"sub": "u-1", "cognito:groups": "admin"});
    let answer = api.invoke(event("POST", "/tasks", None, Some(json!({"title": "t"})), Some(no_tenant))).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
}

#[tokio::test]
async fn the_tenant_comes_from_the_claims_and_the_role_from_the_groups() {
    let api = Api::new();
    let created =
        api.invoke(event("POST", "/tasks", None, Some(json!({"title": "t"})), Some(claims("acme", "admin")))).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();

    // Another tenant's caller (whatever its x-tenant header says) does not see it.
    let other = api.invoke(event("GET", &format!("/tasks/{id}"), None, None, Some(claims("globex", "admin")))).await;
    assert_eq!(other.status, 404, "{}", other.body);

    let viewer_writes =
        api.invoke(event("POST", "/tasks", None, Some(json!({"title": "t2"})), Some(claims("acme", "viewer")))).await;
    assert_eq!(viewer_writes.status, 403, "{}", viewer_writes.body);
}

#[tokio::test]
async fn routes_outside_the_authorizer_answer_through_the_stage_too() {
    let api = Api::new();
    let health = api.invoke(event("GET", "/health", None, None, None)).await;
    assert_eq!((health.status, &health.body), (200, &json!({"data": {"status": "ok"}})));
    let unknown = api.invoke(event("GET", "/nowhere", None, None, Some(claims("acme", "admin")))).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
}

#[tokio::test]
async fn a_token_with_another_tenants_api_key_is_refused() {
    let api = Api::new();
    let mut request = event("GET", "/tasks", None, None, Some(claims("acme", "admin")));
    request["requestContext"]["identity"]["apiKeyId"] = json!("key-globex");
    let answer = api.invoke(request).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert!(answer.body["error"]["correlationId"].is_string(), "{}", answer.body);

    let mut request = event("POST", "/tasks", None, Some(json!({"title": "t"})), Some(claims("acme", "admin")));
    request["requestContext"]["identity"]["apiKeyId"] = json!("key-of-nobody");
    let answer = api.invoke(request).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
}

#[tokio::test]
async fn the_escalation_policy_is_served_by_the_lambda_to_admins_of_each_tenant() {
    let api = Api::new();
    let path = "/escalation-policy";
    let defaults = api.invoke(event("GET", path, None, None, Some(claims("acme", "admin")))).await;
    assert_eq!(defaults.status, 200, "{}", defaults.body);
    assert_eq!(defaults.body["data"]["version"], 0, "the defaults until one is stored");

    let mut policy = defaults.body["data"].clone();
    policy["lead"] = json!("ana");
    let stored = api.invoke(event("PUT", path, None, Some(policy.clone()), Some(claims("acme", "admin")))).await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!((&stored.body["data"]["version"], &stored.body["data"]["lead"]), (&json!(1), &json!("ana")));

    for groups in ["member", "viewer"] {
        let read = api.invoke(event("GET", path, None, None, Some(claims("acme", groups)))).await;
        assert_eq!(read.status, 403, "{groups}: {}", read.body);
        let write = api.invoke(event("PUT", path, None, Some(policy.clone()), Some(claims("acme", groups)))).await;
        assert_eq!(write.status, 403, "{groups}: {}", write.body);
    }
    let theirs = api.invoke(event("GET", path, None, None, Some(claims("globex", "admin")))).await;
    assert_eq!((theirs.status, &theirs.body["data"]["version"]), (200, &json!(0)), "{}", theirs.body);
    assert_eq!(theirs.body["data"].get("lead"), None);
}

#[tokio::test]
async fn the_cognito_username_is_the_person() {
    let api = Api::new();
    let entry = json!({"email": "maria@example.com"});
    let own = api.invoke(event("PUT", "/people/maria", None, Some(entry), Some(claims("acme", "member")))).await;
    assert_eq!((own.status, &own.body["data"]["name"]), (200, &json!("maria")), "{}", own.body);
    let other = api.invoke(event("GET", "/people/li", None, None, Some(claims("acme", "member")))).await;
    assert_eq!(other.status, 403, "{}", other.body);
    let listed = api.invoke(event("GET", "/notifications", None, None, Some(claims("acme", "member")))).await;
    assert_eq!((listed.status, &listed.body["data"]), (200, &json!([])), "{}", listed.body);
}
