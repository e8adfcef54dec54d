//! Photos as files under `DIR/photos/`, their metadata in the database, and the signed upload
//! forms of the embedded mode (the same shape as an S3 presigned POST: fields, then the file).

use async_trait::async_trait;
use optout_core::ports::{
    Clock, PhotoReadError, PhotoStore, StoreError, StoredPhoto, UploadForm, UploadRefused,
    UploadRequest, UploadSink, UploadTicket,
};
use optout_core::requester::valid_upload_key;
use optout_core::signing::KeyRing;
use optout_core::upload_policy;
use rusqlite::{OptionalExtension, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::db::{Db, unavailable};

/// The embedded [`PhotoStore`] and [`UploadSink`].
#[derive(Clone)]
pub struct FilePhotoStore {
    dir: PathBuf,
    db: Db,
    keys: KeyRing,
    clock: Arc<dyn Clock>,
    /// Where upload forms post to (`{public_url}/uploads`).
    upload_url: String,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("photo files: {e}"))
}

impl FilePhotoStore {
    pub fn new(
        dir: &Path,
        db: Db,
        keys: KeyRing,
        clock: Arc<dyn Clock>,
        public_url: &str,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir.join("uploads")).map_err(io)?;
        Ok(FilePhotoStore {
            dir: dir.to_owned(),
            db,
            keys,
            clock,
            upload_url: format!("{}/uploads", public_url.trim_end_matches('/')),
        })
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        // Only keys of the form the desk hands out map to files: no path traversal.
        valid_upload_key(key).then(|| self.dir.join(key))
    }

    /// Deletes unclaimed uploads older than `age` (abandoned forms). Returns how many.
    pub async fn sweep_unclaimed(&self, age: chrono::Duration) -> Result<usize, StoreError> {
        let cutoff = (self.clock.now() - age).timestamp_millis();
        let keys: Vec<String> = self
            .db
            .call(move |conn| {
                let mut st = conn
                    .prepare("SELECT key FROM uploads WHERE claimed = 0 AND created_at < ?1")
                    .map_err(unavailable)?;
                let rows = st.query_map([cutoff], |r| r.get(0)).map_err(unavailable)?;
                rows.collect::<Result<_, _>>().map_err(unavailable)
            })
            .await?;
        for k in &keys {
            self.delete(k).await?;
        }
        Ok(keys.len())
    }
}

#[async_trait]
impl PhotoStore for FilePhotoStore {
    async fn upload_form(&self, request: UploadRequest<'_>) -> Result<UploadForm, StoreError> {
        Ok(upload_policy::form(&self.keys, &self.upload_url, &request))
    }

