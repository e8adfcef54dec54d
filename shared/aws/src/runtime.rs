//! Start-up of an AWS function: configuration, clients (built once), secrets, the desk.

use optout_core::service::Desk;
use optout_core::settings::Settings;
use optout_core::signing::KeyRing;

use crate::config::{AwsConfig, ConfigError};
use crate::{Clients, ports, secrets};

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
