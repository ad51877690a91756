//! The HTTP API over the AWS adapters, against the emulator: the same axum router the
//! task-api Lambda runs, over the DynamoDB store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is the failure report

mod aws;
mod hooked;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hooked::Hooked;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared_api::{AppState, CORRELATION_HEADER, router};
use shared_aws::dynamo::{DynamoStore, TableLayout};
use shared_aws::search::{OpenSearchConfig, OpenSearchIndex};
use shared_core::ports::{SingleTenant, Store};
use shared_core::{Identity, Role};
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
    let search = OpenSearchIndex::new(OpenSearchConfig::new("http://127.0.0.1:9", "tasks")).unwrap();
    let caller = Identity { tenant: tenant.into(), actor: "tester".into(), role };
    router(AppState { store, history, search: Arc::new(search), auth: Arc::new(SingleTenant(caller)) })
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
