//! The task API on Lambda: the requests `lambda_http` makes of API Gateway REST proxy events,
//! fitted to the core's axum router, which knows nothing of stages.
//!
//! `lambda_http` puts the stage in front of the path it builds (`/prod/tasks` for a call to
//! `https://…/prod/tasks`), so that a router may serve several stages. Our routes are the
//! same on every stage (each stage is its own stack and table), so the stage comes off
//! again here, before routing. Doing it in code rather than with
//! `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` keeps the API working whatever the environment
//! says; with that variable set, nothing is left to strip and requests pass unchanged.

use lambda_http::http::Uri;
use lambda_http::http::uri::PathAndQuery;
use lambda_http::request::RequestContext;
use lambda_http::tower::ServiceExt;
use lambda_http::tower::util::MapRequest;
use lambda_http::{Request, RequestExt, Service};

/// What `lambda_http::run` takes for the API: `service` (the core's router) behind
/// [`without_stage`].
pub fn lambda_service<S>(service: S) -> MapRequest<S, fn(Request) -> Request>
where
    S: Service<Request>,
{
    service.map_request(without_stage as fn(Request) -> Request)
}

/// The request with the stage prefix `lambda_http` added taken off its path (the query
/// stays). Requests from anything but an API Gateway REST stage pass unchanged, and so does
/// a path the client itself began with the stage, which `lambda_http` left as it was.
pub fn without_stage(mut request: Request) -> Request {
    let Some(stage) = stage(&request) else {
        return request;
    };
    let prefix = format!("/{stage}");
    if request.raw_http_path().starts_with(&format!("{prefix}/")) {
        return request;
    }
    if let Some(uri) = strip_prefix(request.uri(), &prefix) {
        *request.uri_mut() = uri;
    }
    request
}

/// The REST API stage the request came through; `$default` is no prefix.
fn stage(request: &Request) -> Option<String> {
    match request.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV1(context) => {
            context.stage.clone().filter(|stage| !stage.is_empty() && stage != "$default")
        }
        _ => None,
    }
}

/// `uri` without `prefix` as its first path segment, if it has it there.
fn strip_prefix(uri: &Uri, prefix: &str) -> Option<Uri> {
    let rest = uri.path().strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// A REST API proxy event for `path` (as API Gateway sends it: without the stage) on `stage`.
    fn event(path: &str, query: Value, stage: &str) -> Request {
        let event = json!({
            "resource": "/{proxy+}", "path": path, "httpMethod": "GET",
            "headers": {"Host": "abc123.execute-api.eu-west-1.amazonaws.com"},
            "multiValueHeaders": {"Host": ["abc123.execute-api.eu-west-1.amazonaws.com"]},
            "queryStringParameters": query, "multiValueQueryStringParameters": null,
            "pathParameters": null, "stageVariables": null,
            "requestContext": {
                "resourcePath": "/{proxy+}", "httpMethod": "GET", "path": format!("/{stage}{path}"),
                "stage": stage, "requestId": "r-1", "accountId": "123456789012", "apiId": "abc123",
                "identity": {"sourceIp": "192.0.2.1"}
            },
            "body": null, "isBase64Encoded": false
        });
        lambda_http::request::from_str(&event.to_string()).unwrap()
    }

    #[test]
    fn lambda_http_puts_the_stage_in_front_and_it_comes_off_again() {
        let request = event("/tasks", json!({"status": "todo", "limit": "5"}), "prod");
        assert_eq!(request.uri().path(), "/prod/tasks", "what the router would otherwise see");
        let request = without_stage(request);
        assert_eq!(request.uri().path(), "/tasks");
        let mut query: Vec<&str> = request.uri().query().unwrap().split('&').collect();
        query.sort_unstable();
        assert_eq!(query, ["limit=5", "status=todo"]);
        assert_eq!(request.uri().host(), Some("abc123.execute-api.eu-west-1.amazonaws.com"));
    }

    #[test]
    fn the_root_and_deeper_paths_keep_their_shape() {
        assert_eq!(without_stage(event("/", Value::Null, "dev")).uri().path(), "/");
        let deep = without_stage(event("/tasks/0190a3b4-aaaa-7bbb-8ccc-000000000001/history", Value::Null, "dev"));
        assert_eq!(deep.uri().path(), "/tasks/0190a3b4-aaaa-7bbb-8ccc-000000000001/history");
        assert_eq!(deep.uri().query(), None);
    }

    #[test]
    fn a_path_that_only_looks_like_the_stage_is_left_alone() {
        // The client asked for /prod/tasks on stage prod: lambda_http added nothing.
        assert_eq!(without_stage(event("/prod/tasks", Value::Null, "prod")).uri().path(), "/prod/tasks");
        // A stage that is a prefix of a segment is no stage prefix.
        let uri: Uri = "https://h/product/tasks".parse().unwrap();
        assert_eq!(strip_prefix(&uri, "/prod"), None);
    }

    #[test]
    fn the_default_stage_and_requests_without_a_context_pass_unchanged() {
        assert_eq!(without_stage(event("/tasks", Value::Null, "$default")).uri().path(), "/tasks");
        let plain = Request::new(lambda_http::Body::Empty);
        assert_eq!(without_stage(plain).uri(), &Uri::from_static("/"));
    }
}
