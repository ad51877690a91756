use shared_core::ports::http::HeaderValue;

use super::*;
use crate::{Engine, EngineConfig};

fn engine() -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (Engine::open(dir.path(), EngineConfig::default()).unwrap(), dir)
}

fn with_header(name: &'static str, value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(name, HeaderValue::from_str(value).unwrap());
    headers
}

async fn auth(authenticator: &ApiKeyAuthenticator, headers: &HeaderMap) -> Result<Identity, AuthError> {
    authenticator.authenticate(headers, &Extensions::new()).await
}

#[test]
fn a_key_reads_tsk_id_secret_and_its_debug_hides_the_secret() {
    let new = NewKey::generate("acme", Role::Member).unwrap();
    let text = new.key.expose();
    let (id, secret) = split(text).unwrap();
    assert_eq!((id.len(), secret.len()), (16, 64));
    assert_eq!(id, new.info.key_id);
    assert!(!format!("{new:?}").contains(secret));
    assert_eq!(ApiKey::parse(&format!(" {text}\n")), Some(new.key.clone()));
    for bad in ["", "tsk_", "tsk_abc_def", "key_0123456789abcdef_00", &text.to_uppercase(), &text[..text.len() - 1]] {
        assert!(ApiKey::parse(bad).is_none(), "{bad:?}");
    }
    assert_ne!(NewKey::generate("acme", Role::Member).unwrap().key, new.key, "keys are random");
}

#[test]
fn a_tenant_is_a_plain_short_name() {
    for bad in ["", "a b", "a#b", &"x".repeat(65)] {
        assert!(matches!(NewKey::generate(bad, Role::Viewer), Err(KeyError::Tenant(_))), "{bad:?}");
    }
    assert!(NewKey::generate("acme-corp_2.eu", Role::Viewer).is_ok());
}

#[tokio::test]
async fn a_key_authenticates_as_its_tenant_and_role_by_header_or_bearer() {
    let (engine, _dir) = engine();
    let keys = engine.api_keys();
    let new = keys.create("acme", Role::Member).await.unwrap();
    let authenticator = keys.authenticator(DEFAULT_CACHE_TTL);
    let expected = Identity { tenant: "acme".into(), actor: format!("key:{}", new.info.key_id), role: Role::Member };
    let key = new.key.expose();
    assert_eq!(auth(&authenticator, &with_header("x-api-key", key)).await, Ok(expected.clone()));
    assert_eq!(auth(&authenticator, &with_header("authorization", &format!("Bearer {key}"))).await, Ok(expected));
}

#[tokio::test]
async fn missing_malformed_unknown_and_wrong_keys_are_refused() {
    let (engine, _dir) = engine();
    let keys = engine.api_keys();
    let new = keys.create("acme", Role::Admin).await.unwrap();
    let authenticator = keys.authenticator(DEFAULT_CACHE_TTL);
    assert_eq!(auth(&authenticator, &HeaderMap::new()).await, Err(AuthError::Missing));
    assert_eq!(auth(&authenticator, &with_header("authorization", "Basic dTpw")).await, Err(AuthError::Invalid));
    assert_eq!(auth(&authenticator, &with_header("x-api-key", "not-a-key")).await, Err(AuthError::Invalid));
    let unknown = NewKey::generate("acme", Role::Admin).unwrap();
    assert_eq!(auth(&authenticator, &with_header("x-api-key", unknown.key.expose())).await, Err(AuthError::Invalid));
    // The right id with another secret: refused, before and after the real key is cached.
    let forged = format!("{PREFIX}{}_{}", new.info.key_id, "0".repeat(64));
    assert_eq!(auth(&authenticator, &with_header("x-api-key", &forged)).await, Err(AuthError::Invalid));
    assert!(auth(&authenticator, &with_header("x-api-key", new.key.expose())).await.is_ok());
    assert_eq!(auth(&authenticator, &with_header("x-api-key", &forged)).await, Err(AuthError::Invalid));
}

#[tokio::test]
async fn a_revocation_here_takes_effect_at_once() {
    let (engine, _dir) = engine();
    let keys = engine.api_keys();
    let new = keys.create("acme", Role::Member).await.unwrap();
    let authenticator = keys.authenticator(Duration::from_secs(3600));
    let headers = with_header("x-api-key", new.key.expose());
    assert!(auth(&authenticator, &headers).await.is_ok());
    keys.revoke(&new.info.key_id).await.unwrap();
    assert_eq!(auth(&authenticator, &headers).await, Err(AuthError::Invalid));
    assert!(!keys.is_active(&new.key).await.unwrap());
    // Revoking twice is fine; an unknown id is an error.
    keys.revoke(&new.info.key_id).await.unwrap();
    assert!(matches!(keys.revoke("0000000000000000").await, Err(KeyError::UnknownKey(_))));
}

