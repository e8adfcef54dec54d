//! The exclusion store of a process configured without `OPTOUT_EXCLUSIONS_TABLE` (the embedder
//! function, which neither writes nor reads exclusions; see [`crate::config`]): every call reports
//! the store unavailable, so a `WriteExclusions` / `WithdrawExclusions` effect that reached such a
//! process stays pending on its case (the desk's outbox) instead of being lost, and the relay of
//! a process with the table (the housekeeper's) finishes it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use optout_core::model::CaseId;
use optout_core::ports::{ExclusionEntry, ExclusionStore, NewEntries, StoreError};

/// An [`ExclusionStore`] without a table: see the module's documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExclusionsNotWired;

fn not_wired() -> StoreError {
    StoreError::Unavailable("no exclusion table is configured (OPTOUT_EXCLUSIONS_TABLE)".into())
}

#[async_trait]
impl ExclusionStore for ExclusionsNotWired {
    async fn add_entries(&self, _: NewEntries<'_>) -> Result<Vec<ExclusionEntry>, StoreError> {
        Err(not_wired())
    }
    async fn case_entries(&self, _: CaseId) -> Result<Vec<ExclusionEntry>, StoreError> {
        Err(not_wired())
    }
    async fn changes(&self, _: u64, _: usize) -> Result<Vec<ExclusionEntry>, StoreError> {
        Err(not_wired())
    }
    async fn active(&self) -> Result<Vec<ExclusionEntry>, StoreError> {
        Err(not_wired())
    }
    async fn withdraw_case(&self, _: CaseId, _: DateTime<Utc>) -> Result<usize, StoreError> {
        Err(not_wired())
    }
    async fn head(&self) -> Result<u64, StoreError> {
        Err(not_wired())
    }
}
