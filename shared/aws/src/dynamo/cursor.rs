//! Opaque list cursors, as hex of JSON with a fingerprint of the list (tenant, filter, sort)
//! they were issued for:
//! - [`Shape`], for a list of one partition: the key of the last item served (what
//!   DynamoDB's ExclusiveStartKey takes). Decoding checks that every partition value in the
//!   key is the one this list queries: a cursor can never move a Query into another tenant's
//!   partition.
//! - [`ShardCursor`], for a task list merged from shards: one position (a sort-key value)
//!   per shard, which holds no partition at all.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use shared_core::ports::StoreError;

use super::item::{Item, s};
use super::merge::Position;

const VERSION: u64 = 1;
const SHARDED_VERSION: u64 = 2;
/// Far above any real cursor; bounds the work a hostile one can cause.
const MAX_LEN: usize = 4096;

/// What a position in one list must look like: each key attribute, with the value it must
/// have when it is a partition key.
pub(crate) struct Shape<'a> {
    pub scope: String,
    pub attributes: Vec<(&'a str, Option<String>)>,
}

impl Shape<'_> {
    pub fn encode(&self, key: &Item) -> String {
        let mut k = Map::new();
        for (name, _) in &self.attributes {
            if let Some(text) = key.get(*name).and_then(|v| v.as_s().ok()) {
                k.insert((*name).to_owned(), Value::String(text.clone()));
            }
        }
        let body = json!({ "v": VERSION, "s": fingerprint(&self.scope), "k": k }).to_string();
        body.bytes().map(|b| format!("{b:02x}")).collect()
    }

    pub fn decode(&self, text: &str) -> Result<Item, StoreError> {
        let bytes = unhex(text).ok_or(StoreError::BadCursor)?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
        if body.get("v").and_then(Value::as_u64) != Some(VERSION)
            || body.get("s").and_then(Value::as_str) != Some(fingerprint(&self.scope).as_str())
        {
            return Err(StoreError::BadCursor);
        }
        let k = body.get("k").and_then(Value::as_object).ok_or(StoreError::BadCursor)?;
        if k.len() != self.attributes.len() {
            return Err(StoreError::BadCursor);
        }
        let mut key = HashMap::with_capacity(k.len());
        for (name, partition) in &self.attributes {
            let value = k.get(*name).and_then(Value::as_str).ok_or(StoreError::BadCursor)?;
            if value.is_empty() || partition.as_deref().is_some_and(|expected| expected != value) {
                return Err(StoreError::BadCursor);
            }
            key.insert((*name).to_owned(), s(value));
        }
        Ok(key)
    }
}

/// The positions of a sharded list's shards: `""` not started, `">key"` past `key`, `"=key"`
/// at `key`, `"-"` finished.
pub(crate) struct ShardCursor {
    pub scope: String,
    pub shards: u16,
}

impl ShardCursor {
    pub fn encode(&self, positions: &[Position]) -> String {
        let p: Vec<String> = positions
            .iter()
            .map(|position| match position {
                Position::Start => String::new(),
                Position::After(key) => format!(">{key}"),
                Position::From(key) => format!("={key}"),
                Position::Done => "-".to_owned(),
            })
            .collect();
        let body = json!({ "v": SHARDED_VERSION, "s": fingerprint(&self.scope), "p": p }).to_string();
        body.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// The positions, one per shard; a cursor of another list, of another shard count, or
    /// broken in any way is [`StoreError::BadCursor`].
    pub fn decode(&self, text: &str) -> Result<Vec<Position>, StoreError> {
        let bytes = unhex(text).ok_or(StoreError::BadCursor)?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|_| StoreError::BadCursor)?;
        if body.get("v").and_then(Value::as_u64) != Some(SHARDED_VERSION)
            || body.get("s").and_then(Value::as_str) != Some(fingerprint(&self.scope).as_str())
        {
            return Err(StoreError::BadCursor);
        }
        let p = body.get("p").and_then(Value::as_array).ok_or(StoreError::BadCursor)?;
        if p.len() != usize::from(self.shards) {
            return Err(StoreError::BadCursor);
        }
        p.iter()
            .map(|position| {
                let text = position.as_str().ok_or(StoreError::BadCursor)?;
                Ok(match text.split_at_checked(1) {
                    None => Position::Start,
                    Some(("-", "")) => Position::Done,
                    Some((">", key)) if !key.is_empty() => Position::After(key.to_owned()),
                    Some(("=", key)) if !key.is_empty() => Position::From(key.to_owned()),
                    _ => return Err(StoreError::BadCursor),
                })
            })
            .collect()
    }
}

