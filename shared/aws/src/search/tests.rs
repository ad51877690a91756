//! The adapter at its HTTP boundary: a local server stands in for OpenSearch, records every
//! request (method, path, query, headers, body) and answers canned OpenSearch responses.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use events_schema::Timestamp;
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use serde_json::{Value, json};
use shared_core::ports::{SearchFilter, SearchIndex, SearchQuery, StoreError};

use super::*;

#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    query: BTreeMap<String, String>,
    headers: HeaderMap,
    body: String,
}

impl Recorded {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// The NDJSON lines of a bulk body.
    fn lines(&self) -> Vec<Value> {
        assert!(self.body.ends_with('\n'), "a bulk body ends with a newline");
        self.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

#[derive(Default)]
struct Fake {
    requests: Mutex<Vec<Recorded>>,
    replies: Mutex<VecDeque<(u16, Value)>>,
    /// Answer the adapter's creation of the index itself (counted, not recorded), so tests
    /// of writes see their own requests only.
    auto_create: bool,
    creates: Mutex<usize>,
}

async fn answer(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let query = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    if fake.auto_create && method == Method::PUT && uri.path() == "/tasks" {
        *fake.creates.lock().unwrap() += 1;
        return (StatusCode::OK, [("content-type", "application/json")], json!({"acknowledged": true}).to_string());
    }
    fake.requests.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    let (status, body) = fake.replies.lock().unwrap().pop_front().unwrap_or((500, json!({"error": "no reply"})));
    (StatusCode::from_u16(status).unwrap(), [("content-type", "application/json")], body.to_string())
}

/// A listening fake and an adapter pointed at it (index `tasks`).
async fn fake_with(replies: Vec<(u16, Value)>, auth: OpenSearchAuth) -> (Arc<Fake>, OpenSearchIndex) {
    listen(Fake { replies: Mutex::new(replies.into()), auto_create: true, ..Fake::default() }, auth).await
}

async fn listen(fake: Fake, auth: OpenSearchAuth) -> (Arc<Fake>, OpenSearchIndex) {
    let fake = Arc::new(fake);
    let app = axum::Router::new().fallback(answer).with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = OpenSearchConfig::new(format!("http://{addr}"), "tasks");
    config.auth = auth;
    (fake, OpenSearchIndex::new(config).unwrap())
}

async fn serve(replies: Vec<(u16, Value)>) -> (Arc<Fake>, OpenSearchIndex) {
    fake_with(replies, OpenSearchAuth::None).await
}

fn requests(fake: &Fake) -> Vec<Recorded> {
    fake.requests.lock().unwrap().clone()
}

fn task(id: &str, version: u64) -> TaskSnapshot {
    let at = Timestamp::from_unix_millis(1_767_225_600_000).unwrap();
    TaskSnapshot {
        id: id.into(),
        title: "Fix login bug".into(),
        description: Some("Users see a 500".into()),
        status: TaskStatus::InProgress,
        priority: Priority::High,
        assignee: Some("li".into()),
        reporter: None,
        category_id: None,
        project_id: None,
        sprint_id: None,
        tags: vec!["auth".into()],
        due_date: None,
        estimate_points: None,
        created_at: at,
        updated_at: at,
        status_changed_at: at,
        escalation: None,
        version,
    }
}

fn item(status: u16) -> Value {
    match status {
        200..=299 => {
            json!({"index": {"_index": "tasks", "_id": "x", "_version": 3, "result": "created", "status": status}})
        }
        409 => json!({"index": {"_index": "tasks", "_id": "x", "status": 409, "error": {
            "type": "version_conflict_engine_exception",
            "reason": "[x]: version conflict, current version [4] is higher or equal to the one provided [3]"
        }}}),
        429 => json!({"index": {"_index": "tasks", "_id": "x", "status": 429, "error": {
            "type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"
        }}}),
        _ => json!({"index": {"_index": "tasks", "_id": "x", "status": status, "error": {
            "type": "mapper_parsing_exception", "reason": "failed to parse field [status]"
        }}}),
    }
}

fn bulk_reply(statuses: &[u16]) -> (u16, Value) {
    let errors = statuses.iter().any(|s| !(200..300).contains(s));
    (200, json!({"took": 3, "errors": errors, "items": statuses.iter().map(|s| item(*s)).collect::<Vec<_>>()}))
}

#[tokio::test]
async fn an_upsert_is_one_bulk_index_line_with_the_external_version_and_the_tenant_as_routing() {
    let (fake, index) = serve(vec![bulk_reply(&[201])]).await;
    assert!(index.upsert("acme", &task("t1", 3), 3).await.unwrap());

    let sent = requests(&fake);
    assert_eq!(sent.len(), 1);
    assert_eq!((&sent[0].method, sent[0].path.as_str()), (&Method::POST, "/tasks/_bulk"));
    let lines = sent[0].lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        json!({"index": {"_id": "acme:t1", "routing": "acme", "version": 3, "version_type": "external"}})
    );
    let doc = &lines[1];
    assert_eq!(doc["tenant"], "acme");
    assert_eq!(doc["id"], "t1");
    assert_eq!(doc["deleted"], false);
    assert_eq!((&doc["title"], &doc["description"]), (&json!("Fix login bug"), &json!("Users see a 500")));
    assert_eq!(
        (&doc["status"], &doc["priority"], &doc["assignee"]),
        (&json!("in_progress"), &json!("high"), &json!("li"))
    );
    assert_eq!(doc["tags"], json!(["auth"]));
    assert_eq!(doc["title_suggest"], json!({"input": ["Fix login bug", "login bug", "bug"]}));
    assert_eq!(serde_json::from_value::<TaskSnapshot>(doc["task"].clone()).unwrap(), task("t1", 3));
}

#[tokio::test]
async fn a_409_for_a_stale_version_is_success_and_a_removal_writes_a_versioned_tombstone() {
    let (fake, index) = serve(vec![bulk_reply(&[409]), bulk_reply(&[201]), bulk_reply(&[409])]).await;
    assert!(!index.upsert("acme", &task("t1", 3), 3).await.unwrap());
    assert!(index.remove("acme", "t1", 5).await.unwrap());
    assert!(!index.remove("acme", "t1", 5).await.unwrap());

    let sent = requests(&fake);
    let tombstone = sent[1].lines();
    assert_eq!(
        tombstone,
        [
            json!({"index": {"_id": "acme:t1", "routing": "acme", "version": 5, "version_type": "external"}}),
            json!({"tenant": "acme", "id": "t1", "deleted": true}),
        ]
    );
    assert_eq!(sent[2].body, sent[1].body, "a redelivered removal sends the same request");
}

#[tokio::test]
async fn a_bulk_answer_is_read_item_by_item_with_partial_failures() {
    let (fake, index) = serve(vec![bulk_reply(&[201, 409, 429, 400]), bulk_reply(&[201])]).await;
    let (t1, t2, t4) = (task("t1", 2), task("t2", 1), task("t4", 7));
    let actions = vec![
        Action::Upsert { tenant: "acme", task: &t1, version: 2 },
        Action::Upsert { tenant: "acme", task: &t2, version: 1 },
        Action::Remove { tenant: "globex", task_id: "t3", version: 4 },
        Action::Upsert { tenant: "acme", task: &t4, version: 7 },
    ];
    let outcomes = index.bulk(&actions).await.unwrap();
    assert_eq!(outcomes[0], ItemOutcome::Applied);
    assert_eq!(outcomes[1], ItemOutcome::Stale);
    assert!(matches!(&outcomes[2], ItemOutcome::Failed { status: 429, reason } if reason.starts_with("es_rejected")));
    assert!(outcomes[2].is_retryable());
    assert!(matches!(&outcomes[3], ItemOutcome::Failed { status: 400, reason } if reason.contains("mapper_parsing")));
    assert!(!outcomes[3].is_retryable());

    let lines = requests(&fake)[0].lines();
    assert_eq!(lines.len(), 8, "one action line and one document line per action");
    let actions_sent: Vec<_> = lines.iter().step_by(2).map(|l| l["index"].clone()).collect();
    assert_eq!(
        actions_sent.iter().map(|a| (a["_id"].clone(), a["routing"].clone(), a["version"].clone())).collect::<Vec<_>>(),
        [
            (json!("acme:t1"), json!("acme"), json!(2)),
            (json!("acme:t2"), json!("acme"), json!(1)),
            (json!("globex:t3"), json!("globex"), json!(4)),
            (json!("acme:t4"), json!("acme"), json!(7)),
        ]
    );
    assert!(actions_sent.iter().all(|a| a["version_type"] == "external"));

    // An answer that does not account for every action is not trusted.
    let (_, short) = serve(vec![bulk_reply(&[201])]).await;
    assert!(matches!(short.bulk(&actions).await, Err(StoreError::Unavailable(_))));
}

#[tokio::test]
async fn a_refused_single_write_is_retryable_only_when_opensearch_says_so() {
    let (_, index) =
        serve(vec![bulk_reply(&[429]), bulk_reply(&[400]), (503, json!({"error": {"type": "x", "reason": "down"}}))])
            .await;
    assert!(matches!(index.upsert("acme", &task("t1", 1), 1).await, Err(StoreError::Throttled(_))));
    assert!(
        matches!(index.upsert("acme", &task("t1", 1), 1).await, Err(StoreError::Corrupt(m)) if m.contains("mapper_parsing"))
    );
    assert!(
        matches!(index.upsert("acme", &task("t1", 1), 1).await, Err(StoreError::Unavailable(m)) if m.contains("503"))
    );
}

fn hit(id: &str, score: f64) -> Value {
    json!({"_index": "tasks", "_id": format!("acme:{id}"), "_score": score,
           "_source": {"task": task(id, 1)}, "sort": [score, id]})
}

fn search_reply(hits: Vec<Value>, aggregations: bool) -> (u16, Value) {
    let mut body = json!({"took": 2, "timed_out": false, "hits": {"hits": hits}});
    if aggregations {
        body["aggregations"] = json!({
            "status": {"buckets": [{"key": "in_progress", "doc_count": 4}, {"key": "todo", "doc_count": 1}]},
            "priority": {"buckets": [{"key": "high", "doc_count": 5}]},
            "assignee": {"buckets": [{"key": "li", "doc_count": 3}]},
        });
    }
    (200, body)
}

#[tokio::test]
async fn a_search_sends_the_query_dsl_with_the_tenant_filter_first_and_reads_hits_facets_and_cursor() {
    let (fake, index) = serve(vec![
        search_reply(vec![hit("c", 2.5), hit("b", 1.5), hit("a", 1.0)], true),
        search_reply(vec![hit("a", 1.0)], true),
    ])
    .await;
    let query = SearchQuery {
        text: Some("Login, bug!".into()),
        filter: SearchFilter {
            status: Some(TaskStatus::InProgress),
            assignee: Some("li".into()),
            tag: Some("auth".into()),
            ..SearchFilter::default()
        },
        facets: true,
        limit: 2,
        cursor: None,
    };
    let page = index.search("acme", &query).await.unwrap();
    assert_eq!(page.items.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["c", "b"]);
    assert_eq!(page.facets["status"], BTreeMap::from([("in_progress".to_owned(), 4), ("todo".to_owned(), 1)]));
    assert_eq!(page.facets["assignee"], BTreeMap::from([("li".to_owned(), 3)]));

    let sent = requests(&fake);
    assert_eq!((&sent[0].method, sent[0].path.as_str()), (&Method::POST, "/tasks/_search"));
    assert_eq!(sent[0].query.get("routing").map(String::as_str), Some("acme"));
    assert_eq!(sent[0].query.get("ignore_unavailable").map(String::as_str), Some("true"));
    assert_eq!(
        sent[0].json(),
        json!({
            "size": 3,
            "track_total_hits": false,
            "_source": ["task"],
            "query": {"bool": {
                "filter": [
                    {"term": {"tenant": "acme"}},
                    {"term": {"deleted": false}},
                    {"term": {"status": "in_progress"}},
                    {"term": {"assignee": "li"}},
                    {"term": {"tags": "auth"}}
                ],
                "must": [{"multi_match": {
                    "query": "login bug",
                    "type": "cross_fields",
                    "operator": "and",
                    "fields": ["title^3", "tags.text^2", "description"]
                }}]
            }},
            "sort": [{"_score": "desc"}, {"id": "desc"}],
            "aggs": {
                "status": {"terms": {"field": "status", "size": 6}},
                "priority": {"terms": {"field": "priority", "size": 4}},
                "assignee": {"terms": {"field": "assignee", "size": 100}}
            }
        })
    );

    // The next page resumes after the last hit served, not after the extra one.
    let cursor = page.next_cursor.clone().unwrap();
    let next = index.search("acme", &SearchQuery { cursor: Some(cursor.clone()), ..query.clone() }).await.unwrap();
    assert_eq!(next.items.len(), 1);
    assert_eq!(next.next_cursor, None);
    assert_eq!(requests(&fake)[1].json()["search_after"], json!([1.5, "b"]));

    // Another tenant's use of the cursor, or an edited one, never reaches OpenSearch.
    assert_eq!(
        index.search("globex", &SearchQuery { cursor: Some(cursor.clone()), ..query.clone() }).await.unwrap_err(),
        StoreError::BadCursor
    );
    let forged = shared_core::ports::search_cursor::seal(&query.cursor_scope("acme"), "{\"not\":\"sort values\"}");
    assert_eq!(
        index.search("acme", &SearchQuery { cursor: Some(forged), ..query }).await.unwrap_err(),
        StoreError::BadCursor
    );
    assert_eq!(requests(&fake).len(), 2);
}

#[tokio::test]
async fn without_text_only_filters_apply_and_text_without_words_sends_nothing() {
    let (fake, index) = serve(vec![search_reply(vec![], false)]).await;
    let page = index.search("acme", &SearchQuery::default()).await.unwrap();
    assert!(page.items.is_empty() && page.facets.is_empty() && page.next_cursor.is_none());
    let body = requests(&fake)[0].json();
    assert_eq!(
        body["query"],
        json!({"bool": {"filter": [{"term": {"tenant": "acme"}}, {"term": {"deleted": false}}]}})
    );
    assert_eq!(body["size"], 21);
    assert!(body.get("aggs").is_none());

    let nothing = SearchQuery { text: Some("?!*".into()), facets: true, ..SearchQuery::default() };
    let page = index.search("acme", &nothing).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.facets.keys().collect::<Vec<_>>(), ["assignee", "priority", "status"]);
    assert_eq!(requests(&fake).len(), 1);
}

