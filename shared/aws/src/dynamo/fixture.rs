//! Synthetic DynamoDB Streams events in this table's own item layout, for benchmarks and
//! tools (`taskstream fixture`, `taskstream route --stats`, the router bench): the same
//! file can be fed to anything that reads a stream-router Lambda event.
//!
//! The mix, per record: 25% task inserts, 25% status changes, 15% assignee changes, 15%
//! title changes, 10% soft deletes, 10% the TTL's removal of a soft-deleted task. Items
//! carry a description sized so an item is about 2 KB. Deterministic for a given seed.

use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord, StreamViewType};
use events_schema::Timestamp;
use events_schema::events::{Priority, TaskSnapshot, TaskStatus};
use shared_core::ports::Aggregate;
use shared_core::{Identity, RequestContext, Role};

use super::item::{self, n, s};
use super::keys;

/// A small deterministic generator (SplitMix64), so fixtures need no random crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const WORDS: [&str; 16] = [
    "release", "notes", "search", "facets", "login", "latency", "sprint", "review", "deploy", "metrics", "cache",
    "invoice", "export", "mobile", "alert", "retry",
];

fn text(rng: &mut Rng, words: usize) -> String {
    (0..words).map(|_| WORDS[rng.below(WORDS.len() as u64) as usize]).collect::<Vec<_>>().join(" ")
}

fn ctx(tenant: &str, n: u64) -> RequestContext {
    RequestContext {
        identity: Identity { tenant: tenant.to_owned(), actor: format!("user{}", n % 50), role: Role::Member },
        correlation_id: format!("req-{n:08x}"),
    }
}

/// The write token of a fixture write: deterministic, like the rest of the fixture.
fn token(ctx: &RequestContext) -> String {
    format!("fixture-{}", ctx.correlation_id)
}

fn image(ctx: &RequestContext, task: &TaskSnapshot) -> serde_dynamo::Item {
    // A snapshot always maps to an item; a failure here would be a bug in the mapping.
    item::to_item(ctx, &Aggregate::Task(task.clone()), super::DEFAULT_TASK_SHARDS, &token(ctx))
        .map(serde_dynamo::Item::from)
        .unwrap_or_default()
}

fn deleted_image(ctx: &RequestContext, task: &TaskSnapshot, at: Timestamp) -> serde_dynamo::Item {
    let mut gone = task.clone();
    gone.version += 1;
    let mut item =
        item::to_item(ctx, &Aggregate::Task(gone), super::DEFAULT_TASK_SHARDS, &token(ctx)).unwrap_or_default();
    for k in keys::TASK_INDEX_KEYS {
        item.remove(k);
    }
    item.insert(item::DELETED.to_owned(), aws_sdk_dynamodb::types::AttributeValue::Bool(true));
    item.insert(item::CHANGED_AT.to_owned(), s(at.to_string()));
    item.insert(item::EXPIRES_AT.to_owned(), n(at.unix_millis() / 1000 + item::DELETED_TTL_SECS));
    serde_dynamo::Item::from(item)
}

fn record(
    seq: u64,
    name: &str,
    keys: serde_dynamo::Item,
    old: Option<serde_dynamo::Item>,
    new: Option<serde_dynamo::Item>,
) -> EventRecord {
    let mut change = StreamRecord::default();
    change.keys = keys;
    change.old_image = old.unwrap_or_default();
    change.new_image = new.unwrap_or_default();
    change.sequence_number = Some(format!("{:021}", 1_000_000 + seq));
    change.stream_view_type = Some(StreamViewType::NewAndOldImages);
    change.size_bytes = 2048;
    let mut record = EventRecord::default();
    record.event_id = format!("{seq:032x}");
    record.event_name = name.to_owned();
    record.event_source = Some("aws:dynamodb".to_owned());
    record.event_version = Some("1.1".to_owned());
    record.aws_region = "us-east-1".to_owned();
    record.change = change;
    record.event_source_arn =
        Some("arn:aws:dynamodb:us-east-1:123456789012:table/taskstream/stream/2026-01-01T00:00:00.000".to_owned());
    record
}

