//! The DynamoDB [`ReviewerSessions`]: one item per reviewer who ever signed out, in the cases
//! table (`pk = REVIEWER#<name>`, `sk = SESSIONS`), holding `revoked_until` (milliseconds since
//! the epoch). A sign-out is a conditional update that only moves the time forward, so two
//! concurrent sign-outs keep the later one. The item carries the table's TTL attribute: once the
//! longest session issued before `revoked_until` has expired (admin links, and so sessions, live
//! at most `MAX_TTL_DAYS`), the item has nothing left to refuse and DynamoDB may remove it.
//! The api function's role already reads and updates items of the cases table.

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use optout_core::model::ReviewerName;
use optout_core::ports::{ReviewerSessions, StoreError};
use optout_core::signing::admin::MAX_TTL_DAYS;

use crate::attr::n;
use crate::error::{conditional, unavailable};

/// Reviewers' sign-outs in a table keyed by `pk` and `sk`.
#[derive(Debug, Clone)]
pub struct DynamoReviewerSessions {
    client: Client,
    table: String,
}

impl DynamoReviewerSessions {
    pub fn new(client: Client, table: &str) -> Self {
        DynamoReviewerSessions {
            client,
            table: table.to_owned(),
        }
    }
}

fn pk(reviewer: &ReviewerName) -> AttributeValue {
    AttributeValue::S(format!("REVIEWER#{reviewer}"))
}

fn sk() -> AttributeValue {
    AttributeValue::S("SESSIONS".to_owned())
}

#[async_trait]
impl ReviewerSessions for DynamoReviewerSessions {
    async fn revoke(
        &self,
        reviewer: &ReviewerName,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let forget_at = until.timestamp() + (MAX_TTL_DAYS + 1) * 86_400;
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", pk(reviewer))
            .key("sk", sk())
            .update_expression("SET #u = :u, expires_at = :e")
            .condition_expression("attribute_not_exists(#u) OR #u < :u")
            .expression_attribute_names("#u", "revoked_until")
            .expression_attribute_values(":u", n(until.timestamp_millis()))
            .expression_attribute_values(":e", n(forget_at))
            .send()
            .await;
        // Not written when a later sign-out is recorded already: it covers this one.
        conditional("UpdateItem (reviewer sessions)", r).map(|_| ())
    }

    async fn revoked_until(
        &self,
        reviewer: &ReviewerName,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let r = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", pk(reviewer))
            .key("sk", sk())
            .projection_expression("revoked_until")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem (reviewer sessions)", e))?;
        let Some(value) = r.item().and_then(|i| i.get("revoked_until")) else {
            return Ok(None);
        };
        value
            .as_n()
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .and_then(DateTime::from_timestamp_millis)
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt("reviewer sessions: revoked_until".into()))
    }
}
