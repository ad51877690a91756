//! `/search` and `/search/suggest` over the embedded FTS5 index, fed by the search indexer
//! through the real bus and queue.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::Harness;

fn titles(reply: &support::Reply) -> Vec<String> {
    reply.body["data"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_owned()).collect()
}

async fn id_of(h: &Harness, body: Value) -> String {
    h.create(body).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_title_match_ranks_above_a_description_match() {
    let h = Harness::new();
    // Created first, so without ranking (newest first) it would come last.
    h.create(json!({"title": "Tune the brokers", "description": "kafka lag grows under load"})).await;
    h.create(json!({"title": "Kafka consumer rebalances", "description": "seen in staging"})).await;
    h.create(json!({"title": "Unrelated", "description": "nothing to see"})).await;
    h.create(json!({"title": "Label it", "tags": ["kafka"]})).await;
    h.settle().await;

    let reply = h.call("GET", "/search?q=kafka", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(titles(&reply), ["Kafka consumer rebalances", "Label it", "Tune the brokers"]);
    assert_eq!(reply.body["nextCursor"], Value::Null);
    assert!(reply.body.get("facets").is_none(), "facets only when asked: {}", reply.body);

    // Every word must match somewhere; stemming finds plural and singular alike.
    assert_eq!(titles(&h.call("GET", "/search?q=KAFKA%20staging", None).await), ["Kafka consumer rebalances"]);
    assert_eq!(titles(&h.call("GET", "/search?q=broker", None).await), ["Tune the brokers"]);
    assert!(titles(&h.call("GET", "/search?q=kafka%20nowhere", None).await).is_empty());
}

#[tokio::test]
async fn filters_narrow_the_matches_and_facets_count_all_of_them() {
    let h = Harness::new();
    let a = id_of(&h, json!({"title": "Login fails", "priority": "high", "assignee": "li", "tags": ["auth"]})).await;
    h.create(json!({"title": "Login slow", "priority": "low", "assignee": "maria"})).await;
    h.create(json!({"title": "Login copy", "priority": "high"})).await;
    h.create(json!({"title": "Billing export", "priority": "high", "assignee": "li"})).await;
    h.call("PUT", &format!("/tasks/{a}"), Some(json!({"version": 1, "status": "in_progress"}))).await;
    h.settle().await;

    let h = &h;
    let only = move |path: &'static str| async move { titles(&h.call("GET", path, None).await) };
    assert_eq!(only("/search?q=login&priority=high").await, ["Login copy", "Login fails"]);
    assert_eq!(only("/search?q=login&assignee=li").await, ["Login fails"]);
    assert_eq!(only("/search?q=login&status=in_progress").await, ["Login fails"]);
    assert_eq!(only("/search?tag=auth").await, ["Login fails"]);
    assert_eq!(only("/search?assignee=li").await, ["Billing export", "Login fails"]);
    assert_eq!(only("/search?q=login&priority=low&assignee=li").await, Vec::<String>::new());

    // Facets cover the whole matching set, not just the page.
    let reply = h.call("GET", "/search?q=login&facets=true&limit=1", None).await;
    assert_eq!(titles(&reply).len(), 1);
    assert_eq!(
        reply.body["facets"],
        json!({
            "status": {"todo": 2, "in_progress": 1},
            "priority": {"high": 2, "low": 1},
            "assignee": {"li": 1, "maria": 1}
        })
    );
    let filtered = h.call("GET", "/search?priority=high&facets=true", None).await;
    assert_eq!(filtered.body["facets"]["assignee"], json!({"li": 2}));
    assert_eq!(filtered.body["facets"]["status"], json!({"todo": 2, "in_progress": 1}));
}

#[tokio::test]
async fn suggestions_match_a_title_or_a_word_in_it_by_prefix() {
    let h = Harness::new();
    h.create(json!({"title": "Fix login bug"})).await;
    h.create(json!({"title": "Login page redesign"})).await;
    h.create(json!({"title": "Logout button"})).await;
    h.create(json!({"title": "Billing"})).await;
    h.settle().await;

    let h = &h;
    let suggest = move |path: String| async move {
        let reply = h.call("GET", &path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        serde_json::from_value::<Vec<String>>(reply.body["data"].clone()).unwrap()
    };
    assert_eq!(suggest("/search/suggest?prefix=LOGI".into()).await, ["Fix login bug", "Login page redesign"]);
    assert_eq!(
        suggest("/search/suggest?prefix=log".into()).await,
        ["Fix login bug", "Login page redesign", "Logout button"]
    );
    assert_eq!(suggest("/search/suggest?prefix=log&limit=1".into()).await, ["Fix login bug"]);
    assert_eq!(suggest("/search/suggest?prefix=fix%20lo".into()).await, ["Fix login bug"]);
    assert!(suggest("/search/suggest?prefix=xyz".into()).await.is_empty());
}

#[tokio::test]
async fn pages_follow_the_cursor_to_the_end_without_repeats() {
    let h = Harness::new();
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(id_of(&h, json!({"title": format!("Report {i}"), "description": "quarterly report"})).await);
    }
    h.create(json!({"title": "Something else"})).await;
    h.settle().await;

    for base in ["/search?q=report&limit=3", "/search?limit=3&facets=true"] {
        let mut seen: Vec<String> = Vec::new();
        let mut path = base.to_owned();
        let mut pages = 0;
        loop {
            let reply = h.call("GET", &path, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            let data = reply.body["data"].as_array().unwrap();
            assert!(data.len() <= 3);
            seen.extend(data.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
            pages += 1;
            match reply.body["nextCursor"].as_str() {
                Some(cursor) => path = format!("{base}&cursor={cursor}"),
                None => break,
            }
        }
        let expected = if base.contains("q=") { 7 } else { 8 };
        assert_eq!(seen.len(), expected, "{base}");
        assert_eq!(pages, expected.div_ceil(3), "{base}");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "a task was served twice: {base}");
        if !base.contains("q=") {
            // Without text: newest first.
            let mut newest_first = created.clone();
            newest_first.reverse();
            assert_eq!(&seen[1..], &newest_first[..]);
        }
    }
}

#[tokio::test]
async fn bad_parameters_and_foreign_cursors_get_400_with_the_envelope() {
    let h = Harness::new();
    for i in 0..3 {
        h.create(json!({"title": format!("Alpha {i}")})).await;
    }
    h.settle().await;
    let page = h.call("GET", "/search?q=alpha&limit=1", None).await;
    let cursor = page.body["nextCursor"].as_str().unwrap().to_owned();
    // The cursor pages its own search...
    assert_eq!(h.call("GET", &format!("/search?q=alpha&limit=1&cursor={cursor}"), None).await.status, StatusCode::OK);

    let mut tampered = cursor.clone().into_bytes();
    let at = tampered.len() - 1;
    tampered[at] = if tampered[at] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    for path in [
        // ...and no other search, and refuses to be edited.
        format!("/search?q=beta&cursor={cursor}"),
        format!("/search?q=alpha&status=done&cursor={cursor}"),
        format!("/search?q=alpha&cursor={tampered}"),
        "/search?cursor=not-a-cursor".to_owned(),
    ] {
        let reply = h.call("GET", &path, None).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{path}");
        assert!(reply.body["error"]["correlationId"].is_string());
    }
    for (path, code) in [
        ("/search?limit=0", "validation_failed"),
        ("/search?limit=101", "validation_failed"),
        ("/search?limit=ten", "validation_failed"),
        ("/search?status=sideways", "validation_failed"),
        ("/search?facets=maybe", "validation_failed"),
        ("/search?projectId=nope", "validation_failed"),
        ("/search?unknown=1", "validation_failed"),
        ("/search/suggest", "validation_failed"),
        ("/search/suggest?prefix=%20", "validation_failed"),
        ("/search/suggest?prefix=a&limit=21", "validation_failed"),
    ] {
        let reply = h.call("GET", path, None).await;
        assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, code), "{path}: {}", reply.body);
    }
    let long = "a".repeat(501);
    let reply = h.call("GET", &format!("/search?q={long}"), None).await;
    assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "validation_failed"));
}

