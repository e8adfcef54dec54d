//! The parsers of public input in `optout_core::model` (and the few token and id parsers next to
//! them): every one runs on the same text. Invariants, for every accepted value:
//!
//! - it re-parses to itself from its stored form (`X::parse(x.as_str()) == x`), and through serde
//!   (what the stores and the JSON API do);
//! - the stored form is within its limit and free of what the parser refuses (controls, bidi
//!   overrides, surrounding spaces);
//! - an email's ASCII (punycode) form, what mail headers and SES take, is itself an accepted
//!   address;
//! - a source link's stored form normalises, to the same canonical link as the text sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optout_core::Lang;
use optout_core::indexer_keys::{PresentedKey, is_key_id};
use optout_core::model::{
    CaseId, CaseKind, CaseState, Country, EMAIL_MAX, Email, NAME_MAX, PersonName, Phone,
    REASON_MAX, REASON_MIN, Reason, RejectReason, ReviewerName, SourceUrl, URL_MAX,
};
use optout_core::ports::QueueCursor;
use optout_core::case::{NOTE_MAX, parse_note};
use optout_fuzz::assert_stored_link;
use optout_matcher::normalize_url;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// The value read back from its JSON form is the value.
fn serde_round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(v: &T) {
    let json = serde_json::to_string(v).expect("serialise");
    let back: T = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("{v:?} serialised as {json} does not read back: {e}"));
    assert_eq!(&back, v, "serde round trip of {json}");
}

/// The stored form `t` of the accepted value `v` parses back to `v`, which reads back from JSON.
fn stable<T, E>(v: &T, t: &str, parse: impl Fn(&str) -> Result<T, E>)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
    E: PartialEq + Debug,
{
    assert_eq!(parse(t).as_ref(), Ok(v), "{t:?}");
    serde_round_trip(v);
}

/// No control character, no bidi override or invisible formatting character.
fn clean_line(s: &str) -> bool {
    !s.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(n) = PersonName::parse(s) {
        let t = n.as_str();
        assert!(!t.is_empty() && t == t.trim() && clean_line(t), "{t:?}");
        assert!(t.chars().count() <= NAME_MAX);
        stable(&n, t, PersonName::parse);
    }

    if let Ok(e) = Email::parse(s) {
        let t = e.as_str();
        assert!(t.len() <= EMAIL_MAX, "{} bytes: {t:?}", t.len());
        assert!(
            clean_line(t) && !t.chars().any(char::is_whitespace),
            "{t:?}"
        );
        stable(&e, t, Email::parse);
        let ascii = e.to_ascii();
        assert!(ascii.is_ascii(), "{t:?} -> {ascii:?}");
        assert!(
            Email::parse(&ascii).is_ok(),
            "the ASCII form {ascii:?} of {t:?} is refused: {:?}",
            Email::parse(&ascii)
        );
    }

    // International, and as typed in a country of residence (national numbers): E.164, which
    // reads back as an international number.
    let countries = [None, Country::parse("TH").ok(), Country::parse("US").ok()];
    for p in countries
        .map(|c| Phone::parse_in(s, c))
        .into_iter()
        .flatten()
    {
        let t = p.as_str();
        let digits = &t[1..];
        assert!(t.starts_with('+') && !digits.starts_with('0'), "{t:?}");
        assert!((3..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()));
        stable(&p, t, Phone::parse);
    }

    if let Ok(c) = Country::parse(s) {
        let code = c.code();
        assert!(code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()));
        assert!(!c.name(Lang::En).is_empty() && !c.name(Lang::Th).is_empty());
        stable(&c, code, Country::parse);
    }

    if let Ok(r) = Reason::parse(s) {
        let t = r.as_str();
        assert!((REASON_MIN..=REASON_MAX).contains(&t.chars().count()));
        assert!(t == t.trim() && t.split('\n').all(clean_line), "{t:?}");
        stable(&r, t, Reason::parse);
    }

    if let Ok(u) = SourceUrl::parse(s) {
        let t = u.as_str();
        assert_stored_link(t, URL_MAX);
        stable(&u, t, SourceUrl::parse);
        // What is stored is what the indexer matches: it normalises, to what the text sent did.
        let stored = normalize_url(t);
        let sent = normalize_url(s.trim());
        assert!(
            stored.is_ok(),
            "stored {t:?} does not normalise: {stored:?}"
        );
        assert_eq!(stored, sent, "stored {t:?}, sent {s:?}");
    }

    if let Some(id) = CaseId::parse(s) {
        let t = id.to_string();
        assert_eq!(t.len(), 26);
        assert_eq!(CaseId::parse(&t), Some(id));
        serde_round_trip(&id);
    }

    if let Some(k) = CaseKind::parse(s) {
        assert_eq!(k.as_str(), s);
    }
    if let Some(st) = CaseState::parse(s) {
        assert_eq!(st.as_str(), s);
    }
    if let Some(r) = RejectReason::parse(s) {
        assert_eq!(r.as_str(), s);
    }
    if let Some(r) = ReviewerName::parse(s) {
        assert_eq!(r.as_str(), s);
        assert!(
            !r.as_str().contains(':'),
            "an admin subject is ROLE:REVIEWER"
        );
        serde_round_trip(&r);
    }
    if let Some(l) = Lang::parse(s) {
        assert_eq!(Lang::parse(l.code()), Some(l));
    }

    if let Some(c) = QueueCursor::parse(s) {
        let t = c.encode();
        assert_eq!(QueueCursor::parse(&t), Some(c), "{s:?} encoded as {t:?}");
    }

    if let Ok(Some(note)) = parse_note(s) {
        assert!(note.chars().count() <= NOTE_MAX);
        assert_eq!(parse_note(&note).ok(), Some(Some(note.clone())));
    }

    if let Ok(k) = PresentedKey::parse(s) {
        assert!(is_key_id(k.id));
        assert!(
            !format!("{k:?}").contains(&s[s.len() - 64..]),
            "Debug shows the secret"
        );
    }
});
