//! Secrets (the signing key ring, the indexer keys) from SSM Parameter Store, read once at start.

use crate::config::{Secret, SecretSource};
use crate::error::unavailable;
use optout_core::ports::StoreError;

/// Resolves a secret: reads an SSM SecureString parameter (decrypted), or returns the value given.
pub async fn resolve(
    ssm: &aws_sdk_ssm::Client,
    source: &SecretSource,
) -> Result<Secret, StoreError> {
    match source {
        SecretSource::Value(v) => Ok(v.clone()),
        SecretSource::Parameter(name) => {
            let out = ssm
                .get_parameter()
                .name(name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| unavailable("GetParameter", e))?;
            out.parameter()
                .and_then(|p| p.value())
                .map(Secret::new)
                .ok_or_else(|| StoreError::Corrupt(format!("parameter {name} has no value")))
        }
    }
}
