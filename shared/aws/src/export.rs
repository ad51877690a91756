//! The [`ExportStore`] port over S3: each export is one object under `exports/{tenant}/` of
//! the stage's export bucket, answered with a presigned GET URL.
//!
//! The object is written while the list is read: bytes collect in a buffer until it holds a
//! part (8 MiB), which goes out as one part of a multipart upload, so an export of any size
//! needs about one part of memory. An export smaller than one part is a single PutObject.
//! The link is presigned with the function's own credentials; it carries only the right to
//! GET that one object, until it expires.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use events_schema::Timestamp;
use shared_core::ports::{ExportLink, ExportStore, ExportUpload, StoreError};

/// Every export's key starts here; the task API may write and read nothing else of the bucket.
pub const KEY_PREFIX: &str = "exports/";
/// S3 takes parts of 5 MiB to 5 GiB (the last may be smaller) and at most 10 000 of them:
/// 8 MiB parts allow exports up to 80 GB, far beyond what a request's time allows.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// How long a link works unless `EXPORT_LINK_SECONDS` says otherwise.
pub const DEFAULT_LINK_LIFETIME: Duration = Duration::from_secs(300);
/// A presigned URL stops working when the credentials that signed it expire; a function's
/// role credentials last a few hours at most, so longer links would promise too much.
pub const MAX_LINK_LIFETIME: Duration = Duration::from_secs(3600);

const CONTENT_TYPE: &str = "text/csv; charset=utf-8";

#[derive(Debug, thiserror::Error)]
pub enum ExportConfigError {
    #[error(transparent)]
    Missing(#[from] crate::env::MissingEnv),
    #[error("EXPORT_LINK_SECONDS must be a whole number from 1 to {max}, got {0:?}", max = MAX_LINK_LIFETIME.as_secs())]
    LinkLifetime(String),
}

/// Where exports go and how they are sent and linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportConfig {
    pub bucket: String,
    /// Bytes per part of a multipart upload (S3 refuses parts under 5 MiB but the last).
    pub part_size: usize,
    /// How long a presigned link works.
    pub link_lifetime: Duration,
}

impl ExportConfig {
    pub fn new(bucket: impl Into<String>) -> Self {
        Self { bucket: bucket.into(), part_size: DEFAULT_PART_SIZE, link_lifetime: DEFAULT_LINK_LIFETIME }
    }

    /// As the CDK configures the task API: the bucket from `EXPORT_BUCKET`, the link's
    /// lifetime from `EXPORT_LINK_SECONDS` (default 300).
    pub fn from_env() -> Result<Self, ExportConfigError> {
        let bucket = crate::env::required("EXPORT_BUCKET")?;
        let link_lifetime = link_lifetime(std::env::var("EXPORT_LINK_SECONDS").ok())?;
        Ok(Self { link_lifetime, ..Self::new(bucket) })
    }
}

/// `EXPORT_LINK_SECONDS` read: unset is the default, else 1 s to [`MAX_LINK_LIFETIME`].
fn link_lifetime(text: Option<String>) -> Result<Duration, ExportConfigError> {
    let Some(text) = text else { return Ok(DEFAULT_LINK_LIFETIME) };
    text.parse()
        .ok()
        .map(Duration::from_secs)
        .filter(|d| !d.is_zero() && *d <= MAX_LINK_LIFETIME)
        .ok_or(ExportConfigError::LinkLifetime(text))
}

/// Exports in one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Exports {
    client: Client,
    config: ExportConfig,
}

impl S3Exports {
    pub fn new(sdk: &SdkConfig, config: ExportConfig) -> Self {
        Self::from_client(Client::new(sdk), config)
    }

    pub fn from_client(client: Client, config: ExportConfig) -> Self {
        Self { client, config }
    }
}

#[async_trait]
impl ExportStore for S3Exports {
    async fn create(&self, tenant: &str, file_name: &str) -> Result<Box<dyn ExportUpload>, StoreError> {
        // A time-ordered id: a tenant's exports list in the order they were made.
        let key = format!("{KEY_PREFIX}{tenant}/{}-{file_name}", uuid::Uuid::now_v7());
        Ok(Box::new(S3Upload {
            client: self.client.clone(),
            bucket: self.config.bucket.clone(),
            key,
            disposition: format!("attachment; filename=\"{file_name}\""),
            part_size: self.config.part_size.max(1),
            link_lifetime: self.config.link_lifetime,
            buffer: Vec::new(),
            upload_id: None,
            parts: Vec::new(),
        }))
    }
}

