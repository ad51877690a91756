//! The OpenAPI 3.1 description of the API, generated from the request and response types
//! (schemars) and the operation table below. `openapi.json` at the repository root is a
//! committed copy; a test fails when it drifts, and another checks every operation listed
//! here is routed.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use super::admin::doc::{DeadLetterDoc, LagDoc, ReplayPlanDoc, ReplayStatusDoc, RouterRedrivenDoc, TraceDoc};
use super::admin::{
    DeadLetterQuery, Moved, PurgeBody, RedriveBody, ReplayBody, RouterLetterQuery, RouterRedriveBody, TraceQuery,
};
use super::bulk::BulkBody;
use super::categories::CategoryBody;
use super::comments::{CommentBody, PageQuery};
use super::escalation::PolicyDoc;
use super::event_stream::StreamQuery;
use super::ingest::{BatchReport, MAX_BATCH, OutcomeDoc};
use super::keys::{KeyBody, KeyView};
use super::metrics::{MetricNameDoc, MetricsParams};
use super::notifications::{NotificationQueryParams, NotificationView, ReadBodyDoc, ReadResult};
use super::people::{PersonBody, PersonView};
use super::projects::{CloseBody, ProjectBody, SprintBody};
use super::search::{SearchParams, SuggestParams};
use super::tasks::{CreateBody, ListQuery, UpdateBody};
use super::versions::VersionQuery;
use super::webhooks::{DeliveryQueryParams, DeliveryView, WebhookBody, WebhookView};
use events_schema::commands::CommandEnvelope;
use events_schema::events::{CategorySnapshot, CommentSnapshot, ProjectSnapshot, SprintSnapshot, TaskSnapshot};
use shared_core::Role;

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// What a successful response carries under `data`.
#[derive(Clone, Copy)]
enum Reply {
    One(SchemaFn),
    /// `data` is an array; `paged` adds `nextCursor`.
    Many {
        item: SchemaFn,
        paged: bool,
    },
    Csv,
    Empty,
    Raw(SchemaFn),
    /// `text/event-stream`; the schema describes one event.
    Stream(SchemaFn),
}

/// One documented operation.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    id: &'static str,
    summary: &'static str,
    /// `None`: no authentication.
    role: Option<Role>,
    body: Option<SchemaFn>,
    query: Option<SchemaFn>,
    status: u16,
    reply: Reply,
    idempotent_post: bool,
}

/// Operations whose body may be left out.
const OPTIONAL_BODIES: &[&str] = &["closeSprint"];

fn s<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

/// `T` as the body of a change: its `version` required, a positive integer. (Creates use
/// the same body without one.)
fn change<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    let mut schema = T::json_schema(g).to_value();
    schema["properties"]["version"] = json!({
        "type": "integer", "minimum": 1, "maximum": super::tasks::MAX_VERSION,
        "description": "The version being changed (or ?version=, or If-Match)."
    });
    let mut required: Vec<Value> = schema["required"].as_array().cloned().unwrap_or_default();
    required.push(json!("version"));
    schema["required"] = Value::Array(required);
    Schema::try_from(schema).unwrap_or_default()
}

/// A batch of commands as a JSON array (NDJSON, `application/x-ndjson`, is read alike).
fn command_batch(g: &mut SchemaGenerator) -> Schema {
    let item = g.subschema_for::<CommandEnvelope>().to_value();
    Schema::try_from(json!({ "type": "array", "maxItems": MAX_BATCH, "items": item })).unwrap_or_default()
}

/// One Server-Sent Event of `GET /events/stream`, as a client's parser reads it.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct StreamEventDoc {
    /// The event's position in the archive; send it back as `Last-Event-ID` to resume.
    #[schemars(regex(pattern = r"^[0-9]+$"))]
    id: String,
    /// The event's envelope as JSON text: eventId, eventType, schemaVersion, occurredAt,
    /// tenant, aggregateType, aggregateId, aggregateVersion, correlationId, actor, data.
    data: String,
}

