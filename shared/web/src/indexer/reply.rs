//! Responses of the indexer API: JSON, never cached; errors as `optout_matcher::wire::WireError`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use optout_matcher::wire::{WireError, WireErrorBody};
use serde::Serialize;

use crate::respond::RETRY_AFTER_SECS;

/// The realm named in `WWW-Authenticate`.
const REALM: &str = "optout-indexer";

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// 200 with `value` as JSON.
pub fn json<T: Serialize>(value: &T) -> Response {
    no_store(Json(value).into_response())
}

/// An error with a stable `code`, a message for people and, for one bad candidate, its index.
pub fn error(status: StatusCode, code: &str, message: &str, index: Option<usize>) -> Response {
    let body = WireError {
        error: WireErrorBody {
            code: code.to_owned(),
            message: message.to_owned(),
            index,
        },
    };
    no_store((status, Json(body)).into_response())
}

pub fn bad_request(code: &str, message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, code, message, None)
}

/// 401 with the challenge of RFC 6750 (`error="invalid_token"` when a key was sent).
pub fn unauthorized(message: &str, key_sent: bool) -> Response {
    let mut r = error(StatusCode::UNAUTHORIZED, "unauthorized", message, None);
    let challenge = if key_sent {
        format!("Bearer realm=\"{REALM}\", error=\"invalid_token\"")
    } else {
        format!("Bearer realm=\"{REALM}\"")
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// 429 with the seconds until the key's bucket holds a token again.
pub fn rate_limited(retry_after_secs: u64) -> Response {
    let mut r = error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        &format!("Too many requests for this key; retry in {retry_after_secs} s."),
        None,
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    r
}

/// 503 with `Retry-After`; the cause is logged, never sent.
pub fn unavailable(cause: &str) -> Response {
    tracing::error!(cause, "indexer request failed: service unavailable");
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "The exclusion table is unavailable; retry later.",
        None,
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    r
}
