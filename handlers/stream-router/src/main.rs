//! DynamoDB stream → derived events → the EventBridge bus; poison records to the parking queue.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::value::RawValue;
use shared_aws::bus::EventBridgePublisher;
use shared_aws::env::{init_tracing, required, sdk_config};
use shared_aws::lambda::route_stream;
use shared_aws::parking::SqsParking;
use shared_core::stream_router::RetryPolicy;

/// The router allocates per attribute and per event; mimalloc serves that far faster than
/// the system allocator (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let publisher = EventBridgePublisher::from_config(&config, required("EVENT_BUS_NAME")?);
    let parking = SqsParking::from_config(&config, required("ROUTER_DLQ_URL")?);
    let policy = RetryPolicy::default();
    let (publisher, parking, policy) = (&publisher, &parking, &policy);
    // The payload stays raw JSON: the router reads it in place, far faster than through
    // the generic Lambda event types, and parks a poison record exactly as it arrived.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        // The invocation's X-Ray trace travels on every event it puts on the bus.
        let trace = event.context.xray_trace_id.as_deref();
        Ok::<_, Error>(route_stream(event.payload.get(), trace, publisher, parking, policy).await?.0)
    }))
    .await
}
