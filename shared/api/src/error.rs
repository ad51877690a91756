//! The one error shape: `{"error": {"code", "message", "details", "correlationId"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use events_schema::AggregateType;
use serde::Serialize;

use super::correlation::current_correlation_id;
use shared_core::domain::{DomainError, FieldError};
use shared_core::ports::{AuthError, ChangeFailure, FailureReason, StoreError};

/// Machine-readable error codes; clients branch on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    InvalidBody,
    ValidationFailed,
    UnsupportedMediaType,
    PayloadTooLarge,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    VersionConflict,
    VersionRequired,
    /// The resource is still referred to (a category tasks are filed under).
    InUse,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidTransition,
    /// An ingested command names another tenant than its publisher's.
    WrongTenant,
    /// An ingested create names an external key that already names a task.
    ExternalKeyTaken,
    BulkRejected,
    // Too many requests for this key; `Retry-After` says when to try again.
    RateLimited,
    Unavailable,
    Internal,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub details: serde_json::Value,
    /// Seconds, sent as `Retry-After`: when trying again is likely to work.
    pub retry_after: Option<u64>,
}

/// How long a client should wait before retrying after a storage failure: long enough for an
/// operator to free some disk, short enough that a recovered store is used again soon.
pub const STORAGE_RETRY_AFTER_SECONDS: u64 = 5;

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: serde_json::Value::Null, retry_after: None }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    pub fn forbidden(needed: shared_core::Role) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, format!("this needs the {} role", needed.as_str()))
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("{what} was not found"))
    }

    /// Fields that fit the schema but that the state refuses (a link to nothing, a cursor
    /// not issued): 422, so that 400 always means the request broke the documented schema.
    pub fn unprocessable_fields(errors: Vec<FieldError>) -> Self {
        let mut error = Self::invalid_fields(errors);
        error.status = StatusCode::UNPROCESSABLE_ENTITY;
        error
    }

    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::ValidationFailed, message)
            .with_details(serde_json::json!({ "fields": errors }))
    }

    /// A stale expected version, naming the resource: "the sprint is at version 3, not 2".
    pub fn conflict(kind: AggregateType, expected: u64, current: u64) -> Self {
        let kind = kind.as_str();
        Self::new(
            StatusCode::CONFLICT,
            ErrorCode::VersionConflict,
            format!("the {kind} is at version {current}, not {expected}: read it again and retry"),
        )
        .with_details(serde_json::json!({ "resource": kind, "expectedVersion": expected, "currentVersion": current }))
    }

    /// A store error of a write to one `kind` of resource: not found and conflicts name it.
    pub fn store(err: StoreError, kind: AggregateType) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found(&format!("the {}", kind.as_str())),
            StoreError::Conflict { expected, current } => ApiError::conflict(kind, expected, current),
            StoreError::AlreadyExists(id) => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::VersionConflict,
                format!("the {} {id} already exists", kind.as_str()),
            ),
            other => other.into(),
        }
    }

    /// An all-or-nothing commit refused: one result per failed change, with why, then one
    /// per other change of `targets` marked `not_changed` (nothing was written).
    pub fn rejected(failures: &[ChangeFailure], targets: &[(AggregateType, String)]) -> Self {
        let mut results: Vec<serde_json::Value> = failures
            .iter()
            .map(|f| {
                let kind = f.aggregate_type.as_str();
                let (code, message, current) = match &f.reason {
                    FailureReason::NotFound => ("not_found", format!("the {kind} was not found"), None),
                    FailureReason::AlreadyExists => ("already_exists", format!("the {kind} already exists"), None),
                    FailureReason::VersionMismatch { current: Some(c), .. } => {
                        ("version_conflict", format!("the {kind} is at version {c}"), Some(*c))
                    }
                    FailureReason::VersionMismatch { current: None, .. } => {
                        ("version_conflict", format!("the {kind} changed meanwhile"), None)
                    }
                };
                serde_json::json!({ "id": f.id, "ok": false, "code": code, "message": message, "currentVersion": current })
            })
            .collect();
        for (kind, id) in targets {
            if !failures.iter().any(|f| f.aggregate_type == *kind && &f.id == id) {
                results.push(not_changed(id));
            }
        }
        ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::VersionConflict,
            "some items changed or vanished meanwhile; nothing was written",
        )
        .with_details(serde_json::json!({ "results": results }))
    }

    /// Storage that failed but may work again (disk full, I/O error, the writer gone): 503
    /// with `Retry-After`, unlike data that cannot be read (500).
    pub fn unavailable(what: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            format!("{what} is unavailable; retry later"),
        )
        .with_retry_after(STORAGE_RETRY_AFTER_SECONDS)
    }
}

/// The result of an item an all-or-nothing refusal left alone.
pub fn not_changed(id: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id, "ok": false, "code": "not_changed",
        "message": "not changed: another item stood in the way, and nothing was written"
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    code: ErrorCode,
    message: &'a str,
    details: &'a serde_json::Value,
    correlation_id: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = ?self.code, message = %self.message, "request failed");
        } else {
            tracing::info!(code = ?self.code, message = %self.message, "request refused");
        }
        let body = Body {
            code: self.code,
            message: &self.message,
            details: &self.details,
            correlation_id: current_correlation_id(),
        };
        let mut response = (self.status, axum::Json(serde_json::json!({ "error": body }))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found("the resource"),
            StoreError::Conflict { expected, current } => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::VersionConflict,
                format!("the resource is at version {current}, not {expected}: read it again and retry"),
            )
            .with_details(serde_json::json!({ "expectedVersion": expected, "currentVersion": current })),
            StoreError::AlreadyExists(id) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::VersionConflict, format!("{id} already exists"))
            }
            StoreError::Rejected(failures) => ApiError::rejected(&failures, &[]),
            StoreError::IdempotencyRace => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::IdempotencyInProgress,
                "a request with this Idempotency-Key is in progress; retry shortly",
            ),
            StoreError::TooManyChanges(n) => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::ValidationFailed,
                format!("at most 100 items can change together, got {n}"),
            ),
            StoreError::BadCursor => ApiError::unprocessable_fields(vec![FieldError::new(
                "cursor",
                "is not one this list issued for this filter and sort; start again without it",
            )]),
            StoreError::Unavailable(reason) | StoreError::Throttled(reason) => {
                tracing::error!(%reason, "store unavailable");
                ApiError::unavailable("the store")
            }
            StoreError::Corrupt(reason) => {
                tracing::error!(%reason, "stored data unreadable");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "stored data could not be read")
            }
            StoreError::Refused(reason) => {
                tracing::error!(%reason, "the store refused a write");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal,
                    "the write was refused by the store",
                )
            }
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid(fields) => ApiError::invalid_fields(fields),
            DomainError::IllegalTransition(message) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidTransition, message)
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Unavailable(reason) => {
                tracing::error!(%reason, "credentials could not be checked");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the credentials could not be checked; retry later",
                )
                .with_retry_after(STORAGE_RETRY_AFTER_SECONDS)
            }
            other => ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated, other.to_string()),
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no route matches this path")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed, "this route does not accept that method")
}