#[tokio::test]
async fn another_process_revocation_shows_after_expiry_or_invalidation() {
    let (engine, dir) = engine();
    let keys = engine.api_keys();
    // Made by another connection, as `taskstream keys create` beside a running serve.
    let admin = KeyAdmin::open(dir.path(), false).unwrap();
    let new = admin.create("acme", Role::Viewer).unwrap();
    let cached = keys.authenticator(Duration::from_secs(3600));
    let uncached = keys.authenticator(Duration::ZERO);
    let headers = with_header("x-api-key", new.key.expose());
    assert!(auth(&cached, &headers).await.is_ok());

    admin.revoke(&new.info.key_id).unwrap();
    assert!(auth(&cached, &headers).await.is_ok(), "still trusted within its ttl");
    keys.invalidate_cache();
    assert_eq!(auth(&cached, &headers).await, Err(AuthError::Invalid));

    // With the entry expired, the next request reads the database again.
    let other = admin.create("acme", Role::Viewer).unwrap();
    let headers = with_header("x-api-key", other.key.expose());
    assert!(auth(&uncached, &headers).await.is_ok());
    admin.revoke(&other.info.key_id).unwrap();
    assert_eq!(auth(&uncached, &headers).await, Err(AuthError::Invalid));
}

#[tokio::test]
async fn the_database_holds_digests_and_lists_show_no_secret() {
    let (engine, dir) = engine();
    let keys = engine.api_keys();
    let a = keys.create("acme", Role::Admin).await.unwrap();
    let b = keys.create("globex", Role::Viewer).await.unwrap();
    keys.revoke(&b.info.key_id).await.unwrap();
    assert_eq!(keys.count().await.unwrap(), 2);

    let listed = keys.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    let find = |id: &str| listed.iter().find(|k| k.key_id == id).unwrap();
    assert_eq!((find(&a.info.key_id).role, find(&a.info.key_id).revoked_at.is_none()), (Role::Admin, true));
    assert_eq!((find(&b.info.key_id).tenant.as_str(), find(&b.info.key_id).revoked_at.is_some()), ("globex", true));

    // No column of the table holds the secret, in any encoding we use.
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let dump: String = conn
        .query_row(
            "SELECT group_concat(key_id || tenant || role || hex(key_digest) || created_at, '|') FROM api_keys",
            [],
            |r| r.get(0),
        )
        .unwrap();
    for key in [&a.key, &b.key] {
        let (_, secret) = split(key.expose()).unwrap();
        assert!(!dump.to_lowercase().contains(secret));
    }
}

#[test]
fn key_admin_needs_existing_data_unless_told_to_create_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    assert!(matches!(KeyAdmin::open(&missing, false), Err(KeyError::NoData(_))));
    let admin = KeyAdmin::open(&missing, true).unwrap();
    let new = admin.create("acme", Role::Admin).unwrap();
    assert_eq!(admin.list().unwrap()[0].key_id, new.info.key_id);
    // Made as serve makes them: the directory and the database files the owner's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&missing), 0o700);
        for file in ["taskstream.db", "taskstream.db-wal"] {
            assert_eq!(mode(&missing.join(file)), 0o600, "{file}");
        }
    }
    // The engine opens the same database later and sees the key.
    drop(admin);
    let engine = Engine::open(&missing, EngineConfig::default()).unwrap();
    let keys = engine.api_keys();
    let identity = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        auth(&keys.authenticator(DEFAULT_CACHE_TTL), &with_header("x-api-key", new.key.expose())).await
    });
    assert_eq!(identity.unwrap().tenant, "acme");
}

#[tokio::test]
async fn a_key_made_for_a_person_acts_as_them_and_others_as_their_key() {
    let (engine, _dir) = engine();
    let keys = engine.api_keys();
    let authenticator = keys.authenticator(DEFAULT_CACHE_TTL);
    let li = keys.create_for("acme", Role::Member, Some("li")).await.unwrap();
    let plain = keys.create("acme", Role::Member).await.unwrap();
    let got = auth(&authenticator, &with_header("x-api-key", li.key.expose())).await.unwrap();
    assert_eq!((got.actor.as_str(), got.person()), ("li", Some("li")));
    let got = auth(&authenticator, &with_header("x-api-key", plain.key.expose())).await.unwrap();
    assert_eq!((got.actor.clone(), got.person()), (format!("key:{}", plain.info.key_id), None));
    let listed = keys.list().await.unwrap();
    assert_eq!(listed.iter().filter_map(|k| k.person.as_deref()).collect::<Vec<_>>(), ["li"]);
    assert!(matches!(keys.create_for("acme", Role::Member, Some("li wei")).await, Err(KeyError::Person(_))));
}

#[test]
fn a_key_table_from_before_people_gains_the_person_column() {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
    conn.execute_batch(
        "CREATE TABLE api_keys (key_id TEXT NOT NULL PRIMARY KEY, tenant TEXT NOT NULL, role TEXT NOT NULL,
           key_digest BLOB NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT) WITHOUT ROWID;
         INSERT INTO api_keys VALUES ('0123456789abcdef', 'acme', 'admin', x'00', '2026-01-01T00:00:00.000Z', NULL);",
    )
    .unwrap();
    drop(conn);
    let admin = KeyAdmin::open(dir.path(), false).unwrap();
    admin.create_for("acme", Role::Viewer, Some("li")).unwrap();
    let people: Vec<Option<String>> = admin.list().unwrap().into_iter().map(|k| k.person).collect();
    assert_eq!(people.len(), 2);
    assert!(people.contains(&None) && people.contains(&Some("li".to_owned())));
    // Opening again finds the column there and changes nothing.
    drop(admin);
    assert_eq!(KeyAdmin::open(dir.path(), false).unwrap().list().unwrap().len(), 2);
}
