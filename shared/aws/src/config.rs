//! The typed configuration of the AWS runtime, read once from the environment at start.

use std::fmt;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// A secret value (a key ring, API keys). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret comes from: an SSM SecureString parameter (deployed), or the value itself (local runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Parameter(String),
    Value(Secret),
}

/// Endpoint overrides, for local emulators. `None` everywhere in AWS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub dynamodb: Option<String>,
    pub s3: Option<String>,
    pub sqs: Option<String>,
    pub sesv2: Option<String>,
    pub ssm: Option<String>,
}

/// The configuration of the AWS adapters.
///
/// Environment variables (read by [`AwsConfig::from_env`]):
/// - `OPTOUT_CASES_TABLE` (required): the DynamoDB table of cases, audit events, idempotency keys and photo keys;
/// - `OPTOUT_PERSONAL_TABLE` (required): the DynamoDB table of personal data (TTL attribute `expires_at`);
/// - `OPTOUT_BIOMETRICS_TABLE` (required): the DynamoDB table of biometric data (embeddings, hashes);
/// - `OPTOUT_EXCLUSIONS_TABLE` (optional): the DynamoDB exclusion table (entries and their change
///   feed, see [`crate::exclusions`]); set on the functions that write or read exclusions (the api
///   function). Without it the exclusion store reports itself unavailable and the desk keeps the
///   exclusion effects of its cases pending;
/// - `OPTOUT_PHOTO_BUCKET` (required): the private S3 bucket of photos;
/// - `OPTOUT_JOB_QUEUE_URL` (required): the SQS queue of embedding jobs;
/// - `OPTOUT_PUBLIC_URL_PARAMETER` (optional): an SSM String parameter holding the public URL, read
///   at start when `OPTOUT_PUBLIC_URL` is blank (the template writes the API's own URL there when
///   no custom domain is configured);
/// - the desk's own settings (public URL, operator, support address, sender, deadlines, link
///   lifetimes, retention, matching, `RUST_LOG`) are read by [`optout_core::config::DeskConfig`],
///   the same code as in the embedded mode;
/// - `OPTOUT_SIGNING_KEYS_PARAMETER` or `OPTOUT_SIGNING_KEYS`: the SSM SecureString parameter name
///   holding the signing key ring, or (local runs only) the key ring itself;
/// - `OPTOUT_INDEXER_KEYS_PARAMETER` or `OPTOUT_INDEXER_KEYS`: likewise for the indexer API keys (a
///   JSON array of `IndexerKey`: ids and SHA-256 hashes of the secrets, never the secrets; see
///   [`crate::indexer_keys`]). Without either, every indexer request is refused;
/// - `OPTOUT_INDEXER_KEYS_REFRESH_SECS` (optional, default 60, 1..=3600): the indexer keys are read
///   from SSM again at most this often, so a revocation takes effect within this time;
/// - `OPTOUT_AWS_MAX_ATTEMPTS` (optional, default 3) and `OPTOUT_AWS_TIMEOUT_MS` (optional, default
///   3000, per attempt): retries and timeouts of every AWS call (a call never hangs);
/// - `AWS_ENDPOINT_URL` (optional, emulators): the endpoint of every service; per service
///   `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_SQS`,
///   `AWS_ENDPOINT_URL_SESV2`, `AWS_ENDPOINT_URL_SSM` win over it. With an S3 endpoint, S3 is
///   addressed path-style;
/// - `AWS_REGION`, credentials: the SDK's usual chain (the Lambda environment provides them).
#[derive(Debug, Clone)]
pub struct AwsConfig {
    pub cases_table: String,
    pub personal_table: String,
    pub biometrics_table: String,
    pub exclusions_table: Option<String>,
    pub photo_bucket: String,
    pub job_queue_url: String,
    pub ses_configuration_set: Option<String>,
    /// The SSM parameter of the public URL, used when `OPTOUT_PUBLIC_URL` is blank.
    pub public_url_parameter: Option<String>,
    pub signing_keys: Option<SecretSource>,
    pub indexer_keys: Option<SecretSource>,
    pub indexer_keys_refresh: Duration,
    pub max_attempts: u32,
    pub attempt_timeout: Duration,
    pub endpoints: Endpoints,
}

/// A missing or malformed configuration variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("invalid value of {0}: {1}")]
    Invalid(&'static str, String),
}

