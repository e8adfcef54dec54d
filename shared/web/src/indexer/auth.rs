//! Who may call the indexer API: `Authorization: Bearer optk_<id>_<secret>`, a known, unrevoked
//! key with the right secret, within its rate limit.

use http::{HeaderMap, header};
use optout_core::indexer_keys::{AuthError, authenticate};
use optout_core::ports::IndexerKey;
use std::time::Instant;

use super::IndexerApi;
use super::reply;

/// The bearer token of the request, if it sent one in the expected form.
fn bearer(headers: &HeaderMap) -> Result<&str, ()> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(())?
        .to_str()
        .map_err(|_| ())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(())?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(());
    }
    Ok(token.trim())
}

/// The request's key, or the response that refuses it (401, 429 or 503).
pub async fn admit(
    api: &IndexerApi,
    headers: &HeaderMap,
) -> Result<IndexerKey, axum::response::Response> {
    if !headers.contains_key(header::AUTHORIZATION) {
        return Err(reply::unauthorized(
            "Send the indexer API key as `Authorization: Bearer optk_...`.",
            false,
        ));
    }
    let Ok(token) = bearer(headers) else {
        return Err(reply::unauthorized(
            "The Authorization header must be `Bearer optk_...`.",
            true,
        ));
    };
    let key = match authenticate(api.ports.keys.as_ref(), token).await {
        Ok(k) => k,
        Err(AuthError::Store(e)) => return Err(reply::unavailable(&e.to_string())),
        Err(e @ AuthError::Malformed) => return Err(reply::unauthorized(&format!("{e}."), true)),
        Err(AuthError::Refused) => {
            tracing::info!("indexer request with an unknown, revoked or wrong key refused");
            return Err(reply::unauthorized(
                "Unknown or revoked API key, or wrong secret.",
                true,
            ));
        }
    };
    if let Err(wait) = api
        .limiter
        .take(&key.id, key.rate_per_minute, Instant::now())
    {
        tracing::info!(key = %key.id, wait, "indexer key over its rate limit");
        return Err(reply::rate_limited(wait));
    }
    Ok(key)
}
