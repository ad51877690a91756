//! The signing secrets of webhook subscriptions, in Secrets Manager: one secret per
//! subscription, named by its tenant and id under the stage's prefix
//! (`{prefix}{tenant}/{id}`), so a grant scoped to the prefix covers them all and no other
//! secret of the account. Its value is JSON: the current secret and, after a rotation, the
//! previous one and until when it still signs. The table never holds a secret.

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use events_schema::Timestamp;
use serde::{Deserialize, Serialize};
use shared_core::ports::StoreError;
use shared_core::webhooks::signing::{SECRET_BYTES, Secret};
use uuid::Uuid;

use crate::env::{MissingEnv, required};

/// Where the secrets live: the client and the stage's name prefix.
#[derive(Clone)]
pub struct WebhookSecrets {
    client: Client,
    prefix: String,
}

/// The secrets of one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningSecrets {
    pub current: Secret,
    /// The secret the last rotation replaced, and until when it still signs.
    pub previous: Option<(Secret, Timestamp)>,
}

/// The stored value (`whsec_…` texts and an RFC 3339 instant).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    current: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_until: Option<String>,
}

impl SigningSecrets {
    /// A fresh secret of random bytes from the operating system.
    pub fn fresh() -> Result<Secret, StoreError> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Unavailable(format!("no randomness for a webhook secret: {e}")))?;
        Secret::from_bytes(bytes).ok_or_else(|| StoreError::Corrupt("a webhook secret of the wrong length".into()))
    }

    fn to_json(&self) -> String {
        let stored = Stored {
            current: self.current.expose(),
            previous: self.previous.as_ref().map(|(s, _)| s.expose()),
            previous_until: self.previous.as_ref().map(|(_, until)| until.to_string()),
        };
        // A struct of strings always serializes.
        serde_json::to_string(&stored).unwrap_or_default()
    }

    fn from_json(text: &str) -> Result<Self, StoreError> {
        // The value is never quoted in an error: it is the secret.
        let corrupt = |what: &str| StoreError::Corrupt(format!("a webhook's stored secret has {what}"));
        let stored: Stored = serde_json::from_str(text).map_err(|_| corrupt("no readable JSON"))?;
        let current = Secret::parse(&stored.current).map_err(|_| corrupt("an unreadable current secret"))?;
        let previous = match (stored.previous, stored.previous_until) {
            (Some(old), Some(until)) => Some((
                Secret::parse(&old).map_err(|_| corrupt("an unreadable previous secret"))?,
                Timestamp::parse(&until).map_err(|_| corrupt("an unreadable previousUntil"))?,
            )),
            _ => None,
        };
        Ok(Self { current, previous })
    }
}

/// Keeps a secret name's path one segment per part: anything outside the letters Secrets
/// Manager allows (and `/`, which would spell another path, and `+`, the escape) becomes
/// `+XX`.
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'=' | b'@' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

fn failed<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let throttled = err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ThrottlingException");
    let message = format!("Secrets Manager {operation}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(err));
    tracing::warn!(error = %message, throttled, "Secrets Manager call failed");
    if throttled { StoreError::Throttled(message) } else { StoreError::Unavailable(message) }
}

fn not_found<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ResourceNotFoundException")
}

impl WebhookSecrets {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self { client, prefix: prefix.into() }
    }

    /// The client from `config`, the prefix from `WEBHOOK_SECRET_PREFIX` (the CDK app sets
    /// it, and scopes the function's grant to it).
    pub fn from_env(config: &SdkConfig) -> Result<Self, MissingEnv> {
        Ok(Self::new(Client::new(config), required("WEBHOOK_SECRET_PREFIX")?))
    }

    /// The name of `id`'s secret.
    pub fn name(&self, tenant: &str, id: Uuid) -> String {
        format!("{}{}/{}", self.prefix, segment(tenant), id.hyphenated())
    }

    /// Stores a new subscription's secret; refused if one of that name exists.
    pub async fn create(&self, tenant: &str, id: Uuid, secrets: &SigningSecrets) -> Result<(), StoreError> {
        self.client
            .create_secret()
            .name(self.name(tenant, id))
            .description("The signing secret of a taskstream webhook subscription")
            .secret_string(secrets.to_json())
            .send()
            .await
            .map_err(|e| failed("CreateSecret", e))?;
        Ok(())
    }

    /// The subscription's secrets; `None` when it has none.
    pub async fn get(&self, tenant: &str, id: Uuid) -> Result<Option<SigningSecrets>, StoreError> {
        match self.client.get_secret_value().secret_id(self.name(tenant, id)).send().await {
            Ok(out) => {
                let text =
                    out.secret_string().ok_or_else(|| StoreError::Corrupt("a webhook secret with no text".into()))?;
                SigningSecrets::from_json(text).map(Some)
            }
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(failed("GetSecretValue", e)),
        }
    }

    /// Replaces the subscription's secrets (a new version of its secret).
    pub async fn put(&self, tenant: &str, id: Uuid, secrets: &SigningSecrets) -> Result<(), StoreError> {
        self.client
            .put_secret_value()
            .secret_id(self.name(tenant, id))
            .secret_string(secrets.to_json())
            .send()
            .await
            .map_err(|e| failed("PutSecretValue", e))?;
        Ok(())
    }

    /// Deletes the subscription's secret at once (no recovery window: a deleted
    /// subscription's secret signs nothing again). Deleting one that is not there succeeds
    /// (Secrets Manager answers a forced delete of an unknown name with success).
    pub async fn delete(&self, tenant: &str, id: Uuid) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_secret()
            .secret_id(self.name(tenant, id))
            .force_delete_without_recovery(true)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(failed("DeleteSecret", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_has_one_segment_per_tenant_whatever_it_holds() {
        assert_eq!(segment("acme-co_1.x"), "acme-co_1.x");
        assert_eq!(segment("a/b"), "a+2Fb");
        assert_eq!(segment("a+2Fb"), "a+2B2Fb");
        assert_ne!(segment("a/b"), segment("a+2Fb"));
    }

    #[test]
    fn the_stored_value_reads_back_and_an_unreadable_one_names_no_secret() {
        let secret = |b| Secret::from_bytes(vec![b; 32]).unwrap();
        let until = Timestamp::parse("2026-03-02T10:00:00Z").unwrap();
        for secrets in [
            SigningSecrets { current: secret(1), previous: None },
            SigningSecrets { current: secret(1), previous: Some((secret(2), until)) },
        ] {
            assert_eq!(SigningSecrets::from_json(&secrets.to_json()).unwrap(), secrets);
        }
        let bad = SigningSecrets::from_json(r#"{"current":"whsec_tooshort"}"#).unwrap_err();
        assert!(!bad.to_string().contains("tooshort"), "{bad}");
    }
}