impl AwsConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration from any lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let opt = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let req = |k: &'static str| opt(k).ok_or(ConfigError::Missing(k));
        let num = |k: &'static str, default: u64, range: std::ops::RangeInclusive<u64>| match opt(k)
        {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if range.contains(&n) => Ok(n),
                _ => Err(ConfigError::Invalid(
                    k,
                    format!("expected a number in {range:?}"),
                )),
            },
        };
        let secret = |param: &'static str, value: &'static str| {
            opt(param)
                .map(SecretSource::Parameter)
                .or_else(|| opt(value).map(|v| SecretSource::Value(Secret(v))))
        };
        let job_queue_url = req("OPTOUT_JOB_QUEUE_URL")?;
        if !job_queue_url.starts_with("http://") && !job_queue_url.starts_with("https://") {
            return Err(ConfigError::Invalid(
                "OPTOUT_JOB_QUEUE_URL",
                "expected a queue URL".into(),
            ));
        }
        let default_endpoint = opt("AWS_ENDPOINT_URL");
        let endpoint = |k: &str| opt(k).or_else(|| default_endpoint.clone());
        Ok(AwsConfig {
            cases_table: req("OPTOUT_CASES_TABLE")?,
            personal_table: req("OPTOUT_PERSONAL_TABLE")?,
            biometrics_table: req("OPTOUT_BIOMETRICS_TABLE")?,
            exclusions_table: opt("OPTOUT_EXCLUSIONS_TABLE"),
            photo_bucket: req("OPTOUT_PHOTO_BUCKET")?,
            job_queue_url,
            ses_configuration_set: opt("OPTOUT_SES_CONFIGURATION_SET"),
            public_url_parameter: opt("OPTOUT_PUBLIC_URL_PARAMETER"),
            signing_keys: secret("OPTOUT_SIGNING_KEYS_PARAMETER", "OPTOUT_SIGNING_KEYS"),
            indexer_keys: secret("OPTOUT_INDEXER_KEYS_PARAMETER", "OPTOUT_INDEXER_KEYS"),
            indexer_keys_refresh: Duration::from_secs(num(
                "OPTOUT_INDEXER_KEYS_REFRESH_SECS",
                60,
                1..=3600,
            )?),
            max_attempts: num("OPTOUT_AWS_MAX_ATTEMPTS", 3, 1..=10)? as u32,
            attempt_timeout: Duration::from_millis(num(
                "OPTOUT_AWS_TIMEOUT_MS",
                3000,
                100..=60_000,
            )?),
            endpoints: Endpoints {
                dynamodb: endpoint("AWS_ENDPOINT_URL_DYNAMODB"),
                s3: endpoint("AWS_ENDPOINT_URL_S3"),
                sqs: endpoint("AWS_ENDPOINT_URL_SQS"),
                sesv2: endpoint("AWS_ENDPOINT_URL_SESV2"),
                ssm: endpoint("AWS_ENDPOINT_URL_SSM"),
            },
        })
    }

    /// Timeouts of every call: connecting, one attempt, and the whole operation with its retries.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2).min(self.attempt_timeout))
            .operation_attempt_timeout(self.attempt_timeout)
            .operation_timeout(self.attempt_timeout * (self.max_attempts + 1))
            .build()
    }

    /// Standard retries (throttling and transient errors), bounded.
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(Duration::from_millis(50))
            .with_max_backoff(Duration::from_secs(1))
    }

    /// Loads the SDK configuration (region, credentials) from the usual chain, with this
    /// configuration's timeouts and retries.
    pub async fn load_sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(https_client())
            .timeout_config(self.timeout_config())
            .retry_config(self.retry_config())
            .load()
            .await
    }
}

/// The HTTPS client of every AWS call (the credential providers' too): hyper 1 with rustls on
/// ring, the only TLS stack in the binaries.
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    const BASE: [(&str, &str); 5] = [
        ("OPTOUT_CASES_TABLE", "cases"),
        ("OPTOUT_PERSONAL_TABLE", "personal"),
        ("OPTOUT_BIOMETRICS_TABLE", "biometrics"),
        ("OPTOUT_PHOTO_BUCKET", "photos"),
        (
            "OPTOUT_JOB_QUEUE_URL",
            "https://sqs.eu-west-1.amazonaws.com/1/jobs",
        ),
    ];

    #[test]
    fn reads_required_and_defaults() {
        let c = AwsConfig::from_lookup(env(&BASE)).unwrap();
        assert_eq!(c.cases_table, "cases");
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.endpoints, Endpoints::default());
        assert!(c.signing_keys.is_none());
        assert_eq!(c.exclusions_table, None);
        assert_eq!(c.indexer_keys_refresh, Duration::from_secs(60));
        assert_eq!(c.public_url_parameter, None);
    }

    #[test]
    fn missing_and_invalid() {
        let e = AwsConfig::from_lookup(env(&BASE[1..])).unwrap_err();
        assert!(matches!(e, ConfigError::Missing("OPTOUT_CASES_TABLE")));
        let mut pairs = BASE.to_vec();
        pairs.push(("OPTOUT_AWS_TIMEOUT_MS", "forever"));
        assert!(matches!(
            AwsConfig::from_lookup(env(&pairs)),
            Err(ConfigError::Invalid("OPTOUT_AWS_TIMEOUT_MS", _))
        ));
        let mut pairs = BASE.to_vec();
        pairs.push(("OPTOUT_INDEXER_KEYS_REFRESH_SECS", "0"));
        assert!(matches!(
            AwsConfig::from_lookup(env(&pairs)),
            Err(ConfigError::Invalid("OPTOUT_INDEXER_KEYS_REFRESH_SECS", _))
        ));
    }

    #[test]
    fn exclusions_and_indexer_keys() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("OPTOUT_EXCLUSIONS_TABLE", "exclusions"),
            ("OPTOUT_INDEXER_KEYS_PARAMETER", "/optout/indexer-keys"),
            ("OPTOUT_INDEXER_KEYS_REFRESH_SECS", "5"),
        ]);
        let c = AwsConfig::from_lookup(env(&pairs)).unwrap();
        assert_eq!(c.exclusions_table.as_deref(), Some("exclusions"));
        assert_eq!(
            c.indexer_keys,
            Some(SecretSource::Parameter("/optout/indexer-keys".into()))
        );
        assert_eq!(c.indexer_keys_refresh, Duration::from_secs(5));
    }

    #[test]
    fn endpoints_and_secrets() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000"),
            ("OPTOUT_SIGNING_KEYS", "k1:secret-value"),
        ]);
        let c = AwsConfig::from_lookup(env(&pairs)).unwrap();
        assert_eq!(
            c.endpoints.dynamodb.as_deref(),
            Some("http://127.0.0.1:8000")
        );
        assert_eq!(c.endpoints.s3.as_deref(), Some("http://127.0.0.1:5000"));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("secret-value"), "{dbg}");
    }
}
