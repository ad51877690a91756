//! The search index over OpenSearch (an Amazon OpenSearch Service domain, or any OpenSearch
//! reachable by URL).
//!
//! **One index for all tenants, a tenant field and routing by tenant** — not an index per
//! tenant. Tenants are many and mostly small: an index each would cost shards, mappings and
//! cluster state per tenant (domains cap shards per node) and make onboarding an
//! index-creation step. With one index (created from [`requests::index_template`]) every
//! document carries its tenant, is routed by it (so a tenant's queries touch one shard),
//! and every query is built by [`requests::filters`], which always puts the tenant term
//! first; suggestions use the tenant as the completion context. Tests assert both.
//!
//! **Version fence**: every write is an `index` with `version_type=external` and the event's
//! aggregate version, so OpenSearch itself keeps the highest version and answers 409 to a
//! stale one, which counts as success. Removals write a tombstone document at their version
//! instead of deleting (see [`requests::tombstone`]).

pub mod requests;
pub mod responses;
#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use events_schema::events::TaskSnapshot;
use opensearch::auth::Credentials;
use opensearch::http::Url;
use opensearch::http::response::Response;
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::indices::{IndicesCreateParts, IndicesPutIndexTemplateParts};
use opensearch::{BulkParts, OpenSearch, SearchParts};
use serde_json::Value;
use shared_core::ports::{SearchIndex, SearchQuery, SearchResults, StoreError, search_cursor};

pub use requests::Action;
pub use responses::ItemOutcome;

/// How requests are authenticated. Its `Debug` never shows the password.
#[derive(Clone, Default)]
pub enum OpenSearchAuth {
    /// No credentials: a local cluster, or a domain behind a proxy that signs.
    #[default]
    None,
    /// The domain's internal user database (fine-grained access control).
    Basic { user: String, password: String },
    /// SigV4 with the SDK's credential chain and region: `service` is `es` for a domain,
    /// `aoss` for OpenSearch Serverless.
    SigV4 { config: Box<aws_config::SdkConfig>, service: String },
}

impl std::fmt::Debug for OpenSearchAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenSearchAuth::None => f.write_str("None"),
            OpenSearchAuth::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, password: <redacted> }}"),
            OpenSearchAuth::SigV4 { config, service } => {
                write!(f, "SigV4 {{ region: {:?}, service: {service:?} }}", config.region())
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct OpenSearchConfig {
    /// The domain endpoint, e.g. `https://search-taskstream-….eu-west-1.es.amazonaws.com`.
    pub url: String,
    /// The index (or the alias pointing at it) every tenant's tasks live in.
    pub index: String,
    pub auth: OpenSearchAuth,
    /// Per request; a Lambda's own timeout should be longer than a retry or two of this.
    pub timeout: Duration,
}

impl OpenSearchConfig {
    pub fn new(url: impl Into<String>, index: impl Into<String>) -> Self {
        Self { url: url.into(), index: index.into(), auth: OpenSearchAuth::None, timeout: Duration::from_secs(10) }
    }

    /// As the Lambda handlers get it from the CDK app: the endpoint from `SEARCH_ENDPOINT`,
    /// the index [`TASK_INDEX`], requests signed with the function's role (see [`Self::signed`]).
    /// `SEARCH_COLLECTION` is not read: the endpoint alone addresses the collection.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, crate::env::MissingEnv> {
        Ok(Self::signed(crate::env::required("SEARCH_ENDPOINT")?, sdk))
    }

    /// The task index at `url`, signed with SigV4 for the service the endpoint belongs to:
    /// `aoss` for an OpenSearch Serverless collection (`….aoss.amazonaws.com`, what the CDK
    /// deploys), `es` for a domain.
    pub fn signed(url: impl Into<String>, sdk: &aws_config::SdkConfig) -> Self {
        let url = url.into();
        let serverless = Url::parse(&url).ok().and_then(|u| u.host_str().map(|h| h.contains(".aoss."))) == Some(true);
        let service = if serverless { "aoss" } else { "es" };
        let auth = OpenSearchAuth::SigV4 { config: Box::new(sdk.clone()), service: service.to_owned() };
        Self { auth, ..Self::new(url, TASK_INDEX) }
    }
}

/// The index every tenant's tasks live in (see the module documentation for why one).
pub const TASK_INDEX: &str = "tasks";

#[derive(Debug, thiserror::Error)]
pub enum OpenSearchError {
    #[error("the OpenSearch URL {0:?} is not valid: {1}")]
    Url(String, String),
    #[error("the OpenSearch client could not be built: {0}")]
    Client(String),
}

/// The name of the index template [`OpenSearchIndex::put_template`] installs.
pub const TEMPLATE_NAME: &str = "taskstream-tasks";