/// A history entry as `/tasks/{id}/history` returns it.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct HistoryEntryDoc {
    version: u64,
    occurred_at: String,
    actor: String,
    correlation_id: String,
    events: Vec<HistoryEventDoc>,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct HistoryEventDoc {
    #[serde(rename = "type")]
    event_type: String,
    event_id: String,
    schema_version: u32,
    data: Value,
}

/// The error envelope every 4xx and 5xx carries.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ErrorBody {
    code: super::ErrorCode,
    message: String,
    details: Value,
    correlation_id: String,
}

/// Where an export written to the export store (on AWS: S3) can be fetched.
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct ExportLinkDoc {
    /// A presigned GET URL of the CSV; it needs no credentials and works until `expiresAt`.
    #[schemars(extend("format" = "uri"))]
    url: String,
    #[schemars(extend("format" = "date-time"))]
    expires_at: String,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct Health {
    status: String,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct BulkResults {
    results: Vec<Value>,
}

/// A page of `/search`: `facets` only when asked for (field → value → count over all matches).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct SearchPage {
    data: Vec<TaskSnapshot>,
    next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    facets: Option<std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>>,
}

/// A row of a metric: which fields it has depends on the metric (docs/analytics.md).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct MetricRowDoc {
    /// The start of the row's time bucket (every metric but velocity).
    start: Option<String>,
    /// The sprint (velocity).
    sprint: Option<String>,
    completed: Option<u64>,
    points: Option<u64>,
    p50_seconds: Option<u64>,
    p90_seconds: Option<u64>,
    with_due_date: Option<u64>,
    breached: Option<u64>,
    entered: Option<u64>,
    left: Option<u64>,
    wip: Option<i64>,
    scope_points: Option<u64>,
    completed_points: Option<u64>,
    remaining_points: Option<u64>,
}

macro_rules! op {
    ($method:literal $path:literal $id:literal, $summary:literal, $role:expr, body: $body:expr, query: $query:expr, $status:literal => $reply:expr $(, idempotent $idem:literal)?) => {
        Operation {
            method: $method,
            path: $path,
            id: $id,
            summary: $summary,
            role: $role,
            body: $body,
            query: $query,
            status: $status,
            reply: $reply,
            idempotent_post: false $(|| $idem)?,
        }
    };
}

/// The paging contract of every paged list.
const PAGING: &str = "The cursor of the next page; null when the list has ended. A page holds at most `limit` \
items and may hold fewer, even none, with a cursor: a call stops after examining a fixed number of stored items \
(1 000), so a selective filter over many tasks pages through them in bounded steps. Follow nextCursor until it \
is null; the limit may change from page to page.";

use Reply::*;
const V: Option<Role> = Some(Role::Viewer);
const M: Option<Role> = Some(Role::Member);
const A: Option<Role> = Some(Role::Admin);

