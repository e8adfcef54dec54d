//! The S3 [`PhotoStore`]: a private bucket, uploads by presigned POST, tags for the life cycle,
//! and reviewers' views by presigned GET (a Lambda response cannot carry a 10 MB photo).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{Tag, Tagging};
use chrono::Utc;
use optout_core::ports::{
    PhotoReadError, PhotoStore, StoreError, StoredPhoto, UploadForm, UploadRequest,
};

use crate::error::unavailable;
use crate::presign::{self, ANY_IMAGE, PostPolicy, SigningCredentials};

/// The metadata of an object, `None` when there is none: the one HEAD that the photo store and
/// the snapshot stores share.
pub(crate) async fn head(
    client: &Client,
    bucket: &str,
    key: &str,
) -> Result<Option<HeadObjectOutput>, StoreError> {
    match client.head_object().bucket(bucket).key(key).send().await {
        Ok(h) => Ok(Some(h)),
        Err(e) if matches!(e.as_service_error(), Some(HeadObjectError::NotFound(_))) => Ok(None),
        Err(e) => Err(unavailable("HeadObject", e)),
    }
}

/// The `Cache-Control` S3 answers a view URL with: the photo is personal data, no cache keeps it.
pub const VIEW_CACHE_CONTROL: &str = "no-store, private";
/// The `Content-Disposition` of a view: shown in the page, never offered as a download.
pub const VIEW_CONTENT_DISPOSITION: &str = "inline";

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
    /// The origin of the presigned GET URLs, learnt once by signing one: the SDK's endpoint rules
    /// decide it (virtual-hosted or path style, FIPS, dual stack, an emulator), not a guess here.
    view_origin: Arc<OnceLock<String>>,
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
            view_origin: Arc::new(OnceLock::new()),
        }
    }

    /// A presigned GET of `key` valid for `ttl`, whose response S3 gives the view's headers.
    async fn presign_view(
        &self,
        key: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        // The forced type is the verified one the desk stored; anything else would let S3 serve
        // the bytes as, say, HTML.
        if !is_image_type(content_type) {
            return Err(StoreError::Corrupt(
                "a photo's content type is not an image type".into(),
            ));
        }
        let presigning = PresigningConfig::expires_in(ttl)
            .map_err(|e| StoreError::Unavailable(format!("presigning: {e}")))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_type(content_type)
            .response_cache_control(VIEW_CACHE_CONTROL)
            .response_content_disposition(VIEW_CONTENT_DISPOSITION)
            .presigned(presigning)
            .await
            .map_err(|e| unavailable("GetObject (presign)", e))?;
        Ok(req.uri().to_owned())
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
    async fn upload_form(&self, request: UploadRequest<'_>) -> Result<UploadForm, StoreError> {
        let UploadRequest {
            key,
            max_bytes,
            expires_at,
            redirect,
        } = request;
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
        let Some(head) = head(&self.client, &self.bucket, key).await? else {
            return Err(PhotoReadError::NotFound);
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

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        Ok(head(&self.client, &self.bucket, key).await?.is_some())
    }

    async fn view_url(
        &self,
        key: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        self.presign_view(key, content_type, ttl).await.map(Some)
    }

    async fn view_origin(&self) -> Result<Option<String>, StoreError> {
        if let Some(o) = self.view_origin.get() {
            return Ok(Some(o.clone()));
        }
        // Signing is local (no request is sent): sign a URL to learn where the SDK points them.
        let url = self
            .presign_view("uploads/origin", "image/jpeg", Duration::from_secs(1))
            .await?;
        let origin = origin_of(&url).ok_or_else(|| {
            StoreError::Unavailable("the S3 endpoint is not an http(s) origin".into())
        })?;
        Ok(Some(self.view_origin.get_or_init(|| origin).clone()))
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

/// `image/<subtype>` and nothing more: no parameters, no spaces, no control characters, and no
/// `+` suffix (`image/svg+xml` is a document that can run scripts, not a photo).
fn is_image_type(t: &str) -> bool {
    t.strip_prefix("image/").is_some_and(|sub| {
        !sub.is_empty()
            && sub
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
    })
}

/// The `scheme://host[:port]` of an http(s) URL, as a Content-Security-Policy source; `None` for
/// anything else (user info, characters a policy cannot hold).
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "https" | "http") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let ok = !authority.is_empty()
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then(|| format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_sdk_s3::config::{BehaviorVersion, Region};

    fn store(region: &str, bucket: &str, endpoint: Option<&str>) -> S3PhotoStore {
        let mut conf = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new("AKID", "secret", None, None, "test"));
        if let Some(e) = endpoint {
            conf = conf.endpoint_url(e).force_path_style(true);
        }
        S3PhotoStore::new(
            Client::from_conf(conf.build()),
            bucket,
            region,
            endpoint,
            None,
        )
    }

    #[test]
    fn origins_of_urls() {
        assert_eq!(
            origin_of("https://b.s3.eu-west-1.amazonaws.com/uploads/x?X-Amz-Signature=1")
                .as_deref(),
            Some("https://b.s3.eu-west-1.amazonaws.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:5000/bucket/uploads/x").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(origin_of("https://h").as_deref(), Some("https://h"));
        for bad in [
            "ftp://h/x",
            "https://user@h/x",
            "https:///x",
            "https://h;script-src *",
            "https://h x/",
            "h/x",
        ] {
            assert_eq!(origin_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_image_types_are_forced() {
        assert!(is_image_type("image/jpeg") && is_image_type("image/webp"));
        for bad in [
            "text/html",
            "image/",
            "image/svg+xml",
            "image/png; x=1",
            "image/png\r\nx: y",
            "imagex/png",
        ] {
            assert!(!is_image_type(bad), "{bad}");
        }
    }

    /// The URL forces the view's headers, is signed for the asked time, and its origin is the one
    /// the store reports (the SDK's own endpoint rules, in AWS and with an emulator).
    #[tokio::test]
    async fn view_urls_force_the_headers_and_share_the_reported_origin() {
        for (region, bucket, endpoint, origin) in [
            (
                "eu-west-1",
                "photos-1",
                None,
                "https://photos-1.s3.eu-west-1.amazonaws.com",
            ),
            (
                "us-east-1",
                "photos-2",
                None,
                "https://photos-2.s3.us-east-1.amazonaws.com",
            ),
            (
                "eu-west-1",
                "photos-3",
                Some("http://127.0.0.1:5000"),
                "http://127.0.0.1:5000",
            ),
        ] {
            let s = store(region, bucket, endpoint);
            assert_eq!(s.view_origin().await.unwrap().as_deref(), Some(origin));
            let url = s
                .view_url("uploads/abc", "image/png", Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap();
            assert!(url.starts_with(&format!("{origin}/")), "{url}");
            assert_eq!(origin_of(&url).as_deref(), Some(origin));
            for needle in [
                "uploads/abc?",
                "response-content-type=image%2Fpng",
                "response-cache-control=no-store%2C%20private",
                "response-content-disposition=inline",
                "X-Amz-Expires=60",
                "X-Amz-Signature=",
            ] {
                assert!(url.contains(needle), "{needle} not in {url}");
            }
            assert!(matches!(
                s.view_url("uploads/abc", "text/html", Duration::from_secs(60))
                    .await,
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}
