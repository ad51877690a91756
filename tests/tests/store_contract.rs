//! The store contract, run against every engine: DynamoDB (in the local AWS emulator, one
//! table per test, task lists spread over several shards) and SQLite (one data directory per
//! test). The cases are written once, over the ports, in `store_cases/`; a property test
//! pages every list with random page sizes on both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aws;
mod store_cases;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use shared_aws::dynamo::{DynamoStore, TableLayout};
use shared_core::ports::{Aggregate, Store, TaskQuery, TaskSort};
use shared_embedded::Engine;
use store_cases::{ACME, Subject, create, ctx_as, lists, new_id, task, update};

/// Shards per tenant in the contract's tables: enough that every list merges several.
const SHARDS: u16 = 4;

/// A fresh table in the shared emulator.
async fn dynamodb() -> (Arc<aws::Moto>, String, Arc<DynamoStore>) {
    let moto = aws::Moto::shared();
    let client = moto.dynamodb();
    let table = aws::unique_name("store");
    aws::create_table(&client, &table).await;
    let layout = TableLayout { task_shards: SHARDS, ..TableLayout::default() };
    let store = Arc::new(DynamoStore::from_client(client, table.clone()).with_layout(layout));
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
    writes::a_shared_correlation_id_does_not_make_a_conflict_a_success,
    writes::creating_an_existing_id_is_already_exists,
    writes::a_commit_of_several_changes_is_all_or_nothing,
    writes::idempotency_records_commit_with_their_changes,
    writes::a_commit_holds_at_most_100_changes,
    writes::tenants_are_walled_off,
    writes::history_is_appended_once_per_version_and_event_type,
    lists::tasks_list_newest_first_under_every_filter,
    lists::tasks_list_by_due_date_under_every_filter,
    lists::tasks_list_by_priority_under_every_filter,
    lists::a_selective_filter_over_a_large_tenant_stops_at_the_read_cap,
    lists::bad_and_foreign_cursors_are_refused,
    lists::comments_list_oldest_first_in_pages,
    lists::categories_projects_and_sprints_list_in_their_orders,
    ingest::external_keys_link_once_with_their_task,
    ingest::commands_apply_once_and_name_their_rejections,
    ingest::duplicate_and_shuffled_deliveries_apply_once,
    ingest::publishers_reach_only_their_tenant,
}

#[tokio::test]
async fn dynamodb_stream_records_derive_the_expected_events() {
    let (moto, table, store) = dynamodb().await;
    store_cases::stream::stream_records_derive_the_expected_events(&moto, &table, &store).await;
}

/// Pages through one list with the given page sizes (in turn), whatever they are.
async fn list_with(
    subject: &Subject,
    filter: &shared_core::ports::TaskFilter,
    sort: TaskSort,
    sizes: &[usize],
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = None;
    for page in 0.. {
        let query = TaskQuery { filter: filter.clone(), sort, limit: sizes[page % sizes.len()], cursor };
        let listed = subject.store.list_tasks(ACME, &query).await.unwrap();
        ids.extend(listed.items.into_iter().map(|t| t.id));
        match listed.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(page < 500, "no end to the list");
    }
    ids
}

/// Listing with any page size (changing from page to page, too), under any sort and filter,
/// returns every task once, in the documented order, on both engines.
#[test]
fn any_page_sizes_list_every_task_once_in_order() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (engine, subject) in
        [("dynamodb", runtime.block_on(dynamodb_subject())), ("sqlite", runtime.block_on(sqlite_subject()))]
    {
        let tasks = runtime.block_on(lists::seed(&subject));
        let filters = lists::filters();
        let strategy = (
            prop_oneof![Just(TaskSort::Created), Just(TaskSort::DueDate), Just(TaskSort::Priority)],
            0..filters.len(),
            proptest::collection::vec(1usize..=12, 1..4),
        );
        let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
        runner
            .run(&strategy, |(sort, filter, sizes)| {
                let listed = runtime.block_on(list_with(&subject, &filters[filter], sort, &sizes));
                prop_assert_eq!(
                    listed,
                    lists::expected(&tasks, &filters[filter], sort),
                    "{} {:?} {:?}",
                    engine,
                    sort,
                    sizes
                );
                Ok(())
            })
            .unwrap();
    }
}

/// Turns the answer to the first write it sees into a 500, after the emulator applied the
/// write: an answer lost on the way back, which the SDK retries. An SDK-level double: the
/// emulator itself never loses an answer.
#[derive(Debug, Default)]
struct LoseFirstAnswer {
    lost: AtomicBool,
}

impl Intercept for LoseFirstAnswer {
    fn name(&self) -> &'static str {
        "LoseFirstAnswer"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.response().status().is_success() && !self.lost.swap(true, Ordering::SeqCst) {
            *context.response_mut().status_mut() = 500.try_into()?;
        }
        Ok(())
    }
}

/// A write whose answer was lost is retried by the SDK and refused by its own first attempt;
/// its write token on the stored item shows it is its own, so the commit succeeds, once.
#[tokio::test]
async fn dynamodb_a_retried_write_recognises_its_own_first_attempt_by_its_token() {
    let moto = aws::Moto::shared();
    let table = aws::unique_name("store");
    aws::create_table(&moto.dynamodb(), &table).await;
    let plain = DynamoStore::from_client(moto.dynamodb(), table.clone());
    let t = task(&new_id());
    plain.commit(&ctx_as(ACME, "corr-1"), vec![create(Aggregate::Task(t.clone()))], None).await.unwrap();

    let interceptor = LoseFirstAnswer::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&moto.sdk_config()).interceptor(interceptor).build();
    let losing = DynamoStore::from_client(aws_sdk_dynamodb::Client::from_conf(config), table.clone());
    let renamed = shared_core::ports::Aggregate::Task(events_schema::events::TaskSnapshot {
        title: "Renamed".into(),
        version: 2,
        ..t.clone()
    });
    losing.commit(&ctx_as(ACME, "corr-2"), vec![update(renamed, 1)], None).await.unwrap();
    let stored = plain.get_task(ACME, &t.id).await.unwrap().unwrap();
    assert_eq!((stored.title.as_str(), stored.version), ("Renamed", 2));

    // Without the token (another writer at the same version, with the same correlation id)
    // the same refusal is a conflict.
    let again = shared_core::ports::Aggregate::Task(events_schema::events::TaskSnapshot {
        title: "Again".into(),
        version: 2,
        ..t.clone()
    });
    assert_eq!(
        plain.commit(&ctx_as(ACME, "corr-2"), vec![update(again, 1)], None).await,
        Err(shared_core::ports::StoreError::Conflict { expected: 1, current: 2 })
    );
}
