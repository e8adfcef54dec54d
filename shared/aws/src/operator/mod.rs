//! What the operator binary does to a deployed stack, with the operator's own AWS credentials:
//! read the stack's outputs (CloudFormation `DescribeStacks`), create and rotate the signing key
//! ring, and read and change the list of indexer keys (SSM SecureString parameters).
//!
//! CloudFormation cannot create SecureString parameters, so the two secrets live outside the stack:
//! [`key_ring::ensure`] and [`indexer_keys::ensure_list`] make them before the first deploy, and the
//! stack names them in its outputs (`SigningKeysParameter`, `IndexerKeysParameter`, see
//! [`stack`]). SSM has no compare-and-swap, so every change re-reads the parameter after writing it
//! and checks that its version went up by exactly one ([`parameter::replace`]).
//!
//! Errors say what to do: which stack or parameter is missing and which command makes it, which IAM
//! action was refused. They never contain a secret (parameters' values are not repeated).
//!
//! Calls: `cloudformation:DescribeStacks`; `ssm:GetParameter` (with decryption),
//! `ssm:DescribeParameters` (the KMS key and tier to keep), `ssm:PutParameter`; with a customer
//! managed KMS key also `kms:Decrypt` and `kms:Encrypt` on it.

pub mod indexer_keys;
pub mod key_ring;
pub mod parameter;
pub mod stack;
#[cfg(feature = "test-support")]
pub mod testing;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Why an operator command failed. Each message names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(
        "no AWS region configured: pass --region, or set AWS_REGION (or a region in your AWS profile)"
    )]
    NoRegion,
    #[error("invalid AWS region {0:?}: expected a region code such as eu-west-1")]
    BadRegion(String),
    #[error("no AWS credentials: {0}")]
    NoCredentials(String),
    #[error("AWS refused the credentials ({0}): renew them, or check AWS_PROFILE")]
    BadCredentials(String),
    #[error(
        "no CloudFormation stack named {stack:?} in {region}: check --stack and --region (the stack name is `stack_name` in samconfig.toml)"
    )]
    StackNotFound { stack: String, region: String },
    #[error(
        "stack {stack:?} ({status}) has no output {}: it was deployed from an older template, or its deployment has not finished; deploy the current infra/template.yaml (`sam build && sam deploy`)",
        .missing.join(", ")
    )]
    MissingOutputs {
        stack: String,
        status: String,
        missing: Vec<&'static str>,
    },
    #[error(
        "SSM parameter {name} does not exist in {region}: run `optout aws init` (before the first `sam deploy`; see `optout aws init --help` for other parameter names)"
    )]
    ParameterMissing { name: String, region: String },
    #[error(
        "SSM parameter {name} is of type {kind}, not SecureString: a secret must be encrypted; delete it and run `optout aws init`"
    )]
    NotSecure { name: String, kind: String },
    #[error("SSM parameter {name} is not valid: {reason}")]
    Invalid { name: String, reason: String },
    #[error("access denied: your AWS identity needs {action} on {resource} ({detail})")]
    AccessDenied {
        action: String,
        resource: String,
        detail: String,
    },
    #[error(
        "SSM parameter {name} was changed by someone else while this command changed it (read at version {read}, written as version {written}, now at version {now}): one of the two changes may be lost; look at it again and repeat the command if needed"
    )]
    ConcurrentChange {
        name: String,
        read: i64,
        written: i64,
        now: i64,
    },
    #[error(
        "SSM parameter {name} would hold {bytes} bytes, more than its {tier} tier allows ({limit}): remove revoked keys from it, or move it to the Advanced tier"
    )]
    TooLarge {
        name: String,
        bytes: usize,
        tier: String,
        limit: usize,
    },
    #[error("{op} failed: {detail}")]
    Aws { op: &'static str, detail: String },
}

/// The clients of the operator's commands and the region they talk to.
#[derive(Debug, Clone)]
pub struct Operator {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub region: String,
}

/// Generous per-call limits: the operator waits at a terminal, a hung call must still end.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(60))
        .build()
}

