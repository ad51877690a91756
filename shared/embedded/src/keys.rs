//! API keys: each one bound to a tenant and a role, for `taskstream serve` (on AWS, Cognito
//! and API Gateway play this part).
//!
//! A key reads `tsk_<id>_<secret>`: 16 hex digits of id, which find the row without a scan,
//! and 64 hex digits (256 random bits) of secret. Only the key's SHA-256 digest is stored.
//! A slow password hash (argon2, bcrypt) exists to make guessing a low-entropy human
//! password expensive; a 256-bit random secret cannot be guessed at any hashing speed, so a
//! slow hash would only spend milliseconds of CPU on every request. The digests are compared
//! in constant time, so a response's timing says nothing about how much of a guess matched.
//!
//! Verified keys are cached in memory for a short time (the authenticator's `ttl`), so the
//! request path costs a hash and a map lookup, not a database read. A revocation made
//! through this process's [`ApiKeys`] takes effect at once; one made by another process
//! (`taskstream keys revoke` beside a running `serve`) takes effect when the cached entry
//! expires, within `ttl`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use sha2::{Digest, Sha256};
use shared_core::ports::http::{Extensions, HeaderMap, header};
use shared_core::ports::{API_KEY_HEADER, AuthError, Authenticator, presented_credential};
use shared_core::{Identity, Role};
use subtle::ConstantTimeEq;

use crate::EmbeddedError;
use crate::db::{DB_FILE, Db};

mod cache;
mod directory;
use cache::{KeyCache, Lookup};

const PREFIX: &str = "tsk_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
/// How long a verified key is trusted without a database read, unless told otherwise.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    key_id      TEXT NOT NULL PRIMARY KEY,
    tenant      TEXT NOT NULL,
    role        TEXT NOT NULL,
    -- SHA-256 of the whole key; the key itself is never stored.
    key_digest  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    -- The person the key speaks for (its requests' actor), if any.
    person      TEXT
) WITHOUT ROWID;
";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("a tenant is 1 to 64 letters, digits, '-', '_' or '.', got {0:?}")]
    Tenant(String),
    #[error("a key's person is a user name: {0}")]
    Person(String),
    #[error("no API key has the id {0:?}")]
    UnknownKey(String),
    #[error("the operating system gave no random bytes: {0}")]
    Random(String),
    #[error("no taskstream data at {0} (start `taskstream serve --data` there, or create a key first)")]
    NoData(String),
    #[error(transparent)]
    Store(#[from] EmbeddedError),
}

impl From<rusqlite::Error> for KeyError {
    fn from(err: rusqlite::Error) -> Self {
        KeyError::Store(EmbeddedError::Sqlite(err))
    }
}

/// A whole key, secret included. Its `Debug` shows only the id, so logging one by mistake
/// leaks nothing; [`ApiKey::expose`] is the one way to the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a key as given to a person (a file's content, say); `None` unless well formed.
    pub fn parse(text: &str) -> Option<Self> {
        split(text.trim()).map(|_| ApiKey(text.trim().to_owned()))
    }

    pub fn id(&self) -> &str {
        split(&self.0).map(|(id, _)| id).unwrap_or_default()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKey({PREFIX}{}_…)", self.id())
    }
}

/// What is known of a key besides its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub key_id: String,
    pub tenant: String,
    pub role: Role,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The person the key speaks for: its requests act as them.
    pub person: Option<String>,
}

/// A key just made: the only time its secret exists outside the client.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub info: KeyInfo,
    pub key: ApiKey,
}

/// `(id, secret)` of a well-formed key.
fn split(key: &str) -> Option<(&str, &str)> {
    let (id, secret) = key.strip_prefix(PREFIX)?.split_once('_')?;
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (hex(id, ID_BYTES * 2) && hex(secret, SECRET_BYTES * 2)).then_some((id, secret))
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn random_hex(bytes: usize) -> Result<String, KeyError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn check_tenant(tenant: &str) -> Result<(), KeyError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok { Ok(()) } else { Err(KeyError::Tenant(tenant.to_owned())) }
}

fn now() -> String {
    events_schema::Timestamp::now().to_string()
}

// The SQL, over a plain connection: the engine runs it through its writer and readers, the
// key commands over a connection of their own.

pub(crate) fn create_tables(conn: &Connection) -> Result<(), EmbeddedError> {
    conn.execute_batch(SCHEMA)?;
    // Tables made before keys could speak for a person gain the column.
    let has_person: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM pragma_table_info('api_keys') WHERE name = 'person')", [], |r| {
            r.get(0)
        })?;
    if !has_person {
        conn.execute_batch("ALTER TABLE api_keys ADD COLUMN person TEXT")?;
    }
    Ok(())
}

impl NewKey {
    /// A fresh key for `tenant`, not stored yet: a caller that must hand the key over first
    /// (write it to a file, say) stores it after with [`ApiKeys::add`].
    pub fn generate(tenant: &str, role: Role) -> Result<Self, KeyError> {
        Self::generate_for(tenant, role, None)
    }

