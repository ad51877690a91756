//! Lists of one partition: Queries on the table, with filter expressions. DynamoDB applies a
//! Query's Limit before its filter, so a page is filled by querying on until it holds one
//! item more than asked (which proves a next page exists) or the partition ends. The task
//! lists, merged from shards, are in `task_list.rs`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use shared_core::ports::StoreError;

use super::cursor::Shape;
use super::item::{self, Item, s};
use super::{DynamoStore, keys, unavailable};

/// The most a task or comment page holds, as the port states.
pub(crate) const MAX_PAGE: usize = 100;

/// One Query, before paging.
#[derive(Debug, Default)]
pub(crate) struct Query {
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
    pub(crate) fn filter(&mut self, attribute: &str, clause: &str, placeholder: &str, value: Option<AttributeValue>) {
        let Some(value) = value else { return };
        self.names.insert(format!("#{attribute}"), attribute.to_owned());
        self.values.insert(placeholder.to_owned(), value);
        self.filters.push(clause.to_owned());
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
                // A table partition reads its own writes (an update reads, then writes).
                .consistent_read(true)
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
}
