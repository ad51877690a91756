//! Task metrics in Amazon Timestream: the metrics consumer's sink (WriteRecords) and the
//! metric queries (Query), with the SQL they send and the Grafana dashboard that runs it; and
//! the choice of sink a deployment makes.

pub mod grafana;
mod read;
pub mod sql;
mod write;

use aws_config::SdkConfig;
use shared_core::consumers::metrics::EmfSink;
use shared_core::ports::MetricsSink;

pub use read::TimestreamMetrics;
pub use sql::{Table, query_sql};
pub use write::{TimestreamSink, plan_write};

use crate::env::{MissingEnv, required};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Missing(#[from] MissingEnv),
    #[error("METRICS_SINK must be timestream or none, got {0:?}")]
    Unknown(String),
    #[error("Timestream endpoint discovery failed: {0}")]
    Discovery(String),
}

/// Whether `config` names an endpoint of its own (the local emulator): Timestream's endpoint
/// discovery would answer with the real service's, so it is used only without one.
fn discovers(config: &SdkConfig) -> bool {
    config.endpoint_url().is_none()
}

/// A WriteRecords client: on AWS with endpoint discovery (Timestream requires it; the
/// endpoint is reloaded in the background), against an explicit endpoint without.
pub async fn write_client(config: &SdkConfig) -> Result<aws_sdk_timestreamwrite::Client, SinkError> {
    let client = aws_sdk_timestreamwrite::Client::new(config);
    if !discovers(config) {
        return Ok(client);
    }
    let (client, reload) =
        client.with_endpoint_discovery_enabled().await.map_err(|e| SinkError::Discovery(e.to_string()))?;
    tokio::spawn(reload.reload_task());
    Ok(client)
}

/// A Query client, as [`write_client`].
pub async fn query_client(config: &SdkConfig) -> Result<aws_sdk_timestreamquery::Client, SinkError> {
    let client = aws_sdk_timestreamquery::Client::new(config);
    if !discovers(config) {
        return Ok(client);
    }
    let (client, reload) =
        client.with_endpoint_discovery_enabled().await.map_err(|e| SinkError::Discovery(e.to_string()))?;
    tokio::spawn(reload.reload_task());
    Ok(client)
}

/// The metrics sink the deployment chose (`METRICS_SINK`, as the CDK sets it): `timestream`
/// writes `TIMESTREAM_DATABASE`.`TIMESTREAM_TABLE`; `none` prints each record as EMF to stdout,
/// which Lambda delivers to CloudWatch.
pub async fn metrics_sink(config: &SdkConfig) -> Result<Box<dyn MetricsSink>, SinkError> {
    match std::env::var("METRICS_SINK").unwrap_or_else(|_| "timestream".into()).as_str() {
        "none" => Ok(Box::new(EmfSink::new(std::io::stdout()))),
        "timestream" => {
            let (database, table) = (required("TIMESTREAM_DATABASE")?, required("TIMESTREAM_TABLE")?);
            Ok(Box::new(TimestreamSink::new(write_client(config).await?, database, table)))
        }
        other => Err(SinkError::Unknown(other.to_owned())),
    }
}
