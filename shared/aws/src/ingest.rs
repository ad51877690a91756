//! The task-ingest Lambda's work: commands that internal services put on the bus under their
//! own source arrive on the ingest queue (a bus rule for every source but taskstream's); each
//! is applied as the tenant its source maps to. A command refused for good goes to the
//! dead-letter queue at once, with the reason; one the store could not take now is reported
//! failed, so SQS delivers it again.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use events_schema::commands::CommandEnvelope;
use serde::Deserialize;
use shared_core::context::{Identity, Role};
use shared_core::ingest::{BATCH_CONCURRENCY, Reason, Rejection, apply_batch};
use shared_core::ports::Store;

use crate::parking::SqsDeadLetters;

/// The name the ingest queue's dead letters are recorded under.
pub const TASK_INGEST: &str = "task-ingest";

/// Which tenant each publishing source writes to: the publisher's identity on the bus. A
/// source may be bound to one AWS account too (`source@account`), so that another account
/// cannot publish as it onto a bus it may write to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceTenants {
    by_source: HashMap<String, Binding>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    tenant: String,
    account: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("INGEST_SOURCES must be `source[@account]=tenant` pairs separated by commas: {0}")]
pub struct BadSources(String);

impl SourceTenants {
    /// Reads `integrations.git=acme,ci.builds@123456789012=acme`.
    pub fn parse(text: &str) -> Result<Self, BadSources> {
        let mut by_source = HashMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (who, tenant) = pair.split_once('=').ok_or_else(|| BadSources(format!("{pair:?} has no '='")))?;
            let (source, account) = match who.split_once('@') {
                Some((source, account)) => (source.trim(), Some(account.trim().to_owned())),
                None => (who.trim(), None),
            };
            let tenant = tenant.trim();
            if source.is_empty() || tenant.is_empty() || source == "taskstream" {
                return Err(BadSources(format!("{pair:?} needs a source other than taskstream and a tenant")));
            }
            let binding = Binding { tenant: tenant.to_owned(), account };
            if by_source.insert(source.to_owned(), binding).is_some() {
                return Err(BadSources(format!("{source:?} is mapped twice")));
            }
        }
        Ok(Self { by_source })
    }

    /// The publisher of an event from `source` (sent by `account`, when the bus says).
    pub fn publisher(&self, source: &str, account: Option<&str>) -> Result<Identity, Rejection> {
        let binding = self.by_source.get(source).ok_or_else(|| {
            Rejection::new(Reason::Forbidden, format!("the source {source:?} is not mapped to a tenant"))
        })?;
        if let Some(bound) = &binding.account
            && account != Some(bound.as_str())
        {
            return Err(Rejection::new(
                Reason::Forbidden,
                format!("the source {source:?} publishes from account {bound}, not {}", account.unwrap_or("(none)")),
            ));
        }
        Ok(Identity { tenant: binding.tenant.clone(), actor: source.to_owned(), role: Role::Member })
    }
}

/// The part of an EventBridge event the ingest reads, as the rule's SQS target delivers it.
#[derive(Deserialize)]
struct BusEvent {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    account: Option<String>,
    detail: CommandEnvelope,
}

/// One message: its publisher and command, or why it cannot be applied.
fn read(body: &str, sources: &SourceTenants) -> Result<(Identity, CommandEnvelope), Rejection> {
    let event: BusEvent = serde_json::from_str(body)
        .map_err(|e| Rejection::new(Reason::Malformed, format!("not a bus event carrying a command: {e}")))?;
    if event.detail_type != event.detail.command_type {
        return Err(Rejection::new(
            Reason::Invalid,
            format!(
                "the detail-type {:?} is not the command's type {:?}",
                event.detail_type, event.detail.command_type
            ),
        ));
    }
    let publisher = sources.publisher(&event.source, event.account.as_deref())?;
    Ok((publisher, event.detail))
}

