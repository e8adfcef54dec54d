//! The DynamoDB [`Lease`]: one item per lease in the cases table (`pk = LEASE#<name>`,
//! `sk = LEASE`), taken with a conditional write (free, expired, or already this holder's) and
//! given back with a conditional delete (only by its holder). The item carries the table's TTL
//! attribute, so a lease no one gives back is eventually removed (it stops counting at `until`
//! whatever the TTL does).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use optout_core::ports::{Hold, Lease, StoreError};

use crate::attr::{n, s};
use crate::error::conditional;
use crate::held::{delete_held, put_held};

/// Leases in a table keyed by `pk` and `sk`.
#[derive(Debug, Clone)]
pub struct DynamoLease {
    client: Client,
    table: String,
}

impl DynamoLease {
    pub fn new(client: Client, table: &str) -> Self {
        DynamoLease {
            client,
            table: table.to_owned(),
        }
    }
}

fn pk(name: &str) -> String {
    format!("LEASE#{name}")
}

const SK: &str = "LEASE";

#[async_trait]
impl Lease for DynamoLease {
    async fn acquire(&self, name: &str, hold: Hold<'_>) -> Result<bool, StoreError> {
        let r = put_held(&self.client, &self.table, (pk(name), SK), hold)
            // Removed by TTL a day after it ends (the condition, not the TTL, decides).
            .item("expires_at", n(hold.until.timestamp() + 86_400))
            .condition_expression("attribute_not_exists(pk) OR #u <= :now OR holder = :me")
            .expression_attribute_values(":me", s(hold.holder))
            .send()
            .await;
        conditional("PutItem (lease)", r)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let key = (pk(name), SK);
        let r = delete_held(&self.client, &self.table, key, holder, "holder = :me")
            .send()
            .await;
        conditional("DeleteItem (lease)", r).map(|_| ())
    }
}