/// A stream event of `records` records, as the stream-router Lambda would receive it.
pub fn stream_event(records: usize, seed: u64) -> Event {
    let mut rng = Rng(seed);
    let base = 1_767_225_600_000i64;
    let mut live: Vec<(String, TaskSnapshot)> = Vec::new();
    let mut deleted: Vec<(String, TaskSnapshot, serde_dynamo::Item)> = Vec::new();
    let mut out = Vec::with_capacity(records);
    for seq in 0..records as u64 {
        let at = Timestamp::from_unix_millis(base + seq as i64 * 250).unwrap_or_else(Timestamp::now);
        let tenant = format!("tenant-{}", rng.below(8));
        let ctx = ctx(&tenant, seq);
        let roll = rng.below(100);
        if live.is_empty() || roll < 25 {
            let id = format!("0195a3c4-{:04x}-7000-8000-{:012x}", seq % 0xffff, rng.next() & 0xffff_ffff_ffff);
            let task = TaskSnapshot {
                id: id.clone(),
                title: text(&mut rng, 5),
                description: Some(text(&mut rng, 190)),
                status: TaskStatus::Todo,
                priority: Priority::ALL[rng.below(4) as usize],
                assignee: None,
                reporter: Some(format!("user{}", rng.below(50))),
                category_id: None,
                project_id: None,
                sprint_id: None,
                tags: vec![WORDS[rng.below(16) as usize].to_owned()],
                due_date: Some(format!("2026-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28))),
                estimate_points: Some(rng.below(13) as u32),
                created_at: at,
                updated_at: at,
                status_changed_at: at,
                escalation: None,
                version: 1,
            };
            let new = image(&ctx, &task);
            let keys = serde_dynamo::Item::from(item::key(keys::task_pk(&tenant, &id), keys::TASK_SK.to_owned()));
            out.push(record(seq, "INSERT", keys, None, Some(new)));
            live.push((tenant, task));
            continue;
        }
        if roll >= 90 && !deleted.is_empty() {
            let (tenant, task, last) = deleted.swap_remove(rng.below(deleted.len() as u64) as usize);
            let keys = serde_dynamo::Item::from(item::key(keys::task_pk(&tenant, &task.id), keys::TASK_SK.to_owned()));
            out.push(record(seq, "REMOVE", keys, Some(last), None));
            continue;
        }
        let pick = rng.below(live.len() as u64) as usize;
        let (tenant, old) = live[pick].clone();
        let ctx = self::ctx(&tenant, seq);
        let keys = serde_dynamo::Item::from(item::key(keys::task_pk(&tenant, &old.id), keys::TASK_SK.to_owned()));
        if roll >= 80 {
            let gone = deleted_image(&ctx, &old, at);
            out.push(record(seq, "MODIFY", keys, Some(image(&ctx, &old)), Some(gone.clone())));
            live.swap_remove(pick);
            deleted.push((tenant, old, gone));
            continue;
        }
        let mut new = old.clone();
        new.version += 1;
        new.updated_at = at;
        match roll {
            25..50 => {
                new.status = match old.status {
                    TaskStatus::Todo => TaskStatus::InProgress,
                    TaskStatus::InProgress => TaskStatus::InReview,
                    TaskStatus::InReview => TaskStatus::Done,
                    _ => TaskStatus::InProgress,
                };
                new.status_changed_at = at;
            }
            50..65 => new.assignee = Some(format!("user{}", rng.below(50))),
            _ => new.title = text(&mut rng, 6),
        }
        out.push(record(seq, "MODIFY", keys, Some(image(&ctx, &old)), Some(image(&ctx, &new))));
        live[pick].1 = new;
    }
    let mut event = Event::default();
    event.records = out;
    event
}
