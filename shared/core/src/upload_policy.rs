//! The signed policy of an upload form that points at the app itself (the embedded mode's
//! `/uploads`; in AWS, S3 checks its own presigned POST): which key, how many bytes at most, where
//! to go afterwards, until when. One writer and one reader, for every photo store that receives
//! uploads itself.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use crate::ports::{UploadForm, UploadRefused, UploadRequest, UploadTicket};
use crate::requester::valid_upload_key;
use crate::signing::{KeyRing, TokenError, scope};

/// The signed fields of a form for photo `key` (`key` and `policy`), valid until `expires_at`.
fn sign(
    keys: &KeyRing,
    key: &str,
    max_bytes: u64,
    redirect: Option<&str>,
    expires_at: DateTime<Utc>,
) -> BTreeMap<String, String> {
    let subject = format!("{key}\n{max_bytes}\n{}", redirect.unwrap_or(""));
    let policy = keys.sign(scope::UPLOAD, &subject, expires_at);
    BTreeMap::from([
        ("key".to_owned(), key.to_owned()),
        ("policy".to_owned(), policy),
    ])
}

/// The upload form `request` asks for, posted to `url` (the store's receiver).
pub fn form(keys: &KeyRing, url: &str, request: &UploadRequest<'_>) -> UploadForm {
    let UploadRequest {
        key,
        max_bytes,
        expires_at,
        redirect,
    } = *request;
    UploadForm {
        url: url.to_owned(),
        fields: sign(keys, key, max_bytes, redirect, expires_at),
        file_field: "file".to_owned(),
        key: key.to_owned(),
        max_bytes,
        expires_at,
    }
}

/// Checks the fields of a posted form at `now`: what it allows, or why not.
pub fn check(
    keys: &KeyRing,
    fields: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<UploadTicket, UploadRefused> {
    let (Some(key), Some(policy)) = (fields.get("key"), fields.get("policy")) else {
        return Err(UploadRefused::Invalid);
    };
    let (subject, _) = keys
        .verify(scope::UPLOAD, policy, now)
        .map_err(|e| match e {
            TokenError::Expired => UploadRefused::Expired,
            _ => UploadRefused::Invalid,
        })?;
    let mut parts = subject.splitn(3, '\n');
    let (Some(signed_key), Some(max), Some(redirect)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(UploadRefused::Invalid);
    };
    if signed_key != key || !valid_upload_key(key) {
        return Err(UploadRefused::Invalid);
    }
    let max_bytes = max.parse().map_err(|_| UploadRefused::Invalid)?;
    Ok(UploadTicket {
        key: key.clone(),
        max_bytes,
        redirect: (!redirect.is_empty()).then(|| redirect.to_owned()),
    })
}
