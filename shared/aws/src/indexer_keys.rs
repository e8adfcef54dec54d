//! The indexer API keys from an SSM SecureString parameter: [`SsmIndexerKeys`].
//!
//! The parameter holds a JSON array of [`IndexerKey`] (ids and SHA-256 hashes of the secret parts,
//! never the secrets). It is read on first use and again at most every refresh interval (60 s by
//! default), so a key added, revoked or removed in SSM takes effect within that interval without a
//! deploy. A missing parameter means "no keys": every indexer request is refused. SSM unreachable
//! is [`StoreError::Unavailable`] (the request fails with 503 rather than being let in or refused
//! on stale data). One reload runs at a time; concurrent requests wait for it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use optout_core::ports::{IndexerKey, IndexerKeyStore, StoreError};

use crate::config::SecretSource;
use crate::error::unavailable;

/// How often the keys are read again by default.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(60);

type Keys = Arc<HashMap<String, IndexerKey>>;

#[derive(Debug)]
enum Source {
    /// An SSM SecureString parameter, read again every `refresh`.
    Parameter {
        client: aws_sdk_ssm::Client,
        name: String,
        refresh: Duration,
    },
    /// Keys given at start (local runs), never read again.
    Fixed,
}

#[derive(Debug)]
struct Loaded {
    keys: Keys,
    at: Instant,
}

/// The [`IndexerKeyStore`] of the AWS runtime.
#[derive(Debug)]
pub struct SsmIndexerKeys {
    source: Source,
    cache: RwLock<Option<Loaded>>,
    reload: tokio::sync::Mutex<()>,
}

/// Parses the parameter's value: a JSON array of keys with unique ids and hex SHA-256 hashes. The
/// errors name the position and key ids, never the content (it could be a secret pasted by mistake).
pub fn parse_keys(json: &str) -> Result<HashMap<String, IndexerKey>, StoreError> {
    let list: Vec<IndexerKey> = serde_json::from_str(json).map_err(|e| {
        StoreError::Corrupt(format!(
            "indexer keys: not a JSON array of keys ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let mut keys = HashMap::with_capacity(list.len());
    for k in list {
        let hash_ok = k.secret_sha256.len() == 64
            && k.secret_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if k.id.is_empty() || !hash_ok {
            return Err(StoreError::Corrupt(format!(
                "indexer keys: key {:?} needs an id and a lower-case hex SHA-256 of its secret",
                k.id
            )));
        }
        if keys.contains_key(&k.id) {
            return Err(StoreError::Corrupt(format!(
                "indexer keys: key id {:?} appears twice",
                k.id
            )));
        }
        keys.insert(k.id.clone(), k);
    }
    Ok(keys)
}

impl SsmIndexerKeys {
    /// Keys from the SSM parameter `name`, read again at most every `refresh`.
    pub fn new(client: aws_sdk_ssm::Client, name: &str, refresh: Duration) -> Self {
        SsmIndexerKeys {
            source: Source::Parameter {
                client,
                name: name.to_owned(),
                refresh,
            },
            cache: RwLock::new(None),
            reload: tokio::sync::Mutex::new(()),
        }
    }

    /// Fixed keys (the JSON array itself; local runs without SSM).
    pub fn fixed(json: &str) -> Result<Self, StoreError> {
        let keys = parse_keys(json)?;
        Ok(SsmIndexerKeys {
            source: Source::Fixed,
            cache: RwLock::new(Some(Loaded {
                keys: Arc::new(keys),
                at: Instant::now(),
            })),
            reload: tokio::sync::Mutex::new(()),
        })
    }

    /// The keys of a configured source (`OPTOUT_INDEXER_KEYS_PARAMETER` or `OPTOUT_INDEXER_KEYS`).
    pub fn from_source(
        client: aws_sdk_ssm::Client,
        source: &SecretSource,
        refresh: Duration,
    ) -> Result<Self, StoreError> {
        match source {
            SecretSource::Parameter(name) => Ok(Self::new(client, name, refresh)),
            SecretSource::Value(v) => Self::fixed(v.expose()),
        }
    }

    /// The cached keys while they are fresh.
    fn fresh(&self) -> Option<Keys> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let loaded = cache.as_ref()?;
        match &self.source {
            Source::Fixed => Some(loaded.keys.clone()),
            Source::Parameter { refresh, .. } => {
                (loaded.at.elapsed() < *refresh).then(|| loaded.keys.clone())
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, IndexerKey>, StoreError> {
        let Source::Parameter { client, name, .. } = &self.source else {
            return Ok(HashMap::new());
        };
        let Some(parameter) = crate::secrets::get_parameter(client, name)
            .await
            .map_err(|e| unavailable("GetParameter", e))?
        else {
            tracing::warn!(parameter = %name, "indexer keys parameter missing: every indexer request is refused");
            return Ok(HashMap::new());
        };
        let value = parameter
            .value()
            .ok_or_else(|| StoreError::Corrupt(format!("parameter {name} has no value")))?;
        let keys = parse_keys(value)?;
        tracing::debug!(
            keys = keys.len(),
            revoked = keys.values().filter(|k| k.revoked_at.is_some()).count(),
            "indexer keys read"
        );
        Ok(keys)
    }

    /// The current keys: cached, or read again (one reader at a time).
    async fn keys(&self) -> Result<Keys, StoreError> {
        if let Some(k) = self.fresh() {
            return Ok(k);
        }
        let _one = self.reload.lock().await;
        if let Some(k) = self.fresh() {
            return Ok(k);
        }
        let keys = Arc::new(self.fetch().await?);
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) = Some(Loaded {
            keys: keys.clone(),
            at: Instant::now(),
        });
        Ok(keys)
    }
}

#[async_trait]
impl IndexerKeyStore for SsmIndexerKeys {
    async fn find_key(&self, id: &str) -> Result<Option<IndexerKey>, StoreError> {
        Ok(self.keys().await?.get(id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn key_json(id: &str, hash: &str) -> String {
        format!(
            r#"{{"id":"{id}","name":"crawler","secret_sha256":"{hash}","rate_per_minute":600,"created_at":"2025-01-01T00:00:00Z","revoked_at":null}}"#
        )
    }

    #[test]
    fn parses_and_checks_keys() {
        let keys = parse_keys(&format!("[{}]", key_json("k1", HASH))).unwrap();
        assert_eq!(keys["k1"].rate_per_minute, 600);
        assert!(parse_keys("[]").unwrap().is_empty());
        let dup = format!("[{},{}]", key_json("k1", HASH), key_json("k1", HASH));
        assert!(matches!(parse_keys(&dup), Err(StoreError::Corrupt(_))));
        // A secret pasted instead of its hash is refused, and not repeated in the error.
        let pasted = format!("[{}]", key_json("k2", "s3cr3t-value-not-a-hash"));
        let err = parse_keys(&pasted).unwrap_err().to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
        let err = parse_keys(r#"[{"id":"k3","secret_sha256":"hunter2"}]"#)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn fixed_keys_need_no_ssm() {
        let store = SsmIndexerKeys::fixed(&format!("[{}]", key_json("k1", HASH))).unwrap();
        assert_eq!(store.find_key("k1").await.unwrap().unwrap().name, "crawler");
        assert_eq!(store.find_key("nope").await.unwrap(), None);
    }
}
