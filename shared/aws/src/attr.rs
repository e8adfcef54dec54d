//! DynamoDB attribute values, written the same way by every adapter of the crate.

use aws_sdk_dynamodb::types::AttributeValue;

/// A string attribute.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute (DynamoDB sends numbers as text).
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