impl Operator {
    /// Loads the SDK's default chain (environment, profiles; `AWS_ENDPOINT_URL` for emulators) with
    /// the one HTTPS client of the workspace, `region` overriding the chain's region, and checks that
    /// a region and credentials are there before any call (so their absence is said plainly rather
    /// than as a failed call).
    pub async fn connect(region: Option<&str>) -> Result<Self, OperatorError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(crate::config::https_client())
            .timeout_config(timeouts())
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(r) = region.map(str::trim).filter(|r| !r.is_empty()) {
            loader = loader.region(Region::new(r.to_owned()));
        }
        let sdk = loader.load().await;
        // An empty AWS_REGION reaches the SDK as a region "" and fails later as an endpoint error.
        match sdk.region().map(|r| r.as_ref()) {
            None | Some("") => return Err(OperatorError::NoRegion),
            Some(r) if !is_region(r) => return Err(OperatorError::BadRegion(r.to_owned())),
            Some(_) => {}
        }
        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| OperatorError::NoCredentials("no credentials provider".into()))?;
        if let Err(e) = provider.provide_credentials().await {
            return Err(match e {
                CredentialsError::CredentialsNotLoaded(_) => OperatorError::NoCredentials(
                    "none found in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or the AWS profile (AWS_PROFILE, ~/.aws)".into(),
                ),
                other => OperatorError::NoCredentials(DisplayErrorContext(other).to_string()),
            });
        }
        Self::from_sdk(&sdk)
    }

    /// The clients of an SDK configuration (tests pass theirs).
    pub fn from_sdk(sdk: &SdkConfig) -> Result<Self, OperatorError> {
        let region = sdk
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or(OperatorError::NoRegion)?;
        Ok(Operator {
            cloudformation: aws_sdk_cloudformation::Client::new(sdk),
            ssm: aws_sdk_ssm::Client::new(sdk),
            region,
        })
    }
}

/// Whether `r` can be a region code (a host label: `eu-west-1`, `us-gov-west-1`, `cn-north-1`).
fn is_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 63
        && !r.starts_with('-')
        && !r.ends_with('-')
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The error codes of a refused permission (query protocol, JSON protocol).
const ACCESS_DENIED: [&str; 2] = ["AccessDenied", "AccessDeniedException"];
/// The error codes of credentials AWS does not accept.
const BAD_CREDENTIALS: [&str; 6] = [
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
];

/// One AWS call: the IAM action it needs and what it is done on (for the error messages).
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    pub action: &'static str,
    pub resource: &'a str,
}

/// The IAM action an access-denied message names (`... not authorized to perform: kms:Decrypt on
/// ...`), when it names one: a KMS refusal comes back from an SSM call.
fn refused_action(message: &str) -> Option<String> {
    let rest = message.split("perform: ").nth(1)?;
    let action: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
        .collect();
    action.contains(':').then_some(action)
}

/// Maps a failed call to the error the operator reads: access denied with the action to grant,
/// refused credentials, or the call and AWS's error code and message (which hold no secret: the
/// values sent are never part of them).
pub(crate) fn call_error<E, R>(call: &Call<'_>, err: SdkError<E, R>) -> OperatorError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let code = err.code().unwrap_or_default().to_owned();
    let message = err.message().unwrap_or_default().to_owned();
    match &err {
        SdkError::ServiceError(_) if ACCESS_DENIED.contains(&code.as_str()) => {
            OperatorError::AccessDenied {
                action: refused_action(&message).unwrap_or_else(|| call.action.to_owned()),
                resource: call.resource.to_owned(),
                detail: if message.is_empty() { code } else { message },
            }
        }
        SdkError::ServiceError(_) if BAD_CREDENTIALS.contains(&code.as_str()) => {
            OperatorError::BadCredentials(code)
        }
        SdkError::ServiceError(_) => OperatorError::Aws {
            op: call.action,
            detail: format!("{code} {message}").trim().to_owned(),
        },
        SdkError::TimeoutError(_) => OperatorError::Aws {
            op: call.action,
            detail: "timed out".into(),
        },
        _ => OperatorError::Aws {
            op: call.action,
            detail: DisplayErrorContext(&err).to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_region_codes() {
        for ok in ["eu-west-1", "us-gov-west-1", "cn-north-1"] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "",
            " ",
            "eu west 1",
            "EU-WEST-1",
            "-eu",
            "eu-west-1.example.org",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }

    #[test]
    fn names_the_refused_action() {
        let m = "User: arn:aws:iam::123456789012:user/ops is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:eu-west-1:123456789012:key/abc because no identity-based policy allows the kms:Decrypt action";
        assert_eq!(refused_action(m).as_deref(), Some("kms:Decrypt"));
        assert_eq!(refused_action("Access denied"), None);
        assert_eq!(
            refused_action("not authorized to perform: everything"),
            None
        );
    }
}
