//! The exclusion table has no DynamoDB adapter yet: every call reports the store unavailable, so
//! the desk keeps the `WriteExclusions` / `WithdrawExclusions` effects pending (its outbox) instead
//! of losing them, and the relay finishes them once the adapter exists.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use optout_core::model::CaseId;
use optout_core::ports::{ExclusionEntry, ExclusionStore, ExclusionValue, StoreError};

/// An [`ExclusionStore`] that is not there yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExclusionsNotWired;

fn not_wired() -> StoreError {
    StoreError::Unavailable("the exclusion table has no AWS adapter in this build".into())
}

#[async_trait]
impl ExclusionStore for ExclusionsNotWired {
    async fn add_entries(
        &self,
        _: CaseId,
        _: &[ExclusionValue],
        _: DateTime<Utc>,
    ) -> Result<Vec<ExclusionEntry>, StoreError> {
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
