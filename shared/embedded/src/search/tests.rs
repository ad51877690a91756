//! The FTS5 index on its own: version fences, tombstones, query syntax, cursors.

use events_schema::Timestamp;
use events_schema::events::{Priority, TaskStatus};

use super::*;
use crate::db::Db;

fn task(id: &str, title: &str, version: u64) -> TaskSnapshot {
    let at = Timestamp::from_unix_millis(1_767_225_600_000).unwrap();
    TaskSnapshot {
        id: id.into(),
        title: title.into(),
        description: None,
        status: TaskStatus::Todo,
        priority: Priority::Medium,
        assignee: None,
        reporter: None,
        category_id: None,
        project_id: None,
        sprint_id: None,
        tags: vec![],
        due_date: None,
        estimate_points: None,
        created_at: at,
        updated_at: at,
        status_changed_at: at,
        escalation: None,
        version,
    }
}

fn index() -> (SqliteSearchIndex, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    (SqliteSearchIndex::new(db), dir)
}

async fn titles(index: &SqliteSearchIndex, tenant: &str, text: &str) -> Vec<String> {
    let query = SearchQuery { text: Some(text.into()), ..SearchQuery::default() };
    index.search(tenant, &query).await.unwrap().items.into_iter().map(|t| t.title).collect()
}

#[tokio::test]
async fn fts5_is_compiled_into_the_bundled_sqlite() {
    let (index, _dir) = index();
    let options: Vec<String> = index
        .db
        .read(|c| {
            let mut stmt = c.prepare("PRAGMA compile_options")?;
            let rows = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
        .unwrap();
    assert!(options.iter().any(|o| o == "ENABLE_FTS5"), "{options:?}");
}

#[tokio::test]
async fn the_highest_version_wins_whatever_the_order() {
    let (index, _dir) = index();
    assert!(index.upsert("acme", &task("t1", "Second title", 2), 2).await.unwrap());
    assert!(!index.upsert("acme", &task("t1", "First title", 1), 1).await.unwrap());
    assert!(!index.upsert("acme", &task("t1", "Second title", 2), 2).await.unwrap());
    assert_eq!(titles(&index, "acme", "title").await, ["Second title"]);
    assert!(titles(&index, "acme", "first").await.is_empty());
    assert!(index.upsert("acme", &task("t1", "Third title", 3), 3).await.unwrap());
    assert_eq!(titles(&index, "acme", "title").await, ["Third title"]);
    // The old text and suggestions are gone with the old version.
    assert!(titles(&index, "acme", "second").await.is_empty());
    assert_eq!(index.suggest("acme", "t", 10).await.unwrap(), ["Third title"]);
}

#[tokio::test]
async fn a_tombstone_keeps_late_older_upserts_out() {
    let (index, _dir) = index();
    // The removal arrives before the task's creation and update: it raises the fence.
    assert!(index.remove("acme", "t1", 3).await.unwrap());
    assert!(!index.remove("acme", "t1", 3).await.unwrap());
    assert!(!index.remove("acme", "t1", 2).await.unwrap());
    assert!(!index.upsert("acme", &task("t1", "Ghost", 1), 1).await.unwrap());
    assert!(!index.upsert("acme", &task("t1", "Ghost", 2), 2).await.unwrap());
    assert!(titles(&index, "acme", "ghost").await.is_empty());
    assert!(index.suggest("acme", "gh", 10).await.unwrap().is_empty());

    assert!(index.upsert("acme", &task("t2", "Present", 1), 1).await.unwrap());
    // A stale removal does not remove a newer version; a current one does.
    assert!(!index.remove("acme", "t2", 1).await.unwrap());
    assert_eq!(titles(&index, "acme", "present").await, ["Present"]);
    assert!(index.remove("acme", "t2", 2).await.unwrap());
    assert!(titles(&index, "acme", "present").await.is_empty());
}

#[tokio::test]
async fn query_syntax_in_the_text_is_taken_as_words() {
    let (index, _dir) = index();
    index.upsert("acme", &task("t1", "Fix OR NOT \"quoted\" title*", 1), 1).await.unwrap();
    assert_eq!(titles(&index, "acme", "\"quoted").await.len(), 1);
    assert_eq!(titles(&index, "acme", "NOT OR (title*").await.len(), 1);
    assert!(titles(&index, "acme", "***").await.is_empty());
}

#[tokio::test]
async fn a_cursor_is_bound_to_its_tenant_and_search() {
    let (index, _dir) = index();
    for i in 0..3 {
        index.upsert("acme", &task(&format!("t{i}"), "Same words", 1), 1).await.unwrap();
    }
    let first = SearchQuery { text: Some("same".into()), limit: 2, ..SearchQuery::default() };
    let page = index.search("acme", &first).await.unwrap();
    let cursor = page.next_cursor.unwrap();
    let next = SearchQuery { cursor: Some(cursor.clone()), ..first.clone() };
    let rest = index.search("acme", &next).await.unwrap();
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_cursor, None);
    assert_eq!(index.search("globex", &next).await.unwrap_err(), StoreError::BadCursor);
    let other = SearchQuery { text: Some("words".into()), ..next };
    assert_eq!(index.search("acme", &other).await.unwrap_err(), StoreError::BadCursor);
}
