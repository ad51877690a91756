//! The task lists: each order is an index, and a tenant's part of it is `task_shards`
//! partitions (a task's shard is a hash of its id). A page queries the shards, merges them in
//! order (`merge.rs`) and stops after examining the read cap of items, with a cursor of one
//! position per shard.
//!
//! Positions become key conditions (`gsiNsk > :position` and the like), not
//! `ExclusiveStartKey`s: the partition of every Query is made from the caller's tenant and
//! the shard number, so a cursor holds sort keys only and cannot reach another partition.

use events_schema::events::TaskSnapshot;
use shared_core::ports::{Page, StoreError, TaskFilter, TaskQuery, TaskSort};

use super::cursor::ShardCursor;
use super::item::{self, Item, s};
use super::keys::{self, TaskIndex};
use super::list::{MAX_PAGE, Query};
use super::merge::{self, Fetched, Plan, Position};
use super::{DynamoStore, unavailable};

/// A page with no filter skips only nothing; with one, a shard is read in bigger steps,
/// since most of what it reads may not match.
const FILTERED_READ_FACTOR: usize = 4;

/// The part of a list's sort key range its filter fixes (ascending orders only): from `low`,
/// up to `high`; `high` is never itself a key, so including it changes nothing.
#[derive(Debug, Default, Clone)]
struct Range {
    low: Option<String>,
    high: Option<String>,
}

/// One task list: its index, its direction, its range and its filter expression.
struct ListPlan {
    index: TaskIndex,
    descending: bool,
    range: Range,
    /// The filter expression (and its names and values), without a key condition.
    filter: Query,
}

impl ListPlan {
    /// `None`: the filter's range is empty, nothing can match.
    fn new(sort: TaskSort, f: &TaskFilter) -> Option<Self> {
        let mut range = Range::default();
        let index = match sort {
            TaskSort::Created => TaskIndex::Created,
            TaskSort::DueDate => {
                if f.due_from.is_some() || f.due_to.is_some() {
                    // `date#id` keys: `{to}$` is above every key of that date ('$' follows '#'),
                    // and `~` is above every dated key yet below every undated one (`~#id`).
                    range.low = f.due_from.as_ref().map(|d| format!("{d}#"));
                    range.high = Some(
                        f.due_to.as_ref().map(|d| format!("{d}$")).unwrap_or_else(|| keys::NO_DUE_DATE.to_owned()),
                    );
                }
                TaskIndex::Due
            }
            TaskSort::Priority => {
                if let Some(priority) = f.priority {
                    // `{rank}#…` keys: `{rank}$` is above every one of them and no key itself.
                    let rank = keys::priority_rank(priority);
                    range.low = Some(keys::priority_prefix(priority));
                    range.high = Some(format!("{rank}$"));
                }
                TaskIndex::Priority
            }
        };
        if let (Some(low), Some(high)) = (&range.low, &range.high)
            && low > high
        {
            return None;
        }
        let mut filter = Query::default();
        filter.filter("status", "#status = :status", ":status", f.status.map(|v| s(v.as_str())));
        filter.filter("priority", "#priority = :priority", ":priority", f.priority.map(|v| s(v.as_str())));
        filter.filter("assignee", "#assignee = :assignee", ":assignee", f.assignee.clone().map(s));
        filter.filter("categoryId", "#categoryId = :categoryId", ":categoryId", f.category_id.clone().map(s));
        filter.filter("projectId", "#projectId = :projectId", ":projectId", f.project_id.clone().map(s));
        filter.filter("sprintId", "#sprintId = :sprintId", ":sprintId", f.sprint_id.clone().map(s));
        filter.filter("tags", "contains(#tags, :tag)", ":tag", f.tag.clone().map(s));
        // An absent dueDate fails both comparisons: undated tasks never match a range.
        filter.filter("dueDate", "#dueDate >= :dueFrom", ":dueFrom", f.due_from.clone().map(s));
        filter.filter("dueDate", "#dueDate <= :dueTo", ":dueTo", f.due_to.clone().map(s));
        Some(Self { index, descending: sort == TaskSort::Created, range, filter })
    }