#[tokio::test]
async fn another_tenants_tasks_never_appear_not_even_in_facets_or_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    let engine = shared_embedded::Engine::open(dir.path(), support::fast_config()).unwrap();
    let acme = Harness::on(engine.clone(), tempfile::tempdir().unwrap(), "acme");
    let globex = Harness::on(engine, dir, "globex");
    acme.create(json!({"title": "Shared roadmap", "assignee": "li", "priority": "low"})).await;
    globex.create(json!({"title": "Shared roadmap secret", "assignee": "eve", "priority": "critical"})).await;
    globex.create(json!({"title": "Roadmap of globex", "assignee": "eve"})).await;
    acme.settle().await;
    globex.settle().await;

    let reply = acme.call("GET", "/search?q=roadmap&facets=true", None).await;
    assert_eq!(titles(&reply), ["Shared roadmap"]);
    assert_eq!(reply.body["facets"], json!({"status": {"todo": 1}, "priority": {"low": 1}, "assignee": {"li": 1}}));
    assert_eq!(titles(&acme.call("GET", "/search", None).await), ["Shared roadmap"]);
    assert!(titles(&acme.call("GET", "/search?assignee=eve", None).await).is_empty());
    assert_eq!(acme.call("GET", "/search/suggest?prefix=roadmap", None).await.body["data"], json!(["Shared roadmap"]));

    // A cursor of one tenant does not page the same search of another.
    let page = globex.call("GET", "/search?q=roadmap&limit=1", None).await;
    let cursor = page.body["nextCursor"].as_str().unwrap();
    let misuse = acme.call("GET", &format!("/search?q=roadmap&limit=1&cursor={cursor}"), None).await;
    assert_eq!((misuse.status, misuse.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
    assert_eq!(titles(&globex.call("GET", "/search?q=roadmap", None).await).len(), 2);
}

#[tokio::test]
async fn a_deleted_task_leaves_the_results_and_a_changed_one_is_found_by_its_new_text() {
    let h = Harness::new();
    let gone = id_of(&h, json!({"title": "Obsolete spike", "tags": ["cleanup"]})).await;
    let kept = id_of(&h, json!({"title": "Keep this spike"})).await;
    h.settle().await;
    assert_eq!(titles(&h.call("GET", "/search?q=spike", None).await).len(), 2);

    assert_eq!(h.call("DELETE", &format!("/tasks/{gone}?version=1"), None).await.status, StatusCode::NO_CONTENT);
    h.call("PUT", &format!("/tasks/{kept}"), Some(json!({"version": 1, "title": "Keep this prototype"}))).await;
    h.settle().await;

    assert!(titles(&h.call("GET", "/search?q=spike", None).await).is_empty());
    assert!(titles(&h.call("GET", "/search?tag=cleanup", None).await).is_empty());
    assert_eq!(h.call("GET", "/search/suggest?prefix=obs", None).await.body["data"], json!([]));
    let found = h.call("GET", "/search?q=prototype&facets=true", None).await;
    assert_eq!(titles(&found), ["Keep this prototype"]);
    assert_eq!(found.body["data"][0]["version"], 2);
    assert_eq!(found.body["facets"]["status"], json!({"todo": 1}));
}

#[tokio::test]
async fn a_viewer_may_search() {
    let dir = tempfile::tempdir().unwrap();
    let engine = shared_embedded::Engine::open(dir.path(), support::fast_config()).unwrap();
    let member = Harness::as_role(engine.clone(), tempfile::tempdir().unwrap(), "acme", shared_core::Role::Member);
    let viewer = Harness::as_role(engine, dir, "acme", shared_core::Role::Viewer);
    member.create(json!({"title": "Visible to viewers"})).await;
    member.settle().await;
    assert_eq!(titles(&viewer.call("GET", "/search?q=visible", None).await), ["Visible to viewers"]);
    assert_eq!(viewer.call("GET", "/search/suggest?prefix=vis", None).await.status, StatusCode::OK);
}
