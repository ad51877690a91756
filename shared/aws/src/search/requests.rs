//! What the adapter sends to OpenSearch, as pure functions of their inputs, so the tests can
//! pin every request shape without a server.

use events_schema::events::TaskSnapshot;
use opensearch::params::VersionType;
use opensearch::{BulkOperation, BulkOperations};
use serde_json::{Value, json};
use shared_core::ports::{SearchQuery, search_words, suggestion_inputs};

/// Most assignees a facet lists (the busiest first). Status and priority list all values.
pub const ASSIGNEE_FACET_SIZE: usize = 100;

/// The analyzers and mappings of the task index: the index template applies them, and
/// [`super::OpenSearchIndex::create_index`] creates the index with them.
///
/// - `task_text` (title, description, tags.text): standard tokenizer, lower-cased, folded
///   to ASCII and Porter-stemmed, like the embedded FTS5 index (`porter unicode61
///   remove_diacritics`), so both engines find "bugs" by "bug" and "résumé" by "resume".
/// - keywords for exact filters and facets: status, priority, assignee, tags, project_id,
///   sprint_id; and for the always-applied tenant filter and the `deleted` tombstone flag.
/// - `title_suggest`: a completion field over the title and its word tails, keyword-analysed
///   and lower-cased (so a prefix matches the start of a title or of a word onwards, case
///   aside, exactly as the embedded index does), with the tenant as a category context so a
///   suggestion query can only see its own tenant.
/// - `task`: the snapshot as the API returns it, stored but not indexed.
///
/// `_routing` is required: a document indexed without its tenant as routing is refused.
pub fn index_definition() -> Value {
    json!({
        "settings": {
            "analysis": {
                "analyzer": {
                    "task_text": {
                        "type": "custom",
                        "tokenizer": "standard",
                        "filter": ["lowercase", "asciifolding", "porter_stem"]
                    },
                    "task_suggest": {
                        "type": "custom",
                        "tokenizer": "keyword",
                        "filter": ["lowercase"]
                    }
                }
            }
        },
        "mappings": {
            "dynamic": "strict",
            "_routing": { "required": true },
            "properties": {
                "tenant": { "type": "keyword" },
                "id": { "type": "keyword" },
                "deleted": { "type": "boolean" },
                "title": { "type": "text", "analyzer": "task_text" },
                "description": { "type": "text", "analyzer": "task_text" },
                "tags": { "type": "keyword", "fields": { "text": { "type": "text", "analyzer": "task_text" } } },
                "status": { "type": "keyword" },
                "priority": { "type": "keyword" },
                "assignee": { "type": "keyword" },
                "project_id": { "type": "keyword" },
                "sprint_id": { "type": "keyword" },
                "title_suggest": {
                    "type": "completion",
                    "analyzer": "task_suggest",
                    "search_analyzer": "task_suggest",
                    "max_input_length": 200,
                    "contexts": [{ "name": "tenant", "type": "category", "path": "tenant" }]
                },
                "task": { "type": "object", "enabled": false }
            }
        }
    })
}

/// The index template for every index matching `index_pattern`: [`index_definition`].
pub fn index_template(index_pattern: &str) -> Value {
    json!({ "index_patterns": [index_pattern], "template": index_definition() })
}

/// One document per (tenant, task). Task ids are UUIDs (no `:`), so the id is unambiguous.
pub fn doc_id(tenant: &str, task_id: &str) -> String {
    format!("{tenant}:{task_id}")
}

/// The indexed form of a task.
pub fn document(tenant: &str, task: &TaskSnapshot) -> Value {
    json!({
        "tenant": tenant,
        "id": task.id,
        "deleted": false,
        "title": task.title,
        "description": task.description,
        "tags": task.tags,
        "status": task.status.as_str(),
        "priority": task.priority.as_str(),
        "assignee": task.assignee,
        "project_id": task.project_id,
        "sprint_id": task.sprint_id,
        "title_suggest": { "input": suggestion_inputs(&task.title) },
        "task": task,
    })
}

/// What stays of a removed task: its key and the `deleted` flag, at the removal's external
/// version. A real delete would keep its version only for `index.gc_deletes` (60 s by
/// default); after that a late, older upsert would be accepted and resurrect the task. A
/// tombstone document fences forever, and every query filters it out.
pub fn tombstone(tenant: &str, task_id: &str) -> Value {
    json!({ "tenant": tenant, "id": task_id, "deleted": true })
}

