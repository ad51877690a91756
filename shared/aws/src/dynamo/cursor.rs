//! Opaque list cursors: the key of the last item served (what DynamoDB's ExclusiveStartKey
//! takes), with a fingerprint of the list (tenant, filter, sort) it was issued for, as hex of
//! JSON. Decoding checks the fingerprint and that every partition value in the key is the
//! one this list queries: a cursor can never move a Query into another tenant's partition.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use shared_core::ports::StoreError;

use super::item::{Item, s};

const VERSION: u64 = 1;
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

fn fingerprint(scope: &str) -> String {
    // FNV-1a: stable across builds (unlike std's hasher), so cursors survive a deploy. It
    // only tells lists apart; the partition check above is what keeps tenants apart.
    let hash = scope.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
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
