//! Reviewers' sign-outs in the embedded database: one row per reviewer with the time until which
//! their sessions are revoked (milliseconds since the epoch). Only ever moves forward.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use optout_core::model::ReviewerName;
use optout_core::ports::{ReviewerSessions, StoreError};
use rusqlite::{OptionalExtension, params};

use crate::db::{Db, unavailable};

/// The embedded [`ReviewerSessions`].
#[derive(Clone)]
pub struct SqliteReviewerSessions {
    db: Db,
}

impl SqliteReviewerSessions {
    pub fn new(db: Db) -> Self {
        SqliteReviewerSessions { db }
    }
}

#[async_trait]
impl ReviewerSessions for SqliteReviewerSessions {
    async fn revoke(
        &self,
        reviewer: &ReviewerName,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let reviewer = reviewer.as_str().to_owned();
        let until = until.timestamp_millis();
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO reviewer_sessions (reviewer, revoked_until) VALUES (?1, ?2)
                     ON CONFLICT (reviewer) DO UPDATE
                     SET revoked_until = max(revoked_until, excluded.revoked_until)",
                    params![reviewer, until],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }

    async fn revoked_until(
        &self,
        reviewer: &ReviewerName,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let reviewer = reviewer.as_str().to_owned();
        let millis: Option<i64> = self
            .db
            .call(move |conn| {
                conn.query_row(
                    "SELECT revoked_until FROM reviewer_sessions WHERE reviewer = ?1",
                    [reviewer],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)
            })
            .await?;
        millis
            .map(|m| {
                DateTime::from_timestamp_millis(m)
                    .ok_or_else(|| StoreError::Corrupt(format!("reviewer session time {m}")))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn revocations_are_per_reviewer_and_never_move_back() {
        let s = SqliteReviewerSessions::new(Db::in_memory().unwrap());
        let alice = ReviewerName::parse("alice").unwrap();
        let bob = ReviewerName::parse("bob@example.org").unwrap();
        let t = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        assert_eq!(s.revoked_until(&alice).await.unwrap(), None);
        s.revoke(&alice, t(1_700_000_000_500)).await.unwrap();
        assert_eq!(
            s.revoked_until(&alice).await.unwrap(),
            Some(t(1_700_000_000_500))
        );
        assert_eq!(s.revoked_until(&bob).await.unwrap(), None);
        s.revoke(&alice, t(1_700_000_000_100)).await.unwrap();
        assert_eq!(
            s.revoked_until(&alice).await.unwrap(),
            Some(t(1_700_000_000_500))
        );
        s.revoke(&alice, t(1_700_000_009_000)).await.unwrap();
        assert_eq!(
            s.revoked_until(&alice).await.unwrap(),
            Some(t(1_700_000_009_000))
        );
    }
}
