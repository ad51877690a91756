//! Failed authentication, limited per client address: each 401 takes a token from the
//! address's bucket, and an address with none left is refused with 429 before its
//! credentials are looked at. A flood of made-up keys from one address then costs a map
//! lookup a request, not a key lookup and a hash; well-behaved callers never notice.
//!
//! The address comes from `ConnectInfo<SocketAddr>` in the request extensions, which
//! `serve` sets for each connection. Where there is none (the Lambda, behind API Gateway's
//! own throttling), requests pass untouched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::Response;
use futures_util::future::{BoxFuture, FutureExt};

use super::rate_limit::{RateLimiter, refusal};

/// The layer: `router.layer(AuthFailureLayer::new(limiter))`, with a limiter whose rate is
/// failures a second per address.
#[derive(Clone)]
pub struct AuthFailureLayer {
    limiter: Arc<RateLimiter>,
}

impl AuthFailureLayer {
    pub fn new(limiter: Arc<RateLimiter>) -> Self {
        Self { limiter }
    }
}

impl<S> tower::Layer<S> for AuthFailureLayer {
    type Service = AuthFailureLimit<S>;

    fn layer(&self, inner: S) -> AuthFailureLimit<S> {
        AuthFailureLimit { inner, limiter: Arc::clone(&self.limiter) }
    }
}

#[derive(Clone)]
pub struct AuthFailureLimit<S> {
    inner: S,
    limiter: Arc<RateLimiter>,
}

impl<S, B> tower::Service<Request<B>> for AuthFailureLimit<S>
where
    S: tower::Service<Request<B>, Response = Response> + Send,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The IP alone: a client opens connections from any port it likes.
        let Some(address) = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string()) else {
            return self.inner.call(request).boxed();
        };
        if let Err(retry_after) = self.limiter.peek(&address) {
            let response = refusal(request.headers(), "too many failed authentications from this address", retry_after);
            return async move { Ok(response) }.boxed();
        }
        let limiter = Arc::clone(&self.limiter);
        let answer = self.inner.call(request);
        async move {
            let response = answer.await?;
            if response.status() == StatusCode::UNAUTHORIZED {
                // The bucket may be empty now; the next request from there is refused.
                let _ = limiter.check(&address);
            }
            Ok(response)
        }
        .boxed()
    }
}