    async fn read(&self, key: &str, max_bytes: u64) -> Result<StoredPhoto, PhotoReadError> {
        let path = self.path(key).ok_or(PhotoReadError::NotFound)?;
        let k = key.to_owned();
        let meta: Option<(Option<String>, i64)> = self
            .db
            .call(move |conn| {
                conn.query_row(
                    "SELECT content_type, bytes FROM uploads WHERE key = ?1",
                    [k],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(unavailable)
            })
            .await?;
        let Some((declared_type, size)) = meta else {
            return Err(PhotoReadError::NotFound);
        };
        if size as u64 > max_bytes {
            return Err(PhotoReadError::TooLarge { max: max_bytes });
        }
        match tokio::fs::read(&path).await {
            Ok(bytes) if bytes.len() as u64 > max_bytes => {
                Err(PhotoReadError::TooLarge { max: max_bytes })
            }
            Ok(bytes) => Ok(StoredPhoto {
                bytes,
                declared_type,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(PhotoReadError::NotFound),
            Err(e) => Err(io(e).into()),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(false);
        };
        let k = key.to_owned();
        let known: bool = self
            .db
            .call(move |conn| {
                conn.query_row("SELECT 1 FROM uploads WHERE key = ?1", [k], |_| Ok(()))
                    .optional()
                    .map(|r| r.is_some())
                    .map_err(unavailable)
            })
            .await?;
        if !known {
            return Ok(false);
        }
        tokio::fs::try_exists(&path).await.map_err(io)
    }

    /// None: the files are only reachable through the app, which serves them itself.
    async fn view_url(
        &self,
        _key: &str,
        _content_type: &str,
        _ttl: std::time::Duration,
    ) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    async fn view_origin(&self) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    async fn claim(&self, key: &str) -> Result<(), StoreError> {
        let k = key.to_owned();
        self.db
            .call(move |conn| {
                conn.execute("UPDATE uploads SET claimed = 1 WHERE key = ?1", [k])
                    .map_err(unavailable)?;
                Ok(())
            })
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let Some(path) = self.path(key) else {
            return Ok(());
        };
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let k = key.to_owned();
        self.db
            .call(move |conn| {
                conn.execute("DELETE FROM uploads WHERE key = ?1", [k])
                    .map_err(unavailable)?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl UploadSink for FilePhotoStore {
    fn check(&self, fields: &BTreeMap<String, String>) -> Result<UploadTicket, UploadRefused> {
        upload_policy::check(&self.keys, fields, self.clock.now())
    }

    async fn store(
        &self,
        ticket: &UploadTicket,
        content_type: Option<&str>,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let path = self
            .path(&ticket.key)
            .ok_or_else(|| StoreError::Corrupt("upload key".into()))?;
        if bytes.len() as u64 > ticket.max_bytes {
            return Err(StoreError::Corrupt(
                "upload larger than its form allows".into(),
            ));
        }
        // A second upload to the same form replaces the first, unless a case already claimed it.
        let k = ticket.key.clone();
        let claimed: Option<i64> = self
            .db
            .call(move |conn| {
                conn.query_row("SELECT claimed FROM uploads WHERE key = ?1", [k], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(unavailable)
            })
            .await?;
        if claimed == Some(1) {
            return Err(StoreError::Conflict);
        }
        // Write then rename: a photo file is either complete or absent.
        let tmp = path.with_extension("part");
        let size = bytes.len() as i64;
        tokio::fs::write(&tmp, &bytes).await.map_err(io)?;
        let f = tokio::fs::File::open(&tmp).await.map_err(io)?;
        f.sync_all().await.map_err(io)?;
        tokio::fs::rename(&tmp, &path).await.map_err(io)?;
        let key = ticket.key.clone();
        let ct = content_type.map(|c| c.chars().take(100).collect::<String>());
        let now = self.clock.now().timestamp_millis();
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO uploads (key, content_type, bytes, created_at, claimed) VALUES (?1, ?2, ?3, ?4, 0)
                     ON CONFLICT(key) DO UPDATE SET content_type = excluded.content_type, bytes = excluded.bytes",
                    params![key, ct, size, now],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use optout_core::ports::SystemClock;

    #[tokio::test]
    async fn exists_follows_the_file_and_there_is_no_view_url() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FilePhotoStore::new(
            tmp.path(),
            Db::open(&tmp.path().join("db.sqlite3")).unwrap(),
            KeyRing::generate("k1"),
            Arc::new(SystemClock),
            "http://127.0.0.1:8080",
        )
        .unwrap();
        let form = store
            .upload_form(UploadRequest {
                key: "uploads/exists-test-0123456789",
                max_bytes: 1000,
                expires_at: Utc::now() + chrono::Duration::hours(1),
                redirect: None,
            })
            .await
            .unwrap();
        let ticket = store.check(&form.fields).unwrap();
        assert!(!store.exists(&ticket.key).await.unwrap());
        store
            .store(&ticket, Some("image/png"), vec![1, 2, 3])
            .await
            .unwrap();
        assert!(store.exists(&ticket.key).await.unwrap());
        // The file removed behind the store's back: not there, whatever the table says.
        std::fs::remove_file(tmp.path().join(&ticket.key)).unwrap();
        assert!(!store.exists(&ticket.key).await.unwrap());
        store
            .store(&ticket, Some("image/png"), vec![1, 2, 3])
            .await
            .unwrap();
        store.delete(&ticket.key).await.unwrap();
        assert!(!store.exists(&ticket.key).await.unwrap());
        // Keys the desk never hands out are never looked up on disk.
        assert!(!store.exists("../db.sqlite3").await.unwrap());
        // The embedded mode serves photos itself.
        let ttl = std::time::Duration::from_secs(60);
        assert_eq!(
            store.view_url(&ticket.key, "image/png", ttl).await.unwrap(),
            None
        );
        assert_eq!(store.view_origin().await.unwrap(), None);
    }
}
