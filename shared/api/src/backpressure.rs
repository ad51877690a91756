//! Bounded staleness: while the pipeline behind the store (router and consumers) is further
//! behind than a bound, writes are refused with 503 `unavailable` and a `Retry-After`, and
//! reads go on. Readers of history and search then never see a past older than the bound
//! plus the time to drain what was accepted, and the answer turns back to normal by itself
//! once the pipeline catches up. `taskstream serve --max-lag` sets the bound; whoever runs
//! the pipeline reports its lag with [`Backpressure::observe`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Method, Request, StatusCode};
use axum::response::Response;
use futures_util::future::{Either, Ready, ready};

use super::error::{ApiError, ErrorCode};
use super::rate_limit::refuse;

/// The shared state: how far past the bound the pipeline was at its last look.
#[derive(Debug, Clone)]
pub struct Backpressure {
    bound: Duration,
    /// Milliseconds the oldest unprocessed change was past the bound; 0 within it.
    over_ms: Arc<AtomicU64>,
}

impl Backpressure {
    pub fn new(bound: Duration) -> Self {
        Self { bound, over_ms: Arc::new(AtomicU64::new(0)) }
    }

    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// Records the age of the oldest change not yet through the pipeline (`None`: idle).
    pub fn observe(&self, oldest: Option<Duration>) {
        let over = oldest.map_or(Duration::ZERO, |age| age.saturating_sub(self.bound));
        let over_ms = u64::try_from(over.as_millis()).unwrap_or(u64::MAX);
        let before = self.over_ms.swap(over_ms, Ordering::Relaxed);
        match (before, over_ms) {
            (0, 1..) => tracing::warn!(
                bound_ms = self.bound.as_millis() as u64,
                over_ms,
                "the pipeline is behind its bound: refusing writes"
            ),
            (1.., 0) => tracing::info!("the pipeline is within its bound again: accepting writes"),
            _ => {}
        }
    }

    /// When writes are refused: the seconds to send as `Retry-After`.
    pub fn refusing(&self) -> Option<u64> {
        let over_ms = self.over_ms.load(Ordering::Relaxed);
        // The pipeline must drain at least the excess; say so, at one second or more.
        (over_ms > 0).then(|| over_ms.div_ceil(1000).clamp(1, 60))
    }
}

/// Whether a request may change data (and so add to the pipeline's backlog). API keys are
/// not part of the change log: managing them stays possible while the pipeline is behind.
fn is_write<B>(request: &Request<B>) -> bool {
    !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !request.uri().path().starts_with("/keys")
}

/// The layer: `router.layer(BackpressureLayer::new(backpressure))`.
#[derive(Clone)]
pub struct BackpressureLayer {
    state: Backpressure,
}

impl BackpressureLayer {
    pub fn new(state: Backpressure) -> Self {
        Self { state }
    }
}

impl<S> tower::Layer<S> for BackpressureLayer {
    type Service = BackpressureGate<S>;

    fn layer(&self, inner: S) -> BackpressureGate<S> {
        BackpressureGate { inner, state: self.state.clone() }
    }
}

#[derive(Clone)]
pub struct BackpressureGate<S> {
    inner: S,
    state: Backpressure,
}

impl<S, B> tower::Service<Request<B>> for BackpressureGate<S>
where
    S: tower::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        match self.state.refusing() {
            Some(retry_after) if is_write(&request) => {
                let bound = self.state.bound.as_secs_f64();
                let error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    format!(
                        "the event pipeline is more than {bound} s behind; writes are refused until it catches up, retry in {retry_after} s"
                    ),
                )
                .with_details(serde_json::json!({ "maxLagSeconds": bound, "retryAfterSeconds": retry_after }))
                .with_retry_after(retry_after);
                Either::Right(ready(Ok(refuse(request.headers(), error))))
            }
            _ => Either::Left(self.inner.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_only_past_the_bound_and_says_how_long_to_wait() {
        let bp = Backpressure::new(Duration::from_secs(2));
        assert_eq!(bp.refusing(), None);
        bp.observe(Some(Duration::from_millis(1500)));
        assert_eq!(bp.refusing(), None, "within the bound");
        bp.observe(Some(Duration::from_millis(2300)));
        assert_eq!(bp.refusing(), Some(1), "just past: at least a second");
        bp.observe(Some(Duration::from_millis(9500)));
        assert_eq!(bp.refusing(), Some(8));
        bp.observe(None);
        assert_eq!(bp.refusing(), None, "idle again: back to normal");
    }

    #[test]
    fn reads_and_key_management_are_not_writes() {
        let req = |m: Method, p: &str| Request::builder().method(m).uri(p).body(()).unwrap();
        assert!(is_write(&req(Method::POST, "/tasks")));
        assert!(is_write(&req(Method::DELETE, "/tasks/x")));
        assert!(is_write(&req(Method::PUT, "/categories/x")));
        assert!(!is_write(&req(Method::GET, "/tasks")));
        assert!(!is_write(&req(Method::POST, "/keys")));
    }
}