#[tokio::test]
async fn failed_searches_map_to_retryable_or_not() {
    let (_, index) = serve(vec![
        (503, json!({"error": {"type": "cluster_block_exception", "reason": "blocked"}})),
        (400, json!({"error": {"type": "parsing_exception", "reason": "bad query"}})),
        (200, json!({"hits": {"hits": [{"_id": "x", "_source": {"task": {"id": 1}}, "sort": [1]}]}})),
    ])
    .await;
    let q = SearchQuery::default();
    assert!(matches!(index.search("acme", &q).await, Err(StoreError::Unavailable(m)) if m.contains("blocked")));
    assert!(matches!(index.search("acme", &q).await, Err(StoreError::Corrupt(m)) if m.contains("parsing_exception")));
    assert!(matches!(index.search("acme", &q).await, Err(StoreError::Corrupt(m)) if m.contains("does not parse")));
}

#[tokio::test]
async fn suggestions_ask_the_completion_suggester_in_the_tenants_context() {
    let options = json!([
        {"text": "login bug", "_id": "acme:1", "_source": {"title": "Fix login bug"}},
        {"text": "Login page", "_id": "acme:2", "_source": {"title": "Login page"}},
        {"text": "login page", "_id": "acme:3", "_source": {"title": "Login page"}},
    ]);
    let reply = json!({"hits": {"hits": []}, "suggest": {"titles": [{"text": "log", "offset": 0, "length": 3, "options": options}]}});
    let (fake, index) = serve(vec![(200, reply)]).await;
    assert_eq!(index.suggest("acme", " log ", 5).await.unwrap(), ["Fix login bug", "Login page"]);

    let sent = &requests(&fake)[0];
    assert_eq!(sent.path, "/tasks/_search");
    assert_eq!(sent.query.get("routing").map(String::as_str), Some("acme"));
    assert_eq!(
        sent.json(),
        json!({
            "size": 0,
            "_source": ["title"],
            "suggest": {"titles": {"prefix": "log", "completion": {
                "field": "title_suggest", "size": 5, "skip_duplicates": true, "contexts": {"tenant": ["acme"]}
            }}}
        })
    );
}

