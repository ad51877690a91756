//! The [`Store`] port: typed reads here, the write path in `commit.rs`, lists in `list.rs`.

use async_trait::async_trait;
use events_schema::AggregateType;
use events_schema::events::{CategorySnapshot, CommentSnapshot, ProjectSnapshot, SprintSnapshot, TaskSnapshot};
use serde::de::DeserializeOwned;
use shared_core::context::RequestContext;
use shared_core::ports::{Change, ExternalKeyLink, IdempotencyRecord, Page, Store, StoreError, TaskQuery};

use super::cursor::Shape;
use super::item::{self, Item, get_n, get_s, key};
use super::list::Query;
use super::{DynamoStore, keys, unavailable};

impl DynamoStore {
    /// The item at a key, read consistently (an update reads, then writes at that version).
    pub(crate) async fn get_item(&self, pk: String, sk: String) -> Result<Option<Item>, StoreError> {
        let response = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(response.item)
    }

    async fn get_live<T: DeserializeOwned>(
        &self,
        tenant: &str,
        aggregate_type: AggregateType,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let (pk, sk) = keys::aggregate_key(tenant, aggregate_type, id, None);
        match self.get_item(pk, sk).await? {
            Some(found) => item::live(found),
            None => Ok(None),
        }
    }

    async fn list_all<T: DeserializeOwned>(&self, query: Query) -> Result<Vec<T>, StoreError> {
        let items = self.query(query, None, usize::MAX, None).await?;
        items.into_iter().map(item::from_item).collect()
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get_task(&self, tenant: &str, id: &str) -> Result<Option<TaskSnapshot>, StoreError> {
        self.get_live(tenant, AggregateType::Task, id).await
    }

    async fn list_tasks(&self, tenant: &str, query: &TaskQuery) -> Result<Page<TaskSnapshot>, StoreError> {
        self.list_task_page(tenant, query).await
    }

    async fn get_category(&self, tenant: &str, id: &str) -> Result<Option<CategorySnapshot>, StoreError> {
        self.get_live(tenant, AggregateType::Category, id).await
    }

    async fn list_categories(&self, tenant: &str) -> Result<Vec<CategorySnapshot>, StoreError> {
        // A tenant has few categories: read them all, order by name in memory.
        let pk = keys::kind_pk(tenant, AggregateType::Category);
        let mut categories: Vec<CategorySnapshot> = self.list_all(Query::partition(pk, true)).await?;
        categories.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(categories)
    }

    async fn get_project(&self, tenant: &str, id: &str) -> Result<Option<ProjectSnapshot>, StoreError> {
        self.get_live(tenant, AggregateType::Project, id).await
    }

    async fn list_projects(&self, tenant: &str) -> Result<Vec<ProjectSnapshot>, StoreError> {
        // UUIDv7 ids: descending key order is newest first.
        let pk = keys::kind_pk(tenant, AggregateType::Project);
        self.list_all(Query::partition(pk, false)).await
    }

    async fn get_sprint(&self, tenant: &str, id: &str) -> Result<Option<SprintSnapshot>, StoreError> {
        self.get_live(tenant, AggregateType::Sprint, id).await
    }

    async fn list_sprints(&self, tenant: &str, project_id: &str) -> Result<Vec<SprintSnapshot>, StoreError> {
        let pk = keys::kind_pk(tenant, AggregateType::Sprint);
        let mut query = Query::partition(pk, true);
        query.names.insert("#projectId".to_owned(), "projectId".to_owned());
        query.values.insert(":projectId".to_owned(), item::s(project_id));
        query.filters.push("#projectId = :projectId".to_owned());
        self.list_all(query).await
    }

    async fn list_comments(
        &self,
        tenant: &str,
        task_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<CommentSnapshot>, StoreError> {
        let pk = keys::comments_pk(tenant, task_id);
        let shape = Shape {
            scope: format!("comments|{tenant}|{task_id}"),
            attributes: vec![(keys::PK, Some(pk.clone())), (keys::SK, None)],
        };
        let batch = i32::try_from(limit.clamp(1, super::list::MAX_PAGE) + 1).unwrap_or(101);
        let (items, next_cursor) = self.page(Query::partition(pk, true), &shape, cursor, limit, batch).await?;
        let items = items.into_iter().map(item::from_item).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn get_idempotency(&self, tenant: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let Some(found) = self.get_item(keys::idempotency_pk(tenant, key), keys::IDEMPOTENCY_SK.to_owned()).await?
        else {
            return Ok(None);
        };
        // The TTL removes expired records only eventually; until then they are gone to us.
        if get_n::<i64>(&found, item::EXPIRES_AT).is_some_and(|at| at < item::epoch_seconds()) {
            return Ok(None);
        }
        let field = |name: &str| {
            get_s(&found, name)
                .map(str::to_owned)
                .ok_or_else(|| StoreError::Corrupt(format!("idempotency record {key:?} has no {name}")))
        };
        Ok(Some(IdempotencyRecord {
            key: key.to_owned(),
            fingerprint: field("fingerprint")?,
            status: get_n(&found, "status")
                .ok_or_else(|| StoreError::Corrupt(format!("idempotency record {key:?} has no status")))?,
            body: field("body")?,
        }))
    }

    async fn commit(
        &self,
        ctx: &RequestContext,
        changes: Vec<Change>,
        idempotency: Option<IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        self.commit_changes(ctx, changes, idempotency, None).await
    }

    async fn task_for_external_key(&self, tenant: &str, key: &str) -> Result<Option<String>, StoreError> {
        let found = self.get_item(keys::external_key_pk(tenant, key), keys::EXTERNAL_KEY_SK.to_owned()).await?;
        match found {
            None => Ok(None),
            Some(found) => get_s(&found, item::TASK_ID)
                .map(|id| Some(id.to_owned()))
                .ok_or_else(|| StoreError::Corrupt(format!("the link of external key {key:?} names no task"))),
        }
    }

    async fn commit_command(
        &self,
        ctx: &RequestContext,
        changes: Vec<Change>,
        receipt: IdempotencyRecord,
        link: Option<ExternalKeyLink>,
    ) -> Result<(), StoreError> {
        self.commit_changes(ctx, changes, Some(receipt), link).await
    }
}
