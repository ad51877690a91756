//! One ordered page out of several sorted shards, within a read budget.
//!
//! Each shard is read in its own key order, `fetch` by `fetch`; an item is served once no
//! shard can still hold one before it: every other shard either has an item of its own
//! waiting that sorts later, has been read past it, or has nothing left. When the page is
//! full, or the budget of items read is spent, each shard's position says where its next
//! read starts, so the next page goes on from there. Reads of different shards in one round
//! go out together.
//!
//! Positions are sort-key values, never the items' own keys: a position cannot name a
//! partition, so a cursor made of them cannot lead outside the list it was issued for.

use std::collections::VecDeque;
use std::future::Future;

use shared_core::ports::StoreError;

/// Where a shard's next read starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Position {
    /// At the shard's first item.
    Start,
    /// Past this sort key: everything up to it has been read.
    After(String),
    /// At this sort key, which is included: everything before it has been read.
    From(String),
    /// Nothing is left.
    Done,
}

/// What one read of a shard found.
#[derive(Debug)]
pub(crate) struct Fetched<T> {
    /// The matching items read, with their sort keys, in the shard's order.
    pub items: Vec<(String, T)>,
    /// Where the shard's next read starts.
    pub next: Position,
    /// Items examined, matching or not: what the read costs.
    pub scanned: usize,
}

/// A page, and the shards' positions after it (`None`: the list has ended).
#[derive(Debug)]
pub(crate) struct Merged<T> {
    pub items: Vec<T>,
    pub positions: Option<Vec<Position>>,
}

/// How one page is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// The most items the page holds.
    pub limit: usize,
    /// The most items all reads together may examine; at least one per shard, so that every
    /// page reads each shard that is behind and the list always moves on.
    pub budget: usize,
    /// Items to ask of a shard in its first read of this page; each later read of the same
    /// shard asks twice as many, up to [`MAX_READ`].
    pub first_read: usize,
    /// Keys descending (newest first) rather than ascending.
    pub descending: bool,
}

/// DynamoDB answers at most 1 MB a Query anyway.
pub(crate) const MAX_READ: usize = 1000;

struct Shard<T> {
    next: Position,
    waiting: VecDeque<(String, T)>,
    read_size: usize,
}

impl Plan {
    /// `a` comes before `b` in the list's order.
    fn before(&self, a: &str, b: &str) -> bool {
        if self.descending { a > b } else { a < b }
    }

    /// Whether a shard at `next`, with nothing waiting, can hold no item before `key`.
    fn covers(&self, next: &Position, key: &str) -> bool {
        match next {
            Position::Done => true,
            Position::Start => false,
            // Read up to `past`: its next item comes after `past`, and `key` is not later.
            Position::After(past) => !self.before(past, key),
            // Its next item is at or after `from`, which comes after `key`.
            Position::From(from) => self.before(key, from),
        }
    }
}

