//! How the adapter reads OpenSearch's answers, as pure functions, so the tests can feed
//! them canned responses (partial bulk failures included).

use std::collections::BTreeMap;

use events_schema::events::TaskSnapshot;
use serde_json::Value;
use shared_core::ports::FACET_FIELDS;

/// What became of one write of a bulk request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Written: the version was above the stored one.
    Applied,
    /// Refused with 409: the index already holds this version or a later one (a repeat or a
    /// late event). Success: the fence did its job.
    Stale,
    /// Refused for another reason; `status` 429 and 5xx are worth retrying.
    Failed { status: u16, reason: String },
}

impl ItemOutcome {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ItemOutcome::Failed { status, .. } if *status == 429 || *status >= 500)
    }
}

/// The outcome of each action of a bulk request, in request order. An answer that does not
/// hold one item per action cannot be trusted for any of them.
pub fn bulk_outcomes(body: &Value, actions: usize) -> Result<Vec<ItemOutcome>, String> {
    let items = body.get("items").and_then(Value::as_array).ok_or("the bulk answer has no items")?;
    if items.len() != actions {
        return Err(format!("the bulk answer has {} items for {actions} actions", items.len()));
    }
    items
        .iter()
        .map(|item| {
            // Each item is `{"<action>": {...}}`; we only send `index`.
            let result = item.as_object().and_then(|o| o.values().next()).ok_or("a bulk item is not an object")?;
            let status = result.get("status").and_then(Value::as_u64).ok_or("a bulk item has no status")?;
            let status = u16::try_from(status).map_err(|_| format!("a bulk item has status {status}"))?;
            Ok(match status {
                200..=299 => ItemOutcome::Applied,
                409 => ItemOutcome::Stale,
                _ => ItemOutcome::Failed { status, reason: error_text(result.get("error")) },
            })
        })
        .collect()
}

/// `type: reason` of an OpenSearch error object, or the whole value when it has another shape.
pub fn error_text(error: Option<&Value>) -> String {
    match error {
        Some(e) => match (e.get("type").and_then(Value::as_str), e.get("reason").and_then(Value::as_str)) {
            (Some(kind), Some(reason)) => format!("{kind}: {reason}"),
            _ => e.to_string(),
        },
        None => "no error given".to_owned(),
    }
}

/// One hit: the task and its sort values (what `search_after` resumes from).
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub task: TaskSnapshot,
    pub sort: Value,
}

pub fn hits(body: &Value) -> Result<Vec<Hit>, String> {
    let hits = body.pointer("/hits/hits").and_then(Value::as_array).ok_or("the search answer has no hits")?;
    hits.iter()
        .map(|hit| {
            let source = hit.pointer("/_source/task").cloned().ok_or("a hit has no task in its _source")?;
            let task = serde_json::from_value(source).map_err(|e| format!("a hit's task does not parse: {e}"))?;
            let sort = hit.get("sort").cloned().ok_or("a hit has no sort values")?;
            Ok(Hit { task, sort })
        })
        .collect()
}

/// Facet counts from the terms aggregations, every facet field present (empty when nothing
/// matched).
pub fn facets(body: &Value) -> Result<BTreeMap<String, BTreeMap<String, u64>>, String> {
    let mut out = BTreeMap::new();
    for field in FACET_FIELDS {
        let buckets = body
            .pointer(&format!("/aggregations/{field}/buckets"))
            .and_then(Value::as_array)
            .ok_or_else(|| format!("the search answer has no {field} aggregation"))?;
        let mut counts = BTreeMap::new();
        for bucket in buckets {
            let key = bucket.get("key").and_then(Value::as_str).ok_or("a bucket has no key")?;
            let count = bucket.get("doc_count").and_then(Value::as_u64).ok_or("a bucket has no doc_count")?;
            counts.insert(key.to_owned(), count);
        }
        out.insert(field.to_owned(), counts);
    }
    Ok(out)
}

/// The titles of the suggestion options, first occurrence kept, at most `limit`.
pub fn suggestions(body: &Value, limit: usize) -> Result<Vec<String>, String> {
    let options = body
        .pointer("/suggest/titles/0/options")
        .and_then(Value::as_array)
        .ok_or("the search answer has no title suggestions")?;
    let mut titles: Vec<String> = Vec::new();
    for option in options {
        let title = option
            .pointer("/_source/title")
            .or_else(|| option.get("text"))
            .and_then(Value::as_str)
            .ok_or("a suggestion has no title")?;
        if !titles.iter().any(|t| t == title) {
            titles.push(title.to_owned());
        }
    }
    titles.truncate(limit);
    Ok(titles)
}
