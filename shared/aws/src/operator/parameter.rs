//! SecureString parameters as the operator changes them: create only when absent, read decrypted
//! with their version, and replace with a check that nobody else wrote in between.
//!
//! SSM has no compare-and-swap. [`replace`] therefore writes (keeping the parameter's customer
//! managed KMS key and tier) and reads the parameter again: the write must have made the version
//! read before plus one, and the value read back must be the one written. Otherwise another writer
//! came in between (or right after) and [`OperatorError::ConcurrentChange`] says so, with the
//! versions, so the operator can look and repeat.

use aws_sdk_ssm::operation::put_parameter::PutParameterError;
use aws_sdk_ssm::types::{ParameterStringFilter, ParameterTier, ParameterType};

use super::{Call, OperatorError, call_error};
use crate::config::Secret;

/// The AWS managed key of SSM: parameters encrypted with it need no key id when written.
pub const AWS_MANAGED_KEY: &str = "alias/aws/ssm";
/// The largest value of a Standard parameter, and of an Advanced one (bytes).
pub const STANDARD_LIMIT: usize = 4096;
pub const ADVANCED_LIMIT: usize = 8192;

/// A parameter's decrypted value and version.
#[derive(Debug, Clone)]
pub struct Stored {
    pub name: String,
    pub value: Secret,
    pub version: i64,
    /// `SecureString`, `String` or `StringList`.
    pub kind: String,
}

/// What [`create`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    Created {
        version: i64,
    },
    /// The parameter was there already; it was left as it was.
    Exists,
}

/// The encryption key and tier of a parameter (what a rewrite must keep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub key_id: Option<String>,
    pub tier: Option<ParameterTier>,
}

impl Metadata {
    /// The key to name when writing: a customer managed key, `None` for SSM's own.
    pub fn customer_key(&self) -> Option<&str> {
        self.key_id
            .as_deref()
            .filter(|k| !k.is_empty() && *k != AWS_MANAGED_KEY)
    }

    /// The largest value the parameter's tier holds.
    fn limit(&self) -> usize {
        match self.tier {
            Some(ParameterTier::Advanced) | Some(ParameterTier::IntelligentTiering) => {
                ADVANCED_LIMIT
            }
            _ => STANDARD_LIMIT,
        }
    }
}

fn region(ssm: &aws_sdk_ssm::Client) -> String {
    ssm.config()
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_default()
}

/// Reads `name`, decrypted. A parameter that is not a SecureString is read, with a warning.
pub async fn read(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Stored, OperatorError> {
    let call = Call {
        action: "ssm:GetParameter",
        resource: name,
    };
    let Some(p) = crate::secrets::get_parameter(ssm, name)
        .await
        .map_err(|e| call_error(&call, e))?
    else {
        return Err(OperatorError::ParameterMissing {
            name: name.to_owned(),
            region: region(ssm),
        });
    };
    let kind = p
        .r#type()
        .map(|t| t.as_str().to_owned())
        .unwrap_or_default();
    if kind != ParameterType::SecureString.as_str() {
        tracing::warn!(parameter = %name, kind = %kind, "this secret is not a SecureString parameter: it is stored unencrypted");
    }
    Ok(Stored {
        name: name.to_owned(),
        value: Secret::new(p.value().unwrap_or_default()),
        version: p.version(),
        kind,
    })
}

/// Creates `name` as a SecureString holding `value` (encrypted with `kms_key_id`, or SSM's own key)
/// unless it exists; an existing parameter is not touched.
pub async fn create(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    value: &Secret,
    kms_key_id: Option<&str>,
    description: &str,
) -> Result<Created, OperatorError> {
    let call = Call {
        action: "ssm:PutParameter",
        resource: name,
    };
    let mut put = ssm
        .put_parameter()
        .name(name)
        .value(value.expose())
        .r#type(ParameterType::SecureString)
        .description(description)
        .overwrite(false);
    if let Some(k) = kms_key_id.filter(|k| !k.trim().is_empty()) {
        put = put.key_id(k.trim());
    }
    match put.send().await {
        Ok(out) => Ok(Created::Created {
            version: out.version(),
        }),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(PutParameterError::ParameterAlreadyExists(_))
            ) =>
        {
            Ok(Created::Exists)
        }
        Err(e) => Err(call_error(&call, e)),
    }
}

/// The KMS key and tier of `name` (DescribeParameters: GetParameter does not tell the key).
pub async fn metadata(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Metadata, OperatorError> {
    let call = Call {
        action: "ssm:DescribeParameters",
        resource: name,
    };
    let filter = ParameterStringFilter::builder()
        .key("Name")
        .option("Equals")
        .values(name)
        .build()
        .map_err(|e| OperatorError::Aws {
            op: call.action,
            detail: e.to_string(),
        })?;
    let out = ssm
        .describe_parameters()
        .parameter_filters(filter)
        .send()
        .await
        .map_err(|e| call_error(&call, e))?;
    let Some(meta) = out.parameters().iter().find(|p| p.name() == Some(name)) else {
        return Err(OperatorError::ParameterMissing {
            name: name.to_owned(),
            region: region(ssm),
        });
    };
    Ok(Metadata {
        key_id: meta.key_id().map(str::to_owned),
        tier: meta.tier().cloned(),
    })
}

/// Overwrites the parameter read as `current` with `value` (a SecureString, with the same customer
/// managed key and tier) and checks that nobody else wrote since `current` was read; returns the
/// new version.
pub async fn replace(
    ssm: &aws_sdk_ssm::Client,
    current: &Stored,
    value: &Secret,
) -> Result<i64, OperatorError> {
    let name = current.name.as_str();
    if current.kind != ParameterType::SecureString.as_str() {
        return Err(OperatorError::NotSecure {
            name: name.to_owned(),
            kind: current.kind.clone(),
        });
    }
    let meta = metadata(ssm, name).await?;
    let bytes = value.expose().len();
    if bytes > meta.limit() {
        return Err(OperatorError::TooLarge {
            name: name.to_owned(),
            bytes,
            tier: meta
                .tier
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_else(|| "Standard".to_owned()),
            limit: meta.limit(),
        });
    }
    let mut put = ssm
        .put_parameter()
        .name(name)
        .value(value.expose())
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .set_tier(meta.tier.clone());
    if let Some(k) = meta.customer_key() {
        put = put.key_id(k);
    }
    let written = put
        .send()
        .await
        .map_err(|e| {
            call_error(
                &Call {
                    action: "ssm:PutParameter",
                    resource: name,
                },
                e,
            )
        })?
        .version();
    let now = read(ssm, name).await?;
    if written != current.version + 1 || now.version != written || now.value != *value {
        return Err(OperatorError::ConcurrentChange {
            name: name.to_owned(),
            read: current.version,
            written,
            now: now.version,
        });
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_customer_key_is_named_and_tiers_limit_the_size() {
        let m = |k: Option<&str>, tier| Metadata {
            key_id: k.map(str::to_owned),
            tier,
        };
        assert_eq!(m(Some(AWS_MANAGED_KEY), None).customer_key(), None);
        assert_eq!(m(None, None).customer_key(), None);
        let arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(m(Some(arn), None).customer_key(), Some(arn));
        assert_eq!(
            m(None, Some(ParameterTier::Standard)).limit(),
            STANDARD_LIMIT
        );
        assert_eq!(
            m(None, Some(ParameterTier::Advanced)).limit(),
            ADVANCED_LIMIT
        );
    }
}
