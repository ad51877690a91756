//! Sends webhook attempts (serve) and Slack messages (serve and the notifier Lambda) over
//! HTTP: reqwest with rustls, no proxy, no redirects (a 3xx is an answer, not a 2xx:
//! following it could lead anywhere), each attempt bounded by a timeout.
//!
//! Every address the client connects to has been judged by the address policy: names go
//! through a resolver that refuses non-public answers (so a name that changes its answer
//! after the subscription was checked gains nothing), and a URL naming an address is judged
//! before the request, since the client connects to those without resolving.

use std::time::Duration;

use async_trait::async_trait;
use shared_core::webhooks::address::{AddressError, resolve_checked};
use shared_core::webhooks::dispatch::{SendError, Transport};
use shared_core::webhooks::parse_url;

/// How much of a receiver's answer is read before the connection is given up.
const MAX_BODY_READ: usize = 64 * 1024;

/// Resolves names for the client, refusing those that resolve to addresses webhooks may
/// not reach.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_checked(&host, 0, allow_private).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

pub struct HttpSender {
    client: reqwest::Client,
    allow_private: bool,
}

impl HttpSender {
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(std::sync::Arc::new(GuardedResolver { allow_private }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .user_agent(concat!("taskstream-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, allow_private })
    }
}

/// The address refusal somewhere in `error`'s chain of causes, if that is what it is.
fn refusal<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a AddressError> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refused) = e.downcast_ref::<AddressError>() {
            return Some(refused);
        }
        current = e.source();
    }
    None
}

/// The whole chain of causes in one line: reqwest's own message alone says only "error
/// sending request".
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() { "the attempt timed out".to_owned() } else { error.to_string() };
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[async_trait]
impl Transport for HttpSender {
    async fn post(&self, url: &str, headers: &[(&'static str, String)], body: &str) -> Result<u16, SendError> {
        let target = parse_url(url).map_err(|e| SendError::Refused(format!("the URL {}", e.error().message)))?;
        let bare = target.host.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<std::net::IpAddr>().is_ok() {
            resolve_checked(&target.host, target.port, self.allow_private)
                .await
                .map_err(|e| SendError::Refused(e.to_string()))?;
        }
        let mut request = self.client.post(url).body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        match request.send().await {
            Ok(mut response) => {
                let status = response.status().as_u16();
                // A little of the body is read so the connection can be kept for the next
                // attempt; what it says is not used.
                let mut read = 0;
                while let Ok(Some(chunk)) = response.chunk().await {
                    read += chunk.len();
                    if read > MAX_BODY_READ {
                        break;
                    }
                }
                Ok(status)
            }
            Err(e) => match refusal(&e) {
                Some(refused @ AddressError::Refused { .. }) => Err(SendError::Refused(refused.to_string())),
                _ => Err(SendError::Failed(describe(&e))),
            },
        }
    }
}