    /// A fresh key that speaks for `person` (its requests act as them), not stored yet.
    pub fn generate_for(tenant: &str, role: Role, person: Option<&str>) -> Result<Self, KeyError> {
        check_tenant(tenant)?;
        let person =
            person.map(|p| shared_core::notify::parse_name(p).map_err(|e| KeyError::Person(e.message))).transpose()?;
        let key_id = random_hex(ID_BYTES)?;
        let key = ApiKey(format!("{PREFIX}{key_id}_{}", random_hex(SECRET_BYTES)?));
        let info = KeyInfo { key_id, tenant: tenant.to_owned(), role, created_at: now(), revoked_at: None, person };
        Ok(Self { info, key })
    }
}

fn insert(conn: &Connection, new: &NewKey) -> Result<(), EmbeddedError> {
    let info = &new.info;
    conn.execute(
        "INSERT INTO api_keys (key_id, tenant, role, key_digest, created_at, person) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            info.key_id,
            info.tenant,
            info.role.as_str(),
            digest(new.key.expose()).as_slice(),
            info.created_at,
            info.person
        ],
    )?;
    Ok(())
}

fn list(conn: &Connection) -> Result<Vec<KeyInfo>, EmbeddedError> {
    let mut stmt = conn.prepare(
        "SELECT key_id, tenant, role, created_at, revoked_at, person FROM api_keys ORDER BY created_at, key_id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
    })?;
    rows.map(|row| {
        let (key_id, tenant, role, created_at, revoked_at, person) = row?;
        let role = parse_role(&role)?;
        Ok(KeyInfo { key_id, tenant, role, created_at, revoked_at, person })
    })
    .collect()
}

fn parse_role(text: &str) -> Result<Role, EmbeddedError> {
    Role::parse(text).ok_or_else(|| EmbeddedError::Corrupt(format!("an API key has the unknown role {text:?}")))
}

/// Revokes `key_id`; whether it exists. Revoking a revoked key again changes nothing (the
/// first time stands) and is not an error.
fn revoke(conn: &Connection, key_id: &str) -> Result<bool, EmbeddedError> {
    let changed = conn.execute(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE key_id = ?1",
        params![key_id, now()],
    )?;
    Ok(changed > 0)
}

fn count(conn: &Connection) -> Result<i64, EmbeddedError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))?)
}

struct Stored {
    tenant: String,
    role: Role,
    digest: Vec<u8>,
    revoked: bool,
    person: Option<String>,
}

fn lookup(conn: &Connection, key_id: &str) -> Result<Option<Stored>, EmbeddedError> {
    let row = conn
        .prepare_cached(
            "SELECT tenant, role, key_digest, revoked_at IS NOT NULL, person FROM api_keys WHERE key_id = ?1",
        )?
        .query_row([key_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .optional()?;
    row.map(|(tenant, role, digest, revoked, person)| {
        Ok(Stored { tenant, role: parse_role(&role)?, digest, revoked, person })
    })
    .transpose()
}

/// Key management over the engine's database. Revocations through it reach the
/// authenticators it made at once.
#[derive(Clone)]
pub struct ApiKeys {
    db: Arc<Db>,
    cache: Arc<KeyCache>,
}

impl ApiKeys {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        Self { db, cache: Arc::default() }
    }

    pub async fn create(&self, tenant: &str, role: Role) -> Result<NewKey, KeyError> {
        self.create_for(tenant, role, None).await
    }

    /// A key that speaks for `person`: its requests act as them.
    pub async fn create_for(&self, tenant: &str, role: Role, person: Option<&str>) -> Result<NewKey, KeyError> {
        let new = NewKey::generate_for(tenant, role, person)?;
        self.add(&new).await?;
        Ok(new)
    }

    /// Stores a key made by [`NewKey::generate`].
    pub async fn add(&self, new: &NewKey) -> Result<(), KeyError> {
        let new = new.clone();
        Ok(self.db.write(move |conn| insert(conn, &new)).await?)
    }

    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        Ok(self.db.read(list).await?)
    }

    /// Revokes `key_id`; this process refuses it from now on.
    pub async fn revoke(&self, key_id: &str) -> Result<(), KeyError> {
        let id = key_id.to_owned();
        let found = self.db.write(move |conn| revoke(conn, &id)).await?;
        self.cache.forget(key_id);
        if found { Ok(()) } else { Err(KeyError::UnknownKey(key_id.to_owned())) }
    }

    /// How many keys exist, revoked ones included.
    pub async fn count(&self) -> Result<i64, KeyError> {
        Ok(self.db.read(count).await?)
    }

    /// Whether any key of the admin role is active.
    pub async fn has_admin(&self) -> Result<bool, KeyError> {
        Ok(self
            .db
            .read(|conn| {
                Ok(conn.query_row(
                    "SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL)",
                    [],
                    |r| r.get::<_, bool>(0),
                )?)
            })
            .await?)
    }

    /// Whether `key` is one this store knows and has not revoked (no cache involved).
    pub async fn is_active(&self, key: &ApiKey) -> Result<bool, KeyError> {
        let (id, presented) = (key.id().to_owned(), digest(key.expose()));
        let stored = self.db.read(move |conn| lookup(conn, &id)).await?;
        Ok(stored.is_some_and(|s| !s.revoked && bool::from(s.digest.as_slice().ct_eq(&presented))))
    }

    /// Drops every cached verification, so the next request of each key reads the database:
    /// for revocations made by another process, when waiting for expiry will not do.
    pub fn invalidate_cache(&self) {
        self.cache.clear();
    }

    /// An authenticator over these keys that trusts a verification for `ttl`.
    pub fn authenticator(&self, ttl: Duration) -> ApiKeyAuthenticator {
        ApiKeyAuthenticator { db: Arc::clone(&self.db), cache: Arc::clone(&self.cache), ttl }
    }
}

