//! Source-URL validation (intake) and normalisation (matching).
//!
//! `normalize_url` accepts only absolute http(s) links with a host and no user info, and
//! produces a canonical form so that trivial variants of one link compare equal:
//! lowercase scheme and host, IDNA (punycode) host without a trailing dot, no default port,
//! dot segments removed, percent-encoding normalised (unreserved characters decoded, hex
//! digits uppercase), no trailing slash except for the root path, no fragment, tracking
//! parameters dropped and the remaining query parameters sorted.
//!
//! Matching goes through [`NormalizedUrl::match_key`], which also ignores the scheme: the
//! same image served over http and https is the same image for an opt-out.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Longest accepted link, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// Query parameters that only track the visitor; dropped before matching.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "gclsrc",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "igshid",
    "igsh",
    "_ga",
    "_gl",
    "yclid",
    "ref_src",
    "ref_url",
    "twclid",
    "ttclid",
    "li_fat_id",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "wickedid",
];

/// Prefixes of tracking parameter names (`utm_source`, `utm_medium`, ...).
const TRACKING_PREFIXES: &[&str] = &["utm_"];

/// Why a link was refused. Each message says what is wrong in words a requester understands.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    #[error("the link is empty")]
    Empty,
    #[error("the link is {len} characters long; the limit is {max}")]
    TooLong { len: usize, max: usize },
    #[error(
        "the link contains a space or line break at position {position}; remove it or write it as %20"
    )]
    Whitespace { position: usize },
    #[error(
        "the link contains an invisible control character (U+{code:04X}) at position {position}"
    )]
    ControlChar { position: usize, code: u32 },
    #[error("the link must start with http:// or https://")]
    NotAbsolute,
    #[error(
        "links starting with \"{scheme}:\" are not accepted; only http:// and https:// links are"
    )]
    UnsupportedScheme { scheme: String },
    #[error("the link has no host name (expected something like https://example.com/photo.jpg)")]
    MissingHost,
    #[error(
        "the link contains a user name or password before the host (user@host); remove that part"
    )]
    Userinfo,
    #[error("the host name is not valid: {reason}")]
    InvalidHost { reason: &'static str },
    #[error("the port number in the link is not valid (it must be between 0 and 65535)")]
    InvalidPort,
    #[error("the link is not a valid web address: {reason}")]
    Malformed { reason: String },
}

/// A validated, canonical http(s) link.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct NormalizedUrl {
    text: String,
    /// Byte offset of the "//" that follows the scheme.
    authority_at: usize,
}

impl NormalizedUrl {
    /// The canonical link, e.g. `https://example.com/a/b.jpg?id=3`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key used for matching: the canonical link without its scheme
    /// (`//example.com/a/b.jpg?id=3`), so http and https variants match.
    pub fn match_key(&self) -> &str {
        &self.text[self.authority_at..]
    }

    /// The canonical host (lowercase, punycode).
    pub fn host(&self) -> &str {
        let rest = &self.text[self.authority_at + 2..];
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let host_port = &rest[..end];
        if host_port.starts_with('[') {
            return host_port.find(']').map_or(host_port, |i| &host_port[..=i]);
        }
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    }
}

impl fmt::Display for NormalizedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for NormalizedUrl {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        normalize_url(s)
    }
}

impl Serialize for NormalizedUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for NormalizedUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        normalize_url(&s).map_err(serde::de::Error::custom)
    }
}

/// Validates a link and returns its canonical form.
pub fn normalize_url(input: &str) -> Result<NormalizedUrl, UrlError> {
    let s = input.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n');
    if s.is_empty() {
        return Err(UrlError::Empty);
    }
    check_scheme_prefix(s)?;
    if s.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong {
            len: s.len(),
            max: MAX_URL_LEN,
        });
    }
    check_chars(s)?;
    if authority_has_userinfo(s) {
        return Err(UrlError::Userinfo);
    }
    let parsed = ::url::Url::parse(s).map_err(map_parse_error)?;
    let scheme = parsed.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(UrlError::UnsupportedScheme {
            scheme: scheme.to_string(),
        });
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(UrlError::Userinfo);
    }
    let host = parsed.host_str().unwrap_or("");
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    if host.split('.').any(str::is_empty) {
        return Err(UrlError::InvalidHost {
            reason: "it has an empty part (a dot at the start or two dots in a row)",
        });
    }

    let mut text = String::with_capacity(s.len());
    text.push_str(scheme);
    let authority_at = text.len() + 1;
    text.push_str("://");
    text.push_str(host);
    if let Some(port) = parsed.port() {
        text.push(':');
        text.push_str(&port.to_string());
    }
    push_path(&mut text, parsed.path());
    if let Some(query) = parsed.query() {
        push_query(&mut text, query);
    }
    Ok(NormalizedUrl { text, authority_at })
}

