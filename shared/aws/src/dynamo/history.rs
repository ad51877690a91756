//! The audit history in the same table: one item per (task, version, event type), written
//! only if absent, so a redelivered event is a no-op.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use events_schema::Timestamp;
use shared_core::ports::{HistoryRecord, HistoryStore, StoreError};

use super::item::{self, Item, get_n, get_s, n, s};
use super::{DynamoStore, keys, unavailable};

/// The `entity` of a history item: not an aggregate, so the stream ignores it.
const HISTORY: &str = "history";

fn to_item(record: &HistoryRecord) -> Result<Item, StoreError> {
    // The event data as JSON text: read back exactly as written, whatever its shape.
    let data = serde_json::to_string(&record.data)
        .map_err(|e| StoreError::Corrupt(format!("history data cannot be stored: {e}")))?;
    Ok(HashMap::from([
        (keys::PK.to_owned(), s(keys::history_pk(&record.tenant, &record.task_id))),
        (keys::SK.to_owned(), s(keys::history_sk(record.version, &record.event_type))),
        (item::ENTITY.to_owned(), s(HISTORY)),
        (item::TENANT.to_owned(), s(&record.tenant)),
        ("taskId".to_owned(), s(&record.task_id)),
        (item::VERSION.to_owned(), n(record.version)),
        ("eventType".to_owned(), s(&record.event_type)),
        ("eventId".to_owned(), s(record.event_id.to_string())),
        ("schemaVersion".to_owned(), n(record.schema_version)),
        ("occurredAt".to_owned(), s(record.occurred_at.to_string())),
        (item::ACTOR.to_owned(), s(&record.actor)),
        (item::CORRELATION_ID.to_owned(), s(&record.correlation_id)),
        ("data".to_owned(), s(data)),
    ]))
}

fn from_item(tenant: &str, task_id: &str, found: &Item) -> Result<HistoryRecord, StoreError> {
    let corrupt = |name: &str| StoreError::Corrupt(format!("a history item of task {task_id} has no valid {name}"));
    let text = |name: &str| get_s(found, name).map(str::to_owned).ok_or_else(|| corrupt(name));
    Ok(HistoryRecord {
        tenant: tenant.to_owned(),
        task_id: task_id.to_owned(),
        version: get_n(found, item::VERSION).ok_or_else(|| corrupt("version"))?,
        event_type: text("eventType")?,
        event_id: text("eventId")?.parse().map_err(|_| corrupt("eventId"))?,
        schema_version: get_n(found, "schemaVersion").ok_or_else(|| corrupt("schemaVersion"))?,
        occurred_at: Timestamp::parse(&text("occurredAt")?).map_err(|_| corrupt("occurredAt"))?,
        actor: text(item::ACTOR)?,
        correlation_id: text(item::CORRELATION_ID)?,
        data: serde_json::from_str(&text("data")?).map_err(|_| corrupt("data"))?,
    })
}

#[async_trait]
impl HistoryStore for DynamoStore {
    async fn append(&self, record: &HistoryRecord) -> Result<bool, StoreError> {
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_))) => {
                Ok(false)
            }
            Err(e) => Err(unavailable("PutItem", e)),
        }
    }

    async fn list(&self, tenant: &str, task_id: &str) -> Result<Vec<HistoryRecord>, StoreError> {
        let items = self.query_all(keys::history_pk(tenant, task_id), true).await?;
        items.iter().map(|found| from_item(tenant, task_id, found)).collect()
    }
}
