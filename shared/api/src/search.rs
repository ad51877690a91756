//! `/search` and `/search/suggest`: full-text search over the caller's tenant's tasks.
//!
//! The index is fed asynchronously by the search-indexer consumer, so a write shows up here
//! once its events have been applied (eventual consistency), never across tenants.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use events_schema::events::{Priority, TaskStatus};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{Ctx, Query, normalise_id};
use super::tasks::Errors;
use super::tasks::NON_BLANK;
use shared_core::Role;
use shared_core::domain::FieldError;
use shared_core::ports::{DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT, MAX_SUGGESTIONS, SearchFilter, SearchQuery};

/// Longer free text is refused: no title or description needs a longer query, and the
/// engines' cost grows with the number of words.
pub const MAX_QUERY_CHARS: usize = 500;
/// A suggestion prefix longer than this cannot match (titles are at most 200 characters,
/// and suggestions are typed, not pasted).
pub const MAX_PREFIX_CHARS: usize = 100;
pub const DEFAULT_SUGGESTIONS: usize = 10;

/// The query string of `GET /search`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchParams {
    /// Free text; every word must occur in the title, description or tags.
    #[schemars(length(max = 500))]
    q: Option<String>,
    status: Option<TaskStatus>,
    priority: Option<Priority>,
    assignee: Option<String>,
    tag: Option<String>,
    #[schemars(extend("format" = "uuid"))]
    project_id: Option<String>,
    #[schemars(extend("format" = "uuid"))]
    sprint_id: Option<String>,
    /// `true` adds counts by status, priority and assignee over all matches.
    facets: Option<bool>,
    #[schemars(range(min = 1, max = 100))]
    limit: Option<usize>,
    cursor: Option<String>,
}

impl SearchParams {
    fn parse(self) -> Result<SearchQuery, ApiError> {
        let mut e = Errors::default();
        let limit = self.limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
        if limit == 0 || limit > MAX_SEARCH_LIMIT {
            e.0.push(FieldError::new("limit", format!("must be 1 to {MAX_SEARCH_LIMIT}, got {limit}")));
        }
        let text = self.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
        if let Some(q) = &text
            && q.chars().count() > MAX_QUERY_CHARS
        {
            e.0.push(FieldError::new("q", format!("must be at most {MAX_QUERY_CHARS} characters")));
        }
        let id = |field: &str, raw: Option<String>, e: &mut Errors| {
            raw.and_then(|r| {
                normalise_id(&r).or_else(|| e.take(Err(FieldError::new(field, format!("{r:?} is not an id")))))
            })
        };
        let filter = SearchFilter {
            status: self.status,
            priority: self.priority,
            assignee: self.assignee,
            tag: self.tag,
            project_id: id("projectId", self.project_id, &mut e),
            sprint_id: id("sprintId", self.sprint_id, &mut e),
        };
        e.check()?;
        Ok(SearchQuery { text, filter, facets: self.facets.unwrap_or(false), limit, cursor: self.cursor })
    }
}

pub async fn search(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(params): Query<SearchParams>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Viewer)?;
    let query = params.parse()?;
    let results = state.search.search(ctx.tenant(), &query).await?;
    let mut body = serde_json::json!({ "data": results.items, "nextCursor": results.next_cursor });
    if query.facets {
        body["facets"] = serde_json::json!(results.facets);
    }
    Ok(axum::Json(body).into_response())
}

/// The query string of `GET /search/suggest`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SuggestParams {
    /// The start of a title, or of a word in a title onwards; case does not matter.
    #[schemars(length(min = 1, max = 100), regex(pattern = NON_BLANK))]
    prefix: String,
    #[schemars(range(min = 1, max = 20))]
    limit: Option<usize>,
}

pub async fn suggest(
    State(state): State<AppState>,
    ctx: Ctx,
    Query(params): Query<SuggestParams>,
) -> Result<Response, ApiError> {
    let ctx = ctx.require(Role::Viewer)?;
    let mut e = Errors::default();
    let prefix = params.prefix.trim();
    if prefix.is_empty() || prefix.chars().count() > MAX_PREFIX_CHARS {
        e.0.push(FieldError::new("prefix", format!("must be 1 to {MAX_PREFIX_CHARS} characters")));
    }
    let limit = params.limit.unwrap_or(DEFAULT_SUGGESTIONS);
    if limit == 0 || limit > MAX_SUGGESTIONS {
        e.0.push(FieldError::new("limit", format!("must be 1 to {MAX_SUGGESTIONS}, got {limit}")));
    }
    e.check()?;
    let titles = state.search.suggest(ctx.tenant(), prefix, limit).await?;
    Ok(axum::Json(serde_json::json!({ "data": titles })).into_response())
}