#[tokio::test]
async fn the_template_maps_text_keywords_and_a_tenant_scoped_completion_field() {
    let (fake, index) = serve(vec![(200, json!({"acknowledged": true}))]).await;
    index.put_template().await.unwrap();
    let sent = &requests(&fake)[0];
    assert_eq!((&sent.method, sent.path.as_str()), (&Method::PUT, "/_index_template/taskstream-tasks"));
    let body = sent.json();
    assert_eq!(body["index_patterns"], json!(["tasks*"]));
    let mappings = &body["template"]["mappings"];
    assert_eq!(mappings["dynamic"], "strict");
    assert_eq!(mappings["_routing"], json!({"required": true}));
    let p = &mappings["properties"];
    for text in ["title", "description"] {
        assert_eq!(p[text], json!({"type": "text", "analyzer": "task_text"}), "{text}");
    }
    for keyword in ["tenant", "id", "status", "priority", "assignee", "project_id", "sprint_id"] {
        assert_eq!(p[keyword], json!({"type": "keyword"}), "{keyword}");
    }
    assert_eq!(p["tags"]["type"], "keyword");
    assert_eq!(p["tags"]["fields"]["text"]["analyzer"], "task_text");
    assert_eq!(p["title_suggest"]["type"], "completion");
    assert_eq!(p["title_suggest"]["contexts"], json!([{"name": "tenant", "type": "category", "path": "tenant"}]));
    assert_eq!(p["task"], json!({"type": "object", "enabled": false}));
    let analyzers = &body["template"]["settings"]["analysis"]["analyzer"];
    assert_eq!(analyzers["task_text"]["filter"], json!(["lowercase", "asciifolding", "porter_stem"]));
}

