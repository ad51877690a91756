-- The embedded backbone's tables. Applied on every open; each statement is idempotent.

-- Current state of tasks; `body` is the task snapshot as JSON (what events carry).
-- Task ids are UUIDv7, so `id` order is creation order. The other columns are copies of
-- snapshot fields, kept for filtering and sorting.
CREATE TABLE IF NOT EXISTS tasks (
    tenant        TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    status        TEXT    NOT NULL,
    created_ms    INTEGER NOT NULL,
    priority_rank INTEGER,
    assignee      TEXT,
    category_id   TEXT,
    project_id    TEXT,
    sprint_id     TEXT,
    due_key       TEXT,
    body          TEXT    NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tasks_by_status ON tasks (tenant, status, id);
CREATE INDEX IF NOT EXISTS tasks_by_due ON tasks (tenant, due_key, id);
CREATE INDEX IF NOT EXISTS tasks_by_priority ON tasks (tenant, priority_rank, id);
CREATE INDEX IF NOT EXISTS tasks_by_assignee ON tasks (tenant, assignee, id);

-- Categories, projects, sprints and comments: the snapshot JSON, keyed by kind. `parent` is
-- a sprint's project or a comment's task.
CREATE TABLE IF NOT EXISTS entities (
    tenant  TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    id      TEXT    NOT NULL,
    version INTEGER NOT NULL,
    parent  TEXT,
    body    TEXT    NOT NULL,
    PRIMARY KEY (tenant, kind, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entities_by_parent ON entities (tenant, kind, parent, id);

-- What each Idempotency-Key stood for; written in the same transaction as its changes.
CREATE TABLE IF NOT EXISTS idempotency (
    tenant      TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    status      INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)
) WITHOUT ROWID;

-- External keys (a publisher's own name for a task, `PR-123`), linked when an inbound command
-- creates the task, in the same transaction; a key names one task of a tenant for good.
CREATE TABLE IF NOT EXISTS external_keys (
    tenant     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    task_id    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)
) WITHOUT ROWID;

-- One row per committed write, in commit order: the embedded counterpart of a DynamoDB stream.
CREATE TABLE IF NOT EXISTS change_log (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant            TEXT    NOT NULL,
    aggregate_type    TEXT    NOT NULL,
    aggregate_id      TEXT    NOT NULL,
    aggregate_version INTEGER NOT NULL,
    at                TEXT    NOT NULL,
    correlation_id    TEXT    NOT NULL,
    actor             TEXT    NOT NULL,
    old_image         TEXT,
    new_image         TEXT
);

-- How far each reader of the change log has got.
CREATE TABLE IF NOT EXISTS cursors (
    name TEXT    PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;

-- Change records the router could not derive events from, kept whole with the reason.
CREATE TABLE IF NOT EXISTS router_dead_letters (
    seq       INTEGER PRIMARY KEY,
    record    TEXT    NOT NULL,
    reason    TEXT    NOT NULL,
    parked_ms INTEGER NOT NULL
);

-- Every event ever put on the bus, for replay.
CREATE TABLE IF NOT EXISTS archive (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT    NOT NULL UNIQUE,
    detail_type  TEXT    NOT NULL,
    tenant       TEXT    NOT NULL,
    occurred_at  TEXT    NOT NULL,
    archived_ms  INTEGER NOT NULL,
    body         TEXT    NOT NULL
);

-- Each consumer's place in the archive, as a Kafka consumer group keeps its offset: it has
-- applied (or parked) every event up to `seq` that the routing table sends it. A registered
-- consumer keeps its place whether or not it runs, like a durable subscription.
CREATE TABLE IF NOT EXISTS consumer_cursors (
    name TEXT    PRIMARY KEY,
    seq  INTEGER NOT NULL
) WITHOUT ROWID;

-- Events a consumer failed to apply, waiting out a backoff before the next attempt; only
-- failures are written here, never the events that went through.
CREATE TABLE IF NOT EXISTS consumer_retries (
    consumer      TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    visible_ms    INTEGER NOT NULL,
    last_error    TEXT    NOT NULL,
    PRIMARY KEY (consumer, seq)
) WITHOUT ROWID;

-- Events a consumer gave up on, with the reason of the last failure; the event itself stays
-- whole in the archive at `seq`.
CREATE TABLE IF NOT EXISTS consumer_dead_letters (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer      TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    failed_ms     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS consumer_dead_letters_by_consumer ON consumer_dead_letters (consumer, id);

-- Audit history: one immutable row per task event, so one entry per task version.
CREATE TABLE IF NOT EXISTS history (
    tenant         TEXT    NOT NULL,
    task_id        TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_type     TEXT    NOT NULL,
    event_id       TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at    TEXT    NOT NULL,
    actor          TEXT    NOT NULL,
    correlation_id TEXT    NOT NULL,
    data           TEXT    NOT NULL,
    PRIMARY KEY (tenant, task_id, version, event_type)
) WITHOUT ROWID;

-- A task's change records, for `trace` (task ids are UUIDv7, unique across tenants).
CREATE INDEX IF NOT EXISTS change_log_by_aggregate ON change_log (aggregate_id, seq);

-- Whether an event is dead-lettered for a consumer, for `trace`.
CREATE INDEX IF NOT EXISTS consumer_dead_letters_by_seq ON consumer_dead_letters (consumer, seq);

-- Replays: a window of the archive sent again to chosen consumers. `scope` is the tenant
-- whose events are replayed, '' for every tenant. The range of archive positions is fixed
-- when the replay starts: events archived later reach the consumers the ordinary way.
CREATE TABLE IF NOT EXISTS replays (
    scope      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    from_at    TEXT    NOT NULL,
    to_at      TEXT    NOT NULL,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    cancelled  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, name)
) WITHOUT ROWID;

-- Each replayed consumer's place in its replay's range, and what the replay did there.
CREATE TABLE IF NOT EXISTS replay_cursors (
    scope     TEXT    NOT NULL,
    replay    TEXT    NOT NULL,
    consumer  TEXT    NOT NULL,
    seq       INTEGER NOT NULL,
    applied   INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, replay, consumer)
) WITHOUT ROWID;

-- People of a tenant and how they want to be told: the person as JSON.
CREATE TABLE IF NOT EXISTS people (
    tenant  TEXT    NOT NULL,
    name    TEXT    NOT NULL,
    version INTEGER NOT NULL,
    body    TEXT    NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;

-- The notifier's outbox: one row per (event, recipient, channel). `id` is a v5 UUID of those
-- three, so a redelivered or replayed event inserts nothing (INSERT OR IGNORE). Lists are
-- newest event first: `occurred_ns` (the event's time, in nanoseconds), then `seq`. An email
-- or Slack row waits as `pending` until its sender settles it (`delivered` or `failed`),
-- with its `attempts`, the time of its next attempt (`next_attempt_ms`) and its
-- `last_error`; those three columns and the `notifications_due` index are made by db.rs
-- (add_missing_columns) so that a database from before them gains them too.
CREATE TABLE IF NOT EXISTS notifications (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT    NOT NULL UNIQUE,
    tenant      TEXT    NOT NULL,
    recipient   TEXT    NOT NULL,
    channel     TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    task_id     TEXT,
    sprint_id   TEXT,
    actor       TEXT    NOT NULL,
    summary     TEXT    NOT NULL,
    occurred_at TEXT    NOT NULL,
    occurred_ns INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    read_at     TEXT
);
CREATE INDEX IF NOT EXISTS notifications_by_recipient ON notifications (tenant, recipient, occurred_ns, seq);

-- Escalation policies: one per tenant, the policy as JSON. A tenant without a row has the
-- defaults.
CREATE TABLE IF NOT EXISTS escalation_policies (
    tenant  TEXT    PRIMARY KEY,
    version INTEGER NOT NULL,
    body    TEXT    NOT NULL
) WITHOUT ROWID;

-- The plan in place per task: the task version it was made from fences out older events
-- (`plan` is empty once the task has nothing left to escalate).
CREATE TABLE IF NOT EXISTS escalation_plans (
    tenant       TEXT    NOT NULL,
    task_id      TEXT    NOT NULL,
    task_version INTEGER NOT NULL,
    plan         TEXT    NOT NULL,
    PRIMARY KEY (tenant, task_id)
) WITHOUT ROWID;

-- Durable escalation timers: one row per level still to reach, removed once fired. `body`
-- is the step and the plan's guard as JSON.
CREATE TABLE IF NOT EXISTS escalation_timers (
    tenant  TEXT    NOT NULL,
    task_id TEXT    NOT NULL,
    level   INTEGER NOT NULL,
    due_ms  INTEGER NOT NULL,
    plan    TEXT    NOT NULL,
    body    TEXT    NOT NULL,
    PRIMARY KEY (tenant, task_id, level)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS escalation_timers_by_due ON escalation_timers (due_ms);

-- Webhook subscriptions. The secret is kept as `whsec_<base64>`: it signs every delivery, so
-- it cannot be kept only as a hash like an API key. `previous_secret` signs too until
-- `previous_until` (a rotation's overlap).
CREATE TABLE IF NOT EXISTS webhooks (
    id              TEXT    PRIMARY KEY,
    tenant          TEXT    NOT NULL,
    url             TEXT    NOT NULL,
    event_types     TEXT    NOT NULL,
    active          INTEGER NOT NULL,
    secret          TEXT    NOT NULL,
    previous_secret TEXT,
    previous_until  TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    -- Since when every attempt has failed (NULL while attempts succeed), and when and why the
    -- subscription was turned off for it (shared_core::webhooks::health).
    failing_since_ms INTEGER,
    disabled_at     TEXT,
    disabled_reason TEXT
);
CREATE INDEX IF NOT EXISTS webhooks_by_tenant ON webhooks (tenant);

-- The webhook half of the notifier's outbox: one row per (event, subscription). `id` is a
-- v5 UUID of the two (INSERT OR IGNORE makes a second arrival a no-op) and is the
-- `webhook-id` of every attempt. `body` is the envelope as sent, byte for byte.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    tenant           TEXT    NOT NULL,
    webhook_id       TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL,
    next_attempt_ms  INTEGER,
    last_attempt_at  TEXT,
    last_status_code INTEGER,
    last_error       TEXT,
    last_latency_ms  INTEGER
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);