/// Authenticates requests by API key. The tenant and role come from the key's row, never
/// from anything else the client sends.
pub struct ApiKeyAuthenticator {
    db: Arc<Db>,
    cache: Arc<KeyCache>,
    ttl: Duration,
}

#[async_trait]
impl Authenticator for ApiKeyAuthenticator {
    async fn authenticate(&self, headers: &HeaderMap, _: &Extensions) -> Result<Identity, AuthError> {
        let Some(presented) = presented_credential(headers) else {
            // Something was sent, but not a key we could read (another scheme, not text).
            let sent = headers.contains_key(API_KEY_HEADER) || headers.contains_key(header::AUTHORIZATION);
            return Err(if sent { AuthError::Invalid } else { AuthError::Missing });
        };
        let Some((key_id, _)) = split(presented) else { return Err(AuthError::Invalid) };
        let presented_digest = digest(presented);
        match self.cache.get(key_id, &presented_digest, self.ttl) {
            Lookup::Hit(identity) => return Ok(identity),
            Lookup::Wrong => return Err(AuthError::Invalid),
            Lookup::Miss => {}
        }
        let id = key_id.to_owned();
        let stored = self.db.read(move |conn| lookup(conn, &id)).await.map_err(|e| {
            tracing::error!(error = %e, "API keys could not be read");
            AuthError::Unavailable(e.to_string())
        })?;
        let Some(stored) = stored else { return Err(AuthError::Invalid) };
        let matches = bool::from(stored.digest.as_slice().ct_eq(presented_digest.as_slice()));
        if stored.revoked || !matches {
            self.cache.forget(key_id);
            return Err(AuthError::Invalid);
        }
        // A key that speaks for a person acts as them: their name is the actor of its writes,
        // so their own actions do not notify them, and `/notifications` is theirs.
        let actor = stored.person.unwrap_or_else(|| format!("key:{key_id}"));
        let identity = Identity { tenant: stored.tenant, actor, role: stored.role };
        self.cache.put(key_id, presented_digest, identity.clone(), self.ttl);
        Ok(identity)
    }
}

/// Key management on a data directory, without the engine and its lock: `taskstream keys`
/// runs beside a `serve` on the same directory. SQLite serialises the two writers (WAL,
/// busy timeout); the serving process sees new keys on first use and revocations within its
/// cache's ttl.
pub struct KeyAdmin {
    conn: Connection,
}

impl KeyAdmin {
    /// Opens the data directory's database; with `create`, makes the directory and the
    /// database if they are missing (keys may be made before the first `serve`).
    pub fn open(dir: &Path, create: bool) -> Result<Self, KeyError> {
        let path = dir.join(DB_FILE);
        if !create && !path.exists() {
            return Err(KeyError::NoData(dir.display().to_string()));
        }
        // Made as serve makes them: the directory and the database its owner's alone.
        let data_dir = |e| EmbeddedError::DataDir(dir.to_owned(), e);
        crate::db::owner_only::create_dir(dir).map_err(data_dir)?;
        crate::db::owner_only::restrict_database(&path).map_err(data_dir)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        create_tables(&conn)?;
        Ok(Self { conn })
    }

    pub fn create(&self, tenant: &str, role: Role) -> Result<NewKey, KeyError> {
        self.create_for(tenant, role, None)
    }

    /// A key that speaks for `person`: its requests act as them.
    pub fn create_for(&self, tenant: &str, role: Role, person: Option<&str>) -> Result<NewKey, KeyError> {
        let new = NewKey::generate_for(tenant, role, person)?;
        insert(&self.conn, &new)?;
        Ok(new)
    }

    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        Ok(list(&self.conn)?)
    }

    /// Revokes `key_id`; a `serve` on the same data refuses it once its cache entry expires.
    pub fn revoke(&self, key_id: &str) -> Result<(), KeyError> {
        if revoke(&self.conn, key_id)? { Ok(()) } else { Err(KeyError::UnknownKey(key_id.to_owned())) }
    }
}

#[cfg(test)]
mod tests;
