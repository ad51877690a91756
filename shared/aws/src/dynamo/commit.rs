//! The write path: every change is one conditional write, so one stream record. A single
//! write goes alone (PutItem or UpdateItem); several, or one with an idempotency record, go
//! in one TransactWriteItems, which the SDK makes safe to retry (it fills in the client
//! request token). A single write the SDK retried may be refused by its own first attempt;
//! it recognises that by the write token it drew and wrote with the item (`item::WRITE_TOKEN`).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use events_schema::{AggregateType, Timestamp};
use shared_core::context::RequestContext;
use shared_core::ports::{
    Change, ChangeFailure, ExternalKeyLink, FailureReason, IdempotencyRecord, MAX_CHANGES_PER_COMMIT, StoreError,
};

use super::item::{self, Item, get_n, get_s, is_deleted, key, n, s};
use super::{DynamoStore, keys, unavailable};

/// A create may take the place of a soft-deleted item (as it may of a deleted row in the
/// embedded engine); the stream then shows a MODIFY from a deleted image, read as a create.
const CREATE: &str = "attribute_not_exists(#pk) OR attribute_exists(#deleted)";
const AT_VERSION: &str = "#version = :expected AND attribute_not_exists(#deleted)";
const SOFT_DELETE: &str = "SET #deleted = :true, #version = :next, #correlationId = :correlationId, \
     #actor = :actor, #changedAt = :changedAt, #expiresAt = :expiresAt, #writeToken = :writeToken \
     REMOVE #gsi1pk, #gsi1sk, #gsi2pk, #gsi2sk, #gsi3pk, #gsi3sk";
/// An expired record no longer counts (TTL removal lags), so its key may be used again.
const IDEMPOTENCY_FREE: &str = "attribute_not_exists(#pk) OR #expiresAt < :now";
/// An external key is linked once, for good.
const KEY_FREE: &str = "attribute_not_exists(#pk)";

/// What a write is for, to explain its refusal.
enum Target {
    Change {
        aggregate_type: AggregateType,
        id: String,
        expected: Option<u64>,
        /// The version the write leaves, and whether it is a delete: how a retried write
        /// recognises its own earlier success.
        next: u64,
        deletes: bool,
        pk: String,
        sk: String,
    },
    Idempotency,
    ExternalKey(String),
}

