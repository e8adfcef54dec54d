//! Start-up of an AWS function: logging, configuration, clients (built once), secrets, the desk.
//!
//! A function that cannot start (a missing or invalid setting, an unreadable secret) must still
//! answer: Lambda's runtime API waits for an answer to every invocation, so a process that exits
//! during init leaves local invokes hanging and shows in AWS only as a bare init error. The
//! functions therefore start once, eagerly, and when that fails answer every invocation with the
//! [`SetupError`] logged (naming the variable) — a 500 for HTTP, an error for events — and try
//! to start again on the next one, so a passing failure (SSM throttled at a cold start) does not
//! stick to a warm container. See [`Started`].

use optout_core::config::DeskConfig;
use optout_core::exclusions::{ExclusionService, IndexerPorts, MatchSettings};
use optout_core::indexer_keys::StaticIndexerKeys;
use optout_core::signing::KeyRing;
use optout_core::{Desk, Ports};
use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{AwsConfig, ConfigError, SecretSource};
use crate::{Clients, S3SnapshotPublisher, SsmIndexerKeys, ports, secrets};

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Desk(#[from] optout_core::config::ConfigError),
    #[error("reading a secret: {0}")]
    Secret(#[from] optout_core::ports::StoreError),
    #[error("the signing key ring is invalid: {0}")]
    Keys(String),
    #[error("the face models cannot be loaded: {0}")]
    Models(String),
    #[error("the link fetcher cannot be built: {0}")]
    Fetcher(String),
}

/// Everything a function builds once per cold start.
pub struct Runtime {
    pub config: AwsConfig,
    pub desk_config: DeskConfig,
    pub sdk: aws_config::SdkConfig,
    pub clients: Clients,
    pub desk: Desk,
}

/// Starts the JSON log (Lambda adds the time) with the filter of `RUST_LOG` (default `info`), the
/// same variable as in the embedded mode. An invalid filter starts the log at `info`; [`load`]
/// then reports it like any other configuration error.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = std::env::var(optout_core::config::LOG_FILTER)
        .ok()
        .and_then(|v| EnvFilter::try_new(v.trim()).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    // A second initialisation (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .json()
        .without_time()
        .with_env_filter(filter)
        .try_init();
}

/// What a function builds once: started by the first invocation that succeeds (the functions call
/// [`Started::get`] once before serving, so a healthy cold start does it during init). A failure is
/// logged, naming the setting at fault, and tried again by the next invocation.
pub struct Started<T> {
    cell: tokio::sync::OnceCell<T>,
}

impl<T> Default for Started<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Started<T> {
    pub const fn new() -> Self {
        Started {
            cell: tokio::sync::OnceCell::const_new(),
        }
    }

    /// The started value, starting it with `start` if it is not yet.
    pub async fn get<F, Fut>(&self, start: F) -> Result<&T, SetupError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, SetupError>>,
    {
        self.cell.get_or_try_init(start).await.inspect_err(|e| {
            tracing::error!(error = %e, "the function is not configured; this invocation fails");
        })
    }
}

/// The process environment as a map (read once).
fn environment() -> HashMap<String, String> {
    std::env::vars().collect()
}

/// Reads the configuration from the environment, builds the clients, resolves the public URL
/// (from `OPTOUT_PUBLIC_URL`, or its SSM parameter when blank), reads the signing key ring (from
/// SSM) and assembles the desk on the AWS adapters.
pub async fn load() -> Result<Runtime, SetupError> {
    load_from(environment()).await
}

/// [`load`] from the given variables (tests).
pub async fn load_from(mut env: HashMap<String, String>) -> Result<Runtime, SetupError> {
    let config = AwsConfig::from_lookup(|k| env.get(k).cloned())?;
    let sdk = config.load_sdk_config().await;
    let clients = Clients::new(&sdk, &config);
    let public_url_set = env
        .get(optout_core::config::PUBLIC_URL)
        .is_some_and(|v| !v.trim().is_empty());
    if !public_url_set && let Some(name) = &config.public_url_parameter {
        let url = secrets::resolve(&clients.ssm, &SecretSource::Parameter(name.clone())).await?;
        env.insert(
            optout_core::config::PUBLIC_URL.to_owned(),
            url.expose().to_owned(),
        );
    }
    let desk_config = DeskConfig::from_lookup(|k| env.get(k).cloned())?;
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&desk_config.log_filter) {
        return Err(optout_core::config::ConfigError::Invalid {
            name: optout_core::config::LOG_FILTER,
            reason: e.to_string(),
        }
        .into());
    }
    let source = config
        .signing_keys
        .as_ref()
        .ok_or(ConfigError::Missing("OPTOUT_SIGNING_KEYS_PARAMETER"))?;
    let spec = secrets::resolve(&clients.ssm, source).await?;
    // The key ring's error says what is wrong with its format, never the key.
    let keys = KeyRing::parse(spec.expose()).map_err(|e| SetupError::Keys(e.to_string()))?;
    let desk = Desk::new(
        ports(&sdk, &config, &desk_config, &clients),
        keys,
        desk_config.settings.clone(),
    );
    Ok(Runtime {
        config,
        desk_config,
        sdk,
        clients,
        desk,
    })
}

/// Reviewers' sign-outs, kept in the cases table (see [`crate::DynamoReviewerSessions`]).
pub fn reviewer_sessions(
    cfg: &AwsConfig,
    clients: &Clients,
) -> Arc<dyn optout_core::ports::ReviewerSessions> {
    Arc::new(crate::DynamoReviewerSessions::new(
        clients.dynamodb.clone(),
        &cfg.cases_table,
    ))
}

/// The indexer API's ports: the exclusion table of the desk, matching with the configuration's
/// (`OPTOUT_PDQ_RADIUS`, default 31; `OPTOUT_FACE_THRESHOLD`, default 0.50, the calibrated
/// `optout_matcher::FACE_MATCH_THRESHOLD`); the keys from `OPTOUT_INDEXER_KEYS_PARAMETER` (SSM,
/// re-read every `OPTOUT_INDEXER_KEYS_REFRESH_SECS`) or `OPTOUT_INDEXER_KEYS` (without either,
/// every indexer request is refused); snapshots published to the photo bucket under `snapshots/`.
pub fn indexer_ports(
    ports: &Ports,
    cfg: &AwsConfig,
    matching: MatchSettings,
    clients: &Clients,
) -> Result<IndexerPorts, SetupError> {
    let keys: Arc<dyn optout_core::ports::IndexerKeyStore> = match &cfg.indexer_keys {
        Some(source) => Arc::new(SsmIndexerKeys::from_source(
            clients.ssm.clone(),
            source,
            cfg.indexer_keys_refresh,
        )?),
        None => {
            tracing::warn!("no indexer keys configured: every indexer request is refused");
            Arc::new(StaticIndexerKeys::default())
        }
    };
    Ok(IndexerPorts {
        // A cold start loads the matcher snapshot (S3) and catches up from the feed.
        exclusions: Arc::new(match &ports.matcher_snapshots {
            Some(s) => {
                ExclusionService::new(ports.exclusions.clone(), matching).with_snapshots(s.clone())
            }
            None => ExclusionService::new(ports.exclusions.clone(), matching),
        }),
        keys,
        snapshots: Some(Arc::new(S3SnapshotPublisher::new(
            clients.s3.clone(),
            &cfg.photo_bucket,
        ))),
    })
}
