//! DynamoDB stream → derived events → the EventBridge bus; poison records to the parking queue.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared_aws::bus::EventBridgePublisher;
use shared_aws::env::{init_tracing, required, sdk_config};
use shared_aws::lambda::{StreamEvent, route_stream};
use shared_aws::parking::SqsParking;
use shared_core::stream_router::RetryPolicy;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_tracing();
    let config = sdk_config().await;
    let publisher = EventBridgePublisher::from_config(&config, required("EVENT_BUS_NAME")?);
    let parking = SqsParking::from_config(&config, required("ROUTER_DLQ_URL")?);
    let policy = RetryPolicy::default();
    let (publisher, parking, policy) = (&publisher, &parking, &policy);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<StreamEvent>| async move {
        Ok::<_, Error>(route_stream(&event.payload, publisher, parking, policy).await.0)
    }))
    .await
}
