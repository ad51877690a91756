//! The HTTP API over the AWS adapters, against the emulator: the same axum router the
//! task-api Lambda runs, over the DynamoDB store, the S3 export store, the escalation
//! policies, people and in-app notifications in the table.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod aws;
mod hooked;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use events_schema::Timestamp;
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use hooked::Hooked;
use http_body_util::BodyExt;
use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
use serde_json::{Value, json};
use shared_api::{AppState, CORRELATION_HEADER, router};
use shared_aws::auth::{CognitoAuthenticator, TenantKeys};
use shared_aws::dynamo::stream::change_record;
use shared_aws::dynamo::{DynamoStore, TableLayout};
use shared_aws::escalation::DynamoPolicies;
use shared_aws::export::{ExportConfig, S3Exports};
use shared_aws::notifications::DynamoNotifications;
use shared_aws::search::{OpenSearchConfig, OpenSearchIndex};
use shared_aws::webhooks::DynamoWebhooks;
use shared_aws::webhooks::secrets::WebhookSecrets;
use shared_core::consumers::notifier::Notifier;
use shared_core::context::RequestContext;
use shared_core::pipeline::{Consumer, Delivery};
use shared_core::ports::{
    Aggregate, Change, EscalationPolicies, ExportStore, NotificationStore, SingleTenant, Store, WebhookStore,
};
use shared_core::{Identity, Role};
use shared_embedded::Engine;
use tower::ServiceExt;

/// A fresh table in the shared emulator, its store spreading task lists over 4 shards.
async fn table() -> (Arc<aws::Moto>, String, Arc<DynamoStore>) {
    let moto = aws::Moto::shared();
    let client = moto.dynamodb();
    let name = aws::unique_name("api");
    aws::create_table(&client, &name).await;
    let store = DynamoStore::from_client(client, name.clone())
        .with_layout(TableLayout { task_shards: 4, ..TableLayout::default() });
    (moto, name, Arc::new(store))
}

/// The router as the task-api Lambda builds it, for one caller. Search is never reached
/// by these tests; its index stands where the function's would, unreachable.
fn app(store: Arc<dyn Store>, history: Arc<DynamoStore>, tenant: &str, role: Role) -> axum::Router {
    app_exporting(store, history, None, tenant, role)
}