fn fingerprint(scope: &str) -> String {
    // Stable across builds (unlike std's hasher), so cursors survive a deploy. It only tells
    // lists apart; what keeps tenants apart is that no cursor holds a partition of its own
    // choosing.
    format!("{:016x}", super::keys::stable_hash(scope))
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > MAX_LEN {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn shape(scope: &str, pk: &str) -> Shape<'static> {
        Shape { scope: scope.to_owned(), attributes: vec![("pk", Some(pk.to_owned())), ("sk", None)] }
    }

    fn key(pk: &str, sk: &str) -> Item {
        HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk)), ("title".to_owned(), s("x"))])
    }

    #[test]
    fn a_cursor_round_trips_within_its_list_only() {
        let list = shape("tasks|acme|f", "T#acme#TASK");
        let text = list.encode(&key("T#acme#TASK", "id1"));
        let back = list.decode(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back.get("sk").unwrap().as_s().unwrap(), "id1");
        assert_eq!(shape("tasks|acme|g", "T#acme#TASK").decode(&text), Err(StoreError::BadCursor));
        assert_eq!(shape("tasks|acme|f", "T#globex#TASK").decode(&text), Err(StoreError::BadCursor));
    }

    #[test]
    fn shard_positions_round_trip_within_their_list_only() {
        let list = ShardCursor { scope: "tasks|acme|f|3".into(), shards: 3 };
        let positions = vec![Position::Start, Position::After("2026-05-01#x".into()), Position::Done];
        let text = list.encode(&positions);
        assert_eq!(list.decode(&text).unwrap(), positions);
        let from = vec![Position::From("=>-".into()), Position::Done, Position::Done];
        assert_eq!(list.decode(&list.encode(&from)).unwrap(), from);
        assert_eq!(
            ShardCursor { scope: "tasks|globex|f|3".into(), shards: 3 }.decode(&text),
            Err(StoreError::BadCursor)
        );
        assert_eq!(ShardCursor { scope: "tasks|acme|f|3".into(), shards: 4 }.decode(&text), Err(StoreError::BadCursor));
        for bad in [json!(["", "", "x"]), json!(["", "", ">"]), json!(["", "", 3]), json!(["", ""])] {
            let body = json!({ "v": 2, "s": fingerprint("tasks|acme|f|3"), "p": bad }).to_string();
            let text: String = body.bytes().map(|b| format!("{b:02x}")).collect();
            assert_eq!(list.decode(&text), Err(StoreError::BadCursor), "{bad}");
        }
        assert_eq!(list.decode("zz"), Err(StoreError::BadCursor));
    }

    #[test]
    fn malformed_and_forged_cursors_are_refused() {
        let list = shape("tasks|acme|f", "T#acme#TASK");
        for bad in ["", "zz", "0", "7b7d", &"ab".repeat(3000)] {
            assert_eq!(list.decode(bad), Err(StoreError::BadCursor), "{bad:?}");
        }
        // A well-formed cursor naming another tenant's partition, with a matching fingerprint.
        let forged = shape("tasks|acme|f", "T#globex#TASK").encode(&key("T#globex#TASK", "id1"));
        assert_eq!(list.decode(&forged), Err(StoreError::BadCursor));
        let text = list.encode(&key("T#acme#TASK", "id1"));
        assert_eq!(list.decode(&text[2..]), Err(StoreError::BadCursor));
    }
}
