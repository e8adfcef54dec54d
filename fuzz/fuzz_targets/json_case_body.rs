//! The JSON body of `POST /v1/cases` and `POST /v1/status/{token}/photo`: the API's reader
//! (`shared/web/src/json_body.rs`, compiled in here as it is: the module is private to
//! `optout-web`) into the request types, then the fields through the parsers the desk applies
//! (`Desk::parse` in shared/core/src/service.rs, private too: the calls are repeated here).
//!
//! `CaseRequest` and `PhotoRequest` are private to shared/web/src/api.rs: the copies below must
//! keep their fields and serde attributes (`deny_unknown_fields`, `expecting`, defaults).
//!
//! Invariants: never a panic; a refusal is a non-empty sentence that names no Rust type (unless
//! the body itself spelled it); an accepted body is a JSON object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optout_core::Lang;
use optout_core::model::{
    CaseKind, Country, Email, PersonName, Phone, Reason, SourceUrl, URLS_MAX,
};
use serde::Deserialize;

#[path = "../../shared/web/src/json_body.rs"]
#[allow(dead_code)]
mod json_body;

/// shared/web/src/api.rs `CaseRequest` (without its `ToSchema`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
#[allow(dead_code)]
struct CaseRequest {
    kind: CaseKindSchema,
    #[serde(default)]
    lang: Option<String>,
    country: String,
    first_name: String,
    last_name: String,
    email: String,
    #[serde(default)]
    phone: Option<String>,
    reason: String,
    #[serde(default)]
    consent: bool,
    #[serde(default)]
    good_faith: bool,
    #[serde(default)]
    source_urls: Vec<String>,
    #[serde(default)]
    upload_key: Option<String>,
}

/// shared/web/src/api.rs `CaseKindSchema`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "String")]
enum CaseKindSchema {
    FaceOptOut,
    DsaNotice,
}

impl TryFrom<String> for CaseKindSchema {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match CaseKind::parse(&s) {
            Some(CaseKind::FaceOptOut) => Ok(CaseKindSchema::FaceOptOut),
            Some(CaseKind::DsaNotice) => Ok(CaseKindSchema::DsaNotice),
            None => Err(format!(
                "unknown kind `{}`, expected `face_opt_out` or `dsa_notice`",
                s.chars().take(40).collect::<String>()
            )),
        }
    }
}

/// shared/web/src/api.rs `PhotoRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
#[allow(dead_code)]
struct PhotoRequest {
    upload_key: String,
}

/// Words of Rust that a refusal must not show (unless the body has them: keys and values are
/// echoed).
const RUST_WORDS: [&str; 14] = [
    "struct",
    "enum ",
    "CaseRequest",
    "CaseKindSchema",
    "PhotoRequest",
    "optout",
    "std::",
    "core::",
    "serde",
    "Option<",
    "Vec<",
    "String",
    "alloc",
    "IgnoredAny",
];

fn check_refusal(body: &[u8], message: &str) {
    assert!(!message.trim().is_empty(), "empty refusal");
    assert!(message.ends_with('.'), "{message:?}");
    let sent = String::from_utf8_lossy(body);
    for word in RUST_WORDS {
        // The path of a key is followed by ": ": a key `xcore:` shows as `xcore::`.
        if !sent.contains(word.trim_end_matches(':')) {
            assert!(!message.contains(word), "{message:?} shows {word:?}");
        }
    }
    // A refusal quotes at most a bounded part of each value, but the path names the keys sent.
    assert!(
        message.len() <= body.len() + 1024,
        "{} bytes",
        message.len()
    );
}

/// What `Desk::parse` does with the fields (without the stores): none of it may panic.
fn desk_parse(r: &CaseRequest) {
    if let Some(l) = r.lang.as_deref() {
        let _ = Lang::parse(l);
    }
    let _ = Country::parse(&r.country);
    let _ = PersonName::parse(&r.first_name);
    let _ = PersonName::parse(&r.last_name);
    let _ = Email::parse(&r.email);
    let _ = Phone::parse(r.phone.as_deref().unwrap_or(""));
    let _ = Reason::parse(&r.reason);
    let urls: Vec<&str> = r
        .source_urls
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty())
        .collect();
    if urls.len() <= URLS_MAX {
        let mut seen: Vec<SourceUrl> = Vec::new();
        for u in urls {
            match SourceUrl::parse(u) {
                Ok(u) if seen.contains(&u) => break,
                Ok(u) => seen.push(u),
                Err(_) => break,
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match json_body::parse::<CaseRequest>(data) {
        Ok(r) => {
            let v: serde_json::Value = serde_json::from_slice(data).expect("accepted body is JSON");
            assert!(v.is_object(), "accepted a body that is not an object");
            desk_parse(&r);
        }
        Err(m) => check_refusal(data, &m),
    }
    match json_body::parse::<PhotoRequest>(data) {
        Ok(_) => {
            let v: serde_json::Value = serde_json::from_slice(data).expect("accepted body is JSON");
            assert!(v.is_object(), "accepted a body that is not an object");
        }
        Err(m) => check_refusal(data, &m),
    }
});
