//! The indexer API under `/v1/exclusions/`: batch checks, the change feed and snapshots of the
//! exclusion table, for holders of an indexer API key (`Authorization: Bearer optk_...`).
//! Nothing in these responses says anything about the requests behind the entries.

mod auth;
mod body;
mod limiter;
mod reply;
pub mod schema;

use axum::body::Bytes;
use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use optout_core::exclusions::{ChangesError, CheckError, IndexerPorts};
use optout_matcher::wire::{DEFAULT_CHANGES_LIMIT, MAX_BATCH, MAX_CHANGES_LIMIT};

use crate::AppState;
use crate::api::is_json;
use body::BodyError;
use limiter::TokenBuckets;

/// The largest check body: 1,000 faces of 128 numbers are about 2.5 MB of JSON.
pub const CHECK_BODY_MAX: usize = 4 * 1024 * 1024;

/// What the indexer routes run on.
pub struct IndexerApi {
    pub ports: IndexerPorts,
    limiter: TokenBuckets,
}

impl IndexerApi {
    pub fn new(ports: IndexerPorts) -> Self {
        IndexerApi {
            ports,
            limiter: TokenBuckets::default(),
        }
    }
}

/// Checks up to 1,000 candidates (links, SHA-256, PDQ hashes, face embeddings) against the
/// active exclusion entries. Entries withdrawn before the request never match.
#[utoipa::path(post, path = "/v1/exclusions/check", tag = "indexer",
    security(("indexer_key" = [])),
    request_body = schema::CheckRequest,
    responses(
        (status = 200, description = "One result per candidate, in order", body = schema::CheckResponse),
        (status = 400, description = "Malformed body, no or too many candidates, or an invalid candidate (its `index` given)", body = schema::IndexerError),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = schema::IndexerError),
        (status = 413, description = "Body larger than 4 MiB", body = schema::IndexerError),
        (status = 415, description = "Not application/json", body = schema::IndexerError),
        (status = 429, description = "Over the key's rate limit; see Retry-After", body = schema::IndexerError),
        (status = 503, description = "Unavailable; see Retry-After", body = schema::IndexerError),
    ))]
pub async fn check(State(state): State<AppState>, req: Request) -> Response {
    let api = &state.indexer;
    if let Err(refused) = auth::admit(api, req.headers()).await {
        return refused;
    }
    if !is_json(req.headers()) {
        return reply::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send application/json.",
            None,
        );
    }
    let body = match Bytes::from_request(req, &()).await {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return reply::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!(
                    "The body is larger than {CHECK_BODY_MAX} bytes; send fewer candidates per request."
                ),
                None,
            );
        }
        Err(_) => return reply::bad_request("malformed_request", "The body could not be read."),
    };
    let candidates = match body::candidates(&body) {
        Ok(c) => c,
        Err(e) => return body_error(e),
    };
    match api.ports.exclusions.check(candidates).await {
        Ok(r) => reply::json(&r),
        Err(CheckError::InvalidCandidate { index, message }) => reply::error(
            StatusCode::BAD_REQUEST,
            "invalid_candidate",
            &format!("candidates[{index}]: {message}"),
            Some(index),
        ),
        Err(CheckError::Empty) => body_error(BodyError::Empty),
        Err(CheckError::TooMany { count }) => body_error(BodyError::TooMany(count)),
        Err(CheckError::Store(e)) => reply::unavailable(&e.to_string()),
    }
}

fn body_error(e: BodyError) -> Response {
    match e {
        BodyError::Malformed(m) => reply::bad_request("malformed_request", &m),
        BodyError::Empty => reply::bad_request(
            "malformed_request",
            &format!("`candidates` is empty; send 1 to {MAX_BATCH}."),
        ),
        BodyError::TooMany(n) => reply::bad_request(
            "too_many_candidates",
            &format!("{n} candidates; send at most {MAX_BATCH} per request."),
        ),
        BodyError::Candidate { index, message } => reply::error(
            StatusCode::BAD_REQUEST,
            "invalid_candidate",
            &message,
            Some(index),
        ),
    }
}

/// `after` and `limit` of a changes request.
fn changes_query(q: Option<&str>) -> Result<(u64, usize), String> {
    let (mut after, mut limit) = (None, None);
    for (k, v) in url::form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        let number = |max: u64| -> Option<u64> {
            if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            v.parse::<u64>().ok().filter(|n| *n <= max)
        };
        match k.as_ref() {
            "after" if after.is_none() => {
                after = Some(number(u64::MAX).ok_or(
                    "`after` must be a change position: a whole number, 0 or more (a previous `next_after`).",
                )?);
            }
            "limit" if limit.is_none() => {
                let n = number(MAX_CHANGES_LIMIT as u64)
                    .filter(|n| *n >= 1)
                    .ok_or(format!(
                        "`limit` must be a whole number from 1 to {MAX_CHANGES_LIMIT}."
                    ))?;
                limit = Some(usize::try_from(n).unwrap_or(MAX_CHANGES_LIMIT));
            }
            "after" | "limit" => return Err(format!("`{k}` is given twice.")),
            _ => {
                return Err(format!(
                    "Unknown parameter `{}`; only `after` and `limit` are accepted.",
                    k.chars().take(40).collect::<String>()
                ));
            }
        }
    }
    Ok((after.unwrap_or(0), limit.unwrap_or(DEFAULT_CHANGES_LIMIT)))
}

