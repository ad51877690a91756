//! The store contract, run against every engine: DynamoDB (in the local AWS emulator, one
//! table per test) and SQLite (one data directory per test). The cases are written once,
//! over the ports, in `store_cases/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws;
mod store_cases;

use std::sync::Arc;

use shared_aws::dynamo::DynamoStore;
use shared_embedded::Engine;
use store_cases::Subject;

/// A fresh table in the shared emulator.
async fn dynamodb() -> (Arc<aws::Moto>, String, Arc<DynamoStore>) {
    let moto = aws::Moto::shared();
    let client = moto.dynamodb();
    let table = aws::unique_name("store");
    aws::create_table(&client, &table).await;
    let store = Arc::new(DynamoStore::from_client(client, table.clone()));
    (moto, table, store)
}

async fn dynamodb_subject() -> Subject {
    let (moto, _, store) = dynamodb().await;
    Subject { store: store.clone(), history: store, _keep: Box::new(moto) }
}

async fn sqlite_subject() -> Subject {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), Default::default()).unwrap();
    Subject { store: engine.store(), history: engine.history_store(), _keep: Box::new((engine, dir)) }
}

/// One test per case and engine, named `<engine>::<case>`.
macro_rules! contract {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $case() {
                    let subject = super::dynamodb_subject().await;
                    super::store_cases::$module::$case(&subject).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let subject = super::sqlite_subject().await;
                    super::store_cases::$module::$case(&subject).await;
                }
            )*
        }
    };
}

contract! {
    writes::every_aggregate_is_created_read_updated_and_deleted,
    writes::stale_versions_conflict_with_the_current_version,
    writes::creating_an_existing_id_is_already_exists,
    writes::a_commit_of_several_changes_is_all_or_nothing,
    writes::idempotency_records_commit_with_their_changes,
    writes::a_commit_holds_at_most_100_changes,
    writes::tenants_are_walled_off,
    writes::history_is_appended_once_per_version_and_event_type,
    lists::tasks_list_newest_first_under_every_filter,
    lists::tasks_list_by_due_date_under_every_filter,
    lists::tasks_list_by_priority_under_every_filter,
    lists::bad_and_foreign_cursors_are_refused,
    lists::comments_list_oldest_first_in_pages,
    lists::categories_projects_and_sprints_list_in_their_orders,
}

#[tokio::test]
async fn dynamodb_stream_records_derive_the_expected_events() {
    let (moto, table, store) = dynamodb().await;
    store_cases::stream::stream_records_derive_the_expected_events(&moto, &table, &store).await;
}
