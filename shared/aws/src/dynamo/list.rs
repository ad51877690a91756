//! Lists: Queries on the table or an index, with filter expressions. DynamoDB applies a
//! Query's Limit before its filter, so a page is filled by querying on until it holds one
//! item more than asked (which proves a next page exists) or the partition ends.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use events_schema::events::TaskSnapshot;
use shared_core::ports::{Page, StoreError, TaskQuery, TaskSort};

use super::cursor::Shape;
use super::item::{self, Item, s};
use super::{DynamoStore, keys, unavailable};

/// The most a task or comment page holds, as the port states.
pub(crate) const MAX_PAGE: usize = 100;

/// One Query, before paging.
#[derive(Debug, Default)]
pub(crate) struct Query {
    pub index: Option<String>,
    pub key_condition: String,
    /// Joined with AND; soft-deleted items are always filtered out.
    pub filters: Vec<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
    pub forward: bool,
}

impl Query {
    /// A Query of one partition of the table.
    pub fn partition(pk: String, forward: bool) -> Self {
        let mut q = Self { forward, key_condition: "#pk = :pk".to_owned(), ..Self::default() };
        q.names.insert("#pk".to_owned(), keys::PK.to_owned());
        q.values.insert(":pk".to_owned(), s(pk));
        q
    }

    /// Adds `clause` on `attribute` (named `#attribute` in it) when `value` is given, bound
    /// to `placeholder`.
    fn filter(&mut self, attribute: &str, clause: &str, placeholder: &str, value: Option<AttributeValue>) {
        let Some(value) = value else { return };
        self.names.insert(format!("#{attribute}"), attribute.to_owned());
        self.values.insert(placeholder.to_owned(), value);
        self.filters.push(clause.to_owned());
    }

    /// Narrows the index's sort key (named `#isk`) with `condition`.
    fn sort_key(&mut self, sk_name: &str, condition: &str) {
        self.names.insert("#isk".to_owned(), sk_name.to_owned());
        self.key_condition.push_str(" AND ");
        self.key_condition.push_str(condition);
    }
}