/// Entries added or withdrawn after position `after`, by position, each in its current state.
/// Page with `after = next_after` until `next_after == head`.
#[utoipa::path(get, path = "/v1/exclusions/changes", tag = "indexer",
    security(("indexer_key" = [])),
    params(
        ("after" = Option<u64>, Query, minimum = 0, description = "Return changes after this position (default 0: from the start)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 10000, description = "At most this many changes (1 to 10000, default 1000)"),
    ),
    responses(
        (status = 200, description = "A page of the change feed", body = schema::ChangesResponse),
        (status = 400, description = "Invalid query (bad, repeated or unknown parameter)", body = schema::IndexerError),
        (status = 409, description = "`after` is beyond the newest position (`beyond_head`): this feed holds other data than the caller's position came from; start again from a snapshot", body = schema::IndexerError),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = schema::IndexerError),
        (status = 429, description = "Over the key's rate limit; see Retry-After", body = schema::IndexerError),
        (status = 503, description = "Unavailable; see Retry-After", body = schema::IndexerError),
    ))]
pub async fn changes(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let api = &state.indexer;
    if let Err(refused) = auth::admit(api, &headers).await {
        return refused;
    }
    let (after, limit) = match changes_query(query.as_deref()) {
        Ok(q) => q,
        Err(m) => return reply::bad_request("invalid_query", &m),
    };
    match api.ports.exclusions.changes(after, limit).await {
        Ok(page) => reply::json(&page),
        Err(e @ ChangesError::BeyondHead { .. }) => reply::error(
            StatusCode::CONFLICT,
            "beyond_head",
            &format!("`after`: {e}; start again from a snapshot."),
            None,
        ),
        Err(ChangesError::Store(e)) => reply::unavailable(&e.to_string()),
    }
}

/// Every active entry and the position to follow the change feed from. Where snapshots are
/// published (AWS: an S3 object), the answer is 303 to a short-lived link to it.
#[utoipa::path(get, path = "/v1/exclusions/snapshot", tag = "indexer",
    security(("indexer_key" = [])),
    responses(
        (status = 200, description = "The snapshot", body = schema::Snapshot),
        (status = 303, description = "The snapshot is at `Location` (a short-lived link)",
            headers(("Location" = String, description = "Where to GET the snapshot"))),
        (status = 401, description = "Missing, malformed, unknown or revoked key", body = schema::IndexerError),
        (status = 429, description = "Over the key's rate limit; see Retry-After", body = schema::IndexerError),
        (status = 503, description = "Unavailable; see Retry-After", body = schema::IndexerError),
    ))]
pub async fn snapshot(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let api = &state.indexer;
    if let Err(refused) = auth::admit(api, &headers).await {
        return refused;
    }
    let snap = match api.ports.exclusions.snapshot().await {
        Ok(s) => s,
        Err(e) => return reply::unavailable(&e.to_string()),
    };
    let Some(publisher) = &api.ports.snapshots else {
        return reply::json(&snap);
    };
    let body = match serde_json::to_vec(&snap) {
        Ok(b) => b,
        Err(e) => return reply::unavailable(&format!("serialising the snapshot: {e}")),
    };
    let url = match publisher.publish(snap.position, body).await {
        Ok(u) => u,
        Err(e) => return reply::unavailable(&e.to_string()),
    };
    let Ok(location) = HeaderValue::from_str(&url) else {
        return reply::unavailable("the snapshot publisher returned an invalid URL");
    };
    let mut r = StatusCode::SEE_OTHER.into_response();
    r.headers_mut().insert(header::LOCATION, location);
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_queries_are_strict() {
        assert_eq!(changes_query(None), Ok((0, DEFAULT_CHANGES_LIMIT)));
        assert_eq!(changes_query(Some("")), Ok((0, DEFAULT_CHANGES_LIMIT)));
        assert_eq!(changes_query(Some("after=5&limit=10")), Ok((5, 10)));
        assert_eq!(
            changes_query(Some("after=18446744073709551615&limit=10000")),
            Ok((u64::MAX, 10000))
        );
        for bad in [
            "after=-1",
            "after=",
            "after=1.5",
            "after=abc",
            "after=18446744073709551616",
            "after=+3",
            "limit=0",
            "limit=10001",
            "limit=",
            "after=1&after=2",
            "limit=5&limit=5",
            "offset=3",
        ] {
            assert!(changes_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
