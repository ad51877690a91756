//! `Idempotency-Key` on POST: the same key with the same body gets the first response again
//! and writes nothing; the same key with another body is refused (422).
//!
//! The record commits in the same transaction as the write it describes, so the database,
//! not a read-then-write check, guarantees that a key writes once.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, ErrorCode};
use super::extract::{json_body, parse_json};
use events_schema::AggregateType;
use shared_core::context::RequestContext;
use shared_core::ports::{Aggregate, Change, IdempotencyRecord, StoreError};

pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// A POST body, with its idempotency ticket.
pub struct Idempotent<T> {
    pub value: T,
    pub ticket: Ticket,
}

/// The idempotency key (if the client sent one) and the request's fingerprint.
pub struct Ticket {
    key: Option<String>,
    fingerprint: String,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Idempotent<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let key = match request.headers().get(IDEMPOTENCY_HEADER) {
            None => None,
            Some(v) => Some(valid_key(v)?),
        };
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let bytes: Bytes = json_body(request, state).await?;
        let value: T = parse_json(&bytes)?;
        // Canonical JSON (keys sorted, no insignificant white space), so a client that
        // re-serialises the same body differently still matches.
        let canonical = serde_json::from_slice::<serde_json::Value>(&bytes)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned());
        let digest = Sha256::digest(format!("{method} {path}\n{canonical}").as_bytes());
        let fingerprint = digest.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self { value, ticket: Ticket { key, fingerprint } })
    }
}

fn valid_key(value: &HeaderValue) -> Result<String, ApiError> {
    let text = value.to_str().unwrap_or_default();
    if text.is_empty() || text.len() > 255 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(text.to_owned())
}

impl Ticket {
    /// Whether the request carries a key (whose record takes one item of the transaction).
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The earlier response for this key, if the key was used before with this same request.
    pub async fn replay(&self, state: &AppState, ctx: &RequestContext) -> Result<Option<Response>, ApiError> {
        let Some(key) = &self.key else { return Ok(None) };
        match state.store.get_idempotency(ctx.tenant(), key).await? {
            None => Ok(None),
            Some(record) => self.answer(record).map(Some),
        }
    }

    fn answer(&self, record: IdempotencyRecord) -> Result<Response, ApiError> {
        if record.fingerprint != self.fingerprint {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::IdempotencyKeyReused,
                "this Idempotency-Key was used with a different request; use a new key",
            ));
        }
        let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::OK);
        let mut response =
            (status, [(axum::http::header::CONTENT_TYPE, "application/json")], record.body).into_response();
        response.headers_mut().insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
        Ok(response)
    }

    /// Creates one aggregate (which must not exist yet) and answers 201 with its snapshot.
    pub async fn create(&self, state: &AppState, ctx: &RequestContext, new: Aggregate) -> Result<Response, ApiError> {
        let body = serde_json::json!({ "data": &new });
        self.commit(state, ctx, vec![Change::Put { new, expected_version: None }], StatusCode::CREATED, body).await
    }

    /// Records the response of a request that changed nothing (so a replay answers alike).
    pub async fn commit_nothing(
        &self,
        state: &AppState,
        ctx: &RequestContext,
        status: StatusCode,
        body: serde_json::Value,
    ) -> Result<Response, ApiError> {
        // Without a key there is nothing to record; with one, the record is the only write.
        self.commit(state, ctx, Vec::new(), status, body).await
    }

    /// Commits `changes` with the idempotency record of `response`, then returns it. A
    /// concurrent request that won the key gets its response replayed here instead.
    pub async fn commit(
        &self,
        state: &AppState,
        ctx: &RequestContext,
        changes: Vec<Change>,
        status: StatusCode,
        body: serde_json::Value,
    ) -> Result<Response, ApiError> {
        let text = body.to_string();
        let record = self.key.as_ref().map(|key| IdempotencyRecord {
            key: key.clone(),
            fingerprint: self.fingerprint.clone(),
            status: status.as_u16(),
            body: text.clone(),
        });
        let targets: Vec<(AggregateType, String)> =
            changes.iter().map(|c| (c.target().0, c.target().1.to_owned())).collect();
        if changes.is_empty() && record.is_none() {
            return Ok((status, [(axum::http::header::CONTENT_TYPE, "application/json")], text).into_response());
        }
        match state.store.commit(ctx, changes, record).await {
            Ok(()) => Ok((status, [(axum::http::header::CONTENT_TYPE, "application/json")], text).into_response()),
            Err(StoreError::IdempotencyRace) => match self.replay(state, ctx).await? {
                Some(earlier) => Ok(earlier),
                None => Err(StoreError::IdempotencyRace.into()),
            },
            Err(StoreError::Rejected(failures)) => Err(ApiError::rejected(&failures, &targets)),
            Err(e) => Err(match targets.as_slice() {
                [(kind, _)] => ApiError::store(e, *kind),
                _ => e.into(),
            }),
        }
    }
}