/// One export on its way to S3.
struct S3Upload {
    client: Client,
    bucket: String,
    key: String,
    disposition: String,
    part_size: usize,
    link_lifetime: Duration,
    /// What has not been sent yet: less than a part, between writes.
    buffer: Vec<u8>,
    /// Set once the first part goes out.
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl S3Upload {
    /// Sends the buffer as the next part, starting the multipart upload first if need be.
    async fn send_part(&mut self) -> Result<(), StoreError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .content_type(CONTENT_TYPE)
                    .content_disposition(&self.disposition)
                    .send()
                    .await
                    .map_err(|e| failed("CreateMultipartUpload", e))?;
                let id = created
                    .upload_id
                    .ok_or_else(|| StoreError::Unavailable("S3 CreateMultipartUpload: no upload id".into()))?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(self.parts.len() + 1)
            .map_err(|_| StoreError::Unavailable("S3 UploadPart: too many parts".into()))?;
        let body = ByteStream::from(std::mem::take(&mut self.buffer));
        let sent = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(body)
            .send()
            .await
            .map_err(|e| failed("UploadPart", e))?;
        self.parts.push(CompletedPart::builder().set_e_tag(sent.e_tag).part_number(number).build());
        Ok(())
    }

    async fn link(&self) -> Result<ExportLink, StoreError> {
        let presigning = PresigningConfig::expires_in(self.link_lifetime)
            .map_err(|e| StoreError::Unavailable(format!("S3 presigning: {e}")))?;
        let expires_at = Timestamp::now().as_offset() + self.link_lifetime;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .presigned(presigning)
            .await
            .map_err(|e| failed("GetObject presigning", e))?;
        Ok(ExportLink { url: request.uri().to_owned(), expires_at: Timestamp::from(expires_at) })
    }
}

#[async_trait]
impl ExportUpload for S3Upload {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= self.part_size {
            self.send_part().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<ExportLink, StoreError> {
        match self.upload_id.clone() {
            None => {
                let body = ByteStream::from(std::mem::take(&mut self.buffer));
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .content_type(CONTENT_TYPE)
                    .content_disposition(&self.disposition)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| failed("PutObject", e))?;
            }
            Some(upload_id) => {
                if !self.buffer.is_empty() {
                    self.send_part().await?;
                }
                let parts =
                    CompletedMultipartUpload::builder().set_parts(Some(std::mem::take(&mut self.parts))).build();
                let completed = self
                    .client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .upload_id(&upload_id)
                    .multipart_upload(parts)
                    .send()
                    .await
                    .map_err(|e| failed("CompleteMultipartUpload", e));
                if let Err(e) = completed {
                    self.abort().await;
                    return Err(e);
                }
            }
        }
        self.link().await
    }

    async fn abort(self: Box<Self>) {
        let Some(upload_id) = &self.upload_id else { return };
        let aborted =
            self.client.abort_multipart_upload().bucket(&self.bucket).key(&self.key).upload_id(upload_id).send().await;
        if let Err(e) = aborted {
            // The bucket's lifecycle rule removes incomplete uploads after a day.
            tracing::warn!(key = %self.key, error = %DisplayErrorContext(e), "abandoned export upload not aborted");
        }
    }
}

/// S3's codes for a request refused for load: wait, then try again.
const THROTTLING_CODES: [&str; 2] = ["SlowDown", "ThrottlingException"];

fn failed<E, R>(operation: &str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let throttled =
        err.as_service_error().and_then(ProvideErrorMetadata::code).is_some_and(|c| THROTTLING_CODES.contains(&c));
    let message = format!("S3 {operation}: {}", DisplayErrorContext(err));
    tracing::warn!(error = %message, throttled, "S3 call failed");
    if throttled { StoreError::Throttled(message) } else { StoreError::Unavailable(message) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_lifetime_is_short_and_bounded() {
        let seconds = |text: &str| link_lifetime(Some(text.to_owned())).ok();
        assert_eq!(link_lifetime(None).ok(), Some(DEFAULT_LINK_LIFETIME));
        assert_eq!(seconds("60"), Some(Duration::from_secs(60)));
        assert_eq!(seconds("3600"), Some(MAX_LINK_LIFETIME));
        for refused in ["0", "3601", "-5", "five", ""] {
            assert!(link_lifetime(Some(refused.to_owned())).is_err(), "{refused:?}");
        }
    }
}
