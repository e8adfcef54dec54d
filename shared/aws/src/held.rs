//! Items of the cases table that one holder holds for a while (a lease, a mail ledger's claim):
//! taken with a conditional put and given back with a conditional delete, both on the item's
//! `pk` and `sk`.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use optout_core::ports::Hold;

use crate::attr::{n, s};

/// The put of item (`pk`, `sk`) as held by `hold.holder` until `hold.until` (in milliseconds),
/// for the condition the caller adds: `#u` names the item's `until` and `:now` is `hold.now`
/// (DynamoDB refuses names and values a condition does not use).
pub(crate) fn put_held(
    client: &Client,
    table: &str,
    (pk, sk): (String, &str),
    hold: Hold<'_>,
) -> PutItemFluentBuilder {
    client
        .put_item()
        .table_name(table)
        .item("pk", s(pk))
        .item("sk", s(sk))
        .item("holder", s(hold.holder))
        .item("until", n(hold.until.timestamp_millis()))
        .expression_attribute_names("#u", "until")
        .expression_attribute_values(":now", n(hold.now.timestamp_millis()))
}

/// The delete of item (`pk`, `sk`) on `condition`, in which `:me` is `holder`.
pub(crate) fn delete_held(
    client: &Client,
    table: &str,
    (pk, sk): (String, &str),
    holder: &str,
    condition: &str,
) -> DeleteItemFluentBuilder {
    client
        .delete_item()
        .table_name(table)
        .key("pk", s(pk))
        .key("sk", s(sk))
        .condition_expression(condition)
        .expression_attribute_values(":me", s(holder))
}