#[tokio::test]
async fn basic_credentials_travel_in_the_authorization_header() {
    let auth = OpenSearchAuth::Basic { user: "indexer".into(), password: "s3cret".into() };
    let (fake, index) = fake_with(vec![search_reply(vec![], false)], auth).await;
    index.search("acme", &SearchQuery::default()).await.unwrap();
    let sent = &requests(&fake)[0];
    // base64("indexer:s3cret")
    assert_eq!(sent.headers.get("authorization").unwrap(), "Basic aW5kZXhlcjpzM2NyZXQ=");
    let shown = format!("{:?}", OpenSearchAuth::Basic { user: "indexer".into(), password: "s3cret".into() });
    assert!(!shown.contains("s3cret") && shown.contains("indexer"), "{shown}");
    assert!(sent.headers.get("content-type").unwrap().to_str().unwrap().starts_with("application/json"));
}

#[tokio::test]
async fn sigv4_signs_each_request_for_the_es_service_in_the_sdk_region() {
    use aws_config::{BehaviorVersion, Region, SdkConfig};
    use aws_sdk_dynamodb::config::{Credentials as AwsCredentials, SharedCredentialsProvider};

    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(AwsCredentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        )))
        .build();
    let auth = OpenSearchAuth::SigV4 { config: Box::new(sdk), service: "es".into() };
    let (fake, index) = fake_with(vec![bulk_reply(&[201])], auth).await;
    index.upsert("acme", &task("t1", 1), 1).await.unwrap();
    let sent = &requests(&fake)[0];
    let authorization = sent.headers.get("authorization").unwrap().to_str().unwrap();
    assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "{authorization}");
    assert!(authorization.contains("/eu-west-1/es/aws4_request"), "{authorization}");
    assert!(sent.headers.contains_key("x-amz-date"));
}