    /// The sort-key condition of a read from `from` (over `#isk`, with its values), empty
    /// for the whole partition, or `None` when nothing is left there.
    fn sort_condition(&self, from: &Position) -> Option<(&'static str, Vec<(&'static str, String)>)> {
        if self.descending {
            return Some(match from {
                Position::Start => ("", vec![]),
                Position::After(key) => ("#isk < :a", vec![(":a", key.clone())]),
                Position::From(key) => ("#isk <= :a", vec![(":a", key.clone())]),
                Position::Done => return None,
            });
        }
        // Ascending: the position raises the range's low end. The key right after `key` is
        // `key` followed by U+0000, the smallest character: exactly "past `key`".
        let position = match from {
            Position::Start => None,
            Position::After(key) => Some(format!("{key}\u{0}")),
            Position::From(key) => Some(key.clone()),
            Position::Done => return None,
        };
        let low = match (position, &self.range.low) {
            (Some(p), Some(l)) => Some(if &p > l { p } else { l.clone() }),
            (p, l) => p.or_else(|| l.clone()),
        };
        Some(match (low, &self.range.high) {
            (Some(low), Some(high)) if &low > high => return None,
            (Some(low), Some(high)) => ("#isk BETWEEN :a AND :b", vec![(":a", low), (":b", high.clone())]),
            (Some(low), None) => ("#isk >= :a", vec![(":a", low)]),
            (None, Some(high)) => ("#isk <= :b", vec![(":b", high.clone())]),
            (None, None) => ("", vec![]),
        })
    }
}

