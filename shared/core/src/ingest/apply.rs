//! A command applied to the store: validated, checked against its receipt, planned against
//! the task it names, then committed with the receipt as one conditional write.

use events_schema::Timestamp;
use events_schema::commands::{CommandEnvelope, ExpectedVersion, TaskRef};

use super::outcome::{Outcome, Reason, Rejection};
use super::plan::{not_found, plan, stale};
use super::validate::{Body, Validated, receipt_key, validate};
use crate::context::{Identity, RequestContext};
use crate::domain::Task;
use crate::ports::{IdempotencyRecord, Store, StoreError};

/// How often a command on `"latest"` plans again when another write got in between its read
/// and its write; a command on a named version is stale at once instead.
const LATEST_ATTEMPTS: usize = 3;

/// Applies one command as `publisher` (whose identity gives the tenant). A command applied
/// before (its id has a receipt) does nothing and reports the first outcome as a duplicate.
pub async fn apply(store: &dyn Store, publisher: &Identity, envelope: CommandEnvelope) -> Result<Outcome, Rejection> {
    let command = validate(envelope, publisher)?;
    let key = receipt_key(&command.command_id);
    if let Some(receipt) = store.get_idempotency(&command.tenant, &key).await.map_err(store_error)? {
        return duplicate(&command, receipt);
    }
    let ctx = RequestContext {
        identity: Identity { tenant: command.tenant.clone(), actor: command.actor.clone(), role: command.role },
        correlation_id: command.correlation_id.clone(),
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let found = resolve(store, &command).await?;
        let planned = plan(&command, found.as_ref(), Timestamp::now(), || uuid::Uuid::now_v7().to_string())?;
        let receipt = IdempotencyRecord {
            key: key.clone(),
            fingerprint: command.fingerprint.clone(),
            status: 200,
            body: serde_json::to_string(&planned.outcome)
                .map_err(|e| Rejection::new(Reason::Internal, format!("the outcome could not be written: {e}")))?,
        };
        let linking = planned.link.as_ref().map(|link| link.key.clone());
        match store.commit_command(&ctx, planned.changes, receipt, planned.link).await {
            Ok(()) => {
                tracing::info!(
                    command_id = %command.command_id,
                    tenant = %command.tenant,
                    task_id = %planned.outcome.task_id,
                    result = ?planned.outcome.result,
                    "command applied"
                );
                return Ok(planned.outcome);
            }
            Err(StoreError::IdempotencyRace) => {
                // Another delivery of the same id committed first.
                return match store.get_idempotency(&command.tenant, &key).await.map_err(store_error)? {
                    Some(receipt) => duplicate(&command, receipt),
                    None => Err(Rejection::new(Reason::Unavailable, "the command is being applied; retry shortly")),
                };
            }
            Err(StoreError::AlreadyExists(taken)) if linking.as_deref() == Some(taken.as_str()) => {
                return Err(key_taken(store, &command.tenant, &taken).await);
            }
            Err(StoreError::Conflict { expected, current }) => {
                let reference = command.body.task().cloned().unwrap_or_else(|| TaskRef::Id(String::new()));
                let latest = matches!(command.body, Body::Status { expected: ExpectedVersion::Latest, .. });
                if latest && attempt < LATEST_ATTEMPTS {
                    continue;
                }
                return Err(stale(&reference, expected, current));
            }
            Err(StoreError::NotFound) => {
                let reference = command.body.task().cloned().unwrap_or_else(|| TaskRef::Id(String::new()));
                return Err(not_found(&reference));
            }
            Err(other) => return Err(store_error(other)),
        }
    }
}

/// The task the command names, as stored now; `None` for a create (whose external key must
/// still be free).
async fn resolve(store: &dyn Store, command: &Validated) -> Result<Option<Task>, Rejection> {
    let tenant = &command.tenant;
    let id = match &command.body {
        Body::Create { external_key: Some(key), .. } => {
            if store.task_for_external_key(tenant, key).await.map_err(store_error)?.is_some() {
                return Err(key_taken(store, tenant, key).await);
            }
            return Ok(None);
        }
        Body::Create { external_key: None, .. } => return Ok(None),
        Body::Status { task, .. } | Body::Comment { task, .. } => match task {
            TaskRef::Id(id) => id.clone(),
            TaskRef::ExternalKey(key) => match store.task_for_external_key(tenant, key).await.map_err(store_error)? {
                Some(id) => id,
                None => return Ok(None),
            },
        },
    };
    store.get_task(tenant, &id).await.map_err(store_error)
}

async fn key_taken(store: &dyn Store, tenant: &str, key: &str) -> Rejection {
    let holder = store.task_for_external_key(tenant, key).await.ok().flatten();
    let message = match holder {
        Some(id) => format!("the external key {key:?} already names task {id}"),
        None => format!("the external key {key:?} already names a task"),
    };
    Rejection::new(Reason::ExternalKeyTaken, message)
}

/// The first delivery's outcome, if the receipt is of this same command.
fn duplicate(command: &Validated, receipt: IdempotencyRecord) -> Result<Outcome, Rejection> {
    if receipt.fingerprint != command.fingerprint {
        return Err(Rejection::new(
            Reason::CommandIdReused,
            format!("the command id {:?} was used before for another command; use a new id", command.command_id),
        ));
    }
    let mut outcome: Outcome = serde_json::from_str(&receipt.body)
        .map_err(|e| Rejection::new(Reason::Internal, format!("the receipt of the command cannot be read: {e}")))?;
    outcome.duplicate = true;
    tracing::info!(command_id = %command.command_id, tenant = %command.tenant, "duplicate command ignored");
    Ok(outcome)
}

fn store_error(err: StoreError) -> Rejection {
    match err {
        StoreError::Unavailable(reason) | StoreError::Throttled(reason) => {
            tracing::warn!(%reason, "store unavailable to ingest");
            Rejection::new(Reason::Unavailable, "the store is unavailable; retry later")
        }
        other => {
            tracing::error!(error = %other, "ingest failed");
            Rejection::new(Reason::Internal, format!("the command could not be applied: {other}"))
        }
    }
}