fn app_exporting(
    store: Arc<dyn Store>,
    history: Arc<DynamoStore>,
    exports: Option<Arc<dyn ExportStore>>,
    tenant: &str,
    role: Role,
) -> axum::Router {
    let search = OpenSearchIndex::new(OpenSearchConfig::new("http://127.0.0.1:9", "tasks")).unwrap();
    let caller = Identity { tenant: tenant.into(), actor: "tester".into(), role };
    router(AppState {
        store,
        history,
        search: Arc::new(search),
        metrics: None,
        auth: Arc::new(SingleTenant(caller)),
        exports,
    })
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn json_request(method: &str, path: &str, body: &Value, correlation: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .header(CORRELATION_HEADER, correlation)
        .body(Body::from(body.to_string()))
        .unwrap()
}

/// Two clients change the same task at the same version, sending the same correlation id
/// (a retrying proxy, two services copying one upstream id). Both read version 1 and both
/// conditional writes reach DynamoDB together: exactly one is 200, the other 409, and the
/// table's stream holds one change for version 2, the winner's.
#[tokio::test]
async fn two_concurrent_puts_with_one_correlation_id_are_one_200_and_one_409() {
    let (moto, table, store) = table().await;
    let plain = app(store.clone(), store.clone(), "acme", Role::Member);
    let (status, created) =
        send(&plain, json_request("POST", "/tasks", &json!({"title": "Shared"}), "corr-create")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();

    let racing = app(Arc::new(Hooked::new(store.clone()).commits_together(2)), store.clone(), "acme", Role::Member);
    let path = format!("/tasks/{id}");
    let put = |title: &str| {
        let request = json_request("PUT", &path, &json!({"title": title, "version": 1}), "corr-shared");
        send(&racing, request)
    };
    let both = tokio::time::timeout(Duration::from_secs(60), async { tokio::join!(put("First"), put("Second")) });
    let ((first_status, first), (second_status, second)) =
        both.await.expect("both writes reached the store (a request refused before its commit would hang here)");

    let (winner, loser) = match (first_status, second_status) {
        (StatusCode::OK, StatusCode::CONFLICT) => (first, second),
        (StatusCode::CONFLICT, StatusCode::OK) => (second, first),
        other => panic!("expected one 200 and one 409, got {other:?}: {first} / {second}"),
    };
    assert_eq!(winner["data"]["version"], 2, "{winner}");
    assert_eq!(loser["error"]["code"], "version_conflict", "{loser}");
    assert_eq!(loser["error"]["details"]["currentVersion"], 2, "{loser}");
    assert_eq!(loser["error"]["correlationId"], "corr-shared", "{loser}");

    let (status, stored) = send(&plain, Request::get(&path).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(stored["data"], winner["data"], "the stored task is the winner's");

    // One change record per committed write: the create and the winner's update, no more.
    let records = aws::read_stream(&moto, &table).await;
    let ours: Vec<_> = records
        .iter()
        .filter(|r| {
            r.dynamodb()
                .and_then(|d| d.new_image())
                .and_then(|image| image.get("id"))
                .and_then(|v| v.as_s().ok())
                .is_some_and(|v| v == &id)
        })
        .map(|r| r.event_name().map(|n| n.as_str().to_owned()).unwrap_or_default())
        .collect();
    assert_eq!(ours, ["INSERT", "MODIFY"], "{records:?}");
}

/// A bucket of its own in the shared emulator, as the CDK makes the export bucket.
async fn bucket(moto: &aws::Moto) -> String {
    let name = aws::unique_name("exports");
    moto.s3().create_bucket().bucket(&name).send().await.unwrap();
    name
}

fn exports(moto: &aws::Moto, bucket: &str, part_size: usize) -> S3Exports {
    let config = ExportConfig { bucket: bucket.to_owned(), part_size, link_lifetime: Duration::from_secs(120) };
    S3Exports::from_client(moto.s3(), config)
}

/// `n` tasks, a minute apart, with text a CSV has to quote or neutralise.
fn tasks(n: usize) -> Vec<TaskSnapshot> {
    let base = Timestamp::parse("2026-03-01T09:30:00.250Z").unwrap().unix_millis();
    (0..n)
        .map(|i| {
            let at = Timestamp::from_unix_millis(base + 60_000 * i as i64).unwrap();
            TaskSnapshot {
                id: uuid::Uuid::now_v7().to_string(),
                title: match i % 4 {
                    0 => format!("Task {i}"),
                    1 => format!("Review \"chapter\" {i}, then merge"),
                    2 => format!("=SUM(A{i}) looks like a formula"),
                    _ => format!("Two\nlines {i}"),
                },
                description: (i % 3 == 0).then(|| format!("Notes for {i}; with a comma, and more")),
                status: [TaskStatus::Todo, TaskStatus::InProgress, TaskStatus::Done][i % 3],
                priority: [Priority::Low, Priority::Medium, Priority::High, Priority::Critical][i % 4],
                assignee: (i % 2 == 0).then(|| "maria".to_owned()),
                reporter: Some("tester".into()),
                category_id: None,
                project_id: None,
                sprint_id: None,
                tags: if i % 5 == 0 { vec!["release".into(), "docs".into()] } else { vec![] },
                due_date: (i % 2 == 1).then(|| format!("2026-04-{:02}", 1 + i % 28)),
                estimate_points: (i % 3 == 1).then_some(3),
                created_at: at,
                updated_at: at,
                status_changed_at: at,
                escalation: None,
                version: 1,
            }
        })
        .collect()
}

/// The same tasks into any store, a full transaction at a time.
async fn seed(store: &dyn Store, tenant: &str, tasks: &[TaskSnapshot]) {
    let ctx = RequestContext {
        identity: Identity { tenant: tenant.into(), actor: "tester".into(), role: Role::Admin },
        correlation_id: "corr-seed".into(),
    };
    for chunk in tasks.chunks(100) {
        let changes =
            chunk.iter().map(|t| Change::Put { new: Aggregate::Task(t.clone()), expected_version: None }).collect();
        store.commit(&ctx, changes, None).await.unwrap();
    }
}

/// A GET of a presigned URL, as any HTTP client makes it: no credentials of its own.
fn fetch(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("the emulator's URLs are plain HTTP");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_owned())
}

async fn get_text(app: &axum::Router, path: &str) -> (StatusCode, String) {
    let response = app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// The export's S3 key, read from its presigned URL (path style: `/bucket/key?signature`).
fn key_of(url: &str, bucket: &str) -> String {
    let path = url.split('?').next().unwrap();
    let start = path.find(&format!("/{bucket}/")).unwrap() + bucket.len() + 2;
    path[start..].to_owned()
}

async fn uploads_in_progress(moto: &aws::Moto, bucket: &str) -> usize {
    let listed = moto.s3().list_multipart_uploads().bucket(bucket).send().await.unwrap();
    listed.uploads().len()
}

/// On AWS the export is written to S3 while the list is read and the answer is a short-lived
/// link; what the link fetches is byte for byte what `serve` streams for the same tasks and
/// query. A large export goes up in parts, a small one in one PutObject; neither leaves an
/// upload open, and each tenant's exports are its own.
#[tokio::test]
async fn the_export_on_aws_is_the_embedded_csv_in_s3_behind_a_presigned_link() {
    let (moto, _, store) = table().await;
    let bucket = bucket(&moto).await;
    let data = tasks(250);
    seed(store.as_ref(), "acme", &data).await;
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Default::default()).unwrap();
    seed(engine.store().as_ref(), "acme", &data).await;
    let viewer = Identity { tenant: "acme".into(), actor: "tester".into(), role: Role::Viewer };
    let embedded = router(AppState {
        store: engine.store(),
        history: engine.history_store(),
        search: engine.search_index(),
        metrics: None,
        auth: Arc::new(SingleTenant(viewer)),
        exports: None,
    });
    let part_size = 8 * 1024;
    let on_aws = |tenant: &str| {
        let exports: Arc<dyn ExportStore> = Arc::new(exports(&moto, &bucket, part_size));
        app_exporting(store.clone(), store.clone(), Some(exports), tenant, Role::Viewer)
    };
    let acme = on_aws("acme");

    for query in ["", "?status=done&sort=priority", "?assignee=maria&sort=dueDate"] {
        let path = format!("/tasks/export.csv{query}");
        let (status, expected) = get_text(&embedded, &path).await;
        assert_eq!(status, StatusCode::OK, "{expected}");
        let before = Timestamp::now().unix_millis();
        let (status, answer) = send(&acme, Request::get(&path).body(Body::empty()).unwrap()).await;
        let after = Timestamp::now().unix_millis();
        assert_eq!(status, StatusCode::OK, "{answer}");
        let url = answer["data"]["url"].as_str().unwrap();
        let expires_at = Timestamp::parse(answer["data"]["expiresAt"].as_str().unwrap()).unwrap().unix_millis();
        // Signed during the request, for the configured 120 s.
        assert!(
            (before + 120_000 - 1..=after + 120_000 + 1).contains(&expires_at),
            "the link expires {} ms after the request began, not 120 s after it was signed",
            expires_at - before
        );
        assert!(url.contains("X-Amz-Expires=120"), "{url}");

        let (status, fetched) = fetch(url);
        assert_eq!(status, 200, "{fetched}");
        assert_eq!(fetched, expected, "{query}: the object differs from the embedded export");

        let key = key_of(url, &bucket);
        assert!(key.starts_with("exports/acme/") && key.ends_with("tasks.csv"), "{key}");
        let head = moto.s3().head_object().bucket(&bucket).key(&key).send().await.unwrap();
        assert_eq!(head.content_type(), Some("text/csv; charset=utf-8"));
        assert_eq!(head.content_length(), Some(expected.len() as i64));
        // A multipart object's ETag ends in `-<parts>`.
        let parts = head.e_tag().and_then(|e| e.trim_matches('"').split_once('-')).map(|(_, n)| n.to_owned());
        let expected_parts = expected.len().div_ceil(part_size);
        if expected.len() > part_size {
            let parts: usize = parts.expect("an export larger than a part is a multipart object").parse().unwrap();
            assert!((1..=expected_parts).contains(&parts), "{parts} parts for {} bytes", expected.len());
        } else {
            assert_eq!(parts, None, "a small export is one PutObject");
        }
    }
    let (_, everything) = get_text(&embedded, "/tasks/export.csv").await;
    assert_eq!(everything.matches("\r\n").count(), 251, "a header and 250 rows (line breaks in titles are bare LFs)");
    assert_eq!(uploads_in_progress(&moto, &bucket).await, 0);

    // Another tenant's export holds none of acme's tasks, under its own prefix.
    let (status, answer) =
        send(&on_aws("globex"), Request::get("/tasks/export.csv").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let url = answer["data"]["url"].as_str().unwrap();
    assert!(key_of(url, &bucket).starts_with("exports/globex/"), "{url}");
    let (_, fetched) = fetch(url);
    assert_eq!(fetched.lines().count(), 1, "only the header: {fetched}");
}

/// An export whose list fails after a part went up answers 503 with the envelope, and
/// leaves nothing behind: no object to link, no upload in progress.
#[tokio::test]
async fn an_export_that_fails_midway_links_nothing_and_leaves_no_upload() {
    let (moto, _, store) = table().await;
    let bucket = bucket(&moto).await;
    seed(store.as_ref(), "acme", &tasks(250)).await;
    let failing: Arc<dyn Store> = Arc::new(Hooked::new(store.clone()).fail_lists_from(2));
    let exports: Arc<dyn ExportStore> = Arc::new(exports(&moto, &bucket, aws::S3_TEST_PART_MIN_SIZE));
    let app = app_exporting(failing, store.clone(), Some(exports), "acme", Role::Viewer);

    let (status, answer) = send(&app, Request::get("/tasks/export.csv").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"]["code"], "unavailable", "{answer}");
    assert!(answer["error"]["correlationId"].is_string(), "{answer}");
    assert_eq!(uploads_in_progress(&moto, &bucket).await, 0, "the started upload was aborted");
    let objects = moto.s3().list_objects_v2().bucket(&bucket).send().await.unwrap();
    assert_eq!(objects.key_count(), Some(0), "{objects:?}");
}

/// The upload sends each part as soon as it has one: while an export is being written, S3
/// already holds its earlier parts, and the process only the rest.
#[tokio::test]
async fn an_export_goes_up_part_by_part_while_it_is_written() {
    let moto = aws::Moto::shared();
    let bucket = bucket(&moto).await;
    let part = 4 * aws::S3_TEST_PART_MIN_SIZE;
    let exports = exports(&moto, &bucket, part);
    let mut upload = exports.create("acme", "tasks.csv").await.unwrap();
    let line = "0123456789,abcdefghij,klmnopqrstuvwxyz\r\n";
    let mut written = String::new();
    while written.len() < 3 * part {
        upload.write(line.as_bytes()).await.unwrap();
        written.push_str(line);
    }
    let listed = moto.s3().list_multipart_uploads().bucket(&bucket).send().await.unwrap();
    let [open] = listed.uploads() else { panic!("one upload in progress: {listed:?}") };
    // ListParts over plain HTTP: the emulator names its answer's root `ListPartsResponse`,
    // which the SDK refuses to parse (S3 says `ListPartsResult`).
    let upload_id: String = open
        .upload_id()
        .unwrap()
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect();
    let (status, listing) = fetch(&format!("{}/{bucket}/{}?uploadId={upload_id}", moto.endpoint, open.key().unwrap()));
    assert_eq!(status, 200, "{listing}");
    assert_eq!(listing.matches("<Part>").count(), 2, "two full parts are in S3 before the export ends: {listing}");
    assert_eq!(listing.matches(&format!("<Size>{}</Size>", 103 * line.len())).count(), 2, "{listing}");

    let link = upload.finish().await.unwrap();
    let (status, fetched) = fetch(&link.url);
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched, written);
    assert_eq!(uploads_in_progress(&moto, &bucket).await, 0);
}

/// The router exactly as the task-api Lambda builds it (`task_api::app`), for one caller,
/// with the tenants' escalation policies, people and notifications in the table.
fn lambda_app(moto: &aws::Moto, table: &str, store: Arc<DynamoStore>, tenant: &str, role: Role) -> axum::Router {
    let caller = Identity { tenant: tenant.into(), actor: "tester".into(), role };
    lambda_app_with(moto, table, store, Arc::new(SingleTenant(caller)))
}

fn lambda_app_with(
    moto: &aws::Moto,
    table: &str,
    store: Arc<DynamoStore>,
    auth: Arc<dyn shared_core::ports::Authenticator>,
) -> axum::Router {
    let search = OpenSearchIndex::new(OpenSearchConfig::new("http://127.0.0.1:9", "tasks")).unwrap();
    let notifications = Arc::new(DynamoNotifications::from_client(moto.dynamodb(), table, store.clone()));
    let webhooks = Arc::new(webhook_store(moto, table, &store));
    let state =
        AppState { store: store.clone(), history: store, search: Arc::new(search), metrics: None, auth, exports: None };
    task_api::app(state, Arc::new(DynamoPolicies::new(&moto.sdk_config(), table)), notifications, webhooks)
}

/// The webhook store as the Lambda builds it, its secrets under a prefix of the table's own
/// (the emulator's secrets are shared by every test).
fn webhook_store(moto: &aws::Moto, table: &str, store: &DynamoStore) -> DynamoWebhooks {
    DynamoWebhooks::new(store, WebhookSecrets::new(moto.secretsmanager(), secret_prefix(table)))
}

fn secret_prefix(table: &str) -> String {
    format!("{table}/webhooks/")
}

/// The Lambda's router with its own authenticator: each caller is a Cognito user, whose
/// claims `as_user` puts on the request where `lambda_http` puts the authorizer's.
fn cognito_app(moto: &aws::Moto, table: &str, store: Arc<DynamoStore>) -> axum::Router {
    let keys =
        TenantKeys::new([("k-acme".to_owned(), "acme".to_owned()), ("k-globex".to_owned(), "globex".to_owned())]);
    lambda_app_with(moto, table, store, Arc::new(CognitoAuthenticator::new(keys)))
}

/// A Cognito user of `tenant` in `group`: the ID token's claims as the REST API's authorizer
/// passes them (the `sub` a UUID, the username the person), with the tenant's API key.
#[derive(Clone, Copy)]
struct User<'a> {
    name: &'a str,
    tenant: &'a str,
    group: &'a str,
}

impl User<'_> {
    fn sign(&self, mut request: Request<Body>) -> Request<Body> {
        let mut context = ApiGatewayProxyRequestContext::default();
        let claims = json!({
            "sub": uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{}/{}", self.tenant, self.name).as_bytes()).to_string(),
            "cognito:username": self.name,
            "custom:tenant": self.tenant,
            "cognito:groups": self.group,
            "token_use": "id",
        });
        context.authorizer.fields.insert("claims".into(), claims);
        context.identity.api_key_id = Some(format!("k-{}", self.tenant));
        request.extensions_mut().insert(lambda_http::request::RequestContext::ApiGatewayV1(context));
        request
    }

    async fn call(&self, app: &axum::Router, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = match body {
            Some(body) => json_request(method, path, &body, &aws::unique_name("c")),
            None => Request::builder().method(method).uri(path).body(Body::empty()).unwrap(),
        };
        send(app, self.sign(request)).await
    }
}

#[tokio::test]
async fn the_escalation_policy_on_the_lambda_is_an_item_of_the_table_walled_by_tenant_and_role() {
    let (moto, name, store) = table().await;
    let acme = lambda_app(&moto, &name, store.clone(), "acme", Role::Admin);
    let globex = lambda_app(&moto, &name, store.clone(), "globex", Role::Admin);
    let get = |app: &axum::Router| {
        let app = app.clone();
        async move { send(&app, Request::builder().uri("/escalation-policy").body(Body::empty()).unwrap()).await }
    };

    let (status, defaults) = get(&acme).await;
    assert_eq!((status, &defaults["data"]["version"]), (StatusCode::OK, &json!(0)), "{defaults}");
    let project = send(&acme, json_request("POST", "/projects", &json!({"name": "Infra"}), "c-project")).await;
    assert_eq!(project.0, StatusCode::CREATED, "{}", project.1);
    let project_id = project.1["data"]["id"].as_str().unwrap().to_owned();
    let mut policy = defaults["data"].clone();
    policy["lead"] = json!("ana");
    policy["projects"] = json!({ project_id.clone(): {"lead": "omar"} });
    let (status, stored) = send(&acme, json_request("PUT", "/escalation-policy", &policy, "c-put")).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    assert_eq!(
        (&stored["data"]["version"], &stored["data"]["projects"][&project_id]["lead"]),
        (&json!(1), &json!("omar"))
    );

    // In the table, as the escalation Lambda reads it.
    let policies = DynamoPolicies::new(&moto.sdk_config(), &name);
    let kept = policies.policy("acme").await.unwrap().unwrap();
    assert_eq!((kept.version, kept.rules.lead.as_deref()), (1, Some("ana")));
    assert_eq!(policies.policy("globex").await.unwrap(), None);

    // A stale version is a 409 naming the current one; the same PUT again is stale.
    let (status, stale) = send(&acme, json_request("PUT", "/escalation-policy", &policy, "c-stale")).await;
    assert_eq!((status, &stale["error"]["details"]["currentVersion"]), (StatusCode::CONFLICT, &json!(1)), "{stale}");

    // Another tenant reads its own defaults and cannot name acme's project.
    let (_, theirs) = get(&globex).await;
    assert_eq!((&theirs["data"]["version"], theirs["data"].get("lead")), (&json!(0), None), "{theirs}");
    let (status, borrowed) = send(&globex, json_request("PUT", "/escalation-policy", &policy, "c-borrow")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{borrowed}");
    assert_eq!(policies.policy("globex").await.unwrap(), None, "nothing stored for globex");

    // Members and viewers neither read nor write it.
    for role in [Role::Member, Role::Viewer] {
        let weak = lambda_app(&moto, &name, store.clone(), "acme", role);
        assert_eq!(get(&weak).await.0, StatusCode::FORBIDDEN);
        let mut next = policy.clone();
        next["version"] = json!(1);
        let (status, refused) = send(&weak, json_request("PUT", "/escalation-policy", &next, "c-weak")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    }
    assert_eq!(policies.policy("acme").await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn people_on_the_lambda_are_cognito_users_each_editing_their_own_and_admins_anyones() {
    let (moto, name, store) = table().await;
    let app = cognito_app(&moto, &name, store.clone());
    let people = DynamoNotifications::from_client(moto.dynamodb(), &name, store);
    let maria = User { name: "maria", tenant: "acme", group: "member" };
    let li = User { name: "li", tenant: "acme", group: "viewer" };
    let ana = User { name: "ana", tenant: "acme", group: "admin" };
    let theirs = User { name: "ana", tenant: "globex", group: "admin" };

    // A member writes and reads their own entry, named by their username.
    let entry = json!({"email": "maria@example.com", "preferences": {"assigned": ["email", "in_app"]}});
    let (status, saved) = maria.call(&app, "PUT", "/people/maria", Some(entry)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!((&saved["data"]["name"], &saved["data"]["version"]), (&json!("maria"), &json!(1)), "{saved}");
    let (status, read) = maria.call(&app, "GET", "/people/maria", None).await;
    assert_eq!((status, &read["data"]["preferences"]["assigned"]), (StatusCode::OK, &json!(["email", "in_app"])));
    let kept = people.person("acme", "maria").await.unwrap().unwrap();
    assert_eq!((kept.email.as_deref(), kept.version), (Some("maria@example.com"), 1), "an item of the table");

    // Not another's, and a viewer not even their own.
    let (status, refused) = maria.call(&app, "PUT", "/people/li", Some(json!({"email": "x@example.com"}))).await;
    assert_eq!((status, &refused["error"]["code"]), (StatusCode::FORBIDDEN, &json!("forbidden")), "{refused}");
    assert!(refused["error"]["correlationId"].is_string(), "{refused}");
    assert_eq!(maria.call(&app, "GET", "/people/ana", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(li.call(&app, "PUT", "/people/li", Some(json!({"muted": true}))).await.0, StatusCode::FORBIDDEN);
    assert_eq!(people.person("acme", "li").await.unwrap(), None, "nothing written by the refused PUTs");

    // An admin edits anyone's; the viewer reads their own.
    let (status, set) =
        ana.call(&app, "PUT", "/people/li", Some(json!({"email": "li@example.com", "muted": true}))).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let (status, own) = li.call(&app, "GET", "/people/li", None).await;
    assert_eq!(
        (status, &own["data"]["muted"], &own["data"]["email"]),
        (StatusCode::OK, &json!(true), &json!("li@example.com"))
    );
    let (status, any) = ana.call(&app, "GET", "/people/maria", None).await;
    assert_eq!((status, &any["data"]["email"]), (StatusCode::OK, &json!("maria@example.com")));
    let (status, again) = ana.call(&app, "PUT", "/people/maria", Some(json!({"email": "m@example.com"}))).await;
    assert_eq!((status, &again["data"]["version"]), (StatusCode::OK, &json!(2)), "{again}");

    // Another tenant's admin sees none of acme's people; its own maria is its own.
    for path in ["/people/maria", "/people/li"] {
        let (status, missing) = theirs.call(&app, "GET", path, None).await;
        assert_eq!(
            (status, &missing["error"]["code"]),
            (StatusCode::NOT_FOUND, &json!("not_found")),
            "{path}: {missing}"
        );
    }
    let (status, own) = theirs.call(&app, "PUT", "/people/maria", Some(json!({"email": "maria@globex.example"}))).await;
    assert_eq!((status, &own["data"]["version"]), (StatusCode::OK, &json!(1)), "{own}");
    assert_eq!(people.person("acme", "maria").await.unwrap().unwrap().email.as_deref(), Some("m@example.com"));

    // Bad input is the error envelope and writes nothing.
    let (status, bad) = ana.call(&app, "PUT", "/people/maria", Some(json!({"email": "not an address"}))).await;
    assert_eq!((status, &bad["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("validation_failed")), "{bad}");
    assert_eq!(people.person("acme", "maria").await.unwrap().unwrap().version, 2);
}

#[tokio::test]
async fn notifications_on_the_lambda_are_the_cognito_users_own_newest_first_and_marked_read() {
    let (moto, name, store) = table().await;
    let app = cognito_app(&moto, &name, store.clone());
    let notifications: Arc<dyn NotificationStore> =
        Arc::new(DynamoNotifications::from_client(moto.dynamodb(), &name, store.clone()));
    let maria = User { name: "maria", tenant: "acme", group: "member" };
    let li = User { name: "li", tenant: "acme", group: "viewer" };
    let ana = User { name: "ana", tenant: "acme", group: "admin" };
    let globex_maria = User { name: "maria", tenant: "globex", group: "admin" };

    // ana assigns three tasks to maria, one to li and one to herself, through the Lambda.
    for (title, assignee) in
        [("First", "maria"), ("For li", "li"), ("Second", "maria"), ("Mine", "ana"), ("Third", "maria")]
    {
        let (status, made) =
            ana.call(&app, "POST", "/tasks", Some(json!({"title": title, "assignee": assignee}))).await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        // Notifications are ordered by their event's time, in milliseconds.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // The table's stream → change records → events → the notifier, as on AWS.
    let notifier = Notifier::new(Arc::clone(&notifications));
    let mut changes = 0;
    for record in aws::read_stream(&moto, &name).await {
        let Some(change) = change_record(&aws::as_lambda_event(&record)) else { continue };
        let change = change.unwrap();
        assert_eq!(change.actor, "ana", "the username is the actor recorded on the change");
        changes += 1;
        for event in shared_core::derive(change).unwrap() {
            notifier.apply(&event, &Delivery { replay_name: None }).await.unwrap();
        }
    }
    assert_eq!(changes, 5);

    let summaries = |page: &Value| -> Vec<String> {
        let items = page["data"].as_array().unwrap_or_else(|| panic!("not a list: {page}"));
        items.iter().map(|n| n["summary"].as_str().unwrap().to_owned()).collect()
    };
    let (status, page) = maria.call(&app, "GET", "/notifications", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        summaries(&page),
        ["Third", "Second", "First"].map(|t| format!("ana created \u{201c}{t}\u{201d} and assigned it to you")),
        "maria's own, newest first"
    );
    assert!(page["data"].as_array().unwrap().iter().all(|n| n["actor"] == "ana" && n["readAt"].is_null()));
    let (_, lis) = li.call(&app, "GET", "/notifications", None).await;
    assert_eq!(summaries(&lis), ["ana created \u{201c}For li\u{201d} and assigned it to you"]);
    let (_, own) = ana.call(&app, "GET", "/notifications", None).await;
    assert_eq!(own["data"], json!([]), "nobody is told of their own action");
    let (status, other) = globex_maria.call(&app, "GET", "/notifications", None).await;
    assert_eq!((status, &other["data"]), (StatusCode::OK, &json!([])), "another tenant's maria is someone else");

    // A page at a time, with the cursor.
    let (_, first) = maria.call(&app, "GET", "/notifications?limit=2", None).await;
    assert_eq!(summaries(&first).len(), 2, "{first}");
    let cursor = first["nextCursor"].as_str().unwrap();
    let (_, rest) = maria.call(&app, "GET", &format!("/notifications?limit=2&cursor={cursor}"), None).await;
    assert_eq!(summaries(&rest), ["ana created \u{201c}First\u{201d} and assigned it to you"]);

    // Marking read: by id, only the caller's own; then all.
    let ids: Vec<Value> = page["data"].as_array().unwrap().iter().map(|n| n["id"].clone()).collect();
    let li_id = lis["data"][0]["id"].clone();
    let (status, marked) = maria.call(&app, "POST", "/notifications/read", Some(json!({"ids": [ids[0], li_id]}))).await;
    assert_eq!(
        (status, &marked["data"]["marked"]),
        (StatusCode::OK, &json!(1)),
        "li's is not maria's to mark: {marked}"
    );
    let (_, unread) = maria.call(&app, "GET", "/notifications?unread=true", None).await;
    assert_eq!(summaries(&unread).len(), 2);
    let (_, lis) = li.call(&app, "GET", "/notifications?unread=true", None).await;
    assert_eq!(summaries(&lis).len(), 1, "li's still unread");
    let (_, marked) = globex_maria.call(&app, "POST", "/notifications/read", Some(json!({"all": true}))).await;
    assert_eq!(marked["data"]["marked"], 0, "another tenant marks nothing of acme's");
    let (_, marked) = maria.call(&app, "POST", "/notifications/read", Some(json!({"all": true}))).await;
    assert_eq!(marked["data"]["marked"], 2, "{marked}");
    let (_, unread) = maria.call(&app, "GET", "/notifications?unread=true", None).await;
    assert_eq!(unread["data"], json!([]));
    let (_, read) = maria.call(&app, "GET", "/notifications", None).await;
    assert!(read["data"].as_array().unwrap().iter().all(|n| n["readAt"].is_string()), "{read}");

    let (status, bad) = maria.call(&app, "POST", "/notifications/read", Some(json!({"ids": []}))).await;
    assert_eq!((status, &bad["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("validation_failed")), "{bad}");
}

/// A public address: the Lambda refuses URLs of private ones, and a literal needs no DNS.
const PUBLIC_HOOK: &str = "https://93.184.215.14/hooks/taskstream";

/// The names of the emulator's secrets under `prefix`.
async fn secret_names(moto: &aws::Moto, prefix: &str) -> Vec<String> {
    let client = moto.secretsmanager();
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let out = client.list_secrets().set_next_token(token).send().await.unwrap();
        names.extend(
            out.secret_list().iter().filter_map(|s| s.name()).filter(|n| n.starts_with(prefix)).map(str::to_owned),
        );
        match out.next_token() {
            Some(next) => token = Some(next.to_owned()),
            None => return names,
        }
    }
}

/// The stored value of a secret, as JSON.
async fn secret_value(moto: &aws::Moto, name: &str) -> Value {
    let out = moto.secretsmanager().get_secret_value().secret_id(name).send().await.unwrap();
    serde_json::from_str(out.secret_string().unwrap()).unwrap()
}

#[tokio::test]
async fn webhooks_on_the_lambda_are_admins_own_with_their_secrets_in_secrets_manager() {
    let (moto, name, store) = table().await;
    let app = cognito_app(&moto, &name, store.clone());
    let webhooks = webhook_store(&moto, &name, &store);
    let prefix = secret_prefix(&name);
    let ana = User { name: "ana", tenant: "acme", group: "admin" };
    let maria = User { name: "maria", tenant: "acme", group: "member" };
    let theirs = User { name: "ana", tenant: "globex", group: "admin" };

    // Created: the secret is in the answer and in Secrets Manager, under the tenant and id.
    let body = json!({"url": PUBLIC_HOOK, "eventTypes": ["TaskCompleted", "TaskAssigned"]});
    let (status, made) = ana.call(&app, "POST", "/webhooks", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let made = made["data"].clone();
    let id = made["id"].as_str().unwrap().to_owned();
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{made}");
    assert_eq!((&made["eventTypes"], &made["active"]), (&json!(["TaskAssigned", "TaskCompleted"]), &json!(true)));
    let secret_name = format!("{prefix}acme/{id}");
    assert_eq!(secret_names(&moto, &prefix).await, std::slice::from_ref(&secret_name));
    assert_eq!(secret_value(&moto, &secret_name).await["current"], json!(secret));
    // The table holds the subscription but not its secret.
    let item = moto
        .dynamodb()
        .get_item()
        .table_name(&name)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("T#acme#WEBHOOK".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(id.clone()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["url"].as_s().unwrap(), PUBLIC_HOOK);
    assert!(!format!("{item:?}").contains("whsec_"), "{item:?}");

    // Shown once: neither a read nor the list shows it.
    let (status, read) = ana.call(&app, "GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!((status, read["data"].get("secret")), (StatusCode::OK, None), "{read}");
    assert_eq!(read["data"]["url"], json!(PUBLIC_HOOK));
    let (status, all) = ana.call(&app, "GET", "/webhooks", None).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["data"].as_array().unwrap().len(), 1, "{all}");
    assert_eq!((&all["data"][0]["id"], all["data"][0].get("secret")), (&json!(id), None));

    // Updated: the whole setting replaced.
    let change = json!({"url": "https://93.184.215.14/other", "eventTypes": ["TaskCreated"], "active": false});
    let (status, changed) = ana.call(&app, "PUT", &format!("/webhooks/{id}"), Some(change)).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (&changed["data"]["url"], &changed["data"]["eventTypes"], &changed["data"]["active"]),
        (&json!("https://93.184.215.14/other"), &json!(["TaskCreated"]), &json!(false))
    );
    assert_eq!(changed["data"].get("secret"), None);
    assert_eq!(webhooks.subscribers("acme", "TaskCreated").await.unwrap(), Vec::<uuid::Uuid>::new(), "not while off");
    let back_on = json!({"url": PUBLIC_HOOK, "eventTypes": ["TaskCreated", "TaskAssigned"]});
    assert_eq!(ana.call(&app, "PUT", &format!("/webhooks/{id}"), Some(back_on)).await.0, StatusCode::OK);
    let uuid: uuid::Uuid = id.parse().unwrap();
    assert_eq!(webhooks.subscribers("acme", "TaskCreated").await.unwrap(), [uuid]);
    assert_eq!(webhooks.subscribers("acme", "TaskCompleted").await.unwrap(), Vec::<uuid::Uuid>::new());
    assert_eq!(webhooks.subscribers("globex", "TaskCreated").await.unwrap(), Vec::<uuid::Uuid>::new());

    // Rotated: a new secret, shown once; the old one still signs for 24 hours.
    let before = Timestamp::now().unix_millis();
    let (status, rotated) = ana.call(&app, "POST", &format!("/webhooks/{id}/rotate-secret"), None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let fresh = rotated["data"]["secret"].as_str().unwrap().to_owned();
    assert!(fresh.starts_with("whsec_") && fresh != secret, "{rotated}");
    let until = Timestamp::parse(rotated["data"]["previousSecretUntil"].as_str().unwrap()).unwrap().unix_millis();
    let day = 24 * 3600 * 1000;
    assert!(until >= before + day && until <= Timestamp::now().unix_millis() + day, "{rotated}");
    let stored = secret_value(&moto, &secret_name).await;
    assert_eq!((&stored["current"], &stored["previous"]), (&json!(fresh), &json!(secret)), "{stored}");
    let kept = webhooks.get("acme", uuid).await.unwrap().unwrap();
    assert_eq!(kept.signing_secrets(Timestamp::now().unix_millis()).len(), 2);
    assert_eq!(kept.signing_secrets(until).len(), 1, "the old one stops signing at its time");
    let (_, read) = ana.call(&app, "GET", &format!("/webhooks/{id}"), None).await;
    assert_eq!(
        (read["data"].get("secret"), &read["data"]["previousSecretUntil"]),
        (None, &rotated["data"]["previousSecretUntil"])
    );

    // A member can do none of it, and nothing changes.
    for (method, path, body) in [
        ("GET", "/webhooks".to_owned(), None),
        ("POST", "/webhooks".to_owned(), Some(json!({"url": PUBLIC_HOOK, "eventTypes": ["TaskAssigned"]}))),
        ("GET", format!("/webhooks/{id}"), None),
        ("DELETE", format!("/webhooks/{id}"), None),
        ("POST", format!("/webhooks/{id}/rotate-secret"), None),
    ] {
        let (status, refused) = maria.call(&app, method, &path, body).await;
        assert_eq!(
            (status, &refused["error"]["code"]),
            (StatusCode::FORBIDDEN, &json!("forbidden")),
            "{method} {path}"
        );
    }
    assert_eq!(secret_value(&moto, &secret_name).await["current"], json!(fresh));

    // Another tenant's admin finds none of acme's ids, and lists none of them.
    for (method, path, body) in [
        ("GET", format!("/webhooks/{id}"), None),
        ("PUT", format!("/webhooks/{id}"), Some(json!({"url": PUBLIC_HOOK, "eventTypes": ["TaskAssigned"]}))),
        ("DELETE", format!("/webhooks/{id}"), None),
        ("POST", format!("/webhooks/{id}/rotate-secret"), None),
        ("GET", format!("/webhooks/{id}/deliveries"), None),
    ] {
        let (status, missing) = theirs.call(&app, method, &path, body).await;
        assert_eq!(
            (status, &missing["error"]["code"]),
            (StatusCode::NOT_FOUND, &json!("not_found")),
            "{method} {path}"
        );
    }
    let (_, none) = theirs.call(&app, "GET", "/webhooks", None).await;
    assert_eq!(none["data"], json!([]));
    assert_eq!(secret_value(&moto, &secret_name).await["current"], json!(fresh), "not rotated by globex");
    assert!(webhooks.get("acme", uuid).await.unwrap().unwrap().active, "not changed by globex");

    // Bad input is the error envelope and creates nothing.
    let (bad_request, unprocessable) = (StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY);
    for (body, status, code, named) in [
        (
            json!({"url": "ftp://example.com/x", "eventTypes": ["TaskAssigned"]}),
            bad_request,
            "validation_failed",
            "url",
        ),
        (json!({"url": PUBLIC_HOOK, "eventTypes": ["TaskExploded"]}), bad_request, "invalid_body", "TaskExploded"),
        (json!({"url": PUBLIC_HOOK, "eventTypes": []}), bad_request, "validation_failed", "eventTypes"),
        // The Lambda's network is the account's: private addresses are refused.
        (
            json!({"url": "http://127.0.0.1:9000/hook", "eventTypes": ["TaskAssigned"]}),
            unprocessable,
            "validation_failed",
            "loopback",
        ),
        (
            json!({"url": "http://169.254.169.254/latest/", "eventTypes": ["TaskAssigned"]}),
            unprocessable,
            "validation_failed",
            "link-local",
        ),
    ] {
        let (got, refused) = ana.call(&app, "POST", "/webhooks", Some(body.clone())).await;
        assert_eq!((got, &refused["error"]["code"]), (status, &json!(code)), "{body}: {refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains(named), "{body}: {refused}");
        assert!(refused["error"]["correlationId"].is_string(), "{refused}");
    }
    assert_eq!(
        secret_names(&moto, &prefix).await,
        std::slice::from_ref(&secret_name),
        "no secret made for refused input"
    );
    assert_eq!(webhooks.list("acme").await.unwrap().len(), 1);

    // Deleted: the item, its deliveries and its secret; a second delete finds nothing.
    let event = uuid::Uuid::now_v7();
    let recorded = shared_core::webhooks::NewDelivery {
        id: shared_core::webhooks::delivery_id(&event, &uuid),
        tenant: "acme".into(),
        webhook_id: uuid,
        event_id: event,
        event_type: "TaskAssigned".into(),
        body: "{}".into(),
    };
    assert_eq!(webhooks.enqueue(std::slice::from_ref(&recorded)).await.unwrap(), 1);
    let (status, gone) = ana.call(&app, "DELETE", &format!("/webhooks/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{gone}");
    assert_eq!(secret_names(&moto, &prefix).await, Vec::<String>::new());
    assert_eq!(ana.call(&app, "GET", &format!("/webhooks/{id}"), None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(ana.call(&app, "DELETE", &format!("/webhooks/{id}"), None).await.0, StatusCode::NOT_FOUND);
    let delivery = moto
        .dynamodb()
        .get_item()
        .table_name(&name)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("T#acme#WHDELIVERY#{}", recorded.id)))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("DELIVERY".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    // Deletes are soft (the functions may not call DeleteItem): marked, out of the indexes,
    // expiring.
    assert_eq!(delivery["deleted"].as_bool(), Ok(&true), "its deliveries go with it: {delivery:?}");
    assert!(["gsi1pk", "gsi2pk"].iter().all(|k| !delivery.contains_key(*k)), "{delivery:?}");
    assert!(delivery.contains_key("expiresAt"), "{delivery:?}");
}

#[tokio::test]
async fn webhook_deliveries_on_the_lambda_are_listed_newest_first_by_page_and_redelivered() {
    let (moto, name, store) = table().await;
    let app = cognito_app(&moto, &name, store.clone());
    let webhooks = webhook_store(&moto, &name, &store);
    let ana = User { name: "ana", tenant: "acme", group: "admin" };
    let theirs = User { name: "ana", tenant: "globex", group: "admin" };
    let (_, made) =
        ana.call(&app, "POST", "/webhooks", Some(json!({"url": PUBLIC_HOOK, "eventTypes": ["TaskAssigned"]}))).await;
    let id: uuid::Uuid = made["data"]["id"].as_str().unwrap().parse().unwrap();
    let (_, none) = ana.call(&app, "GET", &format!("/webhooks/{id}/deliveries"), None).await;
    assert_eq!((&none["data"], &none["nextCursor"]), (&json!([]), &Value::Null), "{none}");

    // Three events, one after the other; each recorded once however often it comes.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let event = uuid::Uuid::now_v7();
        let d = shared_core::webhooks::NewDelivery {
            id: shared_core::webhooks::delivery_id(&event, &id),
            tenant: "acme".into(),
            webhook_id: id,
            event_id: event,
            event_type: "TaskAssigned".into(),
            body: json!({"eventId": event}).to_string(),
        };
        assert_eq!(webhooks.enqueue(&[d.clone(), d.clone()]).await.unwrap(), 1);
        assert_eq!(webhooks.enqueue(std::slice::from_ref(&d)).await.unwrap(), 0);
        ids.push(d.id.to_string());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ids.reverse();

    let path = format!("/webhooks/{id}/deliveries?limit=2");
    let (status, first) = ana.call(&app, "GET", &path, None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let page_ids = |page: &Value| {
        page["data"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(page_ids(&first), ids[..2]);
    assert_eq!((&first["data"][0]["status"], &first["data"][0]["attempts"]), (&json!("pending"), &json!(0)));
    let cursor = first["nextCursor"].as_str().unwrap();
    assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{cursor}");
    let (status, second) = ana.call(&app, "GET", &format!("{path}&cursor={cursor}"), None).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!((page_ids(&second), &second["nextCursor"]), (ids[2..].to_vec(), &Value::Null));
    let (status, bad) = ana.call(&app, "GET", &format!("{path}&cursor=nope"), None).await;
    assert_eq!(
        (status, &bad["error"]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("validation_failed")),
        "{bad}"
    );

    // The dispatcher's view: all three due, taken once (a second look finds them leased).
    let due = webhooks.due(Timestamp::now(), 10).await.unwrap();
    assert_eq!(due.len(), 3);
    assert!(
        due.iter().all(|d| d.tenant == "acme" && d.webhook_id == id && d.url == PUBLIC_HOOK && d.secrets.len() == 1)
    );
    assert_eq!(webhooks.due(Timestamp::now(), 10).await.unwrap().len(), 0, "leased");
    let dead = shared_core::webhooks::Settled {
        id: due[0].id,
        tenant: "acme".into(),
        webhook_id: id,
        status: shared_core::webhooks::DeliveryStatus::Dead,
        attempts: 1,
        attempted_at: Timestamp::now(),
        next_attempt_at: None,
        status_code: Some(410),
        error: Some("the receiver answered HTTP 410".into()),
        latency_ms: 7,
    };
    webhooks.settle(std::slice::from_ref(&dead)).await.unwrap();
    let (_, listed) = ana.call(&app, "GET", &format!("/webhooks/{id}/deliveries"), None).await;
    let shown =
        listed["data"].as_array().unwrap().iter().find(|d| d["id"] == json!(dead.id.to_string())).unwrap().clone();
    assert_eq!(
        (&shown["status"], &shown["attempts"], &shown["lastStatusCode"], &shown["lastLatencyMs"]),
        (&json!("dead"), &json!(1), &json!(410), &json!(7)),
        "{shown}"
    );
    assert!(webhooks.get("acme", id).await.unwrap().unwrap().failing_since.is_some(), "the streak started");

    // Redelivered: pending again, attempts from zero, due at once; not by another tenant.
    let redeliver = format!("/webhooks/{id}/deliveries/{}/redeliver", dead.id);
    let (status, missing) = theirs.call(&app, "POST", &redeliver, None).await;
    assert_eq!((status, &missing["error"]["code"]), (StatusCode::NOT_FOUND, &json!("not_found")));
    let (status, again) = ana.call(&app, "POST", &redeliver, None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!((&again["data"]["status"], &again["data"]["attempts"]), (&json!("pending"), &json!(0)), "{again}");
    let due = webhooks.due(Timestamp::now(), 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), [dead.id]);
    let unknown = format!("/webhooks/{id}/deliveries/{}/redeliver", uuid::Uuid::now_v7());
    assert_eq!(ana.call(&app, "POST", &unknown, None).await.0, StatusCode::NOT_FOUND);
}

/// The two writes of a subscription (its secret, its item) never leave half of one behind:
/// a create whose item cannot be written takes its secret back, and a delete that removed
/// the item but not the secret is finished by its retry.
#[tokio::test]
async fn a_webhook_is_never_half_written_across_the_table_and_secrets_manager() {
    let (moto, name, store) = table().await;
    let prefix = secret_prefix(&name);
    let spec = shared_core::webhooks::SubscriptionSpec {
        url: PUBLIC_HOOK.into(),
        event_types: vec!["TaskAssigned".into()],
        active: true,
    };

    // The item's write fails (no such table): the error comes back, and no secret stays.
    let missing = DynamoStore::from_client(moto.dynamodb(), format!("{name}-missing"));
    let broken = DynamoWebhooks::new(&missing, WebhookSecrets::new(moto.secretsmanager(), prefix.clone()));
    let failed = broken.create("acme", &spec).await.unwrap_err();
    assert!(matches!(failed, shared_core::ports::StoreError::Unavailable(_)), "{failed:?}");
    assert_eq!(secret_names(&moto, &prefix).await, Vec::<String>::new());

    // A delete cut short after the item went: the retry deletes the secret and answers 204.
    let webhooks = webhook_store(&moto, &name, &store);
    let made = webhooks.create("acme", &spec).await.unwrap();
    moto.dynamodb()
        .update_item()
        .table_name(&name)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("T#acme#WEBHOOK".into()))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(made.id.to_string()))
        .update_expression("SET deleted = :yes")
        .expression_attribute_values(":yes", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();
    assert_eq!(secret_names(&moto, &prefix).await.len(), 1);
    let app = lambda_app(&moto, &name, store.clone(), "acme", Role::Admin);
    let request =
        Request::builder().method("DELETE").uri(format!("/webhooks/{}", made.id)).body(Body::empty()).unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::NO_CONTENT);
    assert_eq!(secret_names(&moto, &prefix).await, Vec::<String>::new());
    let request =
        Request::builder().method("DELETE").uri(format!("/webhooks/{}", made.id)).body(Body::empty()).unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::NOT_FOUND);
}