pub struct OpenSearchIndex {
    client: OpenSearch,
    index: String,
    timeout: Duration,
    /// Set once this process has made sure the index exists (see [`Self::bulk`]).
    index_ready: tokio::sync::OnceCell<()>,
}

/// A request failed as a whole: unreachable, or an error status.
fn unavailable(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("OpenSearch {what}: {e}"))
}

/// The body of a successful response, or the error its status stands for.
async fn body_of(what: &str, response: Response) -> Result<Value, StoreError> {
    let (status, body) = read(what, response).await?;
    checked(what, status, body)
}

/// The status and the body (JSON, or the text as a string) of a response.
async fn read(what: &str, response: Response) -> Result<(u16, Value), StoreError> {
    let status = response.status_code().as_u16();
    match response.text().await {
        Ok(text) => Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text)))),
        Err(e) => Err(unavailable(what, e)),
    }
}

/// 429 and 5xx are worth retrying (`Unavailable`); another 4xx means the request itself is
/// wrong, which a retry will not mend (`Corrupt`, so the event goes to the dead letters with
/// the reason).
fn checked(what: &str, status: u16, body: Value) -> Result<Value, StoreError> {
    match status {
        200..=299 => Ok(body),
        429 => Err(StoreError::Throttled(format!(
            "OpenSearch {what}: status 429: {}",
            responses::error_text(body.get("error"))
        ))),
        500.. => Err(unavailable(what, format!("status {status}: {}", responses::error_text(body.get("error"))))),
        _ => Err(StoreError::Corrupt(format!(
            "OpenSearch {what} refused with status {status}: {}",
            responses::error_text(body.get("error"))
        ))),
    }
}

impl OpenSearchIndex {
    pub fn new(config: OpenSearchConfig) -> Result<Self, OpenSearchError> {
        let url = Url::parse(&config.url).map_err(|e| OpenSearchError::Url(config.url.clone(), e.to_string()))?;
        let mut transport = TransportBuilder::new(SingleNodeConnectionPool::new(url)).timeout(config.timeout);
        match config.auth {
            OpenSearchAuth::None => {}
            OpenSearchAuth::Basic { user, password } => transport = transport.auth(Credentials::Basic(user, password)),
            OpenSearchAuth::SigV4 { config: sdk, service } => {
                let credentials =
                    Credentials::try_from(sdk.as_ref()).map_err(|e| OpenSearchError::Client(format!("SigV4: {e}")))?;
                transport = transport.auth(credentials).service_name(&service);
            }
        }
        let transport = transport.build().map_err(|e| OpenSearchError::Client(e.to_string()))?;
        Ok(Self {
            client: OpenSearch::new(transport),
            index: config.index,
            timeout: config.timeout,
            index_ready: tokio::sync::OnceCell::new(),
        })
    }

    /// Installs (or replaces) the index template for `<index>*`; run at deployment, before
    /// the first write creates the index.
    pub async fn put_template(&self) -> Result<(), StoreError> {
        let pattern = format!("{}*", self.index);
        let response = self
            .client
            .indices()
            .put_index_template(IndicesPutIndexTemplateParts::Name(TEMPLATE_NAME))
            .request_timeout(self.timeout)
            .body(requests::index_template(&pattern))
            .send()
            .await
            .map_err(|e| unavailable("template", e))?;
        body_of("template", response).await.map(|_| ())
    }

    /// Creates the index with its settings and mappings ([`requests::index_definition`]) if
    /// it does not exist yet: `Ok(true)` created, `Ok(false)` already there (left as it is).
    ///
    /// [`Self::bulk`] runs this before the first write of each process, so that no write
    /// creates the index with guessed mappings, and nothing is asked of OpenSearch before
    /// the first event (a cold start while OpenSearch is unreachable still starts). It needs
    /// only index permissions (`aoss:CreateIndex`), which the CDK grants the indexer;
    /// [`Self::put_template`] needs collection-level permissions on OpenSearch Serverless,
    /// which no function is granted.
    pub async fn create_index(&self) -> Result<bool, StoreError> {
        let response = self
            .client
            .indices()
            .create(IndicesCreateParts::Index(&self.index))
            .request_timeout(self.timeout)
            .body(requests::index_definition())
            .send()
            .await
            .map_err(|e| unavailable("create index", e))?;
        let (status, body) = read("create index", response).await?;
        let exists = body.pointer("/error/type").and_then(Value::as_str) == Some("resource_already_exists_exception");
        if status == 400 && exists {
            return Ok(false);
        }
        checked("create index", status, body).map(|_| true)
    }

