//! The S3 [`MatcherSnapshots`]: the exclusion matcher's snapshot as one object,
//! `matcher/exclusions.bin` in the photo bucket (private, SSE). The prefix has no lifecycle
//! expiry (unlike `snapshots/`, the indexers' downloads): the api function's cold start needs it
//! for as long as the deployment lives, and the housekeeper replaces it in place.
//!
//! Reading: the object is fetched as ranged GETs of [`PART`] bytes, [`PARALLEL`] in flight, each
//! conditional on the ETag seen first (a snapshot replaced mid-read fails the read instead of
//! mixing two objects), and handed to the decoder in order through a bounded channel. So a
//! cold start holds at most a few parts besides the index it builds, never the whole object, and
//! the download overlaps decoding. The position is also kept in the object's metadata, so the
//! housekeeper learns whether it is stale with one HEAD.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use bytes::Bytes;
use optout_core::ports::{MatcherSnapshots, SnapshotStream, StoreError};
use tokio::sync::mpsc;

use crate::error::{describe, unavailable};

/// Where the snapshot lives in the bucket.
pub const MATCHER_SNAPSHOT_KEY: &str = "matcher/exclusions.bin";
/// The bytes of one ranged GET.
pub const PART: u64 = 8 * 1024 * 1024;
/// Ranged GETs in flight.
pub const PARALLEL: usize = 4;
/// The metadata entry that holds the position.
const POSITION: &str = "position";

/// The matcher snapshot in S3.
#[derive(Debug, Clone)]
pub struct S3MatcherSnapshots {
    client: Client,
    bucket: String,
    key: String,
    part: u64,
    parallel: usize,
}

impl S3MatcherSnapshots {
    pub fn new(client: Client, bucket: &str) -> Self {
        S3MatcherSnapshots {
            client,
            bucket: bucket.to_owned(),
            key: MATCHER_SNAPSHOT_KEY.to_owned(),
            part: PART,
            parallel: PARALLEL,
        }
    }

    /// Other part sizes and parallelism (benchmarks; at least 1 byte and 1 GET).
    pub fn with_parts(mut self, part: u64, parallel: usize) -> Self {
        self.part = part.max(1);
        self.parallel = parallel.max(1);
        self
    }

    /// Size, ETag and position of the stored object, `None` when there is none.
    async fn head(&self) -> Result<Option<(u64, Option<String>, Option<u64>)>, StoreError> {
        let Some(h) = crate::s3::head(&self.client, &self.bucket, &self.key).await? else {
            return Ok(None);
        };
        let len = h.content_length().and_then(|l| u64::try_from(l).ok());
        let position = h
            .metadata()
            .and_then(|m| m.get(POSITION))
            .and_then(|p| p.parse().ok());
        Ok(Some((
            len.unwrap_or(0),
            h.e_tag().map(str::to_owned),
            position,
        )))
    }
}

/// One ranged GET, whole.
async fn get_range(
    client: Client,
    bucket: String,
    key: String,
    etag: Option<String>,
    from: u64,
    to_inclusive: u64,
) -> Result<Bytes, std::io::Error> {
    let out = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .range(format!("bytes={from}-{to_inclusive}"))
        .set_if_match(etag)
        .send()
        .await
        .map_err(|e| std::io::Error::other(describe("GetObject", &e)))?;
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| std::io::Error::other(format!("GetObject body: {e}")))?
        .into_bytes();
    if bytes.len() as u64 != to_inclusive - from + 1 {
        return Err(std::io::Error::other(format!(
            "GetObject: {} bytes for a range of {}",
            bytes.len(),
            to_inclusive - from + 1
        )));
    }
    Ok(bytes)
}

/// The parts of the object as they arrive, in order (the receiving end of the download task).
struct PartReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

impl Read for PartReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

#[async_trait]
impl MatcherSnapshots for S3MatcherSnapshots {
    async fn position(&self) -> Result<Option<u64>, StoreError> {
        Ok(self.head().await?.and_then(|(_, _, p)| p))
    }

    async fn open(&self) -> Result<Option<SnapshotStream>, StoreError> {
        let Some((len, etag, _)) = self.head().await? else {
            return Ok(None);
        };
        let (tx, rx) = mpsc::channel(self.parallel);
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
        let (part, parallel) = (self.part, self.parallel);
        tokio::spawn(async move {
            let mut next = 0u64;
            let mut in_flight = VecDeque::new();
            loop {
                while in_flight.len() < parallel && next < len {
                    let end = (next + part).min(len) - 1;
                    in_flight.push_back(tokio::spawn(get_range(
                        client.clone(),
                        bucket.clone(),
                        key.clone(),
                        etag.clone(),
                        next,
                        end,
                    )));
                    next = end + 1;
                }
                let Some(task) = in_flight.pop_front() else {
                    return;
                };
                let result = match task.await {
                    Ok(r) => r,
                    Err(e) => Err(std::io::Error::other(format!("download task: {e}"))),
                };
                let failed = result.is_err();
                // a dropped reader (a refused snapshot) or a failed part ends the download
                if tx.send(result).await.is_err() || failed {
                    for t in in_flight {
                        t.abort();
                    }
                    return;
                }
            }
        });
        Ok(Some(SnapshotStream {
            reader: Box::new(PartReader {
                rx,
                current: Bytes::new(),
            }),
            len: Some(len),
        }))
    }

    async fn store(&self, path: &Path, position: u64) -> Result<(), StoreError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| StoreError::Unavailable(format!("reading the snapshot file: {e}")))?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type("application/octet-stream")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .metadata(POSITION, position.to_string())
            .body(body)
            .send()
            .await
            .map_err(|e| unavailable("PutObject", e))?;
        Ok(())
    }
}
