//! Start-up of an AWS function: configuration, clients (built once), secrets, the desk.

use optout_core::exclusions::{ExclusionService, IndexerPorts};
use optout_core::indexer_keys::StaticIndexerKeys;
use optout_core::service::{Desk, Ports};
use optout_core::settings::Settings;
use optout_core::signing::KeyRing;
use std::sync::Arc;

use crate::config::{AwsConfig, ConfigError};
use crate::{Clients, S3SnapshotPublisher, SsmIndexerKeys, ports, secrets};

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("reading a secret: {0}")]
    Secret(#[from] optout_core::ports::StoreError),
    #[error("the signing key ring is invalid: {0}")]
    Keys(String),
}

/// Everything a function builds once per cold start.
pub struct Runtime {
    pub config: AwsConfig,
    pub sdk: aws_config::SdkConfig,
    pub clients: Clients,
    pub desk: Desk,
}

/// Reads the configuration from the environment, builds the clients, reads the signing key ring
/// (from SSM) and assembles the desk on the AWS adapters.
pub async fn load() -> Result<Runtime, SetupError> {
    let config = AwsConfig::from_env()?;
    let sdk = config.load_sdk_config().await;
    let clients = Clients::new(&sdk, &config);
    let public_url = config
        .public_url
        .clone()
        .ok_or(ConfigError::Missing("OPTOUT_PUBLIC_URL"))?;
    let source = config
        .signing_keys
        .as_ref()
        .ok_or(ConfigError::Missing("OPTOUT_SIGNING_KEYS_PARAMETER"))?;
    let spec = secrets::resolve(&clients.ssm, source).await?;
    // The key ring's error says what is wrong with its format, never the key.
    let keys = KeyRing::parse(spec.expose()).map_err(|e| SetupError::Keys(e.to_string()))?;
    let mut settings = Settings::local(&public_url);
    settings.retention = config.retention;
    let desk = Desk::new(ports(&sdk, &config, &clients), keys, settings);
    Ok(Runtime {
        config,
        sdk,
        clients,
        desk,
    })
}

/// The indexer API's ports: the exclusion table of `ports`, matching with `cfg.matching`
/// (`OPTOUT_PDQ_RADIUS`, default 31; `OPTOUT_FACE_THRESHOLD`, default 0.50, the calibrated
/// `optout_face::FACE_MATCH_THRESHOLD`, which the api function does not link); the keys from `OPTOUT_INDEXER_KEYS_PARAMETER` (SSM,
/// re-read every `OPTOUT_INDEXER_KEYS_REFRESH_SECS`) or `OPTOUT_INDEXER_KEYS` (without either,
/// every indexer request is refused); snapshots published to the photo bucket under `snapshots/`.
pub fn indexer_ports(
    ports: &Ports,
    cfg: &AwsConfig,
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
        exclusions: Arc::new(ExclusionService::new(
            ports.exclusions.clone(),
            cfg.matching,
        )),
        keys,
        snapshots: Some(Arc::new(S3SnapshotPublisher::new(
            clients.s3.clone(),
            &cfg.photo_bucket,
        ))),
    })
}
