//! Commands to a `taskstream serve` over plain HTTP/1.1: `POST /ingest/batch` as NDJSON, one
//! result per command.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use crate::{Delivery, PublishError};

/// The most commands serve takes in one batch.
pub const MAX_BATCH: usize = 1000;

/// What serve answered for one batch.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchReport {
    pub applied: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub results: Vec<LineResult>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineResult {
    /// The line of the batch (from 1) the result is for.
    pub line: usize,
    pub ok: bool,
    #[serde(default)]
    pub outcome: Option<crate::Applied>,
    #[serde(default)]
    pub error: Option<LineError>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LineError {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub details: serde_json::Value,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

/// A serve URL (`http://host:port`) and an API key of the publisher's tenant, with the
/// member role at least.
#[derive(Debug, Clone)]
pub struct ServePublisher {
    authority: String,
    key: String,
}

impl ServePublisher {
    pub fn new(url: &str, key: impl Into<String>) -> Result<Self, PublishError> {
        let uri: Uri = url.parse().map_err(|e| PublishError::Config(format!("{url:?} is not a URL: {e}")))?;
        if uri.scheme_str() != Some("http") {
            return Err(PublishError::Config(format!(
                "{url:?}: only http:// is supported (serve listens on plain HTTP; put TLS in front of it)"
            )));
        }
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or_else(|| PublishError::Config(format!("{url:?} has no host")))?;
        Ok(Self { authority, key: key.into() })
    }

    /// Sends up to [`MAX_BATCH`] NDJSON lines as they are, and reads serve's answer: one
    /// result per non-blank line. For tools that hold lines rather than commands.
    pub async fn send_ndjson(&self, body: Vec<u8>) -> Result<BatchReport, PublishError> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| PublishError::Http(format!("cannot connect to {}: {e}", self.authority)))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| PublishError::Http(format!("HTTP handshake with {} failed: {e}", self.authority)))?;
        let driver = tokio::spawn(connection);
        let request = Request::post("/ingest/batch")
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::CONTENT_TYPE, "application/x-ndjson")
            .header("x-api-key", &self.key)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| PublishError::Http(format!("the request could not be built: {e}")))?;
        let response =
            sender.send_request(request).await.map_err(|e| PublishError::Http(format!("POST /ingest/batch: {e}")))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| PublishError::Http(format!("reading the answer: {e}")))?
            .to_bytes();
        drop(sender);
        driver.abort();
        if !status.is_success() {
            return Err(PublishError::Refused {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        let report: Envelope<BatchReport> =
            serde_json::from_slice(&bytes).map_err(|e| PublishError::Decode(format!("the batch report: {e}")))?;
        Ok(report.data)
    }

    /// Sends `commands` in batches and answers one delivery per command, in order.
    pub async fn publish(&self, commands: &[events_schema::commands::Command]) -> Result<Vec<Delivery>, PublishError> {
        let mut deliveries = Vec::with_capacity(commands.len());
        for chunk in commands.chunks(MAX_BATCH) {
            let mut body = Vec::new();
            for command in chunk {
                let envelope = command.to_envelope().map_err(|e| PublishError::Encode(e.to_string()))?;
                serde_json::to_writer(&mut body, &envelope).map_err(|e| PublishError::Encode(e.to_string()))?;
                body.push(b'\n');
            }
            let report = self.send_ndjson(body).await?;
            if report.results.len() != chunk.len() {
                return Err(PublishError::Decode(format!(
                    "serve answered {} results for {} commands",
                    report.results.len(),
                    chunk.len()
                )));
            }
            deliveries.extend(report.results.into_iter().map(|result| match (result.outcome, result.error) {
                (Some(outcome), _) if result.ok => Delivery::Applied(outcome),
                (_, Some(error)) => Delivery::Rejected { code: error.code, message: error.message },
                _ => Delivery::Rejected { code: "unknown".into(), message: "serve gave no outcome".into() },
            }));
        }
        Ok(deliveries)
    }
}
