//! The signed tokens of `optout_core::signing` (status links, upload policies, admin links, admin
//! session cookies, CSRF tokens), the admin link lifetime and the key ring specification, against
//! a fixed two-key ring (the second as after a rotation). Invariants:
//!
//! - verification never panics, and accepts only the exact text the ring signs for the subject and
//!   expiry it returns (no other spelling of a token passes; random input never passes, seeded
//!   valid tokens mutated do not either);
//! - an accepted admin link or session names a valid reviewer and is not expired;
//! - a CSRF token passes only when it is the tag of its session;
//! - `admin::parse_ttl` never panics and stays within 1 minute..30 days;
//! - a key ring specification that parses re-parses from `to_spec` to the same ring.
#![no_main]

use chrono::Duration;
use libfuzzer_sys::fuzz_target;
use optout_core::signing::{KeyRing, admin, scope};
use optout_fuzz::{SPEC_K0, SPEC_K1, now};
use std::sync::LazyLock;

struct Rings {
    both: KeyRing,
    k1: KeyRing,
    k0: KeyRing,
}

static RINGS: LazyLock<Rings> = LazyLock::new(|| Rings {
    both: KeyRing::parse(&format!("{SPEC_K1},{SPEC_K0}")).expect("ring"),
    k1: KeyRing::parse(SPEC_K1).expect("k1"),
    k0: KeyRing::parse(SPEC_K0).expect("k0"),
});

const SCOPES: [&str; 5] = [
    scope::STATUS,
    scope::UPLOAD,
    scope::ADMIN,
    scope::ADMIN_SESSION,
    scope::CSRF,
];

/// The ring that alone signs with the key `token` names.
fn signer<'a>(rings: &'a Rings, token: &str) -> &'a KeyRing {
    match token.split('.').next() {
        Some("k1") => &rings.k1,
        Some("k0") => &rings.k0,
        other => panic!("accepted with key {other:?}: {token:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let rings = &*RINGS;
    let now = now();

    for sc in SCOPES {
        if let Ok((subject, expires)) = rings.both.verify(sc, s, now) {
            assert!(expires > now);
            let canonical = signer(rings, s).sign(sc, &subject, expires);
            assert_eq!(
                s, canonical,
                "a second spelling of a {sc} token is accepted"
            );
        }
    }

    if let Ok(grant) = admin::verify_link(&rings.both, s, now) {
        assert_eq!(grant.role, admin::ROLE_REVIEW);
        assert!(grant.expires > now);
        assert!(!grant.reviewer.as_str().is_empty());
    }
    if let Ok(session) = admin::verify_session(&rings.both, s, now) {
        assert_eq!(session.grant.role, admin::ROLE_REVIEW);
        assert!(session.grant.expires > now);
        let canonical = admin::session_token(signer(rings, s), &session.grant, session.issued);
        assert_eq!(s, canonical, "a second spelling of a session is accepted");
    }

    // `SESSION\nCSRF`, as the admin forms pair them.
    if let Some((session, csrf)) = s.split_once('\n')
        && admin::check_csrf(&rings.both, session, csrf)
    {
        assert!(
            csrf == admin::csrf(&rings.k1, session) || csrf == admin::csrf(&rings.k0, session),
            "{csrf:?} passes for {session:?}"
        );
    }

    if let Some(ttl) = admin::parse_ttl(s) {
        assert!(ttl >= Duration::minutes(1), "{s:?} -> {ttl}");
        assert!(ttl <= Duration::days(admin::MAX_TTL_DAYS), "{s:?} -> {ttl}");
    }

    if let Ok(ring) = KeyRing::parse(s) {
        let spec = ring.to_spec();
        let again = KeyRing::parse(&spec).expect("to_spec re-parses");
        assert_eq!(again.key_ids(), ring.key_ids());
        assert_eq!(again.to_spec(), spec);
        for id in ring.key_ids() {
            assert!((1..=16).contains(&id.len()), "{id:?}");
            assert!(!spec.is_empty());
        }
        // The ring's tokens read back.
        let t = ring.sign(scope::STATUS, "subject", now + Duration::hours(1));
        assert_eq!(
            ring.verify(scope::STATUS, &t, now).map(|v| v.0).as_deref(),
            Ok("subject")
        );
    }
});
