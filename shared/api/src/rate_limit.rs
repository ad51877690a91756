//! Per-key rate limiting: a token bucket for each presented credential, as a tower layer
//! around any router. `taskstream serve` applies it; on AWS the API Gateway usage plan does
//! the same job before a request reaches the Lambda.
//!
//! A bucket holds up to `burst` tokens and refills at `per_second`; a request takes one
//! token or is refused with 429, a `Retry-After` (whole seconds, rounded up) and the error
//! envelope. Requests without a credential pass untouched: authentication refuses them
//! next. Memory stays bounded: a bucket that has refilled is the same as no bucket, so idle
//! ones are dropped, and past `max_keys` the least recently used one goes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::{Either, Ready, ready};
use sha2::{Digest, Sha256};

use super::correlation::{CORRELATION_HEADER, CORRELATION_ID, acceptable};
use super::error::{ApiError, ErrorCode};
use shared_core::ports::presented_credential;

/// Where the limiter reads the time; tests move a [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

/// The process's monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<Instant>);

impl Default for ManualClock {
    fn default() -> Self {
        Self(Mutex::new(Instant::now()))
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Sustained requests a second per key.
    pub per_second: f64,
    /// Requests a key may make at once after being idle.
    pub burst: u32,
    /// Keys tracked at most.
    pub max_keys: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { per_second: 1000.0, burst: 2000, max_keys: 10_000 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a rate limit needs a positive, finite rate and a burst of at least 1 (got {per_second}/s, burst {burst})")]
pub struct BadRateLimit {
    pub per_second: String,
    pub burst: u32,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Buckets {
    // Keyed by a digest, so the limiter never holds a credential itself.
    map: HashMap<[u8; 32], Bucket>,
    last_sweep: Instant,
}

pub struct RateLimiter {
    config: RateLimitConfig,
    /// How long an empty bucket takes to fill: after that, it is as good as new.
    refill: Duration,
    clock: Arc<dyn Clock>,
    buckets: Mutex<Buckets>,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> Result<Self, BadRateLimit> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    pub fn with_clock(config: RateLimitConfig, clock: Arc<dyn Clock>) -> Result<Self, BadRateLimit> {
        if !(config.per_second.is_finite() && config.per_second > 0.0 && config.burst >= 1) {
            return Err(BadRateLimit { per_second: config.per_second.to_string(), burst: config.burst });
        }
        let refill = Duration::try_from_secs_f64(f64::from(config.burst) / config.per_second).unwrap_or(Duration::MAX);
        let now = clock.now();
        Ok(Self {
            config: RateLimitConfig { max_keys: config.max_keys.max(1), ..config },
            refill,
            clock,
            buckets: Mutex::new(Buckets { map: HashMap::new(), last_sweep: now }),
        })
    }

    /// Takes a token for `credential`; `Err(seconds)` says how long until one is there.
    pub fn check(&self, credential: &str) -> Result<(), u64> {
        let id: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        // Not more often than once a second, however fast buckets refill: a sweep is O(keys).
        if now.saturating_duration_since(buckets.last_sweep) >= self.refill.max(Duration::from_secs(1)) {
            self.sweep(&mut buckets, now);
        }
        if !buckets.map.contains_key(&id) && buckets.map.len() >= self.config.max_keys {
            self.sweep(&mut buckets, now);
            if buckets.map.len() >= self.config.max_keys
                && let Some(oldest) = buckets.map.iter().min_by_key(|(_, b)| b.at).map(|(k, _)| *k)
            {
                buckets.map.remove(&oldest);
            }
        }
        let burst = f64::from(self.config.burst);
        let bucket = buckets.map.entry(id).or_insert(Bucket { tokens: burst, at: now });
        let earned = now.saturating_duration_since(bucket.at).as_secs_f64() * self.config.per_second;
        bucket.tokens = (bucket.tokens + earned).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(wait_seconds(bucket.tokens, self.config.per_second))
        }
    }

    /// Whether `credential` would be refused now, without taking a token: `Err(seconds)`
    /// until one is there.
    pub fn peek(&self, credential: &str) -> Result<(), u64> {
        let id: [u8; 32] = Sha256::digest(credential.as_bytes()).into();
        let now = self.clock.now();
        let buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(bucket) = buckets.map.get(&id) else { return Ok(()) };
        let earned = now.saturating_duration_since(bucket.at).as_secs_f64() * self.config.per_second;
        let tokens = (bucket.tokens + earned).min(f64::from(self.config.burst));
        if tokens >= 1.0 { Ok(()) } else { Err(wait_seconds(tokens, self.config.per_second)) }
    }

    /// Drops every bucket that has refilled: it holds nothing a new bucket would not.
    fn sweep(&self, buckets: &mut Buckets, now: Instant) {
        let refill = self.refill;
        buckets.map.retain(|_, b| now.saturating_duration_since(b.at) < refill);
        buckets.last_sweep = now;
    }

    /// Keys tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner).map.len()
    }
}

/// Whole seconds until a bucket holding `tokens` has one, at `per_second`.
fn wait_seconds(tokens: f64, per_second: f64) -> u64 {
    let wait = ((1.0 - tokens) / per_second).ceil();
    // At least 1: "retry in 0 seconds" invites a hot loop.
    if wait.is_finite() && wait >= 1.0 { wait as u64 } else { 1 }
}

/// The layer: `router.layer(RateLimitLayer::new(limiter))`.
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: Arc<RateLimiter>,
}

impl RateLimitLayer {
    pub fn new(limiter: Arc<RateLimiter>) -> Self {
        Self { limiter }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit { inner, limiter: Arc::clone(&self.limiter) }
    }
}

#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    limiter: Arc<RateLimiter>,
}

