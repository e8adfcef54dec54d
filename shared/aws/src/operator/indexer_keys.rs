//! The indexer keys in their SSM SecureString parameter: a JSON array of
//! [`IndexerKey`] records (ids and SHA-256 hashes of the secrets, never the secrets), which the api
//! function reads again every minute ([`crate::indexer_keys`]). The operator adds a key or revokes
//! one by reading the array, changing it and writing it back with [`parameter::replace`] (which
//! detects a concurrent writer). Keys are revoked, never removed, so the list is the record of
//! every key handed out.

use chrono::{DateTime, Utc};
use optout_core::ports::IndexerKey;

use super::OperatorError;
use super::parameter::{self, Created, Stored};
use crate::config::Secret;

/// The description of a parameter made by [`ensure_list`].
pub const DESCRIPTION: &str = "optout indexer API keys: JSON array of {id, name, secret_sha256, ...}, hashes only (optout aws init)";

/// The keys of the parameter as read, in their stored order, with the version they were read at.
#[derive(Debug, Clone)]
pub struct KeyList {
    pub keys: Vec<IndexerKey>,
    stored: Stored,
}

/// What [`ensure_list`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The parameter did not exist; it now holds `[]`.
    Created { version: i64 },
    /// The parameter existed and holds a valid list of `keys` keys; it was left as it was.
    Kept { keys: usize },
}

/// What [`revoke`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    Now(IndexerKey),
    Already(IndexerKey),
    NotFound,
}

/// Parses and checks a stored list with the api function's own parser (unique ids, hex hashes), so
/// the operator never writes what the function would refuse; errors never quote the content.
fn parse(stored: &Stored) -> Result<KeyList, OperatorError> {
    let invalid = |reason: String| OperatorError::Invalid {
        name: stored.name.clone(),
        reason,
    };
    crate::indexer_keys::parse_keys(stored.value.expose()).map_err(|e| invalid(e.to_string()))?;
    let keys: Vec<IndexerKey> =
        serde_json::from_str(stored.value.expose()).map_err(|e| invalid(e.to_string()))?;
    Ok(KeyList {
        keys,
        stored: stored.clone(),
    })
}

/// Reads the keys of the parameter `name`.
pub async fn read(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<KeyList, OperatorError> {
    parse(&parameter::read(ssm, name).await?)
}

impl KeyList {
    /// The version of the parameter these keys were read at.
    pub fn version(&self) -> i64 {
        self.stored.version
    }

    /// Writes `keys` in place of the list read (checked like what is read); fails with
    /// [`OperatorError::ConcurrentChange`] if someone else wrote since. Returns the new version.
    pub async fn save(
        &self,
        ssm: &aws_sdk_ssm::Client,
        keys: &[IndexerKey],
    ) -> Result<i64, OperatorError> {
        let json = serde_json::to_string(keys).map_err(|e| OperatorError::Invalid {
            name: self.stored.name.clone(),
            reason: e.to_string(),
        })?;
        crate::indexer_keys::parse_keys(&json).map_err(|e| OperatorError::Invalid {
            name: self.stored.name.clone(),
            reason: e.to_string(),
        })?;
        parameter::replace(ssm, &self.stored, &Secret::new(json)).await
    }
}

/// Adds `key` (made by `optout_core::indexer_keys::generate`) to the list; returns the new version.
pub async fn add(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    key: IndexerKey,
) -> Result<i64, OperatorError> {
    let list = read(ssm, name).await?;
    let mut keys = list.keys.clone();
    keys.push(key);
    list.save(ssm, &keys).await
}

/// Revokes the key `id` as of `now` (a key already revoked keeps its date; nothing is written).
pub async fn revoke(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Revocation, OperatorError> {
    let list = read(ssm, name).await?;
    let mut keys = list.keys.clone();
    let Some(key) = keys.iter_mut().find(|k| k.id == id) else {
        return Ok(Revocation::NotFound);
    };
    if key.revoked_at.is_some() {
        return Ok(Revocation::Already(key.clone()));
    }
    key.revoked_at = Some(now);
    let revoked = key.clone();
    list.save(ssm, &keys).await?;
    Ok(Revocation::Now(revoked))
}

/// Makes the parameter `name` holding `[]` if it does not exist (encrypted with `kms_key_id` or
/// SSM's own key); an existing one is read and checked, and left as it is.
pub async fn ensure_list(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    kms_key_id: Option<&str>,
) -> Result<Outcome, OperatorError> {
    match parameter::create(ssm, name, &Secret::new("[]"), kms_key_id, DESCRIPTION).await? {
        Created::Created { version } => Ok(Outcome::Created { version }),
        Created::Exists => Ok(Outcome::Kept {
            keys: read(ssm, name).await?.keys.len(),
        }),
    }
}