/// Rejects a non-http(s) scheme before anything else, so `javascript:`/`data:` links get
/// the scheme message even when they are also long or contain spaces.
fn check_scheme_prefix(s: &str) -> Result<(), UrlError> {
    let Some(colon) = s.find(':') else {
        return Err(UrlError::NotAbsolute);
    };
    let scheme = &s[..colon];
    let mut chars = scheme.chars();
    let valid_syntax = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-');
    if !valid_syntax {
        return Err(UrlError::NotAbsolute);
    }
    let lower = scheme.to_ascii_lowercase();
    if lower == "http" || lower == "https" {
        Ok(())
    } else {
        Err(UrlError::UnsupportedScheme { scheme: lower })
    }
}

fn check_chars(s: &str) -> Result<(), UrlError> {
    for (position, c) in s.chars().enumerate() {
        if c.is_whitespace() {
            return Err(UrlError::Whitespace { position });
        }
        if c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{FEFF}')
        {
            return Err(UrlError::ControlChar {
                position,
                code: u32::from(c),
            });
        }
    }
    Ok(())
}

/// True when the authority (between "scheme:" + slashes and the path) contains '@'.
fn authority_has_userinfo(s: &str) -> bool {
    let rest = s.split_once(':').map_or("", |(_, r)| r);
    let rest = rest.trim_start_matches(['/', '\\']);
    let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    rest[..end].contains('@')
}

fn map_parse_error(e: ::url::ParseError) -> UrlError {
    use ::url::ParseError as P;
    match e {
        P::EmptyHost => UrlError::MissingHost,
        P::IdnaError => UrlError::InvalidHost {
            reason: "it is not a valid (internationalised) domain name",
        },
        P::InvalidPort => UrlError::InvalidPort,
        P::InvalidIpv4Address => UrlError::InvalidHost {
            reason: "it is not a valid IPv4 address",
        },
        P::InvalidIpv6Address => UrlError::InvalidHost {
            reason: "it is not a valid IPv6 address",
        },
        P::InvalidDomainCharacter => UrlError::InvalidHost {
            reason: "it contains a character that host names cannot contain",
        },
        P::RelativeUrlWithoutBase | P::RelativeUrlWithCannotBeABaseBase => UrlError::NotAbsolute,
        other => UrlError::Malformed {
            reason: other.to_string(),
        },
    }
}

/// Appends the path with normalised escapes and without a trailing slash (except "/").
fn push_path(out: &mut String, path: &str) {
    let mut p = normalize_escapes(path);
    while p.len() > 1 && p.ends_with('/') {
        p.pop();
    }
    if p.is_empty() {
        p.push('/');
    }
    out.push_str(&p);
}

/// Appends "?k=v&..." with tracking parameters dropped and the rest sorted; nothing when
/// no parameter is left.
fn push_query(out: &mut String, query: &str) {
    let mut params: Vec<(String, Option<String>)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (normalize_escapes(k), Some(normalize_escapes(v))),
            None => (normalize_escapes(p), None),
        })
        .filter(|(k, _)| !is_tracking_param(k))
        .collect();
    if params.is_empty() {
        return;
    }
    params.sort();
    for (i, (k, v)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if let Some(v) = v {
            out.push('=');
            out.push_str(v);
        }
    }
}

fn is_tracking_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    TRACKING_PARAMS.contains(&key.as_str()) || TRACKING_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Decodes `%XX` escapes of unreserved characters (ALPHA DIGIT - . _ ~) and uppercases the
/// hex digits of all other escapes. A '%' not followed by two hex digits is kept as is.
fn normalize_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push_str(&s[copied..i]);
            let v = (h << 4) | l;
            if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(v));
            } else {
                out.push('%');
                out.push(char::from(b[i + 1].to_ascii_uppercase()));
                out.push(char::from(b[i + 2].to_ascii_uppercase()));
            }
            i += 3;
            copied = i;
            continue;
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}
