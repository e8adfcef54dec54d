//! HMAC-SHA256 signed, expiring tokens (status links, upload policies, admin links).
//!
//! A token is `KID.EXPIRY.SUBJECT.MAC` (subject and MAC base64url) where the MAC covers a version
//! tag, the scope (what the token is for), the key id, the expiry and the subject. Several keys are
//! accepted at once (the first signs) so keys can be rotated. MACs are compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// The smallest accepted secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// One signing key. Its secret never appears in `Debug` output or logs.
#[derive(Clone)]
pub struct SigningKey {
    id: String,
    secret: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <redacted>)", self.id)
    }
}

/// The keys in force: the first signs, all verify.
#[derive(Clone, Debug)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("no signing key given")]
    Empty,
    #[error("signing key entry {0} is not of the form ID:BASE64URL_SECRET")]
    Malformed(usize),
    #[error("signing key {0:?}: the id must be 1-16 letters, digits, '-' or '_'")]
    BadId(String),
    #[error("signing key {0:?}: the secret must be at least {MIN_SECRET_BYTES} bytes")]
    Short(String),
    #[error("signing key id {0:?} is used twice")]
    Duplicate(String),
}

/// Why a token was refused. Callers answer all of these the same way (they reveal nothing).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
    #[error("expired")]
    Expired,
}

impl KeyRing {
    /// Parses `ID:SECRET[,ID:SECRET...]` (secrets base64url or standard base64); the first key signs.
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let mut keys: Vec<SigningKey> = Vec::new();
        for (i, part) in spec
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            let (id, secret) = part.split_once(':').ok_or(KeyError::Malformed(i + 1))?;
            if id.is_empty()
                || id.len() > 16
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(KeyError::BadId(id.to_owned()));
            }
            let secret = B64
                .decode(secret.trim_end_matches('='))
                .or_else(|_| base64::engine::general_purpose::STANDARD.decode(secret))
                .map_err(|_| KeyError::Malformed(i + 1))?;
            if secret.len() < MIN_SECRET_BYTES {
                return Err(KeyError::Short(id.to_owned()));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(KeyError::Duplicate(id.to_owned()));
            }
            keys.push(SigningKey {
                id: id.to_owned(),
                secret,
            });
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(KeyRing { keys })
    }

    /// A new ring with one random 256-bit key named `id`.
    pub fn generate(id: &str) -> Self {
        let mut secret = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        KeyRing {
            keys: vec![SigningKey {
                id: id.to_owned(),
                secret,
            }],
        }
    }

    /// The ring in the form [`KeyRing::parse`] reads (for persisting generated keys; it holds secrets).
    pub fn to_spec(&self) -> String {
        self.keys
            .iter()
            .map(|k| format!("{}:{}", k.id, B64.encode(&k.secret)))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    fn mac(key: &SigningKey, scope: &str, exp: i64, subject: &str) -> HmacSha256 {
        // HMAC accepts keys of any length.
        let mut mac = HmacSha256::new_from_slice(&key.secret).unwrap_or_else(|_| unreachable!());
        for part in ["optout-token-v1", scope, &key.id, &exp.to_string(), subject] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    /// Signs `subject` for `scope`, valid until `expires`.
    pub fn sign(&self, scope: &str, subject: &str, expires: DateTime<Utc>) -> String {
        let key = &self.keys[0];
        let exp = expires.timestamp();
        let tag = Self::mac(key, scope, exp, subject).finalize().into_bytes();
        format!(
            "{}.{}.{}.{}",
            key.id,
            exp,
            B64.encode(subject),
            B64.encode(tag)
        )
    }

    /// Checks a token for `scope` at `now` and returns its subject and expiry.
    pub fn verify(
        &self,
        scope: &str,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), TokenError> {
        if token.len() > 2048 {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(kid), Some(exp), Some(subject), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Malformed);
        };
        let exp_text = exp;
        let exp: i64 = exp.parse().map_err(|_| TokenError::Malformed)?;
        // The MAC covers the expiry as `sign` writes it: another spelling of it (`+`, leading
        // zeros) is refused, so that a token has one text only.
        if exp.to_string() != exp_text {
            return Err(TokenError::Malformed);
        }
        let subject = B64.decode(subject).map_err(|_| TokenError::Malformed)?;
        let subject = String::from_utf8(subject).map_err(|_| TokenError::Malformed)?;
        let tag = B64.decode(tag).map_err(|_| TokenError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == kid)
            .ok_or(TokenError::UnknownKey)?;
        Self::mac(key, scope, exp, &subject)
            .verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let expires = DateTime::from_timestamp(exp, 0).ok_or(TokenError::Malformed)?;
        if now >= expires {
            return Err(TokenError::Expired);
        }
        Ok((subject, expires))
    }
}

