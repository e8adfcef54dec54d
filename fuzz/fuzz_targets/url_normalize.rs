//! `optout_matcher::normalize_url`, the canonical form links are matched in. Invariants:
//!
//! - idempotent: normalising the canonical text gives the same canonical link;
//! - the canonical text is at most `MAX_URL_LEN` bytes, http(s), without fragment or user info;
//! - the shortcut for text already canonical agrees with the full parse: the same text with a
//!   leading space (which the shortcut never takes, and normalising trims) gives the same answer;
//! - `match_key` and `host` are slices of the canonical text (they do not panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use optout_fuzz::assert_stored_link;
use optout_matcher::url::MAX_URL_LEN;
use optout_matcher::{NormalizedUrl, normalize_url};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let first = normalize_url(s);

    // The full parse (a leading space keeps the shortcut out) gives the same answer.
    let long_way = normalize_url(&format!(" {s}"));
    assert_eq!(first, long_way, "shortcut and parse disagree on {s:?}");

    let Ok(n) = first else {
        return;
    };
    let text = n.as_str();
    assert_stored_link(text, MAX_URL_LEN);
    assert!(text.is_ascii(), "{text:?}");

    let again = normalize_url(text);
    assert_eq!(again.as_ref(), Ok(&n), "not idempotent: {s:?} -> {text:?}");
    let again_long = normalize_url(&format!(" {text}"));
    assert_eq!(
        again_long.as_ref(),
        Ok(&n),
        "not idempotent (full parse): {text:?}"
    );

    let key = n.match_key();
    assert!(
        key.starts_with("//") && text.ends_with(key),
        "{text:?} key {key:?}"
    );
    let host = n.host();
    assert!(
        !host.is_empty() && text.contains(host),
        "{text:?} host {host:?}"
    );

    // What the snapshot and the wire carry reads back.
    let parsed: NormalizedUrl = text.parse().expect("FromStr of the canonical text");
    assert_eq!(parsed, n);
});
