//! The S3 [`SnapshotPublisher`]: exclusion snapshots for bulk download.
//!
//! A snapshot is stored once per position at `snapshots/<position, 20 digits>.json` in the photo
//! bucket (private, SSE; the template's lifecycle rule deletes `snapshots/` after a day) and handed
//! out as a presigned GET URL valid 15 minutes. An indexer downloads it straight from S3 instead of
//! through the API function.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use optout_core::ports::{SnapshotPublisher, StoreError};

use crate::error::unavailable;

/// Where snapshots live in the bucket.
pub const SNAPSHOT_PREFIX: &str = "snapshots/";
/// How long a download URL is valid.
pub const DEFAULT_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// A stored snapshot older than this is written again before it is handed out, so that it cannot
/// expire (the lifecycle rule: one day) while its URL is still valid.
const REWRITE_AFTER: chrono::Duration = chrono::Duration::hours(12);

/// Exclusion snapshots in S3 behind presigned GET URLs.
#[derive(Debug, Clone)]
pub struct S3SnapshotPublisher {
    client: Client,
    bucket: String,
    url_ttl: Duration,
}

/// The key of the snapshot at `position`.
pub fn snapshot_key(position: u64) -> String {
    format!("{SNAPSHOT_PREFIX}{position:020}.json")
}

impl S3SnapshotPublisher {
    pub fn new(client: Client, bucket: &str) -> Self {
        S3SnapshotPublisher {
            client,
            bucket: bucket.to_owned(),
            url_ttl: DEFAULT_URL_TTL,
        }
    }

    /// Another validity of the download URLs (at most 7 days: SigV4's limit).
    pub fn with_url_ttl(mut self, ttl: Duration) -> Self {
        self.url_ttl = ttl;
        self
    }

    /// Whether a current copy of the object is stored (one recent enough not to expire soon).
    async fn stored(&self, key: &str) -> Result<bool, StoreError> {
        let head = crate::s3::head(&self.client, &self.bucket, key).await?;
        Ok(head
            .and_then(|h| h.last_modified().copied())
            .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
            .is_some_and(|t| chrono::Utc::now() - t < REWRITE_AFTER))
    }
}

#[async_trait]
impl SnapshotPublisher for S3SnapshotPublisher {
    async fn publish(&self, position: u64, body: Vec<u8>) -> Result<String, StoreError> {
        let key = snapshot_key(position);
        if !self.stored(&key).await? {
            let bytes = body.len();
            let res = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .content_type("application/json")
                .server_side_encryption(ServerSideEncryption::Aes256)
                .body(ByteStream::from(body))
                .send()
                .await;
            // Two publishers racing at one position both write a snapshot labelled with it; either
            // is valid (replaying the changes after the position converges), the last one stays.
            res.map_err(|e| unavailable("PutObject", e))?;
            tracing::info!(position, bytes, "exclusion snapshot stored");
        }
        let presigning = PresigningConfig::expires_in(self.url_ttl)
            .map_err(|e| StoreError::Unavailable(format!("presigning: {e}")))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(presigning)
            .await
            .map_err(|e| unavailable("GetObject (presign)", e))?;
        Ok(req.uri().to_owned())
    }
}