impl KeyRing {
    /// A MAC of `data` for `scope` with the signing key (base64url), e.g. a CSRF token bound to a
    /// session token.
    pub fn tag(&self, scope: &str, data: &str) -> String {
        let key = &self.keys[0];
        B64.encode(Self::mac(key, scope, 0, data).finalize().into_bytes())
    }

    /// Checks a [`KeyRing::tag`] against every key in force, in constant time.
    pub fn check_tag(&self, scope: &str, data: &str, tag: &str) -> bool {
        let Ok(tag) = B64.decode(tag) else {
            return false;
        };
        let mut ok = false;
        for key in &self.keys {
            ok |= Self::mac(key, scope, 0, data).verify_slice(&tag).is_ok();
        }
        ok
    }
}

/// Scopes of the tokens the system mints.
pub mod scope {
    /// The requester's private status link of one case.
    pub const STATUS: &str = "status";
    /// An upload form of the embedded photo store.
    pub const UPLOAD: &str = "upload";
    /// A reviewer's admin link.
    pub const ADMIN: &str = "admin";
    /// The session cookie a reviewer gets for an admin link.
    pub const ADMIN_SESSION: &str = "admin-session";
    /// The CSRF token of an admin session (a tag of the session token).
    pub const CSRF: &str = "admin-csrf";
}

/// Admin links: a subject `ROLE:REVIEWER` signed for [`scope::ADMIN`].
pub mod admin {
    use super::{KeyRing, TokenError, scope};
    use crate::model::ReviewerName;
    use chrono::{DateTime, Duration, Utc};

    /// The only role so far: deciding cases.
    pub const ROLE_REVIEW: &str = "review";
    /// The longest an admin link may live.
    pub const MAX_TTL_DAYS: i64 = 30;

