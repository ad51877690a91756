//! The stream router's per-batch work on a generated 1 000-record DynamoDB Streams event
//! (NEW_AND_OLD_IMAGES, the table's own item layout): decode the Lambda event's JSON into
//! change records, derive the events, build the PutEvents entries and plan the calls, as
//! the stream-router Lambda does (`batch_from_json`), and its parts on their own.
//!
//! Run: `cargo bench -p shared-aws --bench router`. Figures go to BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench: a panic is the report

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shared_aws::dynamo::fixture::stream_event;
use shared_aws::dynamo::stream::{StreamBatch, decode_batch, decode_batch_with};
use shared_core::stream_router::{Prepared, plan_calls, prepare, prepare_batch};

/// The allocator the stream-router Lambda runs with, so the figures are the handler's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RECORDS: usize = 1000;

/// Plans the PutEvents calls of prepared records; returns how many.
fn plan(prepared: Vec<Prepared>) -> usize {
    plan_calls(prepared.into_iter().flat_map(|p| p.entries.unwrap()).collect()).len()
}

fn bench(c: &mut Criterion) {
    let payload = serde_json::to_string(&stream_event(RECORDS, 1)).unwrap();
    println!("fixture: {RECORDS} records, {} bytes of JSON", payload.len());
    let records = decode_batch(&payload).unwrap();
    assert!(records.iter().all(|r| r.change.is_ok()), "the fixture has no poison");

    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("batch_from_json", |b| {
        b.iter(|| plan(decode_batch_with(std::hint::black_box(&payload), prepare).unwrap()))
    });
    group.bench_function("json_parse_only", |b| {
        b.iter(|| sonic_rs::from_str::<StreamBatch>(std::hint::black_box(&payload)).unwrap().records.len())
    });
    group.bench_function("decode_only", |b| b.iter(|| decode_batch(std::hint::black_box(&payload)).unwrap().len()));
    // The decoded records are cloned outside the timed part, as preparing consumes them.
    group.bench_function("batch_after_decode", |b| {
        b.iter_batched(|| records.clone(), |records| plan(prepare_batch(records)), criterion::BatchSize::LargeInput)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
