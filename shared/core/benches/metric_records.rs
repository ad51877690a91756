//! Metric record building, one core: 1 000 events in the mix the metrics consumer receives
//! (a quarter creations, a third status changes, completions, updates, a few deletions and
//! sprint events), each a golden event of `events-schema` under its own task id.
//!
//! - `records/build`: decoded events to records, what the record builder itself costs;
//! - `records/decode_and_build`: queue message bodies (EventBridge events) decoded, upcast
//!   and built, what the consumer does per message before it writes.
//!
//! Run: `cargo bench -p shared-core --bench metric_records`. Figures go to BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a panic is the report

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use events_schema::{BridgeEvent, DomainEvent, Envelope};
use shared_core::metrics;
use shared_core::pipeline::decode;

const EVENTS: usize = 1000;

/// The golden fixtures in the mix, with their share of every 20 events.
const MIX: [(&str, usize); 7] = [
    ("TaskCreated.v1", 5),
    ("TaskStatusChanged.v2", 6),
    ("TaskCompleted.v1", 3),
    ("TaskUpdated.v1", 3),
    ("TaskDeleted.v1", 1),
    ("SprintStarted.v1", 1),
    ("SprintClosed.v1", 1),
];

fn envelopes() -> Vec<Envelope> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events-schema/fixtures");
    let goldens: Vec<(Envelope, usize)> = MIX
        .iter()
        .map(|(stem, share)| {
            let text = std::fs::read_to_string(dir.join(format!("{stem}.json"))).unwrap();
            (serde_json::from_str(&text).unwrap(), *share)
        })
        .collect();
    let cycle: Vec<&Envelope> = goldens.iter().flat_map(|(e, share)| std::iter::repeat_n(e, *share)).collect();
    (0..EVENTS)
        .map(|i| {
            let mut envelope = cycle[i % cycle.len()].clone();
            envelope.aggregate_id = format!("0195{i:08x}-0000-7000-8000-000000000000");
            envelope
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let envelopes = envelopes();
    let events: Vec<DomainEvent> = envelopes.iter().map(|e| DomainEvent::from_envelope(e.clone()).unwrap()).collect();
    let bodies: Vec<String> =
        envelopes.iter().map(|e| serde_json::to_string(&BridgeEvent::wrap(e).unwrap()).unwrap()).collect();
    assert_eq!(events.iter().filter_map(metrics::build).count(), EVENTS, "every event of the mix builds a record");

    let mut group = c.benchmark_group("records");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("build", |b| {
        b.iter(|| std::hint::black_box(&events).iter().filter_map(metrics::build).count())
    });
    group.bench_function("decode_and_build", |b| {
        b.iter(|| {
            std::hint::black_box(&bodies).iter().filter_map(|body| metrics::build(&decode(body).unwrap().0)).count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