enum Op {
    Put { item: Item },
    Update { key: Item, update: &'static str },
}

struct Write {
    target: Target,
    op: Op,
    condition: &'static str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

fn names(list: &[&str]) -> HashMap<String, String> {
    list.iter().map(|name| (format!("#{name}"), (*name).to_owned())).collect()
}

/// What every item of one commit carries: the shard count its tasks are indexed with, and
/// the commit's own write token.
struct Stamp<'a> {
    shards: u16,
    token: &'a str,
}

fn change_write(ctx: &RequestContext, change: &Change, stamp: &Stamp) -> Result<Write, StoreError> {
    let tenant = ctx.tenant();
    match change {
        Change::Put { new, expected_version } => {
            let (pk, sk) = item::aggregate_key(tenant, new);
            let target = Target::Change {
                aggregate_type: new.aggregate_type(),
                id: new.id().to_owned(),
                expected: *expected_version,
                next: new.version(),
                deletes: false,
                pk,
                sk,
            };
            let op = Op::Put { item: item::to_item(ctx, new, stamp.shards, stamp.token)? };
            Ok(match expected_version {
                None => {
                    Write { target, op, condition: CREATE, names: names(&["pk", "deleted"]), values: HashMap::new() }
                }
                Some(v) => Write {
                    target,
                    op,
                    condition: AT_VERSION,
                    names: names(&["version", "deleted"]),
                    values: HashMap::from([(":expected".to_owned(), n(v))]),
                },
            })
        }
        Change::Delete { aggregate_type, id, expected_version } => {
            if *aggregate_type == AggregateType::Comment {
                // A comment's key holds its task's id, which a delete does not carry.
                return Err(StoreError::Unavailable(
                    "deleting a comment is not supported by the DynamoDB store: its key needs the task id".to_owned(),
                ));
            }
            let (pk, sk) = keys::aggregate_key(tenant, *aggregate_type, id, None);
            let values = HashMap::from([
                (":expected".to_owned(), n(expected_version)),
                (":next".to_owned(), n(expected_version + 1)),
                (":true".to_owned(), AttributeValue::Bool(true)),
                (":correlationId".to_owned(), s(&ctx.correlation_id)),
                (":actor".to_owned(), s(&ctx.identity.actor)),
                (":changedAt".to_owned(), s(Timestamp::now().to_string())),
                (":expiresAt".to_owned(), n(item::epoch_seconds() + item::DELETED_TTL_SECS)),
                (":writeToken".to_owned(), s(stamp.token)),
            ]);
            let mut attributes = vec![
                item::DELETED,
                item::VERSION,
                item::CORRELATION_ID,
                item::ACTOR,
                item::CHANGED_AT,
                item::EXPIRES_AT,
                item::WRITE_TOKEN,
            ];
            attributes.extend(keys::TASK_INDEX_KEYS);
            Ok(Write {
                op: Op::Update { key: key(pk.clone(), sk.clone()), update: SOFT_DELETE },
                target: Target::Change {
                    aggregate_type: *aggregate_type,
                    id: id.clone(),
                    expected: Some(*expected_version),
                    next: expected_version + 1,
                    deletes: true,
                    pk,
                    sk,
                },
                condition: AT_VERSION,
                names: names(&attributes),
                values,
            })
        }
    }
}

fn idempotency_write(ctx: &RequestContext, record: &IdempotencyRecord) -> Write {
    let tenant = ctx.tenant();
    let now = item::epoch_seconds();
    let stored = HashMap::from([
        (keys::PK.to_owned(), s(keys::idempotency_pk(tenant, &record.key))),
        (keys::SK.to_owned(), s(keys::IDEMPOTENCY_SK)),
        (item::ENTITY.to_owned(), s("idempotency")),
        (item::TENANT.to_owned(), s(tenant)),
        ("key".to_owned(), s(&record.key)),
        ("fingerprint".to_owned(), s(&record.fingerprint)),
        ("status".to_owned(), n(record.status)),
        ("body".to_owned(), s(&record.body)),
        (item::CORRELATION_ID.to_owned(), s(&ctx.correlation_id)),
        (item::EXPIRES_AT.to_owned(), n(now + item::IDEMPOTENCY_TTL_SECS)),
    ]);
    Write {
        target: Target::Idempotency,
        op: Op::Put { item: stored },
        condition: IDEMPOTENCY_FREE,
        names: names(&["pk", "expiresAt"]),
        values: HashMap::from([(":now".to_owned(), n(now))]),
    }
}

fn link_write(ctx: &RequestContext, link: &ExternalKeyLink) -> Write {
    let tenant = ctx.tenant();
    let stored = HashMap::from([
        (keys::PK.to_owned(), s(keys::external_key_pk(tenant, &link.key))),
        (keys::SK.to_owned(), s(keys::EXTERNAL_KEY_SK)),
        (item::ENTITY.to_owned(), s("external_key")),
        (item::TENANT.to_owned(), s(tenant)),
        ("key".to_owned(), s(&link.key)),
        (item::TASK_ID.to_owned(), s(&link.task_id)),
        (item::CORRELATION_ID.to_owned(), s(&ctx.correlation_id)),
    ]);
    Write {
        target: Target::ExternalKey(link.key.clone()),
        op: Op::Put { item: stored },
        condition: KEY_FREE,
        names: names(&["pk"]),
        values: HashMap::new(),
    }
}

impl DynamoStore {
    pub(crate) async fn commit_changes(
        &self,
        ctx: &RequestContext,
        changes: Vec<Change>,
        idempotency: Option<IdempotencyRecord>,
        link: Option<ExternalKeyLink>,
    ) -> Result<(), StoreError> {
        if changes.len() > MAX_CHANGES_PER_COMMIT {
            return Err(StoreError::TooManyChanges(changes.len()));
        }
        // Drawn here, once per commit: the SDK's retries of this commit send the same items.
        let token = uuid::Uuid::new_v4().simple().to_string();
        let stamp = Stamp { shards: self.layout.task_shards, token: &token };
        let mut writes = changes.iter().map(|c| change_write(ctx, c, &stamp)).collect::<Result<Vec<_>, _>>()?;
        writes.extend(idempotency.as_ref().map(|record| idempotency_write(ctx, record)));
        writes.extend(link.as_ref().map(|link| link_write(ctx, link)));
        // The idempotency record and the link are transaction items too, and DynamoDB counts them.
        if writes.len() > MAX_CHANGES_PER_COMMIT {
            return Err(StoreError::TooManyChanges(writes.len()));
        }
        match writes.len() {
            0 => Ok(()),
            1 => match writes.pop() {
                Some(write) => self.write_one(&token, write).await,
                None => Ok(()),
            },
            _ => self.write_all(changes.len(), writes).await,
        }
    }

