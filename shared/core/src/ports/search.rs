//! Full-text search over tasks: the index the search-indexer consumer keeps and `/search`
//! reads.
//!
//! The index is fed by events that may arrive twice or out of order (invariant 3), so every
//! write is fenced by the task's aggregate version: the index keeps the highest version it
//! has seen, and a removal leaves a tombstone so that a late, older upsert cannot bring a
//! deleted task back.

use std::collections::BTreeMap;

use async_trait::async_trait;
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use sha2::{Digest, Sha256};

use super::StoreError;

/// Results a page holds when the caller does not say.
pub const DEFAULT_SEARCH_LIMIT: usize = 20;
/// The most results one page may hold.
pub const MAX_SEARCH_LIMIT: usize = 100;
/// The most suggestions one call may return.
pub const MAX_SUGGESTIONS: usize = 20;
/// The fields facet counts are given for, by their names in the response.
pub const FACET_FIELDS: [&str; 3] = ["status", "priority", "assignee"];

/// Exact-match filters; all given ones must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchFilter {
    pub status: Option<TaskStatus>,
    pub priority: Option<Priority>,
    pub assignee: Option<String>,
    pub tag: Option<String>,
    pub project_id: Option<String>,
    pub sprint_id: Option<String>,
}

/// One search. Without `text` every task that passes the filters matches, newest first;
/// with it, the best matches come first (title above tags above description).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Free text: every word must occur in the title, the description or the tags.
    pub text: Option<String>,
    pub filter: SearchFilter,
    /// Whether to count the matching set by [`FACET_FIELDS`].
    pub facets: bool,
    /// 1 to [`MAX_SEARCH_LIMIT`].
    pub limit: usize,
    /// The `next_cursor` of the previous page of the same search.
    pub cursor: Option<String>,
}

impl Default for SearchQuery {
    fn default() -> Self {
        Self { text: None, filter: SearchFilter::default(), facets: false, limit: DEFAULT_SEARCH_LIMIT, cursor: None }
    }
}

impl SearchQuery {
    /// What a cursor is bound to: the tenant, the text and the filters. Another tenant's
    /// cursor, or one of another search, is refused rather than silently misread.
    pub fn cursor_scope(&self, tenant: &str) -> String {
        format!("search|{tenant}|{:?}|{:?}", self.text, self.filter)
    }
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchResults {
    pub items: Vec<TaskSnapshot>,
    /// Field → value → count over the whole matching set (not only this page); empty unless
    /// the query asked for facets.
    pub facets: BTreeMap<String, BTreeMap<String, u64>>,
    pub next_cursor: Option<String>,
}

impl SearchResults {
    /// No matches. Facets, when asked for, list every facet field with no counts, so clients
    /// need not tell "nothing matched" from "not counted".
    pub fn empty(facets: bool) -> Self {
        let facets = if facets {
            FACET_FIELDS.iter().map(|f| ((*f).to_owned(), BTreeMap::new())).collect()
        } else {
            BTreeMap::new()
        };
        Self { items: Vec::new(), facets, next_cursor: None }
    }
}

/// The search index. Every method is scoped by `tenant`, which comes from authentication
/// (for reads) or from the event (for writes), never from a query.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// Stores `task` as it was at `version` unless the index already holds that task at
    /// `version` or later, or a tombstone at `version` or later. `Ok(false)` means it was
    /// stale or a repeat: success, nothing to do.
    async fn upsert(&self, tenant: &str, task: &TaskSnapshot, version: u64) -> Result<bool, StoreError>;
    /// Removes the task and records a tombstone at `version`, so later-arriving older upserts
    /// stay out, unless the index already holds the task at `version` or later (as a
    /// document or a tombstone). `Ok(false)` means it was stale or a repeat: success.
    async fn remove(&self, tenant: &str, task_id: &str, version: u64) -> Result<bool, StoreError>;
    /// A cursor not issued for this tenant and search is [`StoreError::BadCursor`].
    async fn search(&self, tenant: &str, query: &SearchQuery) -> Result<SearchResults, StoreError>;
    /// Titles of which the title itself, or one of its words onwards, starts with `prefix`
    /// (case-insensitive), at most `limit` of them, without repeats.
    async fn suggest(&self, tenant: &str, prefix: &str, limit: usize) -> Result<Vec<String>, StoreError>;
}

