//! The indexer's API keys in the embedded database: made, listed and revoked by the operator
//! (`optout indexer-key ...`), looked up by the indexer API. Only the SHA-256 of a key's secret
//! is stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use optout_core::indexer_keys::{self, KeySpecError, is_key_id};
use optout_core::ports::{Clock, IndexerKey, IndexerKeyStore, StoreError};
use rusqlite::{OptionalExtension, Row, params};
use std::sync::Arc;

use crate::db::{Db, unavailable};

/// The embedded [`IndexerKeyStore`].
#[derive(Clone)]
pub struct SqliteIndexerKeys {
    db: Db,
    clock: Arc<dyn Clock>,
}

/// Why a key was not made.
#[derive(Debug, thiserror::Error)]
pub enum CreateKeyError {
    #[error(transparent)]
    Invalid(#[from] KeySpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`SqliteIndexerKeys::revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    Now(IndexerKey),
    /// It was revoked before (its first revocation time stays).
    Already(IndexerKey),
    NotFound,
}

const COLUMNS: &str = "id, name, secret_sha256, rate_per_minute, created_at, revoked_at";

type RawKey = (String, String, String, i64, String, Option<String>);

fn raw(r: &Row<'_>) -> rusqlite::Result<RawKey> {
    RawKey::try_from(r)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("indexer key: {what}"))
}

fn key(
    (id, name, secret_sha256, rate, created, revoked): RawKey,
) -> Result<IndexerKey, StoreError> {
    let time = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(corrupt)
    };
    Ok(IndexerKey {
        id,
        name,
        secret_sha256,
        rate_per_minute: u32::try_from(rate).map_err(corrupt)?,
        created_at: time(&created)?,
        revoked_at: revoked.as_deref().map(time).transpose()?,
    })
}

fn find(conn: &rusqlite::Connection, id: &str) -> Result<Option<IndexerKey>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM indexer_keys WHERE id = ?1"),
        [id],
        raw,
    )
    .optional()
    .map_err(unavailable)?
    .map(key)
    .transpose()
}

impl SqliteIndexerKeys {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        SqliteIndexerKeys { db, clock }
    }

    /// Makes a key. Returns what is stored and the key itself, which is not kept anywhere: hand
    /// it over once.
    pub async fn create(
        &self,
        name: &str,
        rate_per_minute: u32,
    ) -> Result<(IndexerKey, String), CreateKeyError> {
        // 48 random bits per id: a collision is unlikely but possible; draw again then.
        for _ in 0..5 {
            let (k, plain) = indexer_keys::generate(name, rate_per_minute, self.clock.now())?;
            let row = k.clone();
            let inserted = self
                .db
                .call(move |conn| {
                    conn.execute(
                        "INSERT OR IGNORE INTO indexer_keys (id, name, secret_sha256, rate_per_minute, created_at, revoked_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                        params![
                            row.id,
                            row.name,
                            row.secret_sha256,
                            i64::from(row.rate_per_minute),
                            row.created_at.to_rfc3339()
                        ],
                    )
                    .map_err(unavailable)
                })
                .await?;
            if inserted == 1 {
                return Ok((k, plain));
            }
        }
        Err(StoreError::Unavailable("could not draw an unused key id".into()).into())
    }

    /// Every key, oldest first.
    pub async fn list(&self) -> Result<Vec<IndexerKey>, StoreError> {
        self.db
            .call(|conn| {
                let mut st = conn
                    .prepare(&format!(
                        "SELECT {COLUMNS} FROM indexer_keys ORDER BY created_at, id"
                    ))
                    .map_err(unavailable)?;
                let rows = st.query_map([], raw).map_err(unavailable)?;
                let mut out = Vec::new();
                for r in rows {
                    out.push(key(r.map_err(unavailable)?)?);
                }
                Ok(out)
            })
            .await
    }

    /// Revokes a key: it is refused from the next request on.
    pub async fn revoke(&self, id: &str) -> Result<Revoked, StoreError> {
        if !is_key_id(id) {
            return Ok(Revoked::NotFound);
        }
        let (id, at) = (id.to_owned(), self.clock.now());
        self.db
            .call(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let out = match find(&tx, &id)? {
                    None => Revoked::NotFound,
                    Some(k) if k.revoked_at.is_some() => Revoked::Already(k),
                    Some(mut k) => {
                        tx.execute(
                            "UPDATE indexer_keys SET revoked_at = ?2 WHERE id = ?1",
                            params![id, at.to_rfc3339()],
                        )
                        .map_err(unavailable)?;
                        k.revoked_at = Some(at);
                        Revoked::Now(k)
                    }
                };
                tx.commit().map_err(unavailable)?;
                Ok(out)
            })
            .await
    }
}

#[async_trait]
impl IndexerKeyStore for SqliteIndexerKeys {
    async fn find_key(&self, id: &str) -> Result<Option<IndexerKey>, StoreError> {
        if !is_key_id(id) {
            return Ok(None);
        }
        let id = id.to_owned();
        self.db.call(move |conn| find(conn, &id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use optout_core::indexer_keys::{AuthError, authenticate};
    use optout_core::ports::SystemClock;

    #[tokio::test]
    async fn keys_are_made_listed_found_and_revoked() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("k.sqlite3");
        let keys = SqliteIndexerKeys::new(Db::open(&path).unwrap(), Arc::new(SystemClock));
        let (a, plain_a) = keys.create("indexer-a", 120).await.unwrap();
        let (b, _) = keys.create("indexer-b", 60).await.unwrap();
        assert!(matches!(
            keys.create(" ", 60).await,
            Err(CreateKeyError::Invalid(KeySpecError::Name))
        ));
        assert!(matches!(
            keys.create("x", 0).await,
            Err(CreateKeyError::Invalid(KeySpecError::Rate))
        ));
        let listed = keys.list().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.contains(&a) && listed.contains(&b));
        assert_eq!(authenticate(&keys, &plain_a).await.unwrap(), a);

        // The table survives reopening (CREATE TABLE IF NOT EXISTS on an existing file).
        let keys = SqliteIndexerKeys::new(Db::open(&path).unwrap(), Arc::new(SystemClock));
        assert_eq!(keys.find_key(&a.id).await.unwrap(), Some(a.clone()));
        let Revoked::Now(r) = keys.revoke(&a.id).await.unwrap() else {
            panic!("revoked")
        };
        assert!(r.revoked_at.is_some());
        assert_eq!(keys.revoke(&a.id).await.unwrap(), Revoked::Already(r));
        assert_eq!(
            keys.revoke("nosuchkey000").await.unwrap(),
            Revoked::NotFound
        );
        assert_eq!(keys.revoke("'; DROP").await.unwrap(), Revoked::NotFound);
        assert!(matches!(
            authenticate(&keys, &plain_a).await,
            Err(AuthError::Refused)
        ));
        assert_eq!(keys.find_key(&b.id).await.unwrap(), Some(b));
        assert_eq!(keys.find_key("").await.unwrap(), None);
    }
}