impl DynamoStore {
    /// Up to `want` live items of `query`, in key order, from after `start`. `batch` is the
    /// Limit of each call (items read before filtering).
    pub(crate) async fn query(
        &self,
        mut query: Query,
        mut start: Option<Item>,
        want: usize,
        batch: Option<i32>,
    ) -> Result<Vec<Item>, StoreError> {
        query.names.insert("#deleted".to_owned(), item::DELETED.to_owned());
        query.filters.push("attribute_not_exists(#deleted)".to_owned());
        let filter = query.filters.join(" AND ");
        let mut out = Vec::new();
        loop {
            let response = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(query.index.clone())
                // The table's partitions read their own writes; indexes cannot.
                .consistent_read(query.index.is_none())
                .key_condition_expression(&query.key_condition)
                .filter_expression(&filter)
                .set_expression_attribute_names(Some(query.names.clone()))
                .set_expression_attribute_values(Some(query.values.clone()))
                .scan_index_forward(query.forward)
                .set_limit(batch)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            for found in response.items.unwrap_or_default() {
                out.push(found);
                if out.len() >= want {
                    return Ok(out);
                }
            }
            match response.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(out),
            }
        }
    }

    /// Every live item of one table partition, in key order.
    pub(crate) async fn query_all(&self, pk: String, forward: bool) -> Result<Vec<Item>, StoreError> {
        self.query(Query::partition(pk, forward), None, usize::MAX, None).await
    }

    /// One page of `query`, whose positions have `shape`, from after `cursor`.
    pub(crate) async fn page(
        &self,
        query: Query,
        shape: &Shape<'_>,
        cursor: Option<&str>,
        limit: usize,
        batch: i32,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let start = cursor.map(|c| shape.decode(c)).transpose()?;
        let mut items = self.query(query, start, limit + 1, Some(batch)).await?;
        let mut next = None;
        if items.len() > limit {
            items.truncate(limit);
            next = items.last().map(|last| shape.encode(last));
        }
        Ok((items, next))
    }

    pub(crate) async fn list_task_page(&self, tenant: &str, q: &TaskQuery) -> Result<Page<TaskSnapshot>, StoreError> {
        let scope = format!("tasks|{tenant}|{:?}|{:?}", q.filter, q.sort);
        let (mut query, shape) = match q.sort {
            TaskSort::Created => {
                let pk = keys::aggregate_pk(tenant, events_schema::AggregateType::Task, None);
                let shape = Shape { scope, attributes: vec![(keys::PK, Some(pk.clone())), (keys::SK, None)] };
                (Query::partition(pk, false), shape)
            }
            TaskSort::DueDate => self.index_query(scope, &self.gsi1, keys::GSI1PK, keys::GSI1SK, keys::due_pk(tenant)),
            TaskSort::Priority => {
                self.index_query(scope, &self.gsi2, keys::GSI2PK, keys::GSI2SK, keys::priority_pk(tenant))
            }
        };
        let f = &q.filter;
        // The sort key narrows the Query itself where the order allows it.
        match q.sort {
            TaskSort::DueDate if f.due_from.is_some() || f.due_to.is_some() => {
                // `date#id` keys: `{to}$` is above every key of that date ('$' follows '#'),
                // and `~` is above every dated key yet below every undated one (`~#id`).
                let low = f.due_from.as_ref().map(|d| format!("{d}#")).unwrap_or_default();
                let high = f.due_to.as_ref().map(|d| format!("{d}$")).unwrap_or_else(|| keys::NO_DUE_DATE.to_owned());
                if low > high {
                    return Ok(Page { items: vec![], next_cursor: None });
                }
                if low.is_empty() {
                    query.sort_key(keys::GSI1SK, "#isk < :high");
                } else {
                    query.sort_key(keys::GSI1SK, "#isk BETWEEN :low AND :high");
                    query.values.insert(":low".to_owned(), s(low));
                }
                query.values.insert(":high".to_owned(), s(high));
            }
            TaskSort::Priority if f.priority.is_some() => {
                let prefix = f.priority.map(keys::priority_prefix).unwrap_or_default();
                query.sort_key(keys::GSI2SK, "begins_with(#isk, :prefix)");
                query.values.insert(":prefix".to_owned(), s(prefix));
            }
            _ => {}
        }
        query.filter("status", "#status = :status", ":status", f.status.map(|v| s(v.as_str())));
        query.filter("priority", "#priority = :priority", ":priority", f.priority.map(|v| s(v.as_str())));
        query.filter("assignee", "#assignee = :assignee", ":assignee", f.assignee.clone().map(s));
        query.filter("categoryId", "#categoryId = :categoryId", ":categoryId", f.category_id.clone().map(s));
        query.filter("projectId", "#projectId = :projectId", ":projectId", f.project_id.clone().map(s));
        query.filter("sprintId", "#sprintId = :sprintId", ":sprintId", f.sprint_id.clone().map(s));
        query.filter("tags", "contains(#tags, :tag)", ":tag", f.tag.clone().map(s));
        // An absent dueDate fails both comparisons: undated tasks never match a range.
        query.filter("dueDate", "#dueDate >= :dueFrom", ":dueFrom", f.due_from.clone().map(s));
        query.filter("dueDate", "#dueDate <= :dueTo", ":dueTo", f.due_to.clone().map(s));
        let filtered = query.filters.len();
        // Without a filter only deleted items are skipped: one call usually fills the page.
        let limit = q.limit.clamp(1, MAX_PAGE);
        let batch = if filtered == 0 { limit + 1 } else { ((limit + 1) * 4).min(1000) };
        let batch = i32::try_from(batch).unwrap_or(1000);
        let (items, next_cursor) = self.page(query, &shape, q.cursor.as_deref(), limit, batch).await?;
        let items = items.into_iter().map(item::from_item).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    fn index_query<'a>(
        &self,
        scope: String,
        index: &str,
        pk_name: &'a str,
        sk_name: &'a str,
        partition: String,
    ) -> (Query, Shape<'a>) {
        let mut query = Query {
            index: Some(index.to_owned()),
            key_condition: "#ipk = :ipk".to_owned(),
            forward: true,
            ..Query::default()
        };
        query.names.insert("#ipk".to_owned(), pk_name.to_owned());
        query.values.insert(":ipk".to_owned(), s(partition.clone()));
        let shape = Shape {
            scope,
            attributes: vec![(keys::PK, None), (keys::SK, None), (pk_name, Some(partition)), (sk_name, None)],
        };
        (query, shape)
    }
}