#[tokio::test]
async fn the_index_is_created_with_the_template_definition_unless_it_exists() {
    let exists =
        json!({"error": {"type": "resource_already_exists_exception", "reason": "index [tasks] already exists"}});
    let bad = json!({"error": {"type": "mapper_parsing_exception", "reason": "unknown parameter"}});
    let replies = vec![(200, json!({"acknowledged": true})), (400, exists), (400, bad), (503, json!({}))];
    let (fake, index) =
        listen(Fake { replies: Mutex::new(replies.into()), ..Fake::default() }, OpenSearchAuth::None).await;
    assert_eq!(index.create_index().await, Ok(true));
    assert_eq!(index.create_index().await, Ok(false), "already there: left as it is");
    assert!(matches!(index.create_index().await, Err(StoreError::Corrupt(_))));
    assert!(matches!(index.create_index().await, Err(StoreError::Unavailable(_))));
    let sent = &requests(&fake)[0];
    assert_eq!((&sent.method, sent.path.as_str()), (&Method::PUT, "/tasks"));
    assert_eq!(sent.json(), requests::index_template("tasks*")["template"]);
}

#[tokio::test]
async fn nothing_is_asked_before_the_first_write_which_creates_the_index_once() {
    let replies = vec![(503, json!({})), (200, json!({"acknowledged": true})), bulk_reply(&[201]), bulk_reply(&[201])];
    let (fake, index) =
        listen(Fake { replies: Mutex::new(replies.into()), ..Fake::default() }, OpenSearchAuth::None).await;
    assert!(requests(&fake).is_empty(), "building the adapter asks nothing of OpenSearch");
    // OpenSearch is unreachable for the first write: the write fails (its message is retried).
    assert!(matches!(index.upsert("acme", &task("t1", 1), 1).await, Err(StoreError::Unavailable(_))));
    assert!(index.upsert("acme", &task("t1", 1), 1).await.unwrap());
    assert!(index.upsert("acme", &task("t2", 1), 1).await.unwrap());
    let sent: Vec<(Method, String)> = requests(&fake).into_iter().map(|r| (r.method, r.path)).collect();
    assert_eq!(
        sent,
        [
            (Method::PUT, "/tasks".to_owned()),
            (Method::PUT, "/tasks".to_owned()),
            (Method::POST, "/tasks/_bulk".to_owned()),
            (Method::POST, "/tasks/_bulk".to_owned()),
        ],
        "created once it succeeds, then written to"
    );
}

