//! The embedded [`MailLedger`]: one row per message key in the `mail_ledger` table, claimed and
//! marked in transactions of the one writer connection.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use optout_core::ports::{Hold, MailClaim, MailLedger, StoreError};
use rusqlite::{OptionalExtension, params};

use crate::db::{Db, unavailable};

/// The ledger of sent emails in the embedded database.
#[derive(Clone)]
pub struct SqliteMailLedger {
    db: Db,
}

impl SqliteMailLedger {
    pub fn new(db: Db) -> Self {
        SqliteMailLedger { db }
    }
}

#[async_trait]
impl MailLedger for SqliteMailLedger {
    async fn claim(&self, key: &str, hold: Hold<'_>) -> Result<MailClaim, StoreError> {
        let (key, holder) = (key.to_owned(), hold.holder.to_owned());
        let (now, until) = (hold.now.timestamp_millis(), hold.until.timestamp_millis());
        self.db
            .call(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let row: Option<(i64, Option<i64>)> = tx
                    .query_row(
                        "SELECT until, sent_at FROM mail_ledger WHERE key = ?1",
                        [&key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(unavailable)?;
                let claim = match row {
                    Some((_, Some(_))) => MailClaim::Sent,
                    Some((ends, None)) if ends > now => MailClaim::InFlight,
                    _ => {
                        tx.execute(
                            "INSERT INTO mail_ledger (key, holder, until) VALUES (?1, ?2, ?3)
                             ON CONFLICT (key) DO UPDATE SET holder = ?2, until = ?3",
                            params![key, holder, until],
                        )
                        .map_err(unavailable)?;
                        MailClaim::Claimed
                    }
                };
                tx.commit().map_err(unavailable)?;
                Ok(claim)
            })
            .await
    }

    async fn mark_sent(
        &self,
        key: &str,
        holder: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (key, holder) = (key.to_owned(), holder.to_owned());
        self.db
            .call(move |conn| {
                // Recorded even if the claim ended meanwhile: the message did go out.
                conn.execute(
                    "UPDATE mail_ledger SET sent_at = ?3 WHERE key = ?1 AND (holder = ?2 OR sent_at IS NULL)",
                    params![key, holder, at.timestamp_millis()],
                )
                .map_err(unavailable)?;
                Ok(())
            })
            .await
    }

    async fn release(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let (key, holder) = (key.to_owned(), holder.to_owned());
        self.db
            .call(move |conn| {
                conn.execute(
                    "DELETE FROM mail_ledger WHERE key = ?1 AND holder = ?2 AND sent_at IS NULL",
                    params![key, holder],
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

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    /// `who`'s claim of `key` at `t(at)` for two minutes.
    async fn claim(l: &SqliteMailLedger, key: &str, who: &str, at: i64) -> MailClaim {
        l.claim(key, Hold::new(who, t(at), t(at + 120)))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_key_is_claimed_by_one_sender_and_sent_once() {
        let l = SqliteMailLedger::new(Db::in_memory().unwrap());
        assert_eq!(claim(&l, "k", "a", 0).await, MailClaim::Claimed);
        assert_eq!(claim(&l, "k", "b", 1).await, MailClaim::InFlight);
        l.mark_sent("k", "a", t(2)).await.unwrap();
        assert_eq!(claim(&l, "k", "b", 500).await, MailClaim::Sent);
        // A release by anyone after sending changes nothing.
        l.release("k", "a").await.unwrap();
        assert_eq!(claim(&l, "k", "c", 700).await, MailClaim::Sent);
    }

    #[tokio::test]
    async fn a_released_or_ended_claim_can_be_taken() {
        let l = SqliteMailLedger::new(Db::in_memory().unwrap());
        assert_eq!(claim(&l, "k", "a", 0).await, MailClaim::Claimed);
        // Only the holder releases.
        l.release("k", "b").await.unwrap();
        assert_eq!(claim(&l, "k", "b", 1).await, MailClaim::InFlight);
        l.release("k", "a").await.unwrap();
        assert_eq!(claim(&l, "k", "b", 2).await, MailClaim::Claimed);
        // b dies without a word: after its claim ends, c takes it.
        assert_eq!(claim(&l, "k", "c", 121).await, MailClaim::InFlight);
        assert_eq!(claim(&l, "k", "c", 122).await, MailClaim::Claimed);
        // Other keys are independent.
        assert_eq!(claim(&l, "j", "a", 122).await, MailClaim::Claimed);
    }
}
