//! The in-memory cache of verified keys: what makes the request path a hash and a map
//! lookup instead of a database read.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use shared_core::Identity;
use subtle::ConstantTimeEq;

/// Cached keys at most: past this, expired entries go, then everything if still full.
const MAX_CACHED: usize = 10_000;

/// Keys verified lately, by key id. Shared by the authenticator and [`super::ApiKeys`], so that a
/// revocation in this process drops its entry at once.
#[derive(Default)]
pub(super) struct KeyCache {
    entries: RwLock<HashMap<String, Cached>>,
}

struct Cached {
    digest: [u8; 32],
    identity: Identity,
    verified: Instant,
}

pub(super) enum Lookup {
    Hit(Identity),
    /// The id is known and fresh, but this is not its secret.
    Wrong,
    Miss,
}

impl KeyCache {
    pub(super) fn get(&self, key_id: &str, digest: &[u8; 32], ttl: Duration) -> Lookup {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        match entries.get(key_id) {
            Some(c) if c.verified.elapsed() < ttl => {
                if bool::from(c.digest.ct_eq(digest)) {
                    Lookup::Hit(c.identity.clone())
                } else {
                    Lookup::Wrong
                }
            }
            _ => Lookup::Miss,
        }
    }

    pub(super) fn put(&self, key_id: &str, digest: [u8; 32], identity: Identity, ttl: Duration) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_CACHED && !entries.contains_key(key_id) {
            entries.retain(|_, c| c.verified.elapsed() < ttl);
            if entries.len() >= MAX_CACHED {
                entries.clear();
            }
        }
        entries.insert(key_id.to_owned(), Cached { digest, identity, verified: Instant::now() });
    }

    pub(super) fn forget(&self, key_id: &str) {
        self.entries.write().unwrap_or_else(PoisonError::into_inner).remove(key_id);
    }

    pub(super) fn clear(&self) {
        self.entries.write().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
