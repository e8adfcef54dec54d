//! Secrets (the signing key ring, the indexer keys) from SSM Parameter Store, read once at start.

use crate::config::{Secret, SecretSource};
use crate::error::unavailable;
use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::types::Parameter;
use optout_core::ports::StoreError;

/// Reads parameter `name`, decrypted; `None` when there is no such parameter.
pub async fn get_parameter(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
) -> Result<Option<Parameter>, SdkError<GetParameterError>> {
    match ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(out) => Ok(out.parameter),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(GetParameterError::ParameterNotFound(_))
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

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