#[tokio::test]
async fn throttling_is_told_apart_from_unavailability() {
    let (fake, index) = serve(vec![bulk_reply(&[429]), (429, json!({"error": "too many"})), bulk_reply(&[503])]).await;
    assert!(matches!(index.upsert("acme", &task("t1", 1), 1).await, Err(StoreError::Throttled(_))));
    assert!(matches!(index.upsert("acme", &task("t1", 1), 1).await, Err(StoreError::Throttled(_))));
    assert!(matches!(index.upsert("acme", &task("t1", 1), 1).await, Err(StoreError::Unavailable(_))));
    assert_eq!(*fake.creates.lock().unwrap(), 1);
}

#[test]
fn a_serverless_collection_is_signed_for_aoss_and_a_domain_for_es() {
    let sdk = aws_config::SdkConfig::builder().region(aws_config::Region::new("eu-west-1")).build();
    let service = |url: &str| match OpenSearchConfig::signed(url, &sdk) {
        OpenSearchConfig { auth: OpenSearchAuth::SigV4 { service, .. }, index, .. } => (service, index),
        other => panic!("not signed: {other:?}"),
    };
    let collection = "https://0abc1def2ghi.eu-west-1.aoss.amazonaws.com";
    assert_eq!(service(collection), ("aoss".to_owned(), TASK_INDEX.to_owned()));
    let domain = "https://search-taskstream-abc.eu-west-1.es.amazonaws.com";
    assert_eq!(service(domain), ("es".to_owned(), TASK_INDEX.to_owned()));
}
