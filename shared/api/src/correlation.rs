//! Correlation ids: taken from the request when it carries a sane one, made up otherwise,
//! returned on every response and carried into every write, event and log line.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const CORRELATION_HEADER: &str = "x-correlation-id";

tokio::task_local! {
    pub(super) static CORRELATION_ID: String;
}

/// The id of the request being served on this task, or empty outside one.
pub fn current_correlation_id() -> String {
    CORRELATION_ID.try_with(Clone::clone).unwrap_or_default()
}

#[derive(Debug, Clone)]
pub struct CorrelationId(pub String);

/// A client's id is kept only if it is short and plain, so it is safe in logs and headers.
pub(super) fn acceptable(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= 128
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    ok.then(|| text.to_owned())
}

pub async fn correlate(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(CORRELATION_HEADER)
        .and_then(acceptable)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    request.extensions_mut().insert(CorrelationId(id.clone()));
    let span =
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), correlation_id = %id);
    let started = Instant::now();
    let mut response = CORRELATION_ID.scope(id.clone(), next.run(request)).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "served"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    response
}