/// The words of free text, lower-cased: letters and digits, split at everything else.
/// Engines quote these themselves, so no user input reaches a query language as syntax.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// What a title can be suggested by: the title and each of its tails that starts at a word
/// (so "log" finds "Fix login bug"). Both engines index exactly these, so they agree.
pub fn suggestion_inputs(title: &str) -> Vec<String> {
    let title = title.trim();
    let mut inputs = vec![title.to_owned()];
    let mut previous_is_word = true;
    for (at, c) in title.char_indices() {
        let is_word = c.is_alphanumeric();
        if is_word && !previous_is_word && at > 0 {
            inputs.push(title[at..].to_owned());
        }
        previous_is_word = is_word;
    }
    inputs
}

/// Opaque, scope-bound cursors. The payload is the engine's own (the sort values of the last
/// hit); the seal binds it to [`SearchQuery::cursor_scope`], so a cursor edited by hand, or
/// replayed against another tenant or another search, is [`StoreError::BadCursor`].
pub mod cursor {
    use super::*;

    const TAG: &str = "s1";
    const MAX_LEN: usize = 4096;

    fn seal_of(scope: &str, payload: &str) -> String {
        let digest = Sha256::new().chain_update(scope.as_bytes()).chain_update([0]).chain_update(payload).finalize();
        digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
    }

    pub fn seal(scope: &str, payload: &str) -> String {
        let text = format!("{TAG}|{}|{payload}", seal_of(scope, payload));
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    pub fn open(text: &str, scope: &str) -> Result<String, StoreError> {
        if text.is_empty() || text.len() > MAX_LEN || !text.len().is_multiple_of(2) {
            return Err(StoreError::BadCursor);
        }
        let bytes: Option<Vec<u8>> =
            (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect();
        let text = String::from_utf8(bytes.ok_or(StoreError::BadCursor)?).map_err(|_| StoreError::BadCursor)?;
        let mut parts = text.splitn(3, '|');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(TAG), Some(seal), Some(payload)) if seal == seal_of(scope, payload) => Ok(payload.to_owned()),
            _ => Err(StoreError::BadCursor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_at_anything_but_letters_and_digits() {
        assert_eq!(words("  Fix LOGIN-bug: \"now\" (v2)!"), vec!["fix", "login", "bug", "now", "v2"]);
        assert!(words("*** \"(-)^").is_empty());
        // Query-language operators are plain words here; engines quote every word.
        assert_eq!(words("a OR b*"), vec!["a", "or", "b"]);
        assert_eq!(words("Ünïcode straße"), vec!["ünïcode", "straße"]);
    }

    #[test]
    fn suggestion_inputs_are_the_title_and_its_word_tails() {
        assert_eq!(suggestion_inputs(" Fix login-bug "), vec!["Fix login-bug", "login-bug", "bug"]);
        assert_eq!(suggestion_inputs("one"), vec!["one"]);
    }

    #[test]
    fn cursors_open_only_in_their_scope_and_unaltered() {
        let q = SearchQuery { text: Some("kafka".into()), ..SearchQuery::default() };
        let sealed = cursor::seal(&q.cursor_scope("acme"), "[1.5,\"abc\"]");
        assert_eq!(cursor::open(&sealed, &q.cursor_scope("acme")).unwrap(), "[1.5,\"abc\"]");
        assert_eq!(cursor::open(&sealed, &q.cursor_scope("globex")), Err(StoreError::BadCursor));
        let other = SearchQuery { text: Some("redis".into()), ..SearchQuery::default() };
        assert_eq!(cursor::open(&sealed, &other.cursor_scope("acme")), Err(StoreError::BadCursor));
        // Flip one payload character: the seal no longer fits.
        let mut bytes = sealed.clone().into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'1' { b'2' } else { b'1' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(cursor::open(&tampered, &q.cursor_scope("acme")), Err(StoreError::BadCursor));
        for junk in ["", "zz", "abc", "00"] {
            assert_eq!(cursor::open(junk, &q.cursor_scope("acme")), Err(StoreError::BadCursor), "{junk}");
        }
    }
}
