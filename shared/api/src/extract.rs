//! Extractors that refuse bad input with the error envelope instead of axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::AppState;
use super::correlation::CorrelationId;
use super::error::{ApiError, ErrorCode};
use shared_core::context::{Identity, RequestContext};
use shared_core::domain::FieldError;

/// Resolves the caller before any route runs; the identity rides in the request extensions.
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    match state.auth.authenticate(request.headers(), request.extensions()).await {
        Ok(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The caller and the correlation id, for handlers.
pub struct Ctx(pub RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let identity = parts.extensions.get::<Identity>().cloned().ok_or_else(|| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "route served without authentication")
        })?;
        let correlation_id = parts.extensions.get::<CorrelationId>().map(|c| c.0.clone()).unwrap_or_default();
        Ok(Ctx(RequestContext { identity, correlation_id }))
    }
}

impl Ctx {
    /// Refuses with 403 unless the caller's role includes `needed`. Only for callers of the
    /// resource's own tenant: another tenant's resource is a 404 before this is asked.
    pub fn require(&self, needed: shared_core::Role) -> Result<&RequestContext, ApiError> {
        if self.0.identity.role.allows(needed) { Ok(&self.0) } else { Err(ApiError::forbidden(needed)) }
    }
}

/// A JSON body: 415 for another media type, 413 above the size limit, 400 for bad JSON or a
/// body of the wrong shape (wrong types, unknown fields), with serde's account of where.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_body(request, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// The raw body of a JSON request: 415 for another media type, 413 above the size limit.
pub async fn json_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    if let Some(content_type) = request.headers().get(header::CONTENT_TYPE) {
        let is_json = content_type
            .to_str()
            .ok()
            .and_then(|v| v.split(';').next())
            .map(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body as application/json",
            ));
        }
    }
    Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than {} bytes", super::MAX_BODY_BYTES),
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidBody, rejection.body_text())
        }
    })
}

/// 400 for bad JSON or a body of the wrong shape (wrong types, unknown fields), with
/// serde's account of where. A number with a zero fraction (`3.0`) is an integer, as JSON
/// Schema counts it, so it reads where an integer is expected.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidJson, format!("the body is not valid JSON: {e}"))
    })?;
    integral_numbers(&mut value);
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            format!("the body does not have the expected shape: {e}"),
        )
    })
}

/// Rewrites every whole-number float (`3.0`) within the 64-bit integers as an integer.
pub(super) fn integral_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= 9_007_199_254_740_992.0
            {
                // Up to 2^53 a float holds its integer exactly.
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// Query parameters. One that does not parse is refused like a bad body field: 400
/// `validation_failed` with `details.fields` naming each parameter and what was wrong.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::try_from_uri(&parts.uri) {
            Ok(q) => Ok(Query(q.0)),
            Err(_) => Err(ApiError::invalid_fields(query_errors::<T>(parts.uri.query().unwrap_or_default()))),
        }
    }
}

/// Which parameters of `query` stand in the way of `T`: a required one that is missing, or
/// the ones that fail when tried alone (each with its reason); a failure no single one
/// causes (a parameter given twice) is reported for the query as a whole.
fn query_errors<T: DeserializeOwned>(query: &str) -> Vec<FieldError> {
    let missing = |text: &str| {
        let (_, rest) = text.split_once("missing field `")?;
        rest.split_once('`').map(|(name, _)| name.to_owned())
    };
    let mut errors = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let Ok(uri) = format!("/?{pair}").parse::<axum::http::Uri>() else { continue };
        if let Err(rejection) = axum::extract::Query::<T>::try_from_uri(&uri) {
            let text = rejection.body_text();
            // Alone, a pair also lacks the required parameters the others would give.
            if missing(&text).is_none() {
                let name = pair.split('=').next().unwrap_or(pair);
                errors.push(FieldError::new(name, reason(name, &text)));
            }
        }
    }
    if errors.is_empty()
        && let Ok(uri) = format!("/?{query}").parse::<axum::http::Uri>()
        && let Err(rejection) = axum::extract::Query::<T>::try_from_uri(&uri)
        && let Some(name) = missing(&rejection.body_text())
    {
        errors.push(FieldError::new(&name, "is required"));
    }
    if errors.is_empty() {
        errors.push(FieldError::new("query", "a parameter is given twice, or the query string is not URL-encoded"));
    }
    errors
}

/// serde's account of the value of `name` it refused, without the framework's framing.
fn reason(name: &str, text: &str) -> String {
    let text = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(text);
    let text = text.strip_prefix(name).and_then(|t| t.strip_prefix(": ")).unwrap_or(text);
    if text.starts_with("unknown field") {
        let expected = text.split_once(", expected ").map(|(_, e)| e).unwrap_or("none");
        return format!("is not a parameter of this route (expected {expected})");
    }
    if let Some(rest) = text.strip_prefix("unknown variant ")
        && let Some((got, expected)) = rest.split_once(", expected one of ")
    {
        return format!("must be one of {expected}, got {got}");
    }
    match text {
        "invalid digit found in string" | "cannot parse integer from empty string" => {
            "must be a whole number".to_owned()
        }
        "number too large to fit in target type" => "is too large".to_owned(),
        "provided string was not `true` or `false`" => "must be true or false".to_owned(),
        other => other.to_owned(),
    }
}

/// A resource id from the path, normalised. Anything that is not one of our ids cannot
/// exist: 404, as for an id of another tenant.
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("the resource"))?;
        normalise_id(&raw).map(PathId).ok_or_else(|| ApiError::not_found("the resource"))
    }
}

/// Our ids are UUIDs; this is their one spelling.
pub fn normalise_id(raw: &str) -> Option<String> {
    uuid::Uuid::parse_str(raw).ok().map(|id| id.hyphenated().to_string())
}
