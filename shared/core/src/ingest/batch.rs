//! Many commands at once (`POST /ingest/batch`, a queue's batch): applied concurrently, yet
//! in order for each task, so a create followed by a status change of the same external key
//! lands in that order.

use std::collections::HashMap;

use events_schema::commands::{CommandEnvelope, CommandPayload, TaskCreateRequested, TaskRef};
use futures_util::StreamExt;

use super::apply::apply;
use super::outcome::{Outcome, Rejection};
use crate::context::Identity;
use crate::ports::Store;

/// How many tasks' commands are applied at once: enough to fill the store's group commits.
pub const BATCH_CONCURRENCY: usize = 64;

/// Applies each item (already refused when it could not be read) and answers one result per
/// item, in the items' order. Commands that name the same task the same way (the same id, or
/// the same external key, a create's included) are applied one after another in their order;
/// the rest run `concurrency` at a time.
pub async fn apply_batch(
    store: &dyn Store,
    publisher: &Identity,
    items: Vec<Result<CommandEnvelope, Rejection>>,
    concurrency: usize,
) -> Vec<Result<Outcome, Rejection>> {
    let count = items.len();
    let mut groups: Vec<Vec<(usize, CommandEnvelope)>> = Vec::new();
    let mut by_task: HashMap<TaskRef, usize> = HashMap::new();
    let mut results: Vec<Option<Result<Outcome, Rejection>>> = Vec::with_capacity(count);
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Err(rejection) => results.push(Some(Err(rejection))),
            Ok(envelope) => {
                results.push(None);
                match order_key(&envelope) {
                    Some(key) => {
                        let group = *by_task.entry(key).or_insert_with(|| {
                            groups.push(Vec::new());
                            groups.len() - 1
                        });
                        groups[group].push((index, envelope));
                    }
                    None => groups.push(vec![(index, envelope)]),
                }
            }
        }
    }
    let mut done = futures_util::stream::iter(groups)
        .map(|group| async move {
            let mut out = Vec::with_capacity(group.len());
            for (index, envelope) in group {
                out.push((index, apply(store, publisher, envelope).await));
            }
            out
        })
        .buffer_unordered(concurrency.max(1));
    while let Some(group) = done.next().await {
        for (index, result) in group {
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(result);
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Rejection::new(super::Reason::Internal, "the command was not applied"))))
        .collect()
}

/// The task a command is about, as it names it, read from the payload without validating
/// it (validation is `apply`'s, per command). `None`: about no existing task.
fn order_key(envelope: &CommandEnvelope) -> Option<TaskRef> {
    task_key(&envelope.command_type, &envelope.data)
}

/// The ordering rule on a command's raw parts (its `commandType` and `data`), so a sender
/// can keep apart the commands a server would apply one after another: commands with the
/// same key must reach the server in their order; different keys may travel concurrently.
pub fn task_key(command_type: &str, data: &serde_json::Value) -> Option<TaskRef> {
    if command_type == TaskCreateRequested::COMMAND_TYPE {
        return data.get("externalKey").and_then(|k| k.as_str()).map(TaskRef::external_key);
    }
    let task = data.get("task")?;
    if let Some(id) = task.get("id").and_then(|v| v.as_str()) {
        return Some(TaskRef::Id(id.to_ascii_lowercase()));
    }
    task.get("externalKey").and_then(|v| v.as_str()).map(TaskRef::external_key)
}
