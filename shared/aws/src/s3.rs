//! The S3 [`PhotoStore`]: a private bucket, uploads by presigned POST, tags for the life cycle.

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::types::{Tag, Tagging};
use chrono::{DateTime, Utc};
use optout_core::ports::{PhotoReadError, PhotoStore, StoreError, StoredPhoto, UploadForm};

use crate::error::unavailable;
use crate::presign::{self, ANY_IMAGE, PostPolicy, SigningCredentials};

/// Photos in a private S3 bucket.
#[derive(Debug, Clone)]
pub struct S3PhotoStore {
    client: Client,
    bucket: String,
    region: String,
    /// Where forms POST to: the bucket's virtual-hosted URL in AWS, `{endpoint}/{bucket}` with an emulator.
    form_url: String,
    credentials: Option<SharedCredentialsProvider>,
    server_side_encryption: String,
}

impl S3PhotoStore {
    /// `endpoint`: an emulator's URL (path-style addressing), `None` in AWS.
    pub fn new(
        client: Client,
        bucket: &str,
        region: &str,
        endpoint: Option<&str>,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Self {
        let form_url = match endpoint {
            Some(e) => format!("{}/{bucket}", e.trim_end_matches('/')),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com/"),
        };
        S3PhotoStore {
            client,
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            form_url,
            credentials,
            server_side_encryption: "AES256".to_owned(),
        }
    }

    async fn tag(&self, key: &str, state: &str) -> Result<(), StoreError> {
        let tag = Tag::builder()
            .key("state")
            .value(state)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("tag not built: {e}")))?;
        let tagging = Tagging::builder()
            .tag_set(tag)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("tagging not built: {e}")))?;
        self.client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| unavailable("PutObjectTagging", e))?;
        Ok(())
    }
}

#[async_trait]
impl PhotoStore for S3PhotoStore {
    async fn upload_form(
        &self,
        key: &str,
        max_bytes: u64,
        expires_at: DateTime<Utc>,
        redirect: Option<&str>,
    ) -> Result<UploadForm, StoreError> {
        let provider = self.credentials.as_ref().ok_or_else(|| {
            StoreError::Unavailable("no AWS credentials to sign upload forms".into())
        })?;
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| StoreError::Unavailable(format!("credentials: {e}")))?;
        let policy = PostPolicy {
            bucket: &self.bucket,
            key,
            region: &self.region,
            max_bytes,
            expires_at,
            now: Utc::now(),
            redirect,
            server_side_encryption: &self.server_side_encryption,
        };
        let signing = SigningCredentials {
            access_key_id: creds.access_key_id(),
            secret_access_key: creds.secret_access_key(),
            session_token: creds.session_token(),
        };
        Ok(UploadForm {
            url: self.form_url.clone(),
            fields: presign::sign_post(&policy, &signing),
            file_field: "file".to_owned(),
            key: key.to_owned(),
            max_bytes,
            expires_at,
        })
    }

    async fn read(&self, key: &str, max_bytes: u64) -> Result<StoredPhoto, PhotoReadError> {
        let head = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(h) => h,
            Err(e) if matches!(e.as_service_error(), Some(HeadObjectError::NotFound(_))) => {
                return Err(PhotoReadError::NotFound);
            }
            Err(e) => return Err(unavailable("HeadObject", e).into()),
        };
        let size = head.content_length().unwrap_or(0);
        if size < 0 || size as u64 > max_bytes {
            return Err(PhotoReadError::TooLarge { max: max_bytes });
        }
        // The object read must be the one measured.
        let mut get = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some(etag) = head.e_tag() {
            get = get.if_match(etag);
        }
        let out = match get.send().await {
            Ok(o) => o,
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                return Err(PhotoReadError::NotFound);
            }
            Err(e) => return Err(unavailable("GetObject", e).into()),
        };
        let declared_type = out
            .content_type()
            .filter(|t| !t.trim().is_empty() && t.trim() != ANY_IMAGE)
            .map(str::to_owned);
        let mut body = out.body;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        loop {
            match body.try_next().await {
                Ok(Some(chunk)) => {
                    if (bytes.len() + chunk.len()) as u64 > max_bytes {
                        return Err(PhotoReadError::TooLarge { max: max_bytes });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(StoreError::Unavailable(format!("GetObject: body: {e}")).into());
                }
            }
        }
        Ok(StoredPhoto {
            bytes,
            declared_type,
        })
    }

    async fn claim(&self, key: &str) -> Result<(), StoreError> {
        self.tag(key, "claimed").await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| unavailable("DeleteObject", e))?;
        Ok(())
    }
}
