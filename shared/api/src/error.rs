//! The one error shape: `{"error": {"code", "message", "details", "correlationId"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::correlation::current_correlation_id;
use shared_core::domain::{DomainError, FieldError};
use shared_core::ports::{AuthError, FailureReason, StoreError};

/// Machine-readable error codes; clients branch on these, never on messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    InvalidBody,
    InvalidQuery,
    ValidationFailed,
    UnsupportedMediaType,
    PayloadTooLarge,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    VersionConflict,
    VersionRequired,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidTransition,
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
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: serde_json::Value::Null }
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

    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::ValidationFailed, message)
            .with_details(serde_json::json!({ "fields": errors }))
    }

    pub fn conflict(expected: u64, current: u64) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            ErrorCode::VersionConflict,
            format!("the task is at version {current}, not {expected}: read it again and retry"),
        )
        .with_details(serde_json::json!({ "expectedVersion": expected, "currentVersion": current }))
    }
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
        (self.status, axum::Json(serde_json::json!({ "error": body }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found("the task"),
            StoreError::Conflict { expected, current } => ApiError::conflict(expected, current),
            StoreError::AlreadyExists(id) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::VersionConflict, format!("{id} already exists"))
            }
            StoreError::Rejected(failures) => {
                let results: Vec<serde_json::Value> = failures
                    .iter()
                    .map(|f| {
                        let (code, current) = match &f.reason {
                            FailureReason::NotFound => ("not_found", None),
                            FailureReason::AlreadyExists => ("already_exists", None),
                            FailureReason::VersionMismatch { current, .. } => ("version_conflict", *current),
                        };
                        serde_json::json!({ "id": f.id, "ok": false, "code": code, "currentVersion": current })
                    })
                    .collect();
                ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorCode::VersionConflict,
                    "some items changed or vanished meanwhile; nothing was written",
                )
                .with_details(serde_json::json!({ "results": results }))
            }
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
            StoreError::BadCursor => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                "the cursor is not one this list issued; start again without it",
            ),
            StoreError::Unavailable(reason) => {
                tracing::error!(%reason, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the store is unavailable; retry later",
                )
            }
            StoreError::Corrupt(reason) => {
                tracing::error!(%reason, "stored data unreadable");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "stored data could not be read")
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
