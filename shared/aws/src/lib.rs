//! optout-aws: the AWS adapters of the optout ports.
//!
//! - [`DynamoCaseStore`]: cases, audit trail, idempotency and photo keys in DynamoDB (personal data
//!   in its own table with a TTL);
//! - [`S3PhotoStore`]: photos in a private S3 bucket, uploaded by presigned POST;
//! - [`SqsJobQueue`]: embedding jobs on SQS (with a dead-letter queue);
//! - [`SesMailer`]: mail through SESv2; [`DynamoMailLedger`]: what was sent (each email once);
//! - [`DynamoExclusions`]: the exclusion table and its change feed in DynamoDB;
//! - [`SsmIndexerKeys`]: the indexer API keys from an SSM SecureString parameter, re-read every minute;
//! - [`S3SnapshotPublisher`]: exclusion snapshots in S3 behind presigned GET URLs;
//! - [`S3MatcherSnapshots`]: the matcher's compact snapshot in S3, loaded by a cold start;
//! - [`DynamoReviewerSessions`]: reviewers' sign-outs (sessions revoked server-side);
//! - [`AwsConfig`]: the typed configuration, read once from the environment;
//! - `operator` (feature `operator`): what the operator binary does to a deployed stack (its outputs, the signing key
//!   ring and the indexer keys in SSM), with the operator's credentials;
//! - `testing` (feature `test-support`): local emulators and resources created from the SAM template.

mod attr;
pub mod config;
pub mod dynamo;
mod error;
pub mod exclusions;
mod held;
pub mod indexer_keys;
#[cfg(feature = "test-support")]
pub mod lambda_api;
pub mod lease;
pub mod mail_ledger;
pub mod matcher_snapshots;
#[cfg(feature = "operator")]
pub mod operator;
pub mod presign;
pub mod runtime;
pub mod s3;
pub mod secrets;
pub mod ses;
pub mod sessions;
pub mod snapshots;
pub mod sqs;
#[cfg(feature = "test-support")]
pub mod testing;
mod unwired;

use std::sync::Arc;

use aws_config::SdkConfig;
use optout_core::ports::SystemClock;

use optout_core::Ports;
pub use unwired::ExclusionsNotWired;

pub use config::{AwsConfig, ConfigError, Endpoints, Secret, SecretSource};
pub use dynamo::{DynamoBiometricStore, DynamoCaseStore};
pub use exclusions::DynamoExclusions;
pub use indexer_keys::SsmIndexerKeys;
pub use lease::DynamoLease;
pub use mail_ledger::DynamoMailLedger;
pub use matcher_snapshots::S3MatcherSnapshots;
pub use s3::S3PhotoStore;
pub use ses::SesMailer;
pub use sessions::DynamoReviewerSessions;
pub use snapshots::S3SnapshotPublisher;
pub use sqs::SqsJobQueue;

/// The service clients, built once per process from one SDK configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sesv2: aws_sdk_sesv2::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl Clients {
    /// Builds every client from `sdk`, with the endpoint overrides of `cfg` (S3 path-style when overridden).
    pub fn new(sdk: &SdkConfig, cfg: &AwsConfig) -> Self {
        let e = &cfg.endpoints;
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(sdk);
        dynamodb.set_endpoint_url(e.dynamodb.clone());
        let mut s3 = aws_sdk_s3::config::Builder::from(sdk);
        s3.set_endpoint_url(e.s3.clone());
        s3.set_force_path_style(Some(e.s3.is_some()));
        let mut sqs = aws_sdk_sqs::config::Builder::from(sdk);
        sqs.set_endpoint_url(e.sqs.clone());
        let mut sesv2 = aws_sdk_sesv2::config::Builder::from(sdk);
        sesv2.set_endpoint_url(e.sesv2.clone());
        let mut ssm = aws_sdk_ssm::config::Builder::from(sdk);
        ssm.set_endpoint_url(e.ssm.clone());
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            sesv2: aws_sdk_sesv2::Client::from_conf(sesv2.build()),
            ssm: aws_sdk_ssm::Client::from_conf(ssm.build()),
        }
    }
}

/// The case store on the tables of `cfg`, keeping personal data as long as `desk` says.
fn case_store(
    cfg: &AwsConfig,
    desk: &optout_core::config::DeskConfig,
    clients: &Clients,
) -> DynamoCaseStore {
    DynamoCaseStore::new(
        clients.dynamodb.clone(),
        &cfg.cases_table,
        &cfg.personal_table,
        desk.settings.retention,
    )
}

/// The AWS adapters of every port, ready for a [`optout_core::Desk`] configured with `desk`
/// (the sender of the mail and the retention period of personal data come from it).
pub fn ports(
    sdk: &SdkConfig,
    cfg: &AwsConfig,
    desk: &optout_core::config::DeskConfig,
    clients: &Clients,
) -> Ports {
    let region = sdk
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| "us-east-1".to_owned());
    Ports {
        cases: Arc::new(case_store(cfg, desk, clients)),
        photos: Arc::new(S3PhotoStore::new(
            clients.s3.clone(),
            &cfg.photo_bucket,
            &region,
            cfg.endpoints.s3.as_deref(),
            sdk.credentials_provider(),
        )),
        queue: Arc::new(SqsJobQueue::new(clients.sqs.clone(), &cfg.job_queue_url)),
        mailer: Arc::new(SesMailer::new(
            clients.sesv2.clone(),
            &desk.mail_from,
            cfg.ses_configuration_set.as_deref(),
        )),
        mail_ledger: Arc::new(DynamoMailLedger::new(
            clients.dynamodb.clone(),
            &cfg.cases_table,
            desk.settings.retention,
        )),
        biometrics: Arc::new(DynamoBiometricStore::new(
            clients.dynamodb.clone(),
            &cfg.biometrics_table,
        )),
        exclusions: match &cfg.exclusions_table {
            Some(table) => Arc::new(DynamoExclusions::new(clients.dynamodb.clone(), table)),
            None => Arc::new(ExclusionsNotWired),
        },
        matcher_snapshots: Some(Arc::new(S3MatcherSnapshots::new(
            clients.s3.clone(),
            &cfg.photo_bucket,
        ))),
        clock: Arc::new(SystemClock),
    }
}
