//! Lambda configuration: environment variables (named in the CDK app) and the SDK config.

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set; the deployment must provide it")]
pub struct MissingEnv(pub &'static str);

pub fn required(name: &'static str) -> Result<String, MissingEnv> {
    std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or(MissingEnv(name))
}

#[derive(Debug, thiserror::Error)]
#[error("MAX_RECEIVES must be a whole number from 1 to 1000, got {0:?}")]
pub struct BadMaxReceives(String);

/// Receives before a consumer dead-letters a failing message (`MAX_RECEIVES`, default 5);
/// the queue's redrive policy must allow at least one more, as the CDK sets it.
pub fn max_receives() -> Result<u32, BadMaxReceives> {
    match std::env::var("MAX_RECEIVES") {
        Err(_) => Ok(5),
        Ok(text) => text.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or(BadMaxReceives(text)),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("MAX_THROTTLED_RECEIVES must be a whole number from 1 to 1000, got {0:?}")]
pub struct BadMaxThrottledReceives(String);

/// Receives before a consumer dead-letters a message that only ever failed for throttling
/// (`MAX_THROTTLED_RECEIVES`, default 20); the queue's redrive policy allows one more.
pub fn max_throttled_receives() -> Result<u32, BadMaxThrottledReceives> {
    match std::env::var("MAX_THROTTLED_RECEIVES") {
        Err(_) => Ok(20),
        Ok(text) => text.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or(BadMaxThrottledReceives(text)),
    }
}

/// The SDK config from the Lambda environment (region, credentials), with the SDK's
/// standard retry mode: it retries throttling and transient errors with backoff itself.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(4))
        .load()
        .await
}

/// JSON logs on Lambda (as `AWS_LAMBDA_LOG_FORMAT` asks), level from `AWS_LAMBDA_LOG_LEVEL`.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}
