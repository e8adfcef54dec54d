//! Indexer API keys: `optk_<id>_<secret>`. The id (12 lowercase letters or digits) names the key
//! and may appear in logs; the secret (64 lowercase hex digits, 32 random bytes) is shown once
//! when the key is made and stored only as its SHA-256 (of the 64 characters as written). With
//! 256 bits of entropy a fast hash suffices; it is compared in constant time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ports::{IndexerKey, IndexerKeyStore, StoreError};

pub const KEY_PREFIX: &str = "optk_";
pub const KEY_ID_LEN: usize = 12;
pub const KEY_SECRET_LEN: usize = 64;
/// The longest key name (an operator's label).
pub const KEY_NAME_MAX: usize = 100;
/// A key's default budget: 10 requests per second on average, bursts of 600.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 600;
pub const MAX_RATE_PER_MINUTE: u32 = 1_000_000;

/// Why a key cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySpecError {
    #[error("the name must be 1 to {KEY_NAME_MAX} visible characters")]
    Name,
    #[error("the rate must be between 1 and {MAX_RATE_PER_MINUTE} requests per minute")]
    Rate,
}

/// Why a request's key was refused. Messages never contain the key.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("malformed API key: expected optk_<12 letters or digits>_<64 hex digits>")]
    Malformed,
    /// Unknown id, revoked key or wrong secret (not told apart).
    #[error("unknown or revoked API key")]
    Refused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A key as a client presents it, split into its parts.
#[derive(Clone, Copy)]
pub struct PresentedKey<'a> {
    pub id: &'a str,
    secret: &'a str,
}

impl std::fmt::Debug for PresentedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PresentedKey({}, <secret>)", self.id)
    }
}

/// Whether `s` has the shape of a key id.
pub fn is_key_id(s: &str) -> bool {
    s.len() == KEY_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl<'a> PresentedKey<'a> {
    pub fn parse(s: &'a str) -> Result<Self, AuthError> {
        let rest = s.strip_prefix(KEY_PREFIX).ok_or(AuthError::Malformed)?;
        let (id, secret) = rest.split_once('_').ok_or(AuthError::Malformed)?;
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if !is_key_id(id) || secret.len() != KEY_SECRET_LEN || !secret.bytes().all(hex) {
            return Err(AuthError::Malformed);
        }
        Ok(PresentedKey { id, secret })
    }

    /// Whether this is `stored` (same id, same secret, not revoked); the secret is compared in
    /// constant time.
    pub fn matches(&self, stored: &IndexerKey) -> bool {
        let same_secret: bool = secret_sha256(self.secret)
            .as_bytes()
            .ct_eq(stored.secret_sha256.as_bytes())
            .into();
        same_secret && stored.id == self.id && stored.revoked_at.is_none()
    }
}

/// Lower-case hex SHA-256 of a key's secret part (its 64 characters as written).
pub fn secret_sha256(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Checks a key name and rate.
pub fn check_spec(name: &str, rate_per_minute: u32) -> Result<String, KeySpecError> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > KEY_NAME_MAX || name.chars().any(char::is_control) {
        return Err(KeySpecError::Name);
    }
    if !(1..=MAX_RATE_PER_MINUTE).contains(&rate_per_minute) {
        return Err(KeySpecError::Rate);
    }
    Ok(name.to_owned())
}

/// A new key: what to store, and the key itself (`optk_<id>_<secret>`) to hand over once.
pub fn generate(
    name: &str,
    rate_per_minute: u32,
    now: DateTime<Utc>,
) -> Result<(IndexerKey, String), KeySpecError> {
    let name = check_spec(name, rate_per_minute)?;
    let mut rng = rand::thread_rng();
    let mut id = [0u8; KEY_ID_LEN / 2];
    rng.fill_bytes(&mut id);
    let mut secret = [0u8; KEY_SECRET_LEN / 2];
    rng.fill_bytes(&mut secret);
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let key = IndexerKey {
        id: id.clone(),
        name,
        secret_sha256: secret_sha256(&secret),
        rate_per_minute,
        created_at: now,
        revoked_at: None,
    };
    Ok((key, format!("{KEY_PREFIX}{id}_{secret}")))
}

/// The stored key a request's bearer token names, if the token is a valid, unrevoked key.
pub async fn authenticate(
    store: &dyn IndexerKeyStore,
    token: &str,
) -> Result<IndexerKey, AuthError> {
    let presented = PresentedKey::parse(token)?;
    match store.find_key(presented.id).await? {
        Some(k) if presented.matches(&k) => Ok(k),
        _ => Err(AuthError::Refused),
    }
}

/// A fixed set of keys (from configuration, e.g. an SSM parameter read at start).
#[derive(Debug, Clone, Default)]
pub struct StaticIndexerKeys(pub Vec<IndexerKey>);

#[async_trait]
impl IndexerKeyStore for StaticIndexerKeys {
    async fn find_key(&self, id: &str) -> Result<Option<IndexerKey>, StoreError> {
        Ok(self.0.iter().find(|k| k.id == id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn generated_keys_authenticate_until_revoked() {
        let now = Utc::now();
        let (key, plain) = generate(" crawler-eu ", 60, now).unwrap();
        assert_eq!(key.name, "crawler-eu");
        assert!(is_key_id(&key.id));
        assert!(plain.starts_with(&format!("optk_{}_", key.id)));
        assert_eq!(plain.len(), 5 + 12 + 1 + 64);
        assert!(!format!("{key:?}").contains(&plain[18..]));
        let store = StaticIndexerKeys(vec![key.clone()]);
        assert_eq!(authenticate(&store, &plain).await.unwrap(), key);

        let mut wrong = plain.clone();
        let last = if wrong.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(wrong.len() - 1.., last);
        assert!(matches!(
            authenticate(&store, &wrong).await,
            Err(AuthError::Refused)
        ));
        let (other, other_plain) = generate("other", 60, now).unwrap();
        assert!(matches!(
            authenticate(&store, &other_plain).await,
            Err(AuthError::Refused)
        ));
        let revoked = IndexerKey {
            revoked_at: Some(now),
            ..key
        };
        let store = StaticIndexerKeys(vec![revoked, other]);
        assert!(matches!(
            authenticate(&store, &plain).await,
            Err(AuthError::Refused)
        ));
    }

    #[test]
    fn malformed_keys_and_specs_are_refused() {
        let good = format!("optk_{}_{}", "a1".repeat(6), "0f".repeat(32));
        assert!(PresentedKey::parse(&good).is_ok());
        for bad in [
            String::new(),
            "optk_".into(),
            good.replacen("optk_", "opk_", 1),
            good.replacen("a1a1a1", "A1a1a1", 1),
            good.replacen("_0f", "_0F", 1),
            format!("{good}0"),
            format!("optk_{}_{}", "a1".repeat(5), "0f".repeat(32)),
            format!("optk_{}_{}", "a1".repeat(6), "0g".repeat(32)),
        ] {
            assert!(
                matches!(PresentedKey::parse(&bad), Err(AuthError::Malformed)),
                "{bad}"
            );
        }
        assert_eq!(check_spec("", 10), Err(KeySpecError::Name));
        assert_eq!(check_spec("a\u{7}b", 10), Err(KeySpecError::Name));
        assert_eq!(check_spec(&"x".repeat(101), 10), Err(KeySpecError::Name));
        assert_eq!(check_spec("ok", 0), Err(KeySpecError::Rate));
        assert_eq!(
            check_spec("ok", MAX_RATE_PER_MINUTE + 1),
            Err(KeySpecError::Rate)
        );
    }
}