/// Reads one page: `fetch(shard, from, limit)` reads up to `limit` items of a shard from a
/// position. Stops with a full page (having made sure of what comes next), at the end of
/// every shard, or when the budget is spent, whichever comes first; a page cut short by the
/// budget may hold fewer items than `limit`, even none, and always has positions to go on.
pub(crate) async fn merge<T, F, Fut>(positions: Vec<Position>, plan: Plan, fetch: F) -> Result<Merged<T>, StoreError>
where
    F: Fn(usize, Position, usize) -> Fut,
    Fut: Future<Output = Result<Fetched<T>, StoreError>>,
{
    let first_read = plan.first_read.clamp(1, MAX_READ);
    let mut shards: Vec<Shard<T>> =
        positions.into_iter().map(|next| Shard { next, waiting: VecDeque::new(), read_size: first_read }).collect();
    let mut budget = plan.budget.max(shards.len());
    let mut items = Vec::with_capacity(plan.limit.min(MAX_READ));
    loop {
        // The earliest waiting item over all shards.
        let head = shards
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.waiting.front().map(|(key, _)| (i, key)))
            .reduce(|best, next| if plan.before(next.1, best.1) { next } else { best });
        let behind: Vec<usize> = shards
            .iter()
            .enumerate()
            .filter(|(_, s)| s.waiting.is_empty() && s.next != Position::Done)
            .filter(|(_, s)| head.is_none_or(|(_, key)| !plan.covers(&s.next, key)))
            .map(|(i, _)| i)
            .collect();
        if behind.is_empty() {
            let Some((i, _)) = head else {
                return Ok(Merged { items, positions: None });
            };
            if items.len() >= plan.limit {
                // The next page has its first item already: the cursor is worth giving.
                break;
            }
            if let Some((_, item)) = shards[i].waiting.pop_front() {
                items.push(item);
            }
            continue;
        }
        if budget == 0 {
            break;
        }
        // Read every shard that is behind, in one round, sharing what is left of the budget.
        let share = (budget / behind.len()).max(1);
        let reads = behind.into_iter().take(budget).map(|i| {
            let limit = shards[i].read_size.min(share);
            (i, limit, fetch(i, shards[i].next.clone(), limit))
        });
        let (ids, futures): (Vec<(usize, usize)>, Vec<Fut>) = reads.map(|(i, limit, f)| ((i, limit), f)).unzip();
        for ((i, limit), fetched) in ids.into_iter().zip(futures_util::future::join_all(futures).await) {
            let fetched = fetched?;
            // Never trust a read to cost nothing, so that the loop always ends.
            budget = budget.saturating_sub(fetched.scanned.max(1));
            let shard = &mut shards[i];
            shard.waiting.extend(fetched.items);
            shard.next = fetched.next;
            shard.read_size = (limit * 2).min(MAX_READ);
        }
    }
    let positions = shards
        .into_iter()
        .map(|s| match s.waiting.front() {
            // What waits was read but not served: the next page starts with it.
            Some((key, _)) => Position::From(key.clone()),
            None => s.next,
        })
        .collect();
    Ok(Merged { items, positions: Some(positions) })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use proptest::prelude::*;

    use super::*;

    /// Shards in memory: each a sorted list of (key, matches the filter).
    struct Fake {
        shards: Vec<Vec<(String, bool)>>,
        descending: bool,
        reads: Mutex<Vec<usize>>,
    }

    impl Fake {
        fn new(shards: Vec<Vec<(String, bool)>>, descending: bool) -> Self {
            let mut shards = shards;
            for shard in &mut shards {
                shard.sort();
                if descending {
                    shard.reverse();
                }
            }
            Self { shards, descending, reads: Mutex::default() }
        }

        async fn fetch(&self, shard: usize, from: Position, limit: usize) -> Result<Fetched<String>, StoreError> {
            let keys = &self.shards[shard];
            let after = |key: &str, mark: &str| if self.descending { key < mark } else { key > mark };
            let start = match &from {
                Position::Start => 0,
                Position::After(mark) => keys.iter().position(|(k, _)| after(k, mark)).unwrap_or(keys.len()),
                Position::From(mark) => {
                    keys.iter().position(|(k, _)| k == mark || after(k, mark)).unwrap_or(keys.len())
                }
                Position::Done => panic!("a finished shard was read"),
            };
            let read = &keys[start..(start + limit).min(keys.len())];
            self.reads.lock().unwrap().push(read.len());
            let next = match read.last() {
                Some((last, _)) if start + limit < keys.len() => Position::After(last.clone()),
                _ => Position::Done,
            };
            Ok(Fetched {
                items: read.iter().filter(|(_, m)| *m).map(|(k, _)| (k.clone(), k.clone())).collect(),
                next,
                scanned: read.len(),
            })
        }

        /// Every matching key, in the list's order.
        fn expected(&self) -> Vec<String> {
            let mut all: Vec<String> =
                self.shards.iter().flatten().filter(|(_, m)| *m).map(|(k, _)| k.clone()).collect();
            all.sort();
            if self.descending {
                all.reverse();
            }
            all
        }

        /// Pages through the whole list; every read stays within the budget.
        async fn list(&self, limits: &[usize], budget: usize) -> (Vec<String>, usize) {
            let mut out = Vec::new();
            let mut positions = vec![Position::Start; self.shards.len()];
            let mut pages = 0;
            loop {
                let limit = limits[pages % limits.len()];
                let plan =
                    Plan { limit, budget, first_read: limit / self.shards.len() + 2, descending: self.descending };
                self.reads.lock().unwrap().clear();
                let page = merge(positions, plan, |s, from, n| self.fetch(s, from, n)).await.unwrap();
                let read: usize = self.reads.lock().unwrap().iter().sum();
                assert!(read <= budget.max(self.shards.len()), "read {read} items with a budget of {budget}");
                assert!(page.items.len() <= limit);
                pages += 1;
                assert!(pages < 10_000, "no progress");
                out.extend(page.items);
                match page.positions {
                    Some(next) => positions = next,
                    None => return (out, pages),
                }
            }
        }
    }

    fn keys(prefix: &str, n: usize, every: usize) -> Vec<(String, bool)> {
        (0..n).map(|i| (format!("{prefix}{i:04}"), i % every == 0)).collect()
    }

    #[tokio::test]
    async fn shards_merge_into_one_order_both_ways() {
        for descending in [false, true] {
            // Two shards of items and an empty one.
            let fake = Fake::new(vec![keys("a", 30, 1), keys("b", 10, 1), keys("c", 0, 1)], descending);
            let (listed, pages) = fake.list(&[7], 1000).await;
            assert_eq!(listed, fake.expected());
            assert_eq!(pages, 6, "40 items in pages of 7");
        }
    }

    #[tokio::test]
    async fn a_selective_filter_stops_at_the_budget_and_goes_on_from_there() {
        // One match in 500 items per shard; a budget of 100 per page.
        let fake = Fake::new(vec![keys("a", 1000, 500), keys("b", 1000, 500)], false);
        let (listed, pages) = fake.list(&[10], 100).await;
        assert_eq!(listed, fake.expected());
        assert_eq!(listed.len(), 4);
        assert!(pages >= 20, "2000 items cannot be read in fewer than 20 pages of 100: {pages}");
    }

    #[tokio::test]
    async fn a_page_cut_short_by_the_budget_says_where_to_go_on() {
        let fake = Fake::new(vec![keys("a", 300, 299)], false);
        let plan = Plan { limit: 5, budget: 50, first_read: 10, descending: false };
        let page = merge(vec![Position::Start], plan, |s, from, n| fake.fetch(s, from, n)).await.unwrap();
        assert_eq!(page.items, ["a0000"]);
        assert_eq!(page.positions, Some(vec![Position::After("a0049".into())]));
    }

    #[tokio::test]
    async fn read_but_unserved_items_are_where_the_next_page_starts() {
        let fake = Fake::new(vec![keys("a", 10, 1), keys("b", 10, 1)], false);
        let plan = Plan { limit: 3, budget: 1000, first_read: 10, descending: false };
        let page = merge(vec![Position::Start; 2], plan, |s, from, n| fake.fetch(s, from, n)).await.unwrap();
        assert_eq!(page.items, ["a0000", "a0001", "a0002"]);
        assert_eq!(page.positions, Some(vec![Position::From("a0003".into()), Position::From("b0000".into())]));
    }

    proptest! {
        /// Any shards, any filter, any page sizes, any budget: every matching item once, in order.
        #[test]
        fn every_item_comes_once_in_order(
            shards in proptest::collection::vec(proptest::collection::vec(("[a-f]{1,4}", any::<bool>()), 0..40), 1..6),
            limits in proptest::collection::vec(1usize..12, 1..5),
            budget in 1usize..60,
            descending in any::<bool>(),
        ) {
            // Keys are unique across shards, as a task's index keys are.
            let mut seen = std::collections::HashSet::new();
            let shards: Vec<Vec<(String, bool)>> = shards
                .into_iter()
                .enumerate()
                .map(|(i, keys)| keys.into_iter().map(|(k, m)| (format!("{k}{i}"), m)).filter(|(k, _)| seen.insert(k.clone())).collect())
                .collect();
            let fake = Fake::new(shards, descending);
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (listed, _) = runtime.block_on(fake.list(&limits, budget));
            prop_assert_eq!(listed, fake.expected());
        }
    }
}