    /// A verified admin link or session.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AdminGrant {
        pub reviewer: ReviewerName,
        pub role: String,
        pub expires: DateTime<Utc>,
    }

    fn subject(reviewer: &ReviewerName) -> String {
        format!("{ROLE_REVIEW}:{reviewer}")
    }

    fn parse_subject(s: &str, expires: DateTime<Utc>) -> Result<AdminGrant, TokenError> {
        let (role, name) = s.split_once(':').ok_or(TokenError::Malformed)?;
        if role != ROLE_REVIEW {
            return Err(TokenError::Malformed);
        }
        Ok(AdminGrant {
            reviewer: ReviewerName::parse(name).ok_or(TokenError::Malformed)?,
            role: role.to_owned(),
            expires,
        })
    }

    /// The admin link of `reviewer`, valid for `ttl` from `now`: `{public_url}/admin/login?token=...`.
    pub fn link(
        keys: &KeyRing,
        public_url: &str,
        reviewer: &ReviewerName,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let expires = now + ttl;
        let token = keys.sign(scope::ADMIN, &subject(reviewer), expires);
        (
            format!(
                "{}/admin/login?token={token}",
                public_url.trim_end_matches('/')
            ),
            expires,
        )
    }

    /// Checks an admin link's token.
    pub fn verify_link(
        keys: &KeyRing,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<AdminGrant, TokenError> {
        let (s, exp) = keys.verify(scope::ADMIN, token, now)?;
        parse_subject(&s, exp)
    }

    /// A verified session: its grant and when it was issued (sign-out revokes the sessions
    /// issued until then, see `ports::ReviewerSessions`).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AdminSession {
        pub grant: AdminGrant,
        /// The issue time, in whole milliseconds.
        pub issued: DateTime<Utc>,
    }

    /// The session token of a grant, issued at `issued`: another scope, the same expiry, and the
    /// subject `ROLE:REVIEWER:ISSUED_MILLIS`.
    pub fn session_token(keys: &KeyRing, grant: &AdminGrant, issued: DateTime<Utc>) -> String {
        keys.sign(
            scope::ADMIN_SESSION,
            &format!("{}:{}", subject(&grant.reviewer), issued.timestamp_millis()),
            grant.expires,
        )
    }

    pub fn verify_session(
        keys: &KeyRing,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<AdminSession, TokenError> {
        let (s, exp) = keys.verify(scope::ADMIN_SESSION, token, now)?;
        // Reviewer names have no ':'; a session without an issue time cannot be revoked and is
        // refused.
        let (s, issued) = s.rsplit_once(':').ok_or(TokenError::Malformed)?;
        let issued = issued
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .ok_or(TokenError::Malformed)?;
        Ok(AdminSession {
            grant: parse_subject(s, exp)?,
            issued,
        })
    }

    /// The CSRF token of a session.
    pub fn csrf(keys: &KeyRing, session: &str) -> String {
        keys.tag(scope::CSRF, session)
    }

    pub fn check_csrf(keys: &KeyRing, session: &str, csrf: &str) -> bool {
        csrf.len() <= 128 && keys.check_tag(scope::CSRF, session, csrf)
    }

    /// Parses a duration such as `30m`, `8h`, `7d` or `3600s` (1 minute to 30 days).
    pub fn parse_ttl(s: &str) -> Option<Duration> {
        let s = s.trim();
        let unit = s.chars().last()?;
        let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
        // The checked constructors: a huge count is a refusal, not a panic.
        let d = match unit {
            's' => Duration::try_seconds(n),
            'm' => Duration::try_minutes(n),
            'h' => Duration::try_hours(n),
            'd' => Duration::try_days(n),
            _ => None,
        }?;
        (d >= Duration::minutes(1) && d <= Duration::days(MAX_TTL_DAYS)).then_some(d)
    }
}