pub fn operations() -> Vec<Operation> {
    vec![
        op!("get" "/health" "health", "Liveness; no credentials needed.", None, body: None, query: None, 200 => One(s::<Health>)),
        op!("get" "/tasks" "listTasks", "List tasks: filter, sort, page.", V, body: None, query: Some(s::<ListQuery>), 200 => Many { item: s::<TaskSnapshot>, paged: true }),
        op!("post" "/tasks" "createTask", "Create a task (status todo, version 1).", M, body: Some(s::<CreateBody>), query: None, 201 => One(s::<TaskSnapshot>), idempotent true),
        op!("get" "/tasks/export.csv" "exportTasks", "Export a filtered list as CSV (RFC 4180, formula-safe): the CSV itself, or on AWS a short-lived link to it.", V, body: None, query: Some(s::<ListQuery>), 200 => Csv),
        op!("post" "/tasks/bulk" "bulkTasks", "One action on up to 100 tasks, all or nothing.", M, body: Some(s::<BulkBody>), query: None, 200 => One(s::<BulkResults>), idempotent true),
        op!("get" "/tasks/{id}" "getTask", "Read a task.", V, body: None, query: None, 200 => One(s::<TaskSnapshot>)),
        op!("put" "/tasks/{id}" "updateTask", "Change a task at the expected version (body or If-Match).", M, body: Some(s::<UpdateBody>), query: None, 200 => One(s::<TaskSnapshot>)),
        op!("delete" "/tasks/{id}" "deleteTask", "Delete a task (optionally at an expected version).", M, body: None, query: Some(s::<VersionQuery>), 204 => Empty),
        op!("get" "/tasks/{id}/history" "taskHistory", "The task's audit history, one entry per version.", V, body: None, query: None, 200 => Many { item: s::<HistoryEntryDoc>, paged: false }),
        op!("get" "/tasks/{id}/comments" "listComments", "A task's comments, oldest first.", V, body: None, query: Some(s::<PageQuery>), 200 => Many { item: s::<CommentSnapshot>, paged: true }),
        op!("post" "/tasks/{id}/comments" "addComment", "Comment on a task; @mentions are picked out.", M, body: Some(s::<CommentBody>), query: None, 201 => One(s::<CommentSnapshot>), idempotent true),
        op!("get" "/categories" "listCategories", "Categories by name.", V, body: None, query: None, 200 => Many { item: s::<CategorySnapshot>, paged: false }),
        op!("post" "/categories" "createCategory", "Create a category.", A, body: Some(s::<CategoryBody>), query: None, 201 => One(s::<CategorySnapshot>), idempotent true),
        op!("get" "/categories/{id}" "getCategory", "Read a category.", V, body: None, query: None, 200 => One(s::<CategorySnapshot>)),
        op!("put" "/categories/{id}" "updateCategory", "Replace a category's fields at the expected version.", A, body: Some(change::<CategoryBody>), query: None, 200 => One(s::<CategorySnapshot>)),
        op!("delete" "/categories/{id}" "deleteCategory", "Delete a category.", A, body: None, query: Some(s::<VersionQuery>), 204 => Empty),
        op!("get" "/projects" "listProjects", "Projects, newest first.", V, body: None, query: None, 200 => Many { item: s::<ProjectSnapshot>, paged: false }),
        op!("post" "/projects" "createProject", "Create a project.", A, body: Some(s::<ProjectBody>), query: None, 201 => One(s::<ProjectSnapshot>), idempotent true),
        op!("get" "/projects/{id}" "getProject", "Read a project.", V, body: None, query: None, 200 => One(s::<ProjectSnapshot>)),
        op!("put" "/projects/{id}" "updateProject", "Change a project at the expected version.", A, body: Some(change::<ProjectBody>), query: None, 200 => One(s::<ProjectSnapshot>)),
        op!("get" "/projects/{id}/sprints" "listSprints", "A project's sprints, oldest first.", V, body: None, query: None, 200 => Many { item: s::<SprintSnapshot>, paged: false }),
        op!("post" "/projects/{id}/sprints" "createSprint", "Plan a sprint in a project.", A, body: Some(s::<SprintBody>), query: None, 201 => One(s::<SprintSnapshot>), idempotent true),
        op!("get" "/sprints/{id}" "getSprint", "Read a sprint.", V, body: None, query: None, 200 => One(s::<SprintSnapshot>)),
        op!("post" "/sprints/{id}/start" "startSprint", "Start a planned sprint (one active per project).", A, body: None, query: Some(s::<VersionQuery>), 200 => One(s::<SprintSnapshot>)),
        op!("post" "/sprints/{id}/close" "closeSprint", "Close an active sprint. Its unfinished tasks then move to the backlog (the default) or to the sprint named in carryOverTo, and its summary (velocity, carried-over count) is recorded on it: see GET /sprints/{id}.", A, body: Some(s::<CloseBody>), query: Some(s::<VersionQuery>), 200 => One(s::<SprintSnapshot>)),
        op!("post" "/ingest" "ingestCommand", "Apply one command (TaskCreateRequested, TaskStatusRequested, TaskCommentRequested) as the caller's tenant; its commandId makes a second delivery a no-op (duplicate: true). A command its type, rules or the tenant's data refuse is a 422 (a stale version or a taken external key a 409), with details.reason.", M, body: Some(s::<CommandEnvelope>), query: None, 200 => One(s::<OutcomeDoc>)),
        op!("post" "/ingest/batch" "ingestBatch", "Apply up to 1 000 commands (a JSON array, or NDJSON as application/x-ndjson): one result per command, in order; the good ones apply whatever the others. Commands naming the same task the same way apply in their order.", M, body: Some(command_batch), query: None, 200 => One(s::<BatchReport>)),
        op!("get" "/search" "searchTasks", "Full-text search with filters, facets and cursor paging (eventually consistent).", V, body: None, query: Some(s::<SearchParams>), 200 => Raw(s::<SearchPage>)),
        op!("get" "/search/suggest" "suggestTitles", "Task titles by prefix of the title or of a word in it.", V, body: None, query: Some(s::<SuggestParams>), 200 => Many { item: s::<String>, paged: false }),
        op!("get" "/metrics/{name}" "getMetric", "Task metrics of the caller's tenant, one row per time bucket (per sprint for velocity); see docs/analytics.md.", V, body: None, query: Some(s::<MetricsParams>), 200 => Many { item: s::<MetricRowDoc>, paged: false }),
        op!("get" "/events/stream" "streamEvents", "The tenant's events as Server-Sent Events, live: each event's id is its archive position, and reconnecting with Last-Event-ID (or ?lastEventId=) sends everything after it, nothing before; without one the stream starts at the archive's end. A comment line comes while nothing happens; the stream stays open until the client leaves or the server stops; serve only.", V, body: None, query: Some(s::<StreamQuery>), 200 => Stream(s::<StreamEventDoc>)),
        op!("get" "/keys" "listKeys", "The API keys of the caller's tenant (never their secrets); serve only.", A, body: None, query: None, 200 => Many { item: s::<KeyView>, paged: false }),
        op!("post" "/keys" "createKey", "Make an API key of the caller's tenant; the secret is in this answer only (no Idempotency-Key); serve only.", A, body: Some(s::<KeyBody>), query: None, 201 => One(s::<KeyView>)),
        op!("delete" "/keys/{keyId}" "revokeKey", "Revoke an API key of the caller's tenant, at once; serve only.", A, body: None, query: None, 200 => One(s::<KeyView>)),
        op!("get" "/admin/lag" "operatorLag", "Per consumer: events waiting, the oldest one's age, retries and dead letters; and the router's backlog (the caller's tenant); serve only.", A, body: None, query: None, 200 => One(s::<LagDoc>)),
        op!("get" "/admin/dead-letters" "listDeadLetters", "The tenant's dead letters with their reasons, oldest first; nothing is removed; serve only.", A, body: None, query: Some(s::<DeadLetterQuery>), 200 => Many { item: s::<DeadLetterDoc>, paged: false }),
        op!("get" "/admin/dead-letters/{letterId}" "getDeadLetter", "One dead letter with its event; serve only.", A, body: None, query: None, 200 => One(s::<DeadLetterDoc>)),
        op!("post" "/admin/dead-letters/redrive" "redriveDeadLetters", "Send dead letters back to their consumers (all, a consumer's, the oldest max, or one id), due at once; serve only.", A, body: Some(s::<RedriveBody>), query: None, 200 => One(s::<Moved>)),
        op!("post" "/admin/dead-letters/purge" "purgeDeadLetters", "Delete the tenant's dead letters (a consumer's, or all) for good; serve only.", A, body: Some(s::<PurgeBody>), query: None, 200 => One(s::<Moved>)),
        op!("get" "/admin/router/dead-letters" "listRouterDeadLetters", "The change records the stream router parked (no events could be derived from them), oldest first, numbered by change-log position; nothing is removed; serve only.", A, body: None, query: Some(s::<RouterLetterQuery>), 200 => Many { item: s::<DeadLetterDoc>, paged: false }),
        op!("get" "/admin/router/dead-letters/{changeId}" "getRouterDeadLetter", "One parked change record, with the record as it was parked; serve only.", A, body: None, query: None, 200 => One(s::<DeadLetterDoc>)),
        op!("post" "/admin/router/dead-letters/redrive" "redriveRouterDeadLetters", "Route parked change records again with the router's own derivation (all, the oldest max, or one id); a record still poison stays parked with the new reason; serve only.", A, body: Some(s::<RouterRedriveBody>), query: None, 200 => One(s::<RouterRedrivenDoc>)),
        op!("get" "/admin/replays" "listReplays", "The tenant's replays with their progress; serve only.", A, body: None, query: None, 200 => Many { item: s::<ReplayStatusDoc>, paged: false }),
        op!("post" "/admin/replays" "startReplay", "Replay a window of the archive (the tenant's events) into chosen consumers, marked as replayed; serve only.", A, body: Some(s::<ReplayBody>), query: None, 201 => One(s::<ReplayStatusDoc>)),
        op!("post" "/admin/replays/plan" "planReplay", "What a replay would do, per consumer: events, would apply, unchanged by version; nothing is sent; serve only.", A, body: Some(s::<ReplayBody>), query: None, 200 => One(s::<ReplayPlanDoc>)),
        op!("get" "/admin/replays/{name}" "getReplay", "One replay's progress; serve only.", A, body: None, query: None, 200 => One(s::<ReplayStatusDoc>)),
        op!("post" "/admin/replays/{name}/cancel" "cancelReplay", "Stop a replay where it is; serve only.", A, body: None, query: None, 200 => One(s::<ReplayStatusDoc>)),
        op!("get" "/admin/tasks/{id}/trace" "traceTask", "A task's change records, the events each derived, and where each event stands per consumer; serve only.", A, body: None, query: Some(s::<TraceQuery>), 200 => One(s::<TraceDoc>)),
        op!("get" "/people/{name}" "getPerson", "A person's addresses, channels per kind and mute switch: one's own, or anyone's as an admin; serve only.", V, body: None, query: None, 200 => One(s::<PersonView>)),
        op!("put" "/people/{name}" "putPerson", "Create or replace a person's entry: one's own as a member, anyone's as an admin; serve only.", M, body: Some(s::<PersonBody>), query: None, 200 => One(s::<PersonView>)),
        op!("get" "/escalation-policy" "getEscalationPolicy", "The tenant's escalation policy (the defaults at version 0 until one is stored).", A, body: None, query: None, 200 => One(s::<PolicyDoc>)),
        op!("put" "/escalation-policy" "putEscalationPolicy", "Replace the tenant's escalation policy at the expected version (0 for the first); overrides name projects of the tenant.", A, body: Some(s::<PolicyDoc>), query: None, 200 => One(s::<PolicyDoc>)),
        op!("get" "/notifications" "listNotifications", "The calling person's notifications, newest first; serve only.", V, body: None, query: Some(s::<NotificationQueryParams>), 200 => Many { item: s::<NotificationView>, paged: true }),
        op!("post" "/notifications/read" "readNotifications", "Mark the calling person's notifications read, by id or all; serve only.", V, body: Some(s::<ReadBodyDoc>), query: None, 200 => One(s::<ReadResult>)),
        op!("get" "/webhooks" "listWebhooks", "The tenant's webhook subscriptions (never their secrets); serve only.", A, body: None, query: None, 200 => Many { item: s::<WebhookView>, paged: false }),
        op!("post" "/webhooks" "createWebhook", "Subscribe a URL to event types; the signing secret is in this answer only. A URL naming or resolving to a loopback, private, link-local or metadata address is refused (422) unless serve allows private webhooks; serve only.", A, body: Some(s::<WebhookBody>), query: None, 201 => One(s::<WebhookView>)),
        op!("get" "/webhooks/{id}" "getWebhook", "One webhook subscription (not its secret); serve only.", A, body: None, query: None, 200 => One(s::<WebhookView>)),
        op!("put" "/webhooks/{id}" "updateWebhook", "Replace a subscription's URL, event types and active flag; serve only.", A, body: Some(s::<WebhookBody>), query: None, 200 => One(s::<WebhookView>)),
        op!("delete" "/webhooks/{id}" "deleteWebhook", "Delete a subscription and its deliveries; serve only.", A, body: None, query: None, 204 => Empty),
        op!("post" "/webhooks/{id}/rotate-secret" "rotateWebhookSecret", "A new signing secret, in this answer only; the old one still signs (a second v1 signature) for 24 hours; serve only.", A, body: None, query: None, 200 => One(s::<WebhookView>)),
        op!("get" "/webhooks/{id}/deliveries" "listWebhookDeliveries", "A subscription's deliveries, newest first: status, attempts, the last response code, error and latency; serve only.", A, body: None, query: Some(s::<DeliveryQueryParams>), 200 => Many { item: s::<DeliveryView>, paged: true }),
        op!("post" "/webhooks/{id}/deliveries/{deliveryId}/redeliver" "redeliverWebhook", "Send a delivery again, on a fresh schedule, with the same webhook-id; serve only.", A, body: None, query: None, 202 => One(s::<DeliveryView>)),
        op!("get" "/openapi.json" "openapi", "This document.", None, body: None, query: None, 200 => Raw(s::<Value>)),
    ]
}

