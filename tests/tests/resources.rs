//! Categories, projects, sprints, comments, links, lists, bulk actions, idempotency keys and
//! the CSV export, through the router over the embedded engine.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use shared_core::Role;
use support::Harness;

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn created(h: &Harness, path: &str, body: Value) -> Value {
    let reply = h.call("POST", path, Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{path}: {}", reply.body);
    reply.body["data"].clone()
}

#[tokio::test]
async fn categories_are_managed_and_validated() {
    let h = Harness::new();
    let docs = created(&h, "/categories", json!({"name": "Docs", "color": "#3366FF", "icon": "book"})).await;
    assert_eq!((docs["color"].as_str(), docs["version"].as_u64()), (Some("#3366ff"), Some(1)));
    created(&h, "/categories", json!({"name": "Bugs"})).await;
    let names: Vec<String> = h.call("GET", "/categories", None).await.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Bugs", "Docs"]);

    let path = format!("/categories/{}", id(&docs));
    let renamed = h
        .call("PUT", &path, Some(json!({"version": 1, "name": "Documentation", "color": "#3366ff", "icon": "book"})))
        .await;
    assert_eq!(
        (renamed.body["data"]["name"].as_str(), renamed.body["data"]["version"].as_u64()),
        (Some("Documentation"), Some(2))
    );
    let stale = h.call("PUT", &path, Some(json!({"version": 1, "name": "X"}))).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let bad = h.call("POST", "/categories", Some(json!({"name": "", "color": "blue", "icon": "Big Icon"}))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["details"]["fields"].as_array().unwrap().len(), 3);
    assert_eq!(h.call("DELETE", &format!("{path}?version=2"), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(h.call("GET", &path, None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sprints_start_and_close_explicitly_one_active_per_project() {
    let h = Harness::new();
    let project = created(&h, "/projects", json!({"name": "Release 2.4", "description": "search"})).await;
    let sprints = format!("/projects/{}/sprints", id(&project));
    let s1 = created(&h, &sprints, json!({"name": "Sprint 1"})).await;
    let s2 = created(&h, &sprints, json!({"name": "Sprint 2"})).await;
    assert_eq!(s1["status"], "planned");

    let start1 = h.call("POST", &format!("/sprints/{}/start?version=1", id(&s1)), None).await;
    assert_eq!((start1.status, start1.body["data"]["status"].as_str()), (StatusCode::OK, Some("active")));
    let start2 = h.call("POST", &format!("/sprints/{}/start?version=1", id(&s2)), None).await;
    assert_eq!((start2.status, start2.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_transition"));
    let close2 = h.call("POST", &format!("/sprints/{}/close?version=1", id(&s2)), None).await;
    assert_eq!(close2.status, StatusCode::UNPROCESSABLE_ENTITY, "a planned sprint cannot close");
    let close1 = h.call("POST", &format!("/sprints/{}/close?version=2", id(&s1)), None).await;
    assert_eq!(close1.body["data"]["status"], "closed");
    assert!(close1.body["data"]["closedAt"].is_string());
    assert_eq!(h.call("POST", &format!("/sprints/{}/start?version=1", id(&s2)), None).await.status, StatusCode::OK);

    let listed = h.call("GET", &sprints, None).await.body["data"].clone();
    assert_eq!(
        listed.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["Sprint 1", "Sprint 2"]
    );

    h.settle().await;
    let conn = rusqlite::Connection::open(h.engine.db().path()).unwrap();
    let types: Vec<String> = conn
        .prepare("SELECT detail_type FROM archive ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        types,
        ["ProjectCreated", "SprintCreated", "SprintCreated", "SprintStarted", "SprintClosed", "SprintStarted"]
    );
}

#[tokio::test]
async fn comments_pick_out_mentions_and_page_in_order() {
    let h = Harness::new();
    let task = h.create(json!({"title": "t"})).await;
    let path = format!("/tasks/{}/comments", id(&task));
    let first = created(&h, &path, json!({"body": "@maria draft is in, @sam please review"})).await;
    assert_eq!(first["mentions"], json!(["maria", "sam"]));
    assert_eq!(first["author"], "tester");
    for i in 0..4 {
        created(&h, &path, json!({"body": format!("note {i}")})).await;
    }
    let page1 = h.call("GET", &format!("{path}?limit=3"), None).await;
    let cursor = page1.body["nextCursor"].as_str().unwrap();
    let page2 = h.call("GET", &format!("{path}?limit=3&cursor={cursor}"), None).await;
    let bodies: Vec<&str> = page1.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2.body["data"].as_array().unwrap())
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 5);
    assert_eq!(bodies[4], "note 3");
    assert!(page2.body["nextCursor"].is_null());

    let blank = h.call("POST", &path, Some(json!({"body": "  "}))).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    let missing =
        h.call("POST", "/tasks/0195a3c4-0000-7000-8000-000000000000/comments", Some(json!({"body": "x"}))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn links_must_exist_in_the_tenant() {
    let h = Harness::new();
    let category = created(&h, "/categories", json!({"name": "Docs"})).await;
    let ok = h.call("POST", "/tasks", Some(json!({"title": "t", "categoryId": id(&category)}))).await;
    assert_eq!(ok.status, StatusCode::CREATED);
    let bad = h
        .call(
            "POST",
            "/tasks",
            Some(json!({"title": "t", "categoryId": "0195a3c4-0000-7000-8000-000000000000", "projectId": "nope"})),
        )
        .await;
    // A malformed id breaks the documented schema (400), and the missing one is named too.
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let mut fields: Vec<&str> = bad.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["categoryId", "projectId"]);
    // A well-formed link to nothing fits the schema; the tenant's data refuses it: 422.
    let missing =
        h.call("POST", "/tasks", Some(json!({"title": "t", "categoryId": "0195a3c4-0000-7000-8000-000000000000"})));
    let missing = missing.await;
    assert_eq!((missing.status, missing.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
    assert_eq!(missing.body["error"]["details"]["fields"][0]["field"], "categoryId");

    let other = Harness::as_role(h.engine.clone(), tempfile::tempdir().unwrap(), "globex", Role::Admin);
    let foreign = other.call("POST", "/tasks", Some(json!({"title": "t", "categoryId": id(&category)}))).await;
    assert_eq!(foreign.status, StatusCode::UNPROCESSABLE_ENTITY, "another tenant's category does not exist for me");
}

async fn titles(h: &Harness, query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut path = format!("/tasks?limit=2&{query}");
    loop {
        let page = h.call("GET", &path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
        out.extend(page.body["data"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_owned()));
        match page.body["nextCursor"].as_str() {
            Some(c) => path = format!("/tasks?limit=2&{query}&cursor={c}"),
            None => return out,
        }
    }
}

#[tokio::test]
async fn lists_filter_and_sort_every_way_across_pages() {
    let h = Harness::new();
    let project = created(&h, "/projects", json!({"name": "P"})).await;
    let p = id(&project);
    for (title, priority, due, assignee, tags) in [
        ("a", "low", Some("2026-05-01"), Some("li"), vec!["x"]),
        ("b", "critical", None, None, vec!["x", "y"]),
        ("c", "high", Some("2026-04-01"), Some("li"), vec![]),
        ("d", "critical", Some("2026-04-01"), Some("sam"), vec!["y"]),
        ("e", "medium", Some("2026-06-01"), None, vec![]),
    ] {
        let mut body = json!({"title": title, "priority": priority, "tags": tags, "projectId": p});
        if let Some(d) = due {
            body["dueDate"] = json!(d);
        }
        if let Some(a) = assignee {
            body["assignee"] = json!(a);
        }
        h.create(body).await;
    }
    assert_eq!(titles(&h, "sort=created").await, ["e", "d", "c", "b", "a"]);
    assert_eq!(titles(&h, "sort=dueDate").await, ["c", "d", "a", "e", "b"]);
    assert_eq!(titles(&h, "sort=priority").await, ["d", "b", "c", "e", "a"]);
    assert_eq!(titles(&h, "assignee=li").await, ["c", "a"]);
    assert_eq!(titles(&h, "tag=y&sort=priority").await, ["d", "b"]);
    assert_eq!(titles(&h, "priority=critical").await, ["d", "b"]);
    assert_eq!(titles(&h, "dueFrom=2026-04-01&dueTo=2026-05-01&sort=dueDate").await, ["c", "d", "a"]);
    assert_eq!(titles(&h, &format!("projectId={p}")).await.len(), 5);

    let bad_sort = h.call("GET", "/tasks?sort=title", None).await;
    assert_eq!((bad_sort.status, bad_sort.code()), (StatusCode::BAD_REQUEST, "validation_failed"));
    let page = h.call("GET", "/tasks?limit=2&sort=dueDate", None).await;
    let cursor = page.body["nextCursor"].as_str().unwrap();
    let reused = h.call("GET", &format!("/tasks?limit=2&sort=priority&cursor={cursor}"), None).await;
    assert_eq!(
        (reused.status, reused.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "a cursor is bound to its sort"
    );
}

#[tokio::test]
async fn bulk_actions_are_all_or_nothing_with_a_result_per_id() {
    let h = Harness::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(id(&h.create(json!({"title": format!("t{i}")})).await));
    }
    let moved =
        h.call("POST", "/tasks/bulk", Some(json!({"action": "set_status", "ids": ids, "status": "in_progress"}))).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert!(moved.body["data"]["results"].as_array().unwrap().iter().all(|r| r["ok"] == true && r["version"] == 2));

    // One task cannot go to todo -> done... make one illegal: move it to done first.
    h.call("PUT", &format!("/tasks/{}", ids[0]), Some(json!({"version": 2, "status": "done"}))).await;
    let before = h.change_log_len().await;
    let refused = h.call("POST", "/tasks/bulk", Some(json!({"action": "set_status", "ids": [ids[0], ids[1], "0195a3c4-0000-7000-8000-000000000000"], "status": "in_review"}))).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::UNPROCESSABLE_ENTITY, "bulk_rejected"));
    let results = refused.body["error"]["details"]["results"].as_array().unwrap().clone();
    let codes: Vec<Value> = results.iter().map(|r| r["code"].clone()).collect();
    assert_eq!(codes, [json!("invalid_transition"), json!("not_changed"), json!("not_found")]);
    assert_eq!(h.change_log_len().await, before, "nothing written");
    assert_eq!(h.call("GET", &format!("/tasks/{}", ids[1]), None).await.body["data"]["version"], 2);

    let category = created(&h, "/categories", json!({"name": "Docs"})).await;
    let filed = h
        .call(
            "POST",
            "/tasks/bulk",
            Some(json!({"action": "move_to_category", "ids": ids, "categoryId": id(&category)})),
        )
        .await;
    assert_eq!(filed.status, StatusCode::OK, "{}", filed.body);
    assert_eq!(titles(&h, &format!("categoryId={}", id(&category))).await.len(), 3);
    let deleted = h.call("POST", "/tasks/bulk", Some(json!({"action": "delete", "ids": ids}))).await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(titles(&h, "").await.is_empty());

    let too_many: Vec<String> = (0..101).map(|_| uuid_like()).collect();
    let refused = h.call("POST", "/tasks/bulk", Some(json!({"action": "delete", "ids": too_many}))).await;
    assert_eq!((refused.status, refused.code()), (StatusCode::BAD_REQUEST, "validation_failed"));
    let hundred: Vec<String> = (0..100).map(|_| uuid_like()).collect();
    let keyed = h
        .call_with("POST", "/tasks/bulk", json!({"action": "delete", "ids": hundred}), &[("idempotency-key", "k1")])
        .await;
    assert_eq!(keyed.status, StatusCode::BAD_REQUEST, "100 ids and a key's record exceed one transaction");
    assert!(keyed.body["error"]["message"].as_str().unwrap().contains("1 to 99"));
    let unknown = h.call("POST", "/tasks/bulk", Some(json!({"action": "explode", "ids": []}))).await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::BAD_REQUEST, "invalid_body"));
}

fn uuid_like() -> String {
    format!("0195a3c4-0000-7000-8000-{:012x}", rand_u48())
}

fn rand_u48() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test]
async fn an_idempotency_key_writes_once_and_refuses_another_body() {
    let h = Harness::new();
    let key = [("idempotency-key", "create-7f3a")];
    let first = h.call_with("POST", "/tasks", json!({"title": "once", "priority": "high"}), &key).await;
    assert_eq!(first.status, StatusCode::CREATED);
    // The same request, serialised differently: same response, no second task.
    let again = h.call_with("POST", "/tasks", json!({"priority": "high", "title": "once"}), &key).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body));
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(h.change_log_len().await, 1);

    let other = h.call_with("POST", "/tasks", json!({"title": "different"}), &key).await;
    assert_eq!((other.status, other.code()), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
    assert_eq!(h.change_log_len().await, 1);

    // Keys are per tenant.
    let globex = Harness::as_role(h.engine.clone(), tempfile::tempdir().unwrap(), "globex", Role::Member);
    let theirs = globex.call_with("POST", "/tasks", json!({"title": "different"}), &key).await;
    assert_eq!(theirs.status, StatusCode::CREATED);

    let bad = h.call_with("POST", "/tasks", json!({"title": "x"}), &[("idempotency-key", "")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_csv_export_quotes_neutralises_and_follows_the_filters() {
    let h = Harness::new();
    h.create(json!({"title": "=HYPERLINK(\"http://evil\",\"x\")", "description": "line one\nline \"two\", three"}))
        .await;
    h.create(json!({"title": "+1 plain", "tags": ["a", "b"], "priority": "critical"})).await;
    h.create(json!({"title": "@mention", "priority": "low"})).await;
    let (status, headers, csv) = h.text("/tasks/export.csv?sort=priority").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert!(lines[0].starts_with("id,title,description,status,priority,assignee,reporter,categoryId,projectId,sprintId,tags,dueDate,estimatePoints,createdAt,updatedAt,statusChangedAt,version"));
    assert!(lines[1].contains(",'+1 plain,,todo,critical,") && lines[1].contains(",a;b,"), "{}", lines[1]);
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",\"line one\nline \"\"two\"\", three\""),
        "{csv}"
    );
    assert!(csv.contains(",'@mention,"));
    assert!(csv.ends_with("\r\n"));

    let (_, _, only_low) = h.text("/tasks/export.csv?priority=low").await;
    assert_eq!(only_low.split("\r\n").filter(|l| !l.is_empty()).count(), 2, "header and one row");
    let (status, _, _) = h.text("/tasks/export.csv?cursor=nonsense").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a cursor this list did not issue");

    let globex = Harness::as_role(h.engine.clone(), tempfile::tempdir().unwrap(), "globex", Role::Viewer);
    let (_, _, theirs) = globex.text("/tasks/export.csv").await;
    assert_eq!(theirs.split("\r\n").filter(|l| !l.is_empty()).count(), 1, "another tenant exports only the header");
}

#[tokio::test]
async fn the_export_streams_every_page() {
    let h = Harness::new();
    for i in 0..230 {
        h.create(json!({"title": format!("task {i}")})).await;
    }
    let (_, _, csv) = h.text("/tasks/export.csv").await;
    assert_eq!(csv.split("\r\n").filter(|l| !l.is_empty()).count(), 231);
}

#[tokio::test]
async fn roles_gate_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let engine = shared_embedded::Engine::open(dir.path(), support::fast_config()).unwrap();
    let admin = Harness::as_role(engine.clone(), tempfile::tempdir().unwrap(), "acme", Role::Admin);
    let member = Harness::as_role(engine.clone(), tempfile::tempdir().unwrap(), "acme", Role::Member);
    let viewer = Harness::as_role(engine, dir, "acme", Role::Viewer);
    let task = id(&admin.create(json!({"title": "t"})).await);
    let project = id(&created(&admin, "/projects", json!({"name": "P"})).await);

    let cases: Vec<(&str, String, Option<Value>, Role)> = vec![
        ("POST", "/tasks".into(), Some(json!({"title": "x"})), Role::Member),
        ("PUT", format!("/tasks/{task}"), Some(json!({"version": 1, "title": "y"})), Role::Member),
        ("POST", format!("/tasks/{task}/comments"), Some(json!({"body": "hi"})), Role::Member),
        (
            "POST",
            "/tasks/bulk".into(),
            Some(json!({"action": "set_status", "ids": [task], "status": "in_progress"})),
            Role::Member,
        ),
        ("POST", "/categories".into(), Some(json!({"name": "c"})), Role::Admin),
        ("POST", "/projects".into(), Some(json!({"name": "p"})), Role::Admin),
        ("POST", format!("/projects/{project}/sprints"), Some(json!({"name": "s"})), Role::Admin),
    ];
    for (method, path, body, needed) in cases {
        for (who, role) in [(&viewer, Role::Viewer), (&member, Role::Member)] {
            let reply = who.call(method, &path, body.clone()).await;
            if role.allows(needed) {
                assert!(reply.status.is_success(), "{role:?} {method} {path}: {}", reply.body);
            } else {
                assert_eq!(
                    (reply.status, reply.code()),
                    (StatusCode::FORBIDDEN, "forbidden"),
                    "{role:?} {method} {path}"
                );
            }
        }
    }
    for path in ["/tasks", "/categories", "/projects"] {
        assert_eq!(viewer.call("GET", path, None).await.status, StatusCode::OK, "viewer reads {path}");
    }
    assert_eq!(viewer.text("/tasks/export.csv").await.0, StatusCode::OK, "viewer exports");
}
