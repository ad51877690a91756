//! The keys of one tenant, for `/keys`: the same table and cache as the rest of this module,
//! every statement bounded by the tenant.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use shared_core::Role;
use shared_core::ports::{IssuedKey, KeyDirectory, KeySummary, StoreError};

use super::{ApiKeys, KeyError, KeyInfo, NewKey, now, parse_role};
use crate::EmbeddedError;

fn summary(info: KeyInfo) -> KeySummary {
    KeySummary {
        key_id: info.key_id,
        tenant: info.tenant,
        role: info.role,
        created_at: info.created_at,
        revoked_at: info.revoked_at,
        person: info.person,
    }
}

impl From<KeyError> for StoreError {
    fn from(err: KeyError) -> Self {
        match err {
            KeyError::UnknownKey(_) => StoreError::NotFound,
            KeyError::Store(e) => e.into(),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

fn list_of(conn: &Connection, tenant: &str) -> Result<Vec<KeyInfo>, EmbeddedError> {
    let mut stmt = conn.prepare(
        "SELECT key_id, role, created_at, revoked_at, person FROM api_keys WHERE tenant = ?1
         ORDER BY created_at, key_id",
    )?;
    let rows = stmt.query_map([tenant], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?))
    })?;
    rows.map(|row| {
        let (key_id, role, created_at, revoked_at, person) = row?;
        Ok(KeyInfo { key_id, tenant: tenant.to_owned(), role: parse_role(&role)?, created_at, revoked_at, person })
    })
    .collect()
}

/// Revokes `key_id` if it is `tenant`'s; the key as it now stands, or `None`.
fn revoke_of(conn: &Connection, tenant: &str, key_id: &str) -> Result<Option<KeyInfo>, EmbeddedError> {
    conn.execute(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3) WHERE key_id = ?1 AND tenant = ?2",
        params![key_id, tenant, now()],
    )?;
    let row = conn
        .query_row(
            "SELECT role, created_at, revoked_at, person FROM api_keys WHERE key_id = ?1 AND tenant = ?2",
            params![key_id, tenant],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    row.map(|(role, created_at, revoked_at, person)| {
        Ok(KeyInfo {
            key_id: key_id.to_owned(),
            tenant: tenant.to_owned(),
            role: parse_role(&role)?,
            created_at,
            revoked_at,
            person,
        })
    })
    .transpose()
}

#[async_trait]
impl KeyDirectory for ApiKeys {
    async fn list(&self, tenant: &str) -> Result<Vec<KeySummary>, StoreError> {
        let tenant = tenant.to_owned();
        let keys = self.db.read(move |conn| list_of(conn, &tenant)).await?;
        Ok(keys.into_iter().map(summary).collect())
    }

    async fn create(&self, tenant: &str, role: Role, person: Option<&str>) -> Result<IssuedKey, StoreError> {
        let new: NewKey = ApiKeys::create_for(self, tenant, role, person).await?;
        Ok(IssuedKey { secret: new.key.expose().to_owned(), summary: summary(new.info) })
    }

    async fn revoke(&self, tenant: &str, key_id: &str) -> Result<KeySummary, StoreError> {
        let (tenant, id) = (tenant.to_owned(), key_id.to_owned());
        let revoked = self.db.write(move |conn| revoke_of(conn, &tenant, &id)).await?;
        self.cache.forget(key_id);
        revoked.map(summary).ok_or(StoreError::NotFound)
    }
}
