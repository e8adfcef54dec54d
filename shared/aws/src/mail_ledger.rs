//! The DynamoDB [`MailLedger`]: one item per message key in the cases table (`pk = MAIL#<key>`,
//! `sk = MAIL`; a key names a case and a kind of message, no personal data). A claim is a
//! conditional put (no item, or an unsent one whose claim ended); sending adds `sent_at`, after
//! which nothing claims it again. The table's TTL attribute removes the item after the
//! retention period, when its case is long settled.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use chrono::{DateTime, Utc};
use optout_core::ports::{Hold, MailClaim, MailLedger, StoreError};

use crate::attr::{n, s};
use crate::error::{conditional, unavailable};
use crate::held::{delete_held, put_held};

/// The ledger of sent emails in a table keyed by `pk` and `sk`.
#[derive(Debug, Clone)]
pub struct DynamoMailLedger {
    client: Client,
    table: String,
    /// How long an item outlives its last change (the personal-data retention).
    keep: chrono::Duration,
}

impl DynamoMailLedger {
    pub fn new(client: Client, table: &str, keep: chrono::Duration) -> Self {
        DynamoMailLedger {
            client,
            table: table.to_owned(),
            keep,
        }
    }

    /// Whether the item of `key` says the message was sent (a consistent read).
    async fn sent(&self, key: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk(key)))
            .key("sk", s(SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem (mail ledger)", e))?;
        Ok(out.item().is_some_and(|i| i.contains_key("sent_at")))
    }
}

fn pk(key: &str) -> String {
    format!("MAIL#{key}")
}

const SK: &str = "MAIL";

#[async_trait]
impl MailLedger for DynamoMailLedger {
    async fn claim(&self, key: &str, hold: Hold<'_>) -> Result<MailClaim, StoreError> {
        let r = put_held(&self.client, &self.table, (pk(key), SK), hold)
            .item("expires_at", n((hold.now + self.keep).timestamp()))
            .condition_expression(
                "attribute_not_exists(pk) OR (attribute_not_exists(sent_at) AND #u <= :now)",
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match r {
            Ok(_) => Ok(MailClaim::Claimed),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    let sent = match c.item() {
                        Some(old) => old.contains_key("sent_at"),
                        None => self.sent(key).await?,
                    };
                    Ok(if sent {
                        MailClaim::Sent
                    } else {
                        MailClaim::InFlight
                    })
                }
                _ => Err(unavailable("PutItem (mail ledger)", e)),
            },
        }
    }

    async fn mark_sent(
        &self,
        key: &str,
        holder: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk(key)))
            .key("sk", s(SK))
            .update_expression("SET sent_at = :at, expires_at = :exp")
            // Recorded even if the claim ended meanwhile: the message did go out.
            .condition_expression("holder = :me OR attribute_not_exists(sent_at)")
            .expression_attribute_values(":me", s(holder))
            .expression_attribute_values(":at", n(at.timestamp_millis()))
            .expression_attribute_values(":exp", n((at + self.keep).timestamp()))
            .send()
            .await;
        conditional("UpdateItem (mail ledger)", r).map(|_| ())
    }

    async fn release(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        let unsent = "holder = :me AND attribute_not_exists(sent_at)";
        let r = delete_held(&self.client, &self.table, (pk(key), SK), holder, unsent)
            .send()
            .await;
        conditional("DeleteItem (mail ledger)", r).map(|_| ())
    }
}