fn query_parameters(schema: &Schema, generator: &SchemaGenerator) -> Vec<Value> {
    let mut value = schema.as_value().clone();
    // A query struct is referenced; inline it to list its properties.
    if let Some(name) = value.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next())
        && let Some(found) = generator.definitions().get(name)
    {
        value = found.clone();
    }
    let required: Vec<&str> = value
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = value.get("properties").and_then(Value::as_object) else { return Vec::new() };
    properties
        .iter()
        .map(|(name, schema)| {
            json!({ "name": name, "in": "query", "required": required.contains(&name.as_str()), "schema": schema })
        })
        .collect()
}

/// The document, as served at `/openapi.json`.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    let mut generator = settings.into_generator();
    let error = s::<ErrorEnvelope>(&mut generator);
    let mut paths: Map<String, Value> = Map::new();
    for op in operations() {
        let mut operation = Map::new();
        operation.insert("operationId".into(), json!(op.id));
        operation.insert("summary".into(), json!(op.summary));
        let mut parameters: Vec<Value> = Vec::new();
        if op.path.contains("{id}") {
            parameters.push(json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }));
        }
        for number in ["letterId", "changeId"] {
            if op.path.contains(&format!("{{{number}}}")) {
                parameters.push(json!({ "name": number, "in": "path", "required": true, "schema": { "type": "integer", "minimum": 1 } }));
            }
        }
        if op.path.contains("{name}") && !op.path.starts_with("/people/") {
            parameters.push(json!({ "name": "name", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[.\\-_A-Za-z0-9]{1,64}$" } }));
        }
        if op.path.contains("{deliveryId}") {
            parameters.push(json!({ "name": "deliveryId", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }));
        }
        if op.path.contains("{keyId}") {
            parameters.push(json!({ "name": "keyId", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[0-9a-f]{16}$" } }));
        }
        if op.path.starts_with("/people/") {
            parameters.push(json!({ "name": "name", "in": "path", "required": true, "schema": { "type": "string", "minLength": 1, "maxLength": 128, "pattern": super::people::NAME_PATTERN } }));
        } else if op.path.contains("{name}") {
            let names = s::<MetricNameDoc>(&mut generator);
            parameters.push(json!({ "name": "name", "in": "path", "required": true, "schema": names }));
        }
        if let Some(query) = op.query {
            let schema = query(&mut generator);
            parameters.extend(query_parameters(&schema, &generator));
        }
        if matches!(op.reply, Stream(_)) {
            parameters.push(json!({
                "name": "Last-Event-ID", "in": "header", "required": false,
                "description": "The id of the last event received: the stream resumes after it.",
                "schema": { "type": "string", "pattern": "^[0-9]{1,18}$" }
            }));
        }
        if op.idempotent_post {
            parameters.push(json!({
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "The same key with the same body returns the first response and writes nothing; with another body, 422.",
                "schema": { "type": "string", "pattern": "^[!-~]{1,255}$" }
            }));
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(body) = op.body {
            let schema = body(&mut generator);
            operation.insert(
                "requestBody".into(),
                json!({ "required": !OPTIONAL_BODIES.contains(&op.id), "content": { "application/json": { "schema": schema } } }),
            );
        }
        let content: Vec<(&str, Value)> = match op.reply {
            One(f) => vec![(
                "application/json",
                json!({ "type": "object", "required": ["data"], "properties": { "data": f(&mut generator) } }),
            )],
            Many { item, paged } => {
                let mut properties = json!({ "data": { "type": "array", "items": item(&mut generator) } });
                if paged {
                    properties["nextCursor"] = json!({ "type": ["string", "null"], "description": PAGING });
                }
                vec![("application/json", json!({ "type": "object", "required": ["data"], "properties": properties }))]
            }
            // `serve` streams the CSV itself; the AWS deployment (whose Lambda responses are
            // limited to 6 MB) writes it to S3 and answers with a link.
            Csv => vec![
                ("text/csv", json!({ "type": "string" })),
                (
                    "application/json",
                    json!({ "type": "object", "required": ["data"], "properties": { "data": s::<ExportLinkDoc>(&mut generator) } }),
                ),
            ],
            Raw(f) => vec![("application/json", f(&mut generator).to_value())],
            Stream(f) => vec![("text/event-stream", f(&mut generator).to_value())],
            Empty => vec![],
        };
        let mut ok = json!({ "description": "success" });
        if !content.is_empty() {
            let media: Map<String, Value> =
                content.into_iter().map(|(media, schema)| (media.to_owned(), json!({ "schema": schema }))).collect();
            ok["content"] = Value::Object(media);
        }
        let mut responses = Map::new();
        responses.insert(op.status.to_string(), ok);
        // Every change of an existing resource names its version (keys have none).
        let versioned = (matches!(op.method, "put" | "delete")
            && !op.path.starts_with("/keys")
            && !op.path.starts_with("/people")
            && !op.path.starts_with("/webhooks"))
            || op.path.ends_with("/start")
            || op.path.ends_with("/close");
        if versioned {
            responses.insert(
                "409".into(),
                json!({ "description": "the resource is at another version (details.currentVersion)", "content": { "application/json": { "schema": error } } }),
            );
            responses.insert(
                "428".into(),
                json!({ "description": "no version given: \"version\" in the body, ?version= or If-Match", "content": { "application/json": { "schema": error } } }),
            );
        }
        responses.insert(
            "4XX".into(),
            json!({ "description": "refused; see error.code", "content": { "application/json": { "schema": error } } }),
        );
        responses.insert(
            "5XX".into(),
            json!({ "description": "failed", "content": { "application/json": { "schema": error } } }),
        );
        operation.insert("responses".into(), Value::Object(responses));
        match op.role {
            None => {
                operation.insert("security".into(), json!([]));
            }
            Some(role) => {
                operation.insert("x-taskstream-role".into(), json!(role.as_str()));
            }
        }
        let entry = paths.entry(op.path.to_owned()).or_insert_with(|| json!({}));
        entry[op.method] = Value::Object(operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "taskstream",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The task API of the taskstream event backbone. Every write becomes versioned events. \
                            Errors carry {\"error\": {code, message, details, correlationId}}; X-Correlation-Id travels \
                            from the request into every event."
        },
        "security": [{ "apiKey": [] }, { "bearer": [] }],
        "paths": paths,
        "components": {
            "schemas": generator.take_definitions(true),
            "securitySchemes": {
                "apiKey": { "type": "apiKey", "in": "header", "name": "x-api-key" },
                "bearer": { "type": "http", "scheme": "bearer" }
            }
        }
    })
}

pub async fn serve() -> axum::Json<Value> {
    axum::Json(document())
}
