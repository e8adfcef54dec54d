//! Biometric data (embedding and hashes) in its own table, apart from the personal data.

use async_trait::async_trait;
use optout_core::model::CaseId;
use optout_core::ports::{BiometricStore, Biometrics, StoreError};
use rusqlite::{OptionalExtension, params};

use crate::db::{Db, unavailable};

/// The embedded [`BiometricStore`].
#[derive(Clone)]
pub struct SqliteBiometrics {
    db: Db,
}

impl SqliteBiometrics {
    pub fn new(db: Db) -> Self {
        SqliteBiometrics { db }
    }
}

#[async_trait]
impl BiometricStore for SqliteBiometrics {
    async fn put_biometrics(&self, b: &Biometrics) -> Result<(), StoreError> {
        let data = serde_json::to_string(b).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (id, generation) = (b.case_id.to_string(), b.generation);
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO biometrics (case_id, generation, data) VALUES (?1, ?2, ?3)
                     ON CONFLICT(case_id) DO UPDATE SET generation = excluded.generation, data = excluded.data",
                    params![id, generation, data],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }

    async fn get_biometrics(&self, case_id: CaseId) -> Result<Option<Biometrics>, StoreError> {
        let data: Option<String> = self
            .db
            .call(move |conn| {
                conn.query_row(
                    "SELECT data FROM biometrics WHERE case_id = ?1",
                    [case_id.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)
            })
            .await?;
        data.map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn delete_biometrics(&self, case_id: CaseId) -> Result<(), StoreError> {
        self.db
            .call(move |conn| {
                conn.execute(
                    "DELETE FROM biometrics WHERE case_id = ?1",
                    [case_id.to_string()],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }
}
