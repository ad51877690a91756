//! The stream router's per-batch work on a generated 1 000-record DynamoDB Streams event
//! (NEW_AND_OLD_IMAGES, the table's own item layout): decode the Lambda event, turn records
//! into change records, derive the events, build the PutEvents entries and plan the calls.
//!
//! Run: `cargo bench -p shared-aws --bench router`. Figures go to BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a panic is the report

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shared_aws::dynamo::fixture::stream_event;
use shared_aws::lambda::{StreamEvent, stream_records};
use shared_core::stream_router::{BusEntry, derive_batch, plan_calls};

const RECORDS: usize = 1000;

/// Everything after the JSON parse; returns the number of PutEvents calls planned.
fn route(event: &StreamEvent) -> usize {
    let records = stream_records(event);
    let mut entries = Vec::new();
    for (index, derived) in derive_batch(&records).into_iter().enumerate() {
        for e in derived.unwrap() {
            entries.push(BusEntry::from_event(&e, index).unwrap());
        }
    }
    plan_calls(entries).len()
}

fn bench(c: &mut Criterion) {
    let event = stream_event(RECORDS, 1);
    let bytes = serde_json::to_vec(&event).unwrap();
    println!("fixture: {RECORDS} records, {} bytes of JSON", bytes.len());
    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("batch_from_json", |b| {
        b.iter(|| {
            let event: StreamEvent = serde_json::from_slice(std::hint::black_box(&bytes)).unwrap();
            route(&event)
        })
    });
    group.bench_function("json_parse_only", |b| {
        b.iter(|| serde_json::from_slice::<StreamEvent>(std::hint::black_box(&bytes)).unwrap().records.len())
    });
    group.bench_function("batch_after_parse", |b| b.iter(|| route(std::hint::black_box(&event))));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