    async fn write_one(&self, token: &str, write: Write) -> Result<(), StoreError> {
        let refused = match write.op {
            Op::Put { item } => {
                let sent = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression(write.condition)
                    .set_expression_attribute_names(Some(write.names))
                    .set_expression_attribute_values((!write.values.is_empty()).then_some(write.values))
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                    .send()
                    .await;
                match sent {
                    Ok(_) => return Ok(()),
                    Err(e) => match e.as_service_error() {
                        Some(PutItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                        _ => return Err(unavailable("PutItem", e)),
                    },
                }
            }
            Op::Update { key, update } => {
                let sent = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .update_expression(update)
                    .condition_expression(write.condition)
                    .set_expression_attribute_names(Some(write.names))
                    .set_expression_attribute_values(Some(write.values))
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                    .send()
                    .await;
                match sent {
                    Ok(_) => return Ok(()),
                    Err(e) => match e.as_service_error() {
                        Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item().cloned(),
                        _ => return Err(unavailable("UpdateItem", e)),
                    },
                }
            }
        };
        let (aggregate_type, id, expected, next, deletes, pk, sk) = match write.target {
            Target::Change { aggregate_type, id, expected, next, deletes, pk, sk } => {
                (aggregate_type, id, expected, next, deletes, pk, sk)
            }
            Target::Idempotency => return Err(StoreError::IdempotencyRace),
            Target::ExternalKey(key) => return Err(StoreError::AlreadyExists(key)),
        };
        let current = match refused {
            Some(found) => Some(found),
            None => self.get_item(pk, sk).await?,
        };
        // The SDK retries a write whose answer was lost; if the first try landed, the retry
        // is refused by its own result, which carries this commit's token. That is this
        // write's success, not a conflict. Another writer's item never carries the token, even
        // one that sent the same correlation id.
        if let Some(found) = &current
            && get_s(found, item::WRITE_TOKEN) == Some(token)
            && get_n::<u64>(found, item::VERSION) == Some(next)
            && is_deleted(found) == deletes
        {
            return Ok(());
        }
        Err(match reason(expected, current.as_ref()) {
            FailureReason::NotFound => StoreError::NotFound,
            FailureReason::AlreadyExists => StoreError::AlreadyExists(id),
            FailureReason::VersionMismatch { expected, current } => {
                tracing::debug!(aggregate = aggregate_type.as_str(), %id, expected, ?current, "version conflict");
                StoreError::Conflict { expected, current: current.unwrap_or(0) }
            }
        })
    }

    async fn write_all(&self, change_count: usize, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut items = Vec::with_capacity(writes.len());
        let mut targets = Vec::with_capacity(writes.len());
        for write in writes {
            let built = match write.op {
                Op::Put { item } => TransactWriteItem::builder().put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression(write.condition)
                        .set_expression_attribute_names(Some(write.names))
                        .set_expression_attribute_values((!write.values.is_empty()).then_some(write.values))
                        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                        .build()
                        .map_err(|e| StoreError::Unavailable(format!("a transaction item is incomplete: {e}")))?,
                ),
                Op::Update { key, update } => TransactWriteItem::builder().update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key))
                        .update_expression(update)
                        .condition_expression(write.condition)
                        .set_expression_attribute_names(Some(write.names))
                        .set_expression_attribute_values(Some(write.values))
                        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                        .build()
                        .map_err(|e| StoreError::Unavailable(format!("a transaction item is incomplete: {e}")))?,
                ),
            };
            items.push(built.build());
            targets.push(write.target);
        }
        let sent = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        let err = match sent {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() else {
            return Err(unavailable("TransactWriteItems", err));
        };
        let refused: Vec<(usize, Option<Item>)> = cancelled
            .cancellation_reasons()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
            .map(|(i, r)| (i, r.item().cloned()))
            .collect();
        if refused.is_empty() {
            // Cancelled for another reason: throttling of an item (after the SDK's retries) is
            // worth a backoff; a concurrent transaction on an item is a plain retry.
            let throttled = cancelled.cancellation_reasons().iter().any(|r| r.code() == Some("ThrottlingError"));
            let error = unavailable("TransactWriteItems", err);
            return Err(match error {
                StoreError::Unavailable(message) if throttled => StoreError::Throttled(message),
                other => other,
            });
        }
        let mut failures = Vec::with_capacity(refused.len());
        // A taken key is reported after the receipt: a second delivery is a duplicate.
        let mut key_taken = None;
        for (index, current) in refused {
            match targets.get(index) {
                Some(Target::Idempotency) => return Err(StoreError::IdempotencyRace),
                Some(Target::ExternalKey(key)) => key_taken = Some(key.clone()),
                Some(Target::Change { aggregate_type, id, expected, pk, sk, .. }) => {
                    let current = match current {
                        Some(found) => Some(found),
                        None if expected.is_some() => self.get_item(pk.clone(), sk.clone()).await?,
                        None => None,
                    };
                    failures.push(ChangeFailure {
                        aggregate_type: *aggregate_type,
                        id: id.clone(),
                        reason: reason(*expected, current.as_ref()),
                    });
                }
                None => {}
            }
        }
        if let Some(key) = key_taken {
            return Err(StoreError::AlreadyExists(key));
        }
        Err(StoreError::refused(change_count, failures))
    }
}

/// Why a write's condition failed, from the item it met.
fn reason(expected: Option<u64>, current: Option<&Item>) -> FailureReason {
    let Some(expected) = expected else {
        return FailureReason::AlreadyExists;
    };
    match current {
        Some(found) if !is_deleted(found) => {
            FailureReason::VersionMismatch { expected, current: get_n(found, item::VERSION) }
        }
        _ => FailureReason::NotFound,
    }
}