    /// Writes `actions` in one bulk request and returns each one's outcome, in order. A
    /// consumer that holds a batch of events sends them together this way; the
    /// [`SearchIndex`] methods send one each.
    pub async fn bulk(&self, actions: &[Action<'_>]) -> Result<Vec<ItemOutcome>, StoreError> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        // Once per process; a failure leaves it unset, and the next write tries again.
        self.index_ready
            .get_or_try_init(|| async {
                let created = self.create_index().await?;
                tracing::info!(index = %self.index, created, "task index ready");
                Ok::<_, StoreError>(())
            })
            .await?;
        let body = requests::bulk_body(actions).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let response = self
            .client
            .bulk(BulkParts::Index(&self.index))
            .request_timeout(self.timeout)
            .body(vec![body])
            .send()
            .await
            .map_err(|e| unavailable("bulk", e))?;
        let body = body_of("bulk", response).await?;
        let outcomes = responses::bulk_outcomes(&body, actions.len()).map_err(|e| unavailable("bulk", e))?;
        for (action, outcome) in actions.iter().zip(&outcomes) {
            if let ItemOutcome::Failed { status, reason } = outcome {
                tracing::warn!(?action, status, %reason, "OpenSearch refused a write");
            }
        }
        Ok(outcomes)
    }

    /// One action through [`Self::bulk`]: `Ok(true)` written, `Ok(false)` stale.
    async fn write_one(&self, action: Action<'_>) -> Result<bool, StoreError> {
        let Some(outcome) = self.bulk(std::slice::from_ref(&action)).await?.into_iter().next() else {
            return Err(unavailable("bulk", "no outcome for the write"));
        };
        let retryable = outcome.is_retryable();
        match outcome {
            ItemOutcome::Applied => Ok(true),
            ItemOutcome::Stale => Ok(false),
            ItemOutcome::Failed { status, reason } => {
                let text = format!("OpenSearch refused the write with status {status}: {reason}");
                Err(match (status, retryable) {
                    (429, _) => StoreError::Throttled(text),
                    (_, true) => StoreError::Unavailable(text),
                    (_, false) => StoreError::Corrupt(text),
                })
            }
        }
    }

    async fn run_search(&self, tenant: &str, body: Value) -> Result<Value, StoreError> {
        let routing = [tenant];
        let response = self
            .client
            .search(SearchParts::Index(&[&self.index]))
            .routing(&routing)
            // Before the first write the index does not exist yet: no results, not an error.
            .ignore_unavailable(true)
            .request_timeout(self.timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| unavailable("search", e))?;
        body_of("search", response).await
    }
}

#[async_trait]
impl SearchIndex for OpenSearchIndex {
    async fn upsert(&self, tenant: &str, task: &TaskSnapshot, version: u64) -> Result<bool, StoreError> {
        self.write_one(Action::Upsert { tenant, task, version }).await
    }

    async fn remove(&self, tenant: &str, task_id: &str, version: u64) -> Result<bool, StoreError> {
        self.write_one(Action::Remove { tenant, task_id, version }).await
    }

    async fn search(&self, tenant: &str, query: &SearchQuery) -> Result<SearchResults, StoreError> {
        let scope = query.cursor_scope(tenant);
        let after = match &query.cursor {
            Some(cursor) => {
                let payload = search_cursor::open(cursor, &scope)?;
                let values: Value = serde_json::from_str(&payload).map_err(|_| StoreError::BadCursor)?;
                if values.as_array().is_none_or(|v| v.len() != 2) {
                    return Err(StoreError::BadCursor);
                }
                Some(values)
            }
            None => None,
        };
        let Some(body) = requests::search_body(tenant, query, after) else {
            return Ok(SearchResults::empty(query.facets));
        };
        let answer = self.run_search(tenant, body).await?;
        let mut hits = responses::hits(&answer).map_err(StoreError::Corrupt)?;
        let more = hits.len() > query.limit;
        hits.truncate(query.limit);
        let next_cursor = match hits.last() {
            Some(last) if more => Some(search_cursor::seal(&scope, &last.sort.to_string())),
            _ => None,
        };
        let facets = if query.facets {
            // A missing index (no writes yet) answers without aggregations: nothing to count.
            if answer.get("aggregations").is_none() && hits.is_empty() {
                SearchResults::empty(true).facets
            } else {
                responses::facets(&answer).map_err(StoreError::Corrupt)?
            }
        } else {
            Default::default()
        };
        Ok(SearchResults { items: hits.into_iter().map(|h| h.task).collect(), facets, next_cursor })
    }

    async fn suggest(&self, tenant: &str, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        if prefix.trim().is_empty() {
            return Ok(Vec::new());
        }
        let answer = self.run_search(tenant, requests::suggest_body(tenant, prefix, limit)).await?;
        if answer.get("suggest").is_none() {
            // No index yet: nothing to suggest.
            return Ok(Vec::new());
        }
        responses::suggestions(&answer, limit).map_err(StoreError::Corrupt)
    }
}