impl DynamoStore {
    pub(crate) async fn list_task_page(&self, tenant: &str, q: &TaskQuery) -> Result<Page<TaskSnapshot>, StoreError> {
        let shards = self.layout.task_shards.max(1);
        // A cursor is bound to the tenant, the filter, the order and the shard count.
        let cursor = ShardCursor { scope: format!("tasks|{tenant}|{:?}|{:?}|{shards}", q.filter, q.sort), shards };
        let positions = match &q.cursor {
            Some(text) => cursor.decode(text)?,
            None => vec![Position::Start; usize::from(shards)],
        };
        let Some(list) = ListPlan::new(q.sort, &q.filter) else {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        };
        let limit = q.limit.clamp(1, MAX_PAGE);
        let factor = if list.filter.filters.is_empty() { 1 } else { FILTERED_READ_FACTOR };
        let plan = Plan {
            limit,
            budget: self.read_cap,
            // About one shard's share of the page (and the item that proves a next page).
            first_read: ((limit + 1) * factor).div_ceil(usize::from(shards)) + 1,
            descending: list.descending,
        };
        let merged =
            merge::merge(positions, plan, |shard, from, n| self.read_shard(tenant, &list, shard, from, n)).await?;
        let items = merged.items.into_iter().map(item::from_item).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor: merged.positions.map(|p| cursor.encode(&p)) })
    }

    /// Up to `limit` items of one shard of the list, from `from`.
    async fn read_shard(
        &self,
        tenant: &str,
        list: &ListPlan,
        shard: usize,
        from: Position,
        limit: usize,
    ) -> Result<Fetched<Item>, StoreError> {
        let Some((condition, bounds)) = list.sort_condition(&from) else {
            return Ok(Fetched { items: Vec::new(), next: Position::Done, scanned: 0 });
        };
        let (pk_name, sk_name) = list.index.attributes();
        let shard = u16::try_from(shard).map_err(|_| StoreError::BadCursor)?;
        let mut key_condition = "#ipk = :ipk".to_owned();
        let mut names = list.filter.names.clone();
        let mut values = list.filter.values.clone();
        names.insert("#ipk".to_owned(), pk_name.to_owned());
        values.insert(":ipk".to_owned(), s(list.index.partition(tenant, shard)));
        if !condition.is_empty() {
            key_condition.push_str(" AND ");
            key_condition.push_str(condition);
            names.insert("#isk".to_owned(), sk_name.to_owned());
            values.extend(bounds.into_iter().map(|(placeholder, bound)| (placeholder.to_owned(), s(bound))));
        }
        let filter = (!list.filter.filters.is_empty()).then(|| list.filter.filters.join(" AND "));
        let response = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(self.layout.index_name(list.index))
            .key_condition_expression(key_condition)
            .set_filter_expression(filter)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(!list.descending)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| unavailable("Query", e))?;
        let scanned = usize::try_from(response.scanned_count).unwrap_or(limit);
        let next = match response.last_evaluated_key.as_ref().and_then(|k| item::get_s(k, sk_name)) {
            Some(last) => Position::After(last.to_owned()),
            None => Position::Done,
        };
        let items = response
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|found| {
                let key = item::get_s(&found, sk_name)
                    .map(str::to_owned)
                    .ok_or_else(|| StoreError::Corrupt(format!("an item of index {sk_name} has no {sk_name}")))?;
                Ok((key, found))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Fetched { items, next, scanned })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use events_schema::events::Priority;

    use super::*;

    fn condition(sort: TaskSort, filter: &TaskFilter, from: &Position) -> Option<(&'static str, Vec<String>)> {
        let plan = ListPlan::new(sort, filter).unwrap();
        plan.sort_condition(from).map(|(c, values)| (c, values.into_iter().map(|(_, v)| v).collect()))
    }

    #[test]
    fn positions_become_key_conditions_within_the_filters_range() {
        let none = TaskFilter::default();
        let after = |k: &str| Position::After(k.into());
        let from = |k: &str| Position::From(k.into());
        // Newest first: read downwards from the position.
        assert_eq!(condition(TaskSort::Created, &none, &Position::Start), Some(("", vec![])));
        assert_eq!(condition(TaskSort::Created, &none, &after("id5")), Some(("#isk < :a", vec!["id5".into()])));
        assert_eq!(condition(TaskSort::Created, &none, &from("id5")), Some(("#isk <= :a", vec!["id5".into()])));
        // Ascending: the position raises the low end, past a key by the smallest character.
        assert_eq!(condition(TaskSort::DueDate, &none, &after("k")), Some(("#isk >= :a", vec!["k\u{0}".into()])));
        let may = TaskFilter { due_from: Some("2026-05-01".into()), due_to: Some("2026-05-31".into()), ..none.clone() };
        let range = |low: &str| Some(("#isk BETWEEN :a AND :b", vec![low.to_owned(), "2026-05-31$".to_owned()]));
        assert_eq!(condition(TaskSort::DueDate, &may, &Position::Start), range("2026-05-01#"));
        assert_eq!(condition(TaskSort::DueDate, &may, &after("2026-04-01#x")), range("2026-05-01#"));
        assert_eq!(condition(TaskSort::DueDate, &may, &from("2026-05-07#x")), range("2026-05-07#x"));
        assert_eq!(condition(TaskSort::DueDate, &may, &after("2026-06-01#x")), None, "past the range: nothing left");
        let high = TaskFilter { priority: Some(Priority::High), ..none };
        assert_eq!(
            condition(TaskSort::Priority, &high, &Position::Start),
            Some(("#isk BETWEEN :a AND :b", vec!["1#".into(), "1$".into()]))
        );
        assert_eq!(condition(TaskSort::Priority, &high, &Position::Done), None);
    }

    #[test]
    fn an_empty_due_range_lists_nothing() {
        let backwards = TaskFilter {
            due_from: Some("2026-07-01".into()),
            due_to: Some("2026-04-01".into()),
            ..TaskFilter::default()
        };
        assert!(ListPlan::new(TaskSort::DueDate, &backwards).is_none());
        assert!(ListPlan::new(TaskSort::Created, &backwards).is_some(), "other orders filter it out instead");
    }
}
