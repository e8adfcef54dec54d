//! The JSON body of `POST /v1/cases` and `POST /v1/status/{token}/photo`: the API's reader and
//! request types (`optout_web::fuzzing`), then the fields through the desk's own parser
//! (`optout_core::requester::parse_submission`).
//!
//! Invariants: never a panic; a refusal is a non-empty sentence that names no Rust type (unless
//! the body itself spelled it); an accepted body is a JSON object.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optout_core::Lang;
use optout_core::requester::parse_submission;
use optout_web::fuzzing::{CaseRequest, PhotoRequest, parse_json_body};

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

/// What the desk does with the fields (without the stores): none of it may panic.
fn desk_parse(r: CaseRequest) {
    let lang = r.lang.as_deref().and_then(Lang::parse).unwrap_or_default();
    for phone_required in [true, false] {
        let input = r.clone().into_input(lang, None);
        let _ = parse_submission(&input, phone_required);
    }
}

fuzz_target!(|data: &[u8]| {
    match parse_json_body::<CaseRequest>(data) {
        Ok(r) => {
            let v: serde_json::Value = serde_json::from_slice(data).expect("accepted body is JSON");
            assert!(v.is_object(), "accepted a body that is not an object");
            desk_parse(r);
        }
        Err(m) => check_refusal(data, &m),
    }
    match parse_json_body::<PhotoRequest>(data) {
        Ok(_) => {
            let v: serde_json::Value = serde_json::from_slice(data).expect("accepted body is JSON");
            assert!(v.is_object(), "accepted a body that is not an object");
        }
        Err(m) => check_refusal(data, &m),
    }
});
