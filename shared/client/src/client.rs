//! [`Client`]: the indexer API over HTTP(S).

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use optout_matcher::Candidate;
use optout_matcher::wire::{
    ChangesResponse, CheckRequest, CheckResponse, MAX_BATCH, Snapshot, WireError,
};
use reqwest::header::{AUTHORIZATION, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::ClientError;
use crate::retry::{RetryPolicy, parse_retry_after};

const USER_AGENT: &str = concat!("optout-client/", env!("CARGO_PKG_VERSION"));
/// Longest error-body excerpt kept in an [`ClientError::Http`] message.
const MESSAGE_MAX: usize = 200;

/// An indexer API key (`optk_<id>_<secret>`). Its `Debug` output is redacted and it has no
/// `Display`, so it cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Checks that the key can travel in an `Authorization` header (visible ASCII, no spaces).
    pub fn new(key: impl Into<String>) -> Result<Self, ClientError> {
        let key = key.into();
        let key = key.trim().to_owned();
        if key.is_empty() {
            return Err(ClientError::Config("the API key is empty".into()));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ClientError::Config(
                "the API key contains spaces or characters other than visible ASCII".into(),
            ));
        }
        Ok(Self(key))
    }

    fn bearer(&self) -> Result<HeaderValue, ClientError> {
        let mut v = HeaderValue::from_str(&format!("Bearer {}", self.0))
            .map_err(|_| ClientError::Config("the API key is not a valid header value".into()))?;
        v.set_sensitive(true);
        Ok(v)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl FromStr for ApiKey {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ApiKey::new(s)
    }
}

/// Where a [`Mirror`](crate::Mirror) gets its data from: the [`Client`], or anything else that
/// speaks the same protocol (tests use an in-memory feed).
pub trait ExclusionFeed {
    /// Every active entry and the position to replay the change feed from.
    fn snapshot(&self) -> impl Future<Output = Result<Snapshot, ClientError>> + Send;
    /// Up to `limit` entries changed after position `after`, by position.
    fn changes(
        &self,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<ChangesResponse, ClientError>> + Send;
}

/// A client of the indexer API (`/v1/exclusions/...`).
///
/// Cheap to clone (the connection pool is shared). The key goes in `Authorization: Bearer` on
/// requests to the API's own origin only: a snapshot redirect (303 to a presigned URL) is
/// followed without it.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    retry: RetryPolicy,
    timeout: Duration,
    snapshot_timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the API at `base_url` (e.g. `https://optout.example.org`, or an API Gateway
    /// stage URL such as `https://abc.execute-api.eu-west-1.amazonaws.com/prod`).
    pub fn new(base_url: &str, api_key: ApiKey) -> Result<Self, ClientError> {
        let mut base = Url::parse(base_url.trim())
            .map_err(|e| ClientError::Config(format!("API URL {base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(ClientError::Config(format!(
                "API URL {base_url:?}: expected http(s)://host[:port][/path]"
            )));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(ClientError::Config(format!(
                "API URL {base_url:?}: must not have a query or fragment"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            // redirects are followed by hand, so the key never leaves the API's origin
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            auth: api_key.bearer()?,
            base,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            snapshot_timeout: Duration::from_secs(600),
        })
    }

    /// Replaces the retry policy (default: [`RetryPolicy::default`]).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces the per-request timeouts: API calls (default 30 s) and the snapshot download
    /// (default 10 min; it may be large).
    pub fn with_timeouts(mut self, request: Duration, snapshot: Duration) -> Self {
        self.timeout = request;
        self.snapshot_timeout = snapshot;
        self
    }

    /// The API base URL (always ending in `/`).
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn endpoint(&self, path: &str) -> Url {
        // `path` is a constant relative path; joining it onto a base ending in '/' cannot fail
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    /// Checks candidates against the exclusion data.
    ///
    /// More than [`MAX_BATCH`] candidates are sent as several requests of at most
    /// [`MAX_BATCH`], one after the other, and their results concatenated in order (result `i`
    /// belongs to candidate `i`). An empty slice sends nothing and answers position 0.
    ///
    /// **Position.** Each request is answered from the exclusion data at some position; between
    /// two requests the data may move on (or, in AWS, another instance may be a little behind).
    /// The merged answer reports the **lowest** position seen: every result reflects at least
    /// all changes up to it, and some results may reflect later ones. That is the only bound
    /// that holds for every result, and it is the safe one for an indexer: re-checking (or
    /// replaying the change feed) from that position can never miss a change.
    ///
    /// A refused candidate fails the whole call with [`ClientError::BadRequest`]; its `index`
    /// is the candidate's index in `candidates` (offset for later chunks).
    pub async fn check(&self, candidates: &[Candidate]) -> Result<CheckResponse, ClientError> {
        let url = self.endpoint("v1/exclusions/check");
        let mut parts = Vec::with_capacity(candidates.len().div_ceil(MAX_BATCH));
        for (n, chunk) in candidates.chunks(MAX_BATCH).enumerate() {
            let offset = n * MAX_BATCH;
            let body = CheckRequest {
                candidates: chunk.to_vec(),
            };
            let resp = self
                .send(|| self.api(self.http.post(url.clone()).json(&body)))
                .await?;
            let part: CheckResponse = decode(resp).await.map_err(|e| match e {
                ClientError::BadRequest {
                    code,
                    message,
                    index,
                } => ClientError::BadRequest {
                    code,
                    message,
                    index: index.map(|i| i + offset),
                },
                e => e,
            })?;
            if part.results.len() != chunk.len() {
                return Err(ClientError::Decode(format!(
                    "{} results for {} candidates",
                    part.results.len(),
                    chunk.len()
                )));
            }
            parts.push(part);
        }
        Ok(merge_checks(parts))
    }

    /// One page of the change feed: entries changed after position `after` (at most `limit`).
    pub async fn changes(&self, after: u64, limit: usize) -> Result<ChangesResponse, ClientError> {
        let mut url = self.endpoint("v1/exclusions/changes");
        url.query_pairs_mut()
            .append_pair("after", &after.to_string())
            .append_pair("limit", &limit.to_string());
        let resp = self.send(|| self.api(self.http.get(url.clone()))).await?;
        decode(resp).await
    }

    /// Every active entry and the position to replay the change feed from. The server answers
    /// with the document (embedded mode) or with 303 See Other to a presigned URL (AWS), which
    /// is fetched without the API key.
    pub async fn snapshot(&self) -> Result<Snapshot, ClientError> {
        let url = self.endpoint("v1/exclusions/snapshot");
        let resp = self
            .send(|| {
                self.api(self.http.get(url.clone()))
                    .timeout(self.snapshot_timeout)
            })
            .await?;
        if !resp.status().is_redirection() {
            return decode(resp).await;
        }
        let target = redirect_target(&url, &resp)?;
        tracing::debug!(
            host = target.host_str().unwrap_or(""),
            "following the snapshot redirect"
        );
        // No Authorization header here: the key is for the API only, and a presigned URL
        // carries its own signature (S3 refuses a request with both).
        let resp = self
            .send(|| self.http.get(target.clone()).timeout(self.snapshot_timeout))
            .await
            .map_err(strip_url)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(ClientError::Http {
                status: status.as_u16(),
                message: "the snapshot download (redirect target) failed".into(),
            });
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.without_url()))?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(format!("snapshot: {e}")))
    }