/// A random, URL-safe token of 128 bits (form tokens, upload ids).
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    B64.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn ring(spec_ids: &[&str]) -> KeyRing {
        let spec: Vec<String> = spec_ids
            .iter()
            .map(|id| KeyRing::generate(id).to_spec())
            .collect();
        KeyRing::parse(&spec.join(",")).unwrap()
    }

    #[test]
    fn round_trip_and_tampering() {
        let now = Utc::now();
        let r = ring(&["k1"]);
        let t = r.sign(scope::STATUS, "01JCASE", now + Duration::hours(1));
        assert_eq!(r.verify(scope::STATUS, &t, now).unwrap().0, "01JCASE");
        assert_eq!(
            r.verify(scope::ADMIN, &t, now),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            r.verify(scope::STATUS, &t, now + Duration::hours(2)),
            Err(TokenError::Expired)
        );
        let parts: Vec<&str> = t.split('.').collect();
        let other_subject = format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1],
            B64.encode("01JOTHER"),
            parts[3]
        );
        assert_eq!(
            r.verify(scope::STATUS, &other_subject, now),
            Err(TokenError::BadSignature)
        );
        let later = format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1].parse::<i64>().unwrap() + 3600,
            parts[2],
            parts[3]
        );
        assert_eq!(
            r.verify(scope::STATUS, &later, now),
            Err(TokenError::BadSignature)
        );
        let unknown = format!("zz.{}.{}.{}", parts[1], parts[2], parts[3]);
        assert_eq!(
            r.verify(scope::STATUS, &unknown, now),
            Err(TokenError::UnknownKey)
        );
        for bad in ["", "a.b.c", "a.b.c.d.e", "k1.x.y.z", &"x".repeat(5000)] {
            assert!(r.verify(scope::STATUS, bad, now).is_err());
        }
        assert_eq!(
            ring(&["k1"]).verify(scope::STATUS, &t, now),
            Err(TokenError::BadSignature)
        );
    }

    /// Found by the `admin_tokens` fuzz target: the expiry was read with `i64::from_str`, so
    /// `+EXP` and `000EXP` verified as the token signed with `EXP`.
    #[test]
    fn a_token_has_one_spelling() {
        let now = Utc::now();
        let r = ring(&["k1"]);
        let t = r.sign(scope::STATUS, "01JCASE", now + Duration::hours(1));
        assert!(r.verify(scope::STATUS, &t, now).is_ok());
        let (kid, rest) = t.split_once('.').unwrap();
        for prefix in ["+", "0", "000", "-0"] {
            let other = format!("{kid}.{prefix}{rest}");
            assert_eq!(
                r.verify(scope::STATUS, &other, now),
                Err(TokenError::Malformed),
                "{other}"
            );
        }
    }

    #[test]
    fn rotation() {
        let now = Utc::now();
        let old = ring(&["old"]);
        let t = old.sign(scope::STATUS, "s", now + Duration::hours(1));
        let rotated = KeyRing::parse(&format!(
            "{},{}",
            KeyRing::generate("new").to_spec(),
            old.to_spec()
        ))
        .unwrap();
        assert_eq!(rotated.verify(scope::STATUS, &t, now).unwrap().0, "s");
        assert!(rotated.sign(scope::STATUS, "s", now).starts_with("new."));
    }

    #[test]
    fn key_specs() {
        assert!(matches!(KeyRing::parse(""), Err(KeyError::Empty)));
        assert!(matches!(
            KeyRing::parse("k1:c2hvcnQ"),
            Err(KeyError::Short(_))
        ));
        assert!(matches!(
            KeyRing::parse("nocolon"),
            Err(KeyError::Malformed(1))
        ));
        assert!(matches!(
            KeyRing::parse("bad id:xx"),
            Err(KeyError::BadId(_))
        ));
        let g = KeyRing::generate("a").to_spec();
        assert!(matches!(
            KeyRing::parse(&format!("{g},{g}")),
            Err(KeyError::Duplicate(_))
        ));
        assert!(!format!("{:?}", KeyRing::parse(&g).unwrap()).contains(&g[2..]));
    }

    #[test]
    fn sessions_carry_their_issue_time() {
        use crate::model::ReviewerName;
        let now = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let r = ring(&["k1"]);
        let grant = admin::AdminGrant {
            reviewer: ReviewerName::parse("alice@example.org").unwrap(),
            role: admin::ROLE_REVIEW.into(),
            expires: DateTime::from_timestamp(now.timestamp() + 3600, 0).unwrap(),
        };
        let t = admin::session_token(&r, &grant, now);
        let s = admin::verify_session(&r, &t, now).unwrap();
        assert_eq!((s.grant, s.issued), (grant.clone(), now));
        // A session without an issue time (as signed before sessions could be revoked) and an
        // admin link used as a session are refused.
        let old = r.sign(
            scope::ADMIN_SESSION,
            "review:alice@example.org",
            grant.expires,
        );
        assert_eq!(
            admin::verify_session(&r, &old, now),
            Err(TokenError::Malformed)
        );
        let link = r.sign(scope::ADMIN, "review:alice@example.org", grant.expires);
        assert!(admin::verify_session(&r, &link, now).is_err());
    }
}
