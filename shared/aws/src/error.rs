//! Mapping SDK errors to the ports' errors, without personal data in the message.

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use optout_core::ports::StoreError;

/// A short description of a failed call: the operation and the error code, not the request.
pub(crate) fn describe<E, R>(op: &str, err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err {
        SdkError::TimeoutError(_) => format!("{op}: timed out"),
        SdkError::DispatchFailure(d) => {
            let kind = if d.is_timeout() {
                "timeout"
            } else if d.is_io() {
                "connection failed"
            } else {
                "dispatch failed"
            };
            format!("{op}: {kind}")
        }
        SdkError::ServiceError(_) => format!(
            "{op}: {} {}",
            err.code().unwrap_or("unknown error"),
            err.message().unwrap_or("")
        )
        .trim_end()
        .to_owned(),
        _ => format!("{op}: {}", DisplayErrorContext(err)),
    }
}

/// Any failed call as [`StoreError::Unavailable`] (throttling, connection, timeouts, server errors,
/// and configuration mistakes such as a missing table, which an operator must fix).
pub(crate) fn unavailable<E, R>(op: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let msg = describe(op, &err);
    tracing::warn!(error = %msg, "AWS call failed");
    StoreError::Unavailable(msg)
}

/// Whether a conditional write took place: `Ok(false)` when its condition did not hold (DynamoDB's
/// `ConditionalCheckFailedException`, whichever operation), any other failure [`unavailable`].
pub(crate) fn conditional<T, E, R>(
    op: &str,
    r: Result<T, SdkError<E, R>>,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(unavailable(op, e)),
    }
}