impl<S, B> tower::Service<Request<B>> for RateLimit<S>
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
        match presented_credential(request.headers()).map(|c| self.limiter.check(c)) {
            Some(Err(retry_after)) => {
                Either::Right(ready(Ok(refusal(request.headers(), "too many requests for this key", retry_after))))
            }
            _ => Either::Left(self.inner.call(request)),
        }
    }
}

/// The 429. The router's correlation layer has not run yet (this one sits outside it), so
/// the id is settled here the same way. The request body, if one was announced, is never
/// read: the response says `Connection: close`, so the client knows the connection ends
/// here rather than finding it dropped.
pub(crate) fn refusal(headers: &HeaderMap, what: &str, retry_after: u64) -> Response {
    let error = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::RateLimited,
        format!("{what}; retry in {retry_after} s"),
    )
    .with_details(serde_json::json!({ "retryAfterSeconds": retry_after }))
    .with_retry_after(retry_after);
    refuse(headers, error)
}

/// Answers `error` to a request refused before the router saw it: the correlation id
/// settled as the router would, and `Connection: close` when a body was announced.
pub(crate) fn refuse(headers: &HeaderMap, error: ApiError) -> Response {
    let id = headers.get(CORRELATION_HEADER).and_then(acceptable).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut response = CORRELATION_ID.sync_scope(id.clone(), || error.into_response());
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(CORRELATION_HEADER, value);
    }
    if announces_body(headers) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Whether the request says a body follows (which a refusal leaves unread).
fn announces_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    match headers.get(header::CONTENT_LENGTH) {
        Some(length) => length.to_str().map(|v| v.trim() != "0").unwrap_or(true),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32, max_keys: usize) -> (RateLimiter, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        let config = RateLimitConfig { per_second, burst, max_keys };
        (RateLimiter::with_clock(config, clock.clone()).unwrap(), clock)
    }

    #[test]
    fn a_burst_passes_then_the_rate_refills_it() {
        let (limiter, clock) = limiter(2.0, 3, 100);
        for _ in 0..3 {
            assert_eq!(limiter.check("a"), Ok(()));
        }
        assert_eq!(limiter.check("a"), Err(1));
        clock.advance(Duration::from_millis(499));
        assert_eq!(limiter.check("a"), Err(1));
        clock.advance(Duration::from_millis(1));
        assert_eq!(limiter.check("a"), Ok(()));
        assert_eq!(limiter.check("a"), Err(1));
        // A long idle refills up to the burst, never beyond.
        clock.advance(Duration::from_secs(3600));
        for _ in 0..3 {
            assert_eq!(limiter.check("a"), Ok(()));
        }
        assert_eq!(limiter.check("a"), Err(1));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let (limiter, clock) = limiter(0.4, 1, 100);
        assert_eq!(limiter.check("a"), Ok(()));
        // One token takes 2.5 s: say 3.
        assert_eq!(limiter.check("a"), Err(3));
        clock.advance(Duration::from_secs(1));
        // 0.4 earned, 0.6 missing: 1.5 s, say 2.
        assert_eq!(limiter.check("a"), Err(2));
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let (limiter, _) = limiter(1.0, 1, 100);
        assert_eq!(limiter.check("a"), Ok(()));
        assert_eq!(limiter.check("a"), Err(1));
        assert_eq!(limiter.check("b"), Ok(()));
    }

    #[test]
    fn idle_buckets_are_dropped_and_memory_stays_bounded() {
        let (limiter, clock) = limiter(10.0, 10, 3);
        for key in ["a", "b", "c", "d", "e"] {
            assert_eq!(limiter.check(key), Ok(()));
            assert!(limiter.tracked() <= 3);
        }
        // A full refill (1 s) makes every bucket idle: the next check sweeps them.
        clock.advance(Duration::from_secs(1));
        assert_eq!(limiter.check("z"), Ok(()));
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn the_least_recently_used_bucket_makes_room() {
        let (limiter, clock) = limiter(1.0, 1, 2);
        assert_eq!(limiter.check("a"), Ok(()));
        clock.advance(Duration::from_millis(10));
        assert_eq!(limiter.check("b"), Ok(()));
        clock.advance(Duration::from_millis(10));
        assert_eq!(limiter.check("c"), Ok(()));
        // "b" was kept: it is still empty.
        assert_eq!(limiter.check("b"), Err(1));
        assert_eq!(limiter.tracked(), 2);
    }

    #[test]
    fn a_nonsensical_config_is_refused() {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        for (per_second, burst) in [(0.0, 1), (-1.0, 1), (f64::NAN, 1), (f64::INFINITY, 1), (1.0, 0)] {
            let config = RateLimitConfig { per_second, burst, max_keys: 1 };
            assert!(RateLimiter::with_clock(config, clock.clone()).is_err(), "{per_second} {burst}");
        }
    }
}