    fn api(&self, req: RequestBuilder) -> RequestBuilder {
        req.header(AUTHORIZATION, self.auth.clone())
            .timeout(self.timeout)
    }

    /// Sends a request, retrying 429 and 503 as the policy allows.
    async fn send(&self, build: impl Fn() -> RequestBuilder) -> Result<Response, ClientError> {
        let mut attempt = 1;
        loop {
            let resp = build().send().await.map_err(ClientError::Transport)?;
            let status = resp.status();
            let err = match status {
                StatusCode::TOO_MANY_REQUESTS => ClientError::RateLimited {
                    retry_after: retry_after(&resp),
                },
                StatusCode::SERVICE_UNAVAILABLE => ClientError::Unavailable {
                    retry_after: retry_after(&resp),
                },
                _ => return Ok(resp),
            };
            let hint = match &err {
                ClientError::RateLimited { retry_after }
                | ClientError::Unavailable { retry_after } => *retry_after,
                _ => None,
            };
            let Some(wait) = self.retry.next_wait(attempt, hint) else {
                return Err(err);
            };
            tracing::debug!(
                status = status.as_u16(),
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}

impl ExclusionFeed for Client {
    fn snapshot(&self) -> impl Future<Output = Result<Snapshot, ClientError>> + Send {
        Client::snapshot(self)
    }

    fn changes(
        &self,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<ChangesResponse, ClientError>> + Send {
        Client::changes(self, after, limit)
    }
}

/// Concatenates the answers to consecutive chunks of one check: results in order, and the
/// lowest position (see [`Client::check`]). No parts: position 0, no results.
pub fn merge_checks(parts: Vec<CheckResponse>) -> CheckResponse {
    let position = parts.iter().map(|p| p.position).min().unwrap_or(0);
    let results = parts.into_iter().flat_map(|p| p.results).collect();
    CheckResponse { position, results }
}

fn retry_after(resp: &Response) -> Option<Duration> {
    resp.headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()))
}

fn strip_url(e: ClientError) -> ClientError {
    match e {
        ClientError::Transport(e) => ClientError::Transport(e.without_url()),
        e => e,
    }
}

fn redirect_target(from: &Url, resp: &Response) -> Result<Url, ClientError> {
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ClientError::Http {
            status,
            message: "redirect without a Location header".into(),
        })?;
    let target = from.join(location).map_err(|_| ClientError::Http {
        status,
        message: "redirect to an invalid Location".into(),
    })?;
    if !matches!(target.scheme(), "http" | "https") {
        return Err(ClientError::Http {
            status,
            message: "redirect to a non-HTTP location".into(),
        });
    }
    Ok(target)
}

/// Reads a response of the API: the body as `T` on success, the error envelope otherwise.
async fn decode<T: DeserializeOwned>(resp: Response) -> Result<T, ClientError> {
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(ClientError::Transport)?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()));
    }
    let wire = serde_json::from_slice::<WireError>(&bytes).ok();
    let message = match &wire {
        Some(w) => w.error.message.clone(),
        None => excerpt(&bytes),
    };
    Err(match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ClientError::Unauthorized { message },
        StatusCode::BAD_REQUEST
        | StatusCode::CONFLICT
        | StatusCode::PAYLOAD_TOO_LARGE
        | StatusCode::UNPROCESSABLE_ENTITY => {
            let (code, index) = match wire {
                Some(w) => (w.error.code, w.error.index),
                None => (format!("http_{}", status.as_u16()), None),
            };
            ClientError::BadRequest {
                code,
                message,
                index,
            }
        }
        _ => ClientError::Http {
            status: status.as_u16(),
            message,
        },
    })
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    let mut out: String = text
        .chars()
        .take(MESSAGE_MAX)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > MESSAGE_MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use optout_matcher::Kind;
    use optout_matcher::wire::CheckResult;

    #[test]
    fn api_key_is_redacted_and_validated() {
        let k = ApiKey::new("optk_abc_s3cr3t").unwrap();
        assert_eq!(format!("{k:?}"), "ApiKey(<redacted>)");
        assert!(!format!("{:?}", k.bearer().unwrap()).contains("s3cr3t"));
        assert!(ApiKey::new("  ").is_err());
        assert!(ApiKey::new("optk_a b").is_err());
        assert!(ApiKey::new("optk_é").is_err());
        assert_eq!(
            " optk_x_y\n".parse::<ApiKey>().unwrap(),
            ApiKey::new("optk_x_y").unwrap()
        );
        let c = Client::new("http://127.0.0.1:1", k).unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn base_url_keeps_its_path() {
        let key = || ApiKey::new("optk_a_b").unwrap();
        let c = Client::new("https://x.example/prod", key()).unwrap();
        assert_eq!(
            c.endpoint("v1/exclusions/check").as_str(),
            "https://x.example/prod/v1/exclusions/check"
        );
        let c = Client::new("http://127.0.0.1:8080/", key()).unwrap();
        assert_eq!(
            c.endpoint("v1/exclusions/snapshot").as_str(),
            "http://127.0.0.1:8080/v1/exclusions/snapshot"
        );
        for bad in [
            "ftp://x.example",
            "not a url",
            "https://x.example/?a=1",
            "/relative",
        ] {
            assert!(
                matches!(Client::new(bad, key()), Err(ClientError::Config(_))),
                "{bad}"
            );
        }
    }

    fn hit(id: u64) -> CheckResult {
        CheckResult {
            excluded: true,
            kind: Some(Kind::Sha256),
            entry_id: Some(id),
            distance: None,
            similarity: None,
        }
    }

    #[test]
    fn merged_check_keeps_order_and_reports_the_lowest_position() {
        let parts = vec![
            CheckResponse {
                position: 9,
                results: vec![hit(1), CheckResult::not_excluded()],
            },
            CheckResponse {
                position: 7,
                results: vec![hit(3)],
            },
            CheckResponse {
                position: 12,
                results: vec![CheckResult::not_excluded()],
            },
        ];
        let merged = merge_checks(parts);
        assert_eq!(merged.position, 7);
        assert_eq!(
            merged.results,
            vec![
                hit(1),
                CheckResult::not_excluded(),
                hit(3),
                CheckResult::not_excluded()
            ]
        );
        assert_eq!(
            merge_checks(Vec::new()),
            CheckResponse {
                position: 0,
                results: Vec::new()
            }
        );
    }

    #[test]
    fn error_excerpts_are_short_and_single_line() {
        assert_eq!(excerpt(b""), "(empty body)");
        assert_eq!(excerpt(b"bad\ngateway"), "bad gateway");
        let long = "x".repeat(1000);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), MESSAGE_MAX + 1);
    }
}
