//! `/ingest`: commands from internal services, applied as the caller's tenant (the API key's,
//! never the payload's). One command answers its outcome or the error envelope; a batch
//! answers one result per command, in order, and applies the good ones whatever the others.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use events_schema::commands::CommandEnvelope;
use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::extract::{Ctx, Json, integral_numbers};
use super::tasks::data;
use shared_core::Role;
use shared_core::ingest::{
    BATCH_CONCURRENCY, Outcome, Reason, Rejection, apply, apply_batch, envelope_from_value, parse_envelope,
};

/// The most commands one batch may hold (the body limit applies too).
pub const MAX_BATCH: usize = 1000;

/// The media type of a batch sent one command a line.
pub const NDJSON: &str = "application/x-ndjson";

pub async fn one(State(state): State<AppState>, ctx: Ctx, Json(value): Json<Value>) -> Result<Response, ApiError> {
    let envelope = envelope_from_value(value).map_err(refusal)?;
    let ctx = ctx.require(Role::Member)?;
    match apply(state.store.as_ref(), &ctx.identity, envelope).await {
        Ok(outcome) => Ok(data(outcome).into_response()),
        Err(rejection) => Err(refusal(rejection)),
    }
}

/// A batch's body: a JSON array of commands, or NDJSON (one command a line; blank lines are
/// skipped but counted, so results name the line of the file).
pub struct Batch(Vec<(usize, Result<CommandEnvelope, Rejection>)>);

impl<S: Send + Sync> FromRequest<S> for Batch {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let ndjson = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case(NDJSON));
        let items = if ndjson {
            let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
                ApiError::new(rejection.status(), ErrorCode::InvalidBody, rejection.body_text())
            })?;
            bytes
                .split(|b| *b == b'\n')
                .enumerate()
                .filter(|(_, line)| !line.trim_ascii().is_empty())
                .map(|(i, line)| (i + 1, parse_envelope(line)))
                .collect::<Vec<_>>()
        } else {
            let Json(values) = Json::<Vec<Value>>::from_request(request, state).await?;
            values
                .into_iter()
                .enumerate()
                .map(|(i, mut value)| {
                    integral_numbers(&mut value);
                    (i + 1, envelope_from_value(value))
                })
                .collect()
        };
        if items.len() > MAX_BATCH {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::ValidationFailed,
                format!("a batch holds at most {MAX_BATCH} commands, got {}", items.len()),
            ));
        }
        Ok(Batch(items))
    }
}

/// One command's result in a batch.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineResult {
    /// The command's place: its line in NDJSON, its position (from 1) in an array.
    line: usize,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<OutcomeDoc>")]
    outcome: Option<Outcome>,
    /// As the error envelope's `error`, without the correlation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

/// What a batch did, with one result per command.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchReport {
    applied: usize,
    duplicates: usize,
    rejected: usize,
    results: Vec<LineResult>,
}

pub async fn batch(State(state): State<AppState>, ctx: Ctx, Batch(items): Batch) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Member)?;
    let (lines, items): (Vec<usize>, Vec<_>) = items.into_iter().unzip();
    let results = apply_batch(state.store.as_ref(), &ctx.identity, items, BATCH_CONCURRENCY).await;
    let mut report = BatchReport { applied: 0, duplicates: 0, rejected: 0, results: Vec::with_capacity(lines.len()) };
    for (line, result) in lines.into_iter().zip(results) {
        report.results.push(match result {
            Ok(outcome) => {
                if outcome.duplicate {
                    report.duplicates += 1;
                } else {
                    report.applied += 1;
                }
                LineResult { line, ok: true, outcome: Some(outcome), error: None }
            }
            Err(rejection) => {
                report.rejected += 1;
                let error = refusal(rejection);
                let error = json!({ "code": error.code, "message": error.message, "details": error.details });
                LineResult { line, ok: false, outcome: None, error: Some(error) }
            }
        });
    }
    tracing::info!(
        tenant = %ctx.tenant(),
        applied = report.applied,
        duplicates = report.duplicates,
        rejected = report.rejected,
        "batch ingested"
    );
    Ok(data(report).into_response())
}

/// A rejection as the API answers it. What fits the envelope's schema but not the command's
/// type, rules or the tenant's data is a 422, so that 400 keeps meaning "broke the document".
pub fn refusal(rejection: Rejection) -> ApiError {
    let Rejection { reason, message, fields, current_version } = rejection;
    let (status, code) = match reason {
        Reason::Malformed => (StatusCode::BAD_REQUEST, ErrorCode::InvalidBody),
        Reason::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed),
        Reason::Forbidden => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
        Reason::WrongTenant => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::WrongTenant),
        Reason::TaskNotFound => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::NotFound),
        Reason::StaleVersion => (StatusCode::CONFLICT, ErrorCode::VersionConflict),
        Reason::IllegalTransition => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidTransition),
        Reason::ExternalKeyTaken => (StatusCode::CONFLICT, ErrorCode::ExternalKeyTaken),
        Reason::CommandIdReused => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::IdempotencyKeyReused),
        Reason::Unavailable => {
            return ApiError::unavailable("the store");
        }
        Reason::Internal => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
    };
    let mut details = json!({ "reason": reason.code() });
    if !fields.is_empty() {
        details["fields"] = json!(fields);
    }
    if let Some(current) = current_version {
        details["currentVersion"] = json!(current);
    }
    ApiError::new(status, code, message).with_details(details)
}

/// `applied`: the command changed the store; `unchanged`: the task already was as asked.
#[derive(schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ResultDoc {
    Applied,
    Unchanged,
}

/// The outcome's documented shape (the type itself lives in the core, without schemars).
#[derive(schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct OutcomeDoc {
    command_id: String,
    result: ResultDoc,
    task_id: String,
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment_id: Option<String>,
    /// The command was applied before (its id has a receipt); this delivery did nothing.
    duplicate: bool,
}