/// Applies an SQS batch of bus events carrying commands; only messages worth another try are
/// reported failed.
pub async fn consume_commands(
    store: &dyn Store,
    sources: &SourceTenants,
    dead_letters: &SqsDeadLetters,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    // Commands of one publisher go through one batch (per-task order, shared commits).
    let mut by_publisher: HashMap<String, (Identity, Vec<usize>)> = HashMap::new();
    let mut parsed: Vec<Option<Result<CommandEnvelope, Rejection>>> = Vec::with_capacity(event.records.len());
    let mut results: Vec<Option<Result<(), Rejection>>> = vec![None; event.records.len()];
    for (i, record) in event.records.iter().enumerate() {
        match read(record.body.as_deref().unwrap_or_default(), sources) {
            Ok((publisher, envelope)) => {
                by_publisher
                    .entry(format!("{}\u{0}{}", publisher.tenant, publisher.actor))
                    .or_insert_with(|| (publisher, Vec::new()))
                    .1
                    .push(i);
                parsed.push(Some(Ok(envelope)));
            }
            Err(rejection) => {
                parsed.push(None);
                results[i] = Some(Err(rejection));
            }
        }
    }
    for (_, (publisher, indexes)) in by_publisher {
        let items: Vec<Result<CommandEnvelope, Rejection>> = indexes
            .iter()
            .map(|&i| {
                parsed
                    .get_mut(i)
                    .and_then(Option::take)
                    .unwrap_or_else(|| Err(Rejection::new(Reason::Internal, "lost")))
            })
            .collect();
        let applied = apply_batch(store, &publisher, items, BATCH_CONCURRENCY).await;
        for (&i, result) in indexes.iter().zip(applied) {
            results[i] = Some(result.map(|_| ()));
        }
    }
    for (record, result) in event.records.iter().zip(results) {
        let id = record.message_id.clone().unwrap_or_default();
        let rejection = match result {
            Some(Ok(())) => continue,
            Some(Err(rejection)) => rejection,
            None => Rejection::new(Reason::Internal, "the message was not applied"),
        };
        if rejection.reason.is_retryable() {
            tracing::warn!(message_id = %id, reason = %rejection, "command not applied; SQS will deliver it again");
        } else {
            let reason = format!("{}: {}", rejection.reason.code(), rejection.message);
            let receives = record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
            match dead_letters.send(record.body.as_deref().unwrap_or_default(), TASK_INGEST, &reason, receives).await {
                Ok(()) => {
                    tracing::warn!(message_id = %id, %reason, "command rejected; dead-lettered");
                    continue;
                }
                Err(e) => tracing::error!(error = %e, "dead-lettering failed; leaving it to the redrive policy"),
            }
        }
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_map_to_tenants_and_may_be_bound_to_an_account() {
        let sources = SourceTenants::parse("integrations.git=acme, ci.builds@111122223333=globex").unwrap();
        let git = sources.publisher("integrations.git", None).unwrap();
        assert_eq!((git.tenant.as_str(), git.actor.as_str(), git.role), ("acme", "integrations.git", Role::Member));
        assert_eq!(sources.publisher("ci.builds", Some("111122223333")).unwrap().tenant, "globex");
        assert_eq!(sources.publisher("ci.builds", Some("999999999999")).unwrap_err().reason, Reason::Forbidden);
        assert_eq!(sources.publisher("ci.builds", None).unwrap_err().reason, Reason::Forbidden);
        assert_eq!(sources.publisher("other", None).unwrap_err().reason, Reason::Forbidden);
        assert!(SourceTenants::parse("taskstream=acme").is_err());
        assert!(SourceTenants::parse("a=acme,a=globex").is_err());
        assert!(SourceTenants::parse("nonsense").is_err());
    }

    #[test]
    fn a_message_is_read_as_its_sources_publisher() {
        let sources = SourceTenants::parse("integrations.git=acme").unwrap();
        let body = serde_json::json!({
            "source": "integrations.git", "detail-type": "TaskCommentRequested",
            "detail": { "commandId": "c-1", "commandType": "TaskCommentRequested", "schemaVersion": 1,
                        "tenant": "globex", "data": { "task": { "id": "t" }, "body": "hi" } }
        });
        let (publisher, envelope) = read(&body.to_string(), &sources).unwrap();
        // The payload's tenant is not the publisher's: apply refuses it (WrongTenant).
        assert_eq!((publisher.tenant.as_str(), envelope.tenant.as_deref()), ("acme", Some("globex")));
        let mut mismatched = body.clone();
        mismatched["detail-type"] = serde_json::json!("TaskCreateRequested");
        assert_eq!(read(&mismatched.to_string(), &sources).unwrap_err().reason, Reason::Invalid);
        assert_eq!(read("{}", &sources).unwrap_err().reason, Reason::Malformed);
    }
}
