//! Reads of the index: ranked, filtered, faceted and paged searches, and suggestions.

use std::collections::BTreeMap;

use events_schema::events::TaskSnapshot;
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};
use shared_core::ports::{FACET_FIELDS, SearchQuery, SearchResults, StoreError, search_cursor, search_words};

use crate::EmbeddedError;

/// bm25 column weights (title, description, tags): a title match outranks a tag match,
/// which outranks a description match, as the OpenSearch adapter's boosts do. FTS5 weights
/// the hits before saturating them and normalises by the whole row's length, which flattens
/// weights: these are larger than Lucene's per-field boosts so that a title match still
/// wins against a short task that has the word only in a tag or its description.
const RANK: &str = "bm25(search_text, 10.0, 1.0, 3.0)";

/// The FTS5 query for free text: every word quoted (so nothing the user typed is syntax),
/// all of them required. `None` when the text has no words: nothing can match.
fn match_expression(text: &str) -> Option<String> {
    let words = search_words(text);
    if words.is_empty() {
        return None;
    }
    Some(words.iter().map(|w| format!("\"{}\"", w.replace('"', "\"\""))).collect::<Vec<_>>().join(" "))
}

/// Where a page ended: the rank (bit-exact, so the next page resumes exactly) and the id of
/// its last hit.
fn encode_position(score: f64, id: &str) -> String {
    format!("{:016x}|{id}", score.to_bits())
}

fn decode_position(payload: &str) -> Result<(f64, String), StoreError> {
    let (bits, id) = payload.split_once('|').ok_or(StoreError::BadCursor)?;
    let bits = u64::from_str_radix(bits, 16).map_err(|_| StoreError::BadCursor)?;
    Ok((f64::from_bits(bits), id.to_owned()))
}

pub(super) fn search(conn: &Connection, tenant: &str, query: &SearchQuery) -> Result<SearchResults, EmbeddedError> {
    let scope = query.cursor_scope(tenant);
    let position = query.cursor.as_deref().map(|c| search_cursor::open(c, &scope).and_then(|p| decode_position(&p)));
    let position = position.transpose()?;

    let mut from = String::from("search_docs d");
    let mut conditions = vec!["d.tenant = ?".to_owned()];
    let mut args: Vec<Value> = vec![Value::Text(tenant.to_owned())];
    let score = match &query.text {
        Some(text) => {
            let Some(expression) = match_expression(text) else {
                return Ok(SearchResults::empty(query.facets));
            };
            from = "search_text JOIN search_docs d ON d.docid = search_text.rowid".to_owned();
            conditions.push("search_text MATCH ?".to_owned());
            args.push(Value::Text(expression));
            RANK
        }
        None => "0.0",
    };
    let f = &query.filter;
    let exact = [
        ("d.status = ?", f.status.map(|s| s.as_str().to_owned())),
        ("d.priority = ?", f.priority.map(|p| p.as_str().to_owned())),
        ("d.assignee = ?", f.assignee.clone()),
        ("d.project_id = ?", f.project_id.clone()),
        ("d.sprint_id = ?", f.sprint_id.clone()),
        ("EXISTS (SELECT 1 FROM json_each(d.body, '$.tags') WHERE value = ?)", f.tag.clone()),
    ];
    for (condition, value) in exact {
        if let Some(value) = value {
            conditions.push(condition.to_owned());
            args.push(Value::Text(value));
        }
    }

    let facets = if query.facets { facet_counts(conn, &from, &conditions, &args)? } else { BTreeMap::new() };

    // Best rank first (bm25 is lower for better matches), newest (largest UUIDv7) first within it.
    let mut page_conditions = conditions;
    let mut page_args = args;
    if let Some((last_score, last_id)) = position {
        page_conditions.push(format!("({score} > ? OR ({score} = ? AND d.id < ?))"));
        page_args.extend([Value::Real(last_score), Value::Real(last_score), Value::Text(last_id)]);
    }
    page_args.push(Value::Integer(i64::try_from(query.limit + 1).unwrap_or(i64::MAX)));
    let sql = format!(
        "SELECT d.id, d.body, {score} FROM {from} WHERE {} ORDER BY 3 ASC, d.id DESC LIMIT ?",
        page_conditions.join(" AND ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows: Vec<(String, String, f64)> = stmt
        .query_map(params_from_iter(page_args), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;

    let more = rows.len() > query.limit;
    let mut items = Vec::with_capacity(query.limit);
    let mut last = None;
    for (id, body, score) in rows.into_iter().take(query.limit) {
        items.push(serde_json::from_str::<TaskSnapshot>(&body)?);
        last = Some((score, id));
    }
    let next_cursor = match last {
        Some((score, id)) if more => Some(search_cursor::seal(&scope, &encode_position(score, &id))),
        _ => None,
    };
    Ok(SearchResults { items, facets, next_cursor })
}

/// Counts the whole matching set (every page) by status, priority and assignee.
fn facet_counts(
    conn: &Connection,
    from: &str,
    conditions: &[String],
    args: &[Value],
) -> Result<BTreeMap<String, BTreeMap<String, u64>>, EmbeddedError> {
    let mut counts: BTreeMap<String, BTreeMap<String, u64>> =
        FACET_FIELDS.iter().map(|f| ((*f).to_owned(), BTreeMap::new())).collect();
    let sql = format!(
        "SELECT 'status', d.status, COUNT(*) FROM {from} WHERE {w} GROUP BY d.status
         UNION ALL SELECT 'priority', d.priority, COUNT(*) FROM {from} WHERE {w} GROUP BY d.priority
         UNION ALL SELECT 'assignee', d.assignee, COUNT(*) FROM {from} WHERE {w} AND d.assignee IS NOT NULL GROUP BY d.assignee",
        w = conditions.join(" AND ")
    );
    let all_args = args.iter().chain(args).chain(args).cloned();
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(all_args), |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, u64>(2)?))
    })?;
    for row in rows {
        let (field, value, n) = row?;
        counts.entry(field).or_default().insert(value, n);
    }
    Ok(counts)
}

pub(super) fn suggest(
    conn: &Connection,
    tenant: &str,
    prefix: &str,
    limit: usize,
) -> Result<Vec<String>, EmbeddedError> {
    let low = prefix.trim().to_lowercase();
    if low.is_empty() {
        return Ok(Vec::new());
    }
    // Every string that starts with `low` sorts in [low, low + U+10FFFF): an index range scan.
    let high = format!("{low}{}", char::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT title FROM search_suggestions WHERE tenant = ?1 AND input >= ?2 AND input < ?3
         ORDER BY title LIMIT ?4",
    )?;
    let titles = stmt
        .query_map(params![tenant, low, high, i64::try_from(limit).unwrap_or(i64::MAX)], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(titles)
}