/// One write of a bulk request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action<'a> {
    Upsert { tenant: &'a str, task: &'a TaskSnapshot, version: u64 },
    Remove { tenant: &'a str, task_id: &'a str, version: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("version {0} is beyond what OpenSearch can hold as an external version")]
    VersionTooLarge(u64),
    #[error("the bulk body could not be written: {0}")]
    Encode(#[from] opensearch::Error),
}

/// The bulk body: for each action an `index` line with the document id, the tenant as
/// routing, `version` = the aggregate version and `version_type=external` (OpenSearch then
/// writes only if the version is above the stored one: the fence), then the document line.
pub fn bulk_body(actions: &[Action<'_>]) -> Result<BulkOperations, RequestError> {
    let mut ops = BulkOperations::new();
    for action in actions {
        let (tenant, id, version, source) = match *action {
            Action::Upsert { tenant, task, version } => (tenant, task.id.as_str(), version, document(tenant, task)),
            Action::Remove { tenant, task_id, version } => (tenant, task_id, version, tombstone(tenant, task_id)),
        };
        let version = i64::try_from(version).map_err(|_| RequestError::VersionTooLarge(version))?;
        ops.push(
            BulkOperation::index(source)
                .id(doc_id(tenant, id))
                .routing(tenant)
                .version(version)
                .version_type(VersionType::External),
        )?;
    }
    Ok(ops)
}

/// The filters every search carries: the tenant (always, whatever the query), live
/// documents only, then the caller's exact filters.
pub fn filters(tenant: &str, query: &SearchQuery) -> Vec<Value> {
    let mut filters = vec![json!({ "term": { "tenant": tenant } }), json!({ "term": { "deleted": false } })];
    let f = &query.filter;
    let exact = [
        ("status", f.status.map(|s| s.as_str().to_owned())),
        ("priority", f.priority.map(|p| p.as_str().to_owned())),
        ("assignee", f.assignee.clone()),
        ("tags", f.tag.clone()),
        ("project_id", f.project_id.clone()),
        ("sprint_id", f.sprint_id.clone()),
    ];
    for (field, value) in exact {
        if let Some(value) = value {
            filters.push(json!({ "term": { field: value } }));
        }
    }
    filters
}

/// The search body, or `None` when the text has no words (nothing can match, as in the
/// embedded index). `search_after` is the sort values of the previous page's last hit.
///
/// Text: `cross_fields` with `operator: and` requires every word somewhere in title, tags or
/// description (as FTS5's implicit AND over columns does); title is boosted above tags above
/// description. Order: best score first, then newest (largest UUIDv7) first; the id
/// tie-break makes `search_after` exact. One more hit than the page is asked for, to know
/// whether there is a next page. Facets are terms aggregations over the whole match.
pub fn search_body(tenant: &str, query: &SearchQuery, search_after: Option<Value>) -> Option<Value> {
    let mut bool_query = json!({ "filter": filters(tenant, query) });
    if let Some(text) = &query.text {
        let words = search_words(text);
        if words.is_empty() {
            return None;
        }
        bool_query["must"] = json!([{
            "multi_match": {
                "query": words.join(" "),
                "type": "cross_fields",
                "operator": "and",
                "fields": ["title^3", "tags.text^2", "description"]
            }
        }]);
    }
    let mut body = json!({
        "size": query.limit + 1,
        "track_total_hits": false,
        "_source": ["task"],
        "query": { "bool": bool_query },
        "sort": [{ "_score": "desc" }, { "id": "desc" }],
    });
    if let Some(after) = search_after {
        body["search_after"] = after;
    }
    if query.facets {
        body["aggs"] = json!({
            "status": { "terms": { "field": "status", "size": events_schema::events::TaskStatus::ALL.len() } },
            "priority": { "terms": { "field": "priority", "size": events_schema::events::Priority::ALL.len() } },
            "assignee": { "terms": { "field": "assignee", "size": ASSIGNEE_FACET_SIZE } },
        });
    }
    Some(body)
}

/// Title suggestions: the completion suggester in the tenant's context only (the context is
/// what keeps tenants apart here: a suggester takes no query filter), duplicates skipped.
/// Each option carries its document's title, since the matched input may be a word tail.
pub fn suggest_body(tenant: &str, prefix: &str, limit: usize) -> Value {
    json!({
        "size": 0,
        "_source": ["title"],
        "suggest": {
            "titles": {
                "prefix": prefix.trim(),
                "completion": {
                    "field": "title_suggest",
                    "size": limit,
                    "skip_duplicates": true,
                    "contexts": { "tenant": [tenant] }
                }
            }
        }
    })
}
