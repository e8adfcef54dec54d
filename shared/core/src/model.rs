//! Parsed field types ("parse, don't validate") and the case model.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use optout_matcher::{NormalizedUrl, PdqHash, Sha256};

use crate::countries::COUNTRIES;
use crate::error::{FieldCode, FieldCodeWithLimit};
use crate::lang::Lang;
use crate::verdict::Verdict;

type ParseResult<T> = Result<T, FieldCodeWithLimit>;

/// Maximum length (in characters) of a first or last name.
pub const NAME_MAX: usize = 100;
/// Maximum length of an email address (RFC 5321 path limit).
pub const EMAIL_MAX: usize = 254;
/// Bounds of the free-text reason / explanation.
pub const REASON_MIN: usize = 10;
pub const REASON_MAX: usize = 5000;
/// Maximum number of source URLs of one DSA notice.
pub const URLS_MAX: usize = 20;
/// Maximum length of one source URL.
pub const URL_MAX: usize = 2048;

fn too_long(max: usize) -> FieldCodeWithLimit {
    FieldCodeWithLimit(FieldCode::TooLong, Some(max as u64))
}

/// Characters that must never appear in a single-line field: controls (CR/LF reach email headers),
/// bidi overrides and other invisible formatting characters.
fn has_forbidden_chars(s: &str) -> bool {
    s.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    })
}

/// A first or last name: 1..=100 characters, one line, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> ParseResult<Self> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldCode::Required.into());
        }
        if s.chars().count() > NAME_MAX {
            return Err(too_long(NAME_MAX));
        }
        if has_forbidden_chars(s) {
            return Err(FieldCode::InvalidChars.into());
        }
        Ok(PersonName(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address: `local@domain`, ASCII or UTF-8 local part, a domain with a dot, no spaces,
/// no control characters, at most 254 characters. The domain is lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> ParseResult<Self> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldCode::Required.into());
        }
        if s.len() > EMAIL_MAX {
            return Err(too_long(EMAIL_MAX));
        }
        let invalid = || FieldCodeWithLimit::from(FieldCode::InvalidEmail);
        if has_forbidden_chars(s)
            || s.chars()
                .any(|c| c.is_whitespace() || "<>()[]\\,;:\"".contains(c))
        {
            return Err(invalid());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(invalid());
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(invalid());
        }
        // A non-ASCII local part needs SMTPUTF8 end to end, which SES and most relays refuse:
        // say so now rather than accept a request whose receipt cannot be delivered.
        if !local.is_ascii() {
            return Err(FieldCode::EmailNotAscii.into());
        }
        let domain = domain.to_lowercase();
        if !valid_domain(&domain) {
            return Err(invalid());
        }
        if !domain.is_ascii() {
            // Mail headers and SES take the ASCII (punycode) form: the rules and the limit hold
            // for it too (a label of 62 bytes with one Thai mark is 65 characters of punycode).
            match ascii_domain(&domain) {
                Some(ascii) if valid_domain(&ascii) => {
                    if local.len() + 1 + ascii.len() > EMAIL_MAX {
                        return Err(too_long(EMAIL_MAX));
                    }
                }
                _ => return Err(invalid()),
            }
        }
        // Lowercasing can lengthen a domain (`İ` is two bytes, `i̇` three): the limit holds for
        // what is stored.
        let email = format!("{local}@{domain}");
        if email.len() > EMAIL_MAX {
            return Err(too_long(EMAIL_MAX));
        }
        Ok(Email(email))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The address as mail headers and SES take it: an internationalised domain in its ASCII
    /// (punycode) form (RFC 5890); the local part is ASCII already ([`Email::parse`]).
    pub fn to_ascii(&self) -> String {
        match self.0.rsplit_once('@') {
            Some((local, domain)) if !domain.is_ascii() => {
                let domain = ascii_domain(domain).unwrap_or_else(|| domain.to_owned());
                format!("{local}@{domain}")
            }
            _ => self.0.clone(),
        }
    }
}

/// Whether `domain` (lowercase) has at least two labels of 1 to 63 bytes of letters, digits,
/// `-` (not first or last) or non-ASCII characters, the last of two or more bytes and not all
/// digits.
fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()))
}

/// The IDNA (punycode) form of a domain, if it has one.
fn ascii_domain(domain: &str) -> Option<String> {
    match url::Host::parse(domain) {
        Ok(url::Host::Domain(d)) if d.is_ascii() => Some(d),
        _ => None,
    }
}

/// The longest phone number accepted as typed (spaces and punctuation included).
pub const PHONE_INPUT_MAX: usize = 32;

/// What may separate the digits of a phone number as people type it.
pub const PHONE_SEPARATORS: &[char] = &[' ', '-', '.', '(', ')', '/'];

/// A phone number, kept in E.164 form (`+`, the country calling code and the number: at most 15
/// digits). People write it as they dial it: a national number ("081 234 5678") is read in the
/// requester's country of residence, an international one ("+66 81 234 5678", "0066 81 234
/// 5678") in any country; either must be a valid number of its country by Google's
/// libphonenumber metadata (the `phonenumber` crate). Digits and [`PHONE_SEPARATORS`] only, a `+`
/// only first: letters (vanity numbers), extensions and `tel:` links are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

/// Why a phone number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneError {
    /// Empty, too long, or not written as a phone number (letters or other signs, a misplaced
    /// `+`, a country calling code that does not exist): the code says which.
    Field(FieldCodeWithLimit),
    /// Written as a phone number, but not a valid number of this country (a wrong length or
    /// prefix): the country chosen for a national number, the number's own for an international one.
    NotValidIn(Country),
    /// A national number, and no country to read it in.
    NeedsCountry,
}

impl PhoneError {
    /// The code of the refusal (`invalid_phone_for_country` without its country).
    pub fn code(self) -> FieldCodeWithLimit {
        match self {
            PhoneError::Field(c) => c,
            PhoneError::NotValidIn(_) => FieldCode::InvalidPhoneForCountry.into(),
            PhoneError::NeedsCountry => FieldCode::InvalidPhone.into(),
        }
    }
}

impl Phone {
    /// An international number (`+` or `00`, then the country calling code), the form a number
    /// is read in without a country.
    pub fn parse(raw: &str) -> ParseResult<Self> {
        Phone::parse_in(raw, None).map_err(PhoneError::code)
    }

    /// A number as someone living in `country` types it: national, or international whatever
    /// the country.
    pub fn parse_in(raw: &str, country: Option<Country>) -> Result<Self, PhoneError> {
        use phonenumber::metadata::DATABASE;
        let field = |c: FieldCode| PhoneError::Field(c.into());
        let s = raw.trim();
        if s.is_empty() {
            return Err(field(FieldCode::Required));
        }
        if s.len() > PHONE_INPUT_MAX {
            return Err(PhoneError::Field(too_long(PHONE_INPUT_MAX)));
        }
        let (plus, rest) = match s.strip_prefix('+') {
            Some(r) => (true, r),
            None => (false, s),
        };
        if !rest
            .chars()
            .all(|c| c.is_ascii_digit() || PHONE_SEPARATORS.contains(&c))
        {
            return Err(field(FieldCode::InvalidPhone));
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(field(FieldCode::InvalidPhone));
        }
        // The region of `country` in the metadata (none for a territory without numbers of its own).
        let region = country.and_then(|c| c.code().parse::<phonenumber::country::Id>().ok());
        let national = !plus && !digits.starts_with("00");
        if national {
            let c = country.ok_or(PhoneError::NeedsCountry)?;
            // Read in the country (which also reads the country's own international prefix, as
            // "011 44 …" from the United States).
            return region
                .and_then(|r| valid_e164(Some(r), &digits))
                .map(Phone)
                .ok_or(PhoneError::NotValidIn(c));
        }
        // `+` or `00`, the prefix most countries dial abroad with, then the calling code.
        let international = if plus { &digits[..] } else { &digits[2..] };
        if let Some(e164) = valid_e164(None, &format!("+{international}")) {
            return Ok(Phone(e164));
        }
        // A country whose international prefix is `00` and a digit ("001 44 …" from Thailand).
        if !plus && let Some(e164) = region.and_then(|r| valid_e164(Some(r), &digits)) {
            return Ok(Phone(e164));
        }
        // Not a valid number: of which country, by its calling code (codes are prefix-free), the
        // chosen country when it shares the code (+1 is the United States, Canada, Jamaica …).
        let regions_of = |n: usize| DATABASE.region(&international.get(..n)?.parse::<u16>().ok()?);
        let regions = if international.starts_with('0') {
            Vec::new()
        } else {
            (1..=3).find_map(regions_of).unwrap_or_default()
        };
        let of_number = country
            .filter(|c| regions.contains(&c.code()))
            .or_else(|| Country::parse(regions.first()?).ok());
        Err(of_number.map_or(field(FieldCode::InvalidPhone), PhoneError::NotValidIn))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The stored (E.164) form: `+` and 3 to 15 digits, the first not 0 (earlier versions wrote 8
    /// to 15). Not checked against the metadata, which changes: a stored number stays readable.
    fn from_stored(s: &str) -> Option<Self> {
        let digits = s.strip_prefix('+')?;
        let ok = (3..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        ok.then(|| Phone(s.to_owned()))
    }
}

/// The E.164 form of `raw` read in `region`, if it is a valid number.
fn valid_e164(region: Option<phonenumber::country::Id>, raw: &str) -> Option<String> {
    let n = phonenumber::parse(region, raw).ok()?;
    if !n.is_valid() || n.extension().is_some() {
        return None;
    }
    let e164 = n.format().mode(phonenumber::Mode::E164).to_string();
    // What the stored form allows (E.164: at most 15 digits).
    Phone::from_stored(&e164).map(|_| e164)
}

impl TryFrom<String> for Phone {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Phone::from_stored(&s).ok_or_else(|| "Phone: invalid_phone".to_owned())
    }
}
impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}
impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 3166-1 alpha-2 country code (upper case, from the official list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country([u8; 2]);

impl Country {
    pub fn parse(raw: &str) -> ParseResult<Self> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldCode::Required.into());
        }
        let up = s.to_ascii_uppercase();
        if up.len() == 2
            && COUNTRIES
                .binary_search_by(|(c, _, _)| (*c).cmp(up.as_str()))
                .is_ok()
        {
            let b = up.as_bytes();
            Ok(Country([b[0], b[1]]))
        } else {
            Err(FieldCode::InvalidCountry.into())
        }
    }
    pub fn code(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
    /// The country's name in `lang`.
    pub fn name(&self, lang: Lang) -> &'static str {
        let code = self.code();
        COUNTRIES
            .iter()
            .find(|(c, _, _)| *c == code)
            .map(|(_, en, th)| if lang == Lang::Th { *th } else { *en })
            .unwrap_or("")
    }
}

/// A free-text reason or explanation: `REASON_MIN..=REASON_MAX` characters; line breaks allowed,
/// other control characters not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reason(String);

impl Reason {
    pub fn parse(raw: &str) -> ParseResult<Self> {
        let s = raw.trim().replace("\r\n", "\n");
        if s.is_empty() {
            return Err(FieldCode::Required.into());
        }
        let n = s.chars().count();
        if n > REASON_MAX {
            return Err(too_long(REASON_MAX));
        }
        if n < REASON_MIN {
            return Err(FieldCodeWithLimit(
                FieldCode::TooShort,
                Some(REASON_MIN as u64),
            ));
        }
        if s.split('\n').any(has_forbidden_chars) {
            return Err(FieldCode::InvalidChars.into());
        }
        Ok(Reason(s))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The source URL of a specific image: http or https, with a host, no credentials, at most 2048
/// characters; kept in the matcher's normalised form (`optout_matcher::normalize_url`: lower-case
/// scheme and host, no default port, no fragment, no tracking parameters, ...), the form the
/// indexer matches links in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceUrl(NormalizedUrl);

impl SourceUrl {
    pub fn parse(raw: &str) -> ParseResult<Self> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldCode::Required.into());
        }
        if s.len() > URL_MAX {
            return Err(too_long(URL_MAX));
        }
        if has_forbidden_chars(s) || s.chars().any(char::is_whitespace) {
            return Err(FieldCode::InvalidUrl.into());
        }
        // WHATWG parsing forgives `http:host` and `https:///host`; a source link must be explicit.
        match s.split_once("://") {
            Some((_, rest)) if !rest.is_empty() && !rest.starts_with('/') => {}
            Some((scheme, _))
                if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") =>
            {
                return Err(FieldCode::UrlScheme.into());
            }
            Some(_) => return Err(FieldCode::InvalidUrl.into()),
            None if s.contains(':') && !s.contains('.')
                || s.starts_with("javascript:")
                || s.starts_with("data:") =>
            {
                return Err(FieldCode::UrlScheme.into());
            }
            None => return Err(FieldCode::InvalidUrl.into()),
        }
        // The one normaliser; its length limit holds for the normalised form too (parsing
        // percent-encodes what a browser would: a Thai path triples in length).
        match optout_matcher::normalize_url(s) {
            Ok(u) => Ok(SourceUrl(u)),
            Err(optout_matcher::UrlError::TooLong { .. }) => Err(too_long(URL_MAX)),
            Err(optout_matcher::UrlError::UnsupportedScheme { .. }) => {
                Err(FieldCode::UrlScheme.into())
            }
            Err(_) => Err(FieldCode::InvalidUrl.into()),
        }
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    /// The link as the indexer matches it.
    pub fn normalized(&self) -> &NormalizedUrl {
        &self.0
    }
}

macro_rules! string_newtype_conversions {
    ($($t:ident),*) => {$(
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $t::parse(&s).map_err(|e| format!("{}: {}", stringify!($t), e.0.as_str()))
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.as_str().to_owned()
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
string_newtype_conversions!(PersonName, Email, Reason, SourceUrl);

impl TryFrom<String> for Country {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Country::parse(&s).map_err(|_| format!("invalid country {s:?}"))
    }
}
impl From<Country> for String {
    fn from(c: Country) -> String {
        c.code().to_owned()
    }
}
impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The identifier and public reference of a case: a ULID (time-ordered, 128 bits, 80 of them random).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CaseId(ulid::Ulid);

impl CaseId {
    pub fn new(now: DateTime<Utc>) -> Self {
        CaseId(ulid::Ulid::from_datetime(now.into()))
    }
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 26 {
            return None;
        }
        ulid::Ulid::from_str(s).ok().map(CaseId)
    }
}
impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl TryFrom<String> for CaseId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        CaseId::parse(&s).ok_or_else(|| "invalid case id".to_owned())
    }
}
impl From<CaseId> for String {
    fn from(c: CaseId) -> String {
        c.to_string()
    }
}

/// The two kinds of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// "Remove my face and never index it again": needs a photo and consent to biometric processing.
    FaceOptOut,
    /// "Stop indexing this image": a picture the requester owns or has a personal stake in (face
    /// or no face), excluded by its hashes, and by the faces it shows when the requester asks.
    ImageOptOut,
    /// A notice under the EU Digital Services Act about specific images at given URLs.
    DsaNotice,
}

/// What a kind of request asks for and how it is handled: each answer is one `match` here, so
/// that a new kind is decided in one place and the use cases ask these instead of naming kinds.
impl CaseKind {
    pub const ALL: [CaseKind; 3] = [
        CaseKind::FaceOptOut,
        CaseKind::ImageOptOut,
        CaseKind::DsaNotice,
    ];

    /// The request comes with a photo (verified, hashed, excluded by its hashes).
    pub fn takes_photo(self) -> bool {
        match self {
            CaseKind::FaceOptOut | CaseKind::ImageOptOut => true,
            CaseKind::DsaNotice => false,
        }
    }

    /// The photo's face is embedded and excluded: the photo must show one usable face, and a
    /// reviewer may ask for a better one.
    pub fn embeds_face(self) -> bool {
        match self {
            CaseKind::FaceOptOut => true,
            CaseKind::ImageOptOut | CaseKind::DsaNotice => false,
        }
    }

    /// The requester may ask that the faces the image shows be excluded too (each face the
    /// detector finds, shown to the reviewer).
    pub fn offers_faces(self) -> bool {
        match self {
            CaseKind::ImageOptOut => true,
            CaseKind::FaceOptOut | CaseKind::DsaNotice => false,
        }
    }

    /// The request names the links of specific images (at least one).
    pub fn takes_links(self) -> bool {
        match self {
            CaseKind::FaceOptOut | CaseKind::ImageOptOut => false,
            CaseKind::DsaNotice => true,
        }
    }

    /// The requester must consent explicitly to the processing of the photo (biometric
    /// processing for a face; hashing, and face detection, for an image).
    pub fn needs_consent(self) -> bool {
        self.takes_photo()
    }

    /// The requester must confirm the notice is made in good faith (DSA Art. 16(2)(d)).
    pub fn needs_good_faith(self) -> bool {
        match self {
            CaseKind::FaceOptOut | CaseKind::ImageOptOut => false,
            CaseKind::DsaNotice => true,
        }
    }

    /// The legal ground an approval records in the audit trail.
    pub fn approval_ground(self) -> &'static str {
        match self {
            CaseKind::FaceOptOut => "gdpr_art17_21,pdpa_s32_33",
            CaseKind::ImageOptOut => "gdpr_art17_21,pdpa_s32_33,rights_in_image",
            CaseKind::DsaNotice => "dsa_art16",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CaseKind::FaceOptOut => "face_opt_out",
            CaseKind::ImageOptOut => "image_opt_out",
            CaseKind::DsaNotice => "dsa_notice",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        CaseKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The life cycle of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    Received,
    Embedding,
    AwaitingReview,
    NeedsBetterPhoto,
    Approved,
    Rejected,
    Withdrawn,
    /// No usable photo came within the lapse period: the case ended without a decision.
    Lapsed,
    Erased,
}

impl CaseState {
    pub const ALL: [CaseState; 9] = [
        CaseState::Received,
        CaseState::Embedding,
        CaseState::AwaitingReview,
        CaseState::NeedsBetterPhoto,
        CaseState::Approved,
        CaseState::Rejected,
        CaseState::Withdrawn,
        CaseState::Lapsed,
        CaseState::Erased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Received => "received",
            CaseState::Embedding => "embedding",
            CaseState::AwaitingReview => "awaiting_review",
            CaseState::NeedsBetterPhoto => "needs_better_photo",
            CaseState::Approved => "approved",
            CaseState::Rejected => "rejected",
            CaseState::Withdrawn => "withdrawn",
            CaseState::Lapsed => "lapsed",
            CaseState::Erased => "erased",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        CaseState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether a decision was made or the case ended.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CaseState::Approved
                | CaseState::Rejected
                | CaseState::Withdrawn
                | CaseState::Lapsed
                | CaseState::Erased
        )
    }

    /// Whether the requester may still withdraw the request. An approved case can be withdrawn too:
    /// its exclusions then stop applying.
    pub fn can_withdraw(self) -> bool {
        !matches!(
            self,
            CaseState::Withdrawn | CaseState::Lapsed | CaseState::Erased | CaseState::Rejected
        )
    }

    /// Whether the transition `self -> to` is in the state diagram (ARCHITECTURE.md). Only
    /// [`Case::apply`](crate::case) moves a case, and it checks this first.
    pub fn can_become(self, to: CaseState) -> bool {
        use CaseState::*;
        match (self, to) {
            (Received, Embedding | AwaitingReview) => true,
            (Embedding, AwaitingReview | NeedsBetterPhoto) => true,
            (NeedsBetterPhoto, Received | Lapsed) => true,
            (AwaitingReview, Approved | Rejected | NeedsBetterPhoto) => true,
            (Approved | Rejected, AwaitingReview) => true, // a complaint re-opens the case
            (from, Withdrawn) => from.can_withdraw(),
            (Withdrawn | Rejected | Approved | Lapsed, Erased) => true,
            _ => false,
        }
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The requester's personal data. Kept apart from everything else (separate table / item) and
/// erased at the end of the retention period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Personal {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub email: Email,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<Phone>,
    pub country: Country,
    pub reason: Reason,
}

/// A stored, verified photo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRef {
    /// Key of the object in the photo store.
    pub key: String,
    pub content_type: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    /// SHA-256 of the bytes.
    pub sha256: Sha256,
    /// Increases with every new photo of the same case (a better photo after a failed quality gate).
    pub generation: u32,
}

/// What fetching the image behind one source link found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LinkCheck {
    /// The image was fetched and hashed: an approval excludes these hashes too, wherever the
    /// same picture is served.
    Hashed {
        sha256: Sha256,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pdq: Option<PdqHash>,
        bytes: u64,
    },
    /// It could not be fetched (or read); the link stays excluded by its address.
    Failed { why: String },
}

/// A case: one request of one person. `version` increases with every write; every write is
/// conditional on the version read (no lost updates, no double decisions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: CaseId,
    pub kind: CaseKind,
    pub state: CaseState,
    pub lang: Lang,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the requester must have a decision (one month from receipt by default).
    pub due_at: DateTime<Utc>,
    /// Personal data; `None` once erased.
    pub personal: Option<Personal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<PhotoRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_urls: Vec<SourceUrl>,
    /// The requester consented to biometric processing (face opt-out).
    pub consent: bool,
    /// The good-faith statement of a DSA notice.
    pub good_faith: bool,
    /// An image opt-out asks that the faces the image shows be excluded too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude_faces: bool,
    /// What fetching the image behind each source link found, in the order of `source_urls`
    /// (empty until the notice's links were fetched).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_checks: Vec<LinkCheck>,
    /// The embedding job of the current photo was handed to the queue.
    pub job_dispatched: bool,
    /// The receipt email went out.
    pub receipt_sent: bool,
    /// Why the photo could not be used, when the state is `needs_better_photo` (a quality code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_issue: Option<Verdict>,
    /// The last decision of a reviewer, with its statement of reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// The requester's complaint against a decision (it re-opens the case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complaint: Option<Complaint>,
    /// Side effects of the last transition still to be done (an outbox: the relay finishes them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Effect>,
}

/// A side effect recorded with a transition, in the same write (the case's outbox), and done
/// after it by [`crate::outbox`]: idempotently, retried by the relay until it is done.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Write the exclusion entries of an approved case.
    WriteExclusions,
    /// Mark the case's exclusion entries withdrawn.
    WithdrawExclusions,
    /// Delete the raw photo (a decision was made, or the case ended).
    DeletePhoto,
    /// Delete the biometric data (the case was withdrawn or erased).
    DeleteBiometrics,
    /// Send the decision email with the statement of reasons.
    DecisionMail,
    /// Mark the current photo as belonging to the case (the clean-up of unclaimed uploads spares it).
    ClaimPhoto,
    /// Delete a photo the requester replaced (its key).
    DeleteReplacedPhoto(String),
    /// Confirm a withdrawal by email.
    WithdrawnMail,
    /// Ask the requester for a better photo by email (the embedding found it unusable).
    BetterPhotoMail,
    /// Tell the requester the case lapsed (no usable photo came in time).
    LapsedMail,
}

impl Effect {
    /// What the audit trail records once the effect is done.
    pub fn as_str(&self) -> &'static str {
        match self {
            Effect::WriteExclusions => "exclusions_written",
            Effect::WithdrawExclusions => "exclusions_withdrawn",
            Effect::DeletePhoto => "photo_deleted",
            Effect::DeleteBiometrics => "biometrics_deleted",
            Effect::DecisionMail => "decision_sent",
            Effect::ClaimPhoto => "photo_claimed",
            Effect::DeleteReplacedPhoto(_) => "replaced_photo_deleted",
            Effect::WithdrawnMail => "withdrawal_sent",
            Effect::BetterPhotoMail => "better_photo_sent",
            Effect::LapsedMail => "lapse_sent",
        }
    }
}

/// The name of a reviewer: 1..=64 letters, digits, `.`, `-`, `_` or `@`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReviewerName(String);

impl ReviewerName {
    pub fn parse(raw: &str) -> Option<Self> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'@'));
        ok.then(|| ReviewerName(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ReviewerName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ReviewerName::parse(&s).ok_or_else(|| "invalid reviewer name".to_owned())
    }
}
impl From<ReviewerName> for String {
    fn from(r: ReviewerName) -> String {
        r.0
    }
}
impl fmt::Display for ReviewerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a reviewer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Approved,
    Rejected,
    BetterPhoto,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Rejected => "rejected",
            Outcome::BetterPhoto => "better_photo",
        }
    }
}

/// The fixed reasons of a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The photo does not show the requester, or who sent it cannot be established.
    NotTheRequester,
    /// The images concerned show no identifiable person.
    NoPersonalData,
    /// A DSA notice that does not explain why the content is illegal.
    NotSubstantiated,
    /// The content is neither illegal nor contrary to our terms.
    NotIllegal,
    /// Overriding legitimate grounds or the public interest (e.g. news reporting).
    OverridingInterest,
    /// Already covered by an earlier decision.
    Duplicate,
    /// Another reason, explained in the note.
    Other,
}

impl RejectReason {
    pub const ALL: [RejectReason; 7] = [
        RejectReason::NotTheRequester,
        RejectReason::NoPersonalData,
        RejectReason::NotSubstantiated,
        RejectReason::NotIllegal,
        RejectReason::OverridingInterest,
        RejectReason::Duplicate,
        RejectReason::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NotTheRequester => "not_the_requester",
            RejectReason::NoPersonalData => "no_personal_data",
            RejectReason::NotSubstantiated => "not_substantiated",
            RejectReason::NotIllegal => "not_illegal",
            RejectReason::OverridingInterest => "overriding_interest",
            RejectReason::Duplicate => "duplicate",
            RejectReason::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        RejectReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The quality codes a reviewer can give when asking for a better photo.
pub const BETTER_PHOTO_CODES: [Verdict; 5] = [
    Verdict::NoFace,
    Verdict::SeveralFaces,
    Verdict::FaceTooSmall,
    Verdict::TooBlurred,
    Verdict::Unreadable,
];

/// The statement of reasons of a decision, in the case's language (Art. 17 DSA; GDPR Art. 12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// What is done and its scope.
    pub action: String,
    /// The facts and circumstances relied on.
    pub facts: String,
    /// Whether automated means were used, and how.
    pub automated: String,
    /// The legal or policy ground.
    pub ground: String,
    /// The ways to contest the decision.
    pub redress: String,
}

/// A reviewer's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub reviewer: ReviewerName,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<RejectReason>,
    /// The reviewer's free text (erased with the personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub statement: Statement,
    /// Whether this decision answered a complaint.
    #[serde(default)]
    pub on_complaint: bool,
}

/// A complaint against a decision (internal complaint handling, Art. 20 DSA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complaint {
    pub at: DateTime<Utc>,
    /// The requester's text (erased with the personal data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Reason>,
    /// The reviewer of the contested decision: someone else must decide the complaint.
    pub first_reviewer: ReviewerName,
    pub contested: Outcome,
    /// When a reviewer decided it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Why the requester cannot contest a case's decision (internal complaint handling, Art. 20 DSA:
/// one complaint per decision, within the window after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComplaintClosed {
    /// There is no decision to contest: not decided yet, a better photo asked for, withdrawn.
    NoDecision,
    /// A complaint against the decision waits for its own decision.
    Pending,
    /// The complaint was decided: the decision that answered it can be taken to an out-of-court
    /// dispute settlement body (Art. 21 DSA), the courts or the data protection authority.
    Decided,
    /// The window after the decision ended.
    WindowEnded,
}

impl ComplaintClosed {
    /// A stable code (the API's error code).
    pub fn as_str(self) -> &'static str {
        match self {
            ComplaintClosed::NoDecision => "no_decision",
            ComplaintClosed::Pending => "complaint_pending",
            ComplaintClosed::Decided => "complaint_decided",
            ComplaintClosed::WindowEnded => "complaint_window_ended",
        }
    }
}

impl Case {
    /// Whether the case waits for the decision of a complaint.
    pub fn open_complaint(&self) -> Option<&Complaint> {
        self.complaint.as_ref().filter(|c| c.resolved_at.is_none())
    }
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum Actor {
    Requester,
    System,
    Reviewer(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Requester => f.write_str("requester"),
            Actor::System => f.write_str("system"),
            Actor::Reviewer(n) => write!(f, "reviewer:{n}"),
        }
    }
}

/// One entry of a case's audit trail: who did what, when and why. Never holds personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub case_id: CaseId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// What happened, e.g. `submitted`, `state:awaiting_review`, `receipt_sent`.
    pub action: String,
    /// The state the case reached.
    pub state: CaseState,
    /// Why (free text without personal data), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A job for the embedding worker: compute the embedding and hashes of one photo of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedJob {
    pub case_id: CaseId,
    /// The photo generation the job is about; a job for an older generation does nothing.
    pub generation: u32,
}

impl EmbedJob {
    /// A stable id: enqueuing the same job twice is harmless.
    pub fn id(&self) -> String {
        format!("embed-{}-{}", self.case_id, self.generation)
    }

    /// Parses a job from a queue message body, with a precise reason when it is malformed.
    pub fn from_json(body: &str) -> Result<Self, String> {
        serde_json::from_str(body).map_err(|e| format!("malformed embed job: {e}"))
    }

    pub fn to_json(&self) -> String {
        // Serialising a struct of a ULID and an integer cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ann.B+x@Example.COM ").unwrap().as_str(),
            "Ann.B+x@example.com"
        );
        assert_eq!(
            Email::parse("nok@ตัวอย่าง.ไทย").unwrap().as_str(),
            "nok@ตัวอย่าง.ไทย"
        );
        assert_eq!(
            Email::parse("นก@ตัวอย่าง.ไทย").unwrap_err().0,
            FieldCode::EmailNotAscii
        );
        for bad in [
            "",
            "a",
            "a@b",
            "a@b.",
            "@b.com",
            "a@@b.com",
            "a b@c.com",
            "a@b.c",
            "a@-b.com",
            "a..b@c.com",
            "a@b.com\r\nBcc: x@y.com",
            "a\n@b.com",
            "<a@b.com>",
            "a@b.123",
            ".a@b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long).unwrap_err().0, FieldCode::TooLong);
    }

    /// Found by the `model_fields` fuzz target: the domain's rules held for its Unicode form only,
    /// so an address whose ASCII form (what SES takes) has a 65-character label, an empty label
    /// or an all-digit TLD was accepted.
    #[test]
    fn the_ascii_form_of_an_email_domain_follows_the_rules_too() {
        let label = "or0gt1v8ruuuuuuuuuuuuuuuuuet1v8ruuuuuuuuu\u{e48}uuuuuuuuuugt1v2w3";
        assert!(label.len() <= 63);
        for bad in [
            format!("a@b.{label}.com"),
            "a@b.example\u{ff0e}".to_owned(),
            "a@b.\u{ff11}\u{ff12}".to_owned(),
        ] {
            assert_eq!(
                Email::parse(&bad).unwrap_err().0,
                FieldCode::InvalidEmail,
                "{bad:?}"
            );
        }
        let e = Email::parse("nok@ตัวอย่าง.ไทย").unwrap();
        assert_eq!(Email::parse(&e.to_ascii()).unwrap().as_str(), e.to_ascii());
    }

    fn country(code: &str) -> Option<Country> {
        Some(Country::parse(code).unwrap())
    }

    fn e164(raw: &str, c: Option<Country>) -> Result<String, PhoneError> {
        Phone::parse_in(raw, c).map(|p| p.as_str().to_owned())
    }

    #[test]
    fn national_phone_numbers_are_read_in_the_country_of_residence() {
        for (raw, c, want) in [
            ("081 234 5678", "TH", "+66812345678"),
            ("0812345678", "TH", "+66812345678"),
            ("02-123-4567", "TH", "+6621234567"),
            ("07400 123456", "GB", "+447400123456"),
            ("(201) 555-0123", "US", "+12015550123"),
            ("201.555.0123", "US", "+12015550123"),
            ("030/1234 5678", "DE", "+493012345678"),
            ("06 12 34 56 78", "FR", "+33612345678"),
            // An Italian number keeps its leading 0 after the country code.
            ("06 1234 5678", "IT", "+390612345678"),
            // The country's own international prefix (from the United States, from Thailand).
            ("011 44 7400 123456", "US", "+447400123456"),
            ("001 44 7400 123456", "TH", "+447400123456"),
        ] {
            assert_eq!(e164(raw, country(c)).as_deref(), Ok(want), "{raw} in {c}");
        }
    }

    #[test]
    fn international_phone_numbers_are_read_whatever_the_country() {
        for c in [
            country("TH"),
            country("GB"),
            country("US"),
            country("AQ"),
            None,
        ] {
            for (raw, want) in [
                ("+66 81 234 5678", "+66812345678"),
                ("+66812345678", "+66812345678"),
                ("0066 81 234 5678", "+66812345678"),
                ("  +66 (0)81 234 5678 ", "+66812345678"),
                ("+44 7400 123456", "+447400123456"),
                ("0049 (30) 1234-5678", "+493012345678"),
                ("+1 201-555-0123", "+12015550123"),
            ] {
                assert_eq!(e164(raw, c).as_deref(), Ok(want), "{raw} in {c:?}");
            }
        }
        assert_eq!(
            Phone::parse("+66 81 234 5678").unwrap().as_str(),
            "+66812345678"
        );
    }

    #[test]
    fn impossible_phone_numbers_name_their_country() {
        let not_valid_in = |c: &str| Err(PhoneError::NotValidIn(country(c).unwrap()));
        for (raw, c, country_named) in [
            // Wrong length for the country.
            ("081 234 567", "TH", "TH"),
            ("081 234 56789", "TH", "TH"),
            ("07400 12345", "GB", "GB"),
            ("201 555 012", "US", "US"),
            ("0812345678901234567890", "TH", "TH"),
            // A prefix the country does not use (no US exchange starts with 1; no Thai number with 1).
            ("(201) 155-0123", "US", "US"),
            ("012 345 6789", "TH", "TH"),
            // A national number of another country.
            ("07400 123456", "TH", "TH"),
            // A territory without numbers of its own.
            ("081 234 5678", "AQ", "AQ"),
            // An international number: its own country, whatever the country of residence...
            ("+66 12 345 678", "GB", "TH"),
            ("+44 7400 12345", "TH", "GB"),
            ("+1 201 155 0123", "TH", "US"),
            // ...or the country of residence when it shares the calling code.
            ("+1 201 155 0123", "CA", "CA"),
        ] {
            assert_eq!(
                e164(raw, country(c)),
                not_valid_in(country_named),
                "{raw} in {c}"
            );
        }
    }

    #[test]
    fn what_is_not_a_phone_number_is_refused() {
        let th = country("TH");
        for raw in [
            "081 ABC 5678",
            "1-800-FLOWERS",
            "+66 81x",
            "+66 81 234 5678 ext 12",
            "+66 81 234 5678#12",
            "tel:+66812345678",
            "66+812345678",
            "++66812345678",
            "+66\n812345678",
            "+66\u{202E}812345678",
            "\u{0e50}\u{0e58}\u{0e51}",
            "+0812345678",
            "+999 1234 5678",
            "+",
            "00",
            "()",
        ] {
            assert_eq!(
                e164(raw, th),
                Err(PhoneError::Field(FieldCode::InvalidPhone.into())),
                "{raw:?}"
            );
        }
        assert_eq!(
            e164(&format!("+66 81 234 5678{}", " ".repeat(20)), th),
            Ok("+66812345678".to_owned()),
            "trimmed before the limit"
        );
        assert_eq!(
            e164("+66 81 234 5678 . . . . . . . . .", th),
            Err(PhoneError::Field(too_long(PHONE_INPUT_MAX)))
        );
        for blank in ["", "   "] {
            assert_eq!(
                e164(blank, th),
                Err(PhoneError::Field(FieldCode::Required.into()))
            );
        }
        // A national number needs a country; without one it is read as international only.
        assert_eq!(e164("081 234 5678", None), Err(PhoneError::NeedsCountry));
        assert_eq!(
            Phone::parse("081 234 5678").unwrap_err().0,
            FieldCode::InvalidPhone
        );
        assert_eq!(
            Phone::parse("+66 12 345 678").unwrap_err().0,
            FieldCode::InvalidPhoneForCountry
        );
    }

    #[test]
    fn a_stored_phone_number_reads_back_as_it_was_stored() {
        let p = Phone::parse_in("081 234 5678", country("TH")).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"+66812345678\"");
        assert_eq!(serde_json::from_str::<Phone>(&json).unwrap(), p);
        assert_eq!(Phone::parse(p.as_str()), Ok(p));
        // What earlier versions stored (`+` and 8 to 15 digits) stays readable, valid by today's
        // metadata or not; nothing else is.
        assert!(serde_json::from_str::<Phone>("\"+1234567890\"").is_ok());
        for bad in [
            "\"0812345678\"",
            "\"+0812345678\"",
            "\"+66 81 234 5678\"",
            "\"+1234567890123456\"",
        ] {
            assert!(serde_json::from_str::<Phone>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn countries() {
        assert_eq!(Country::parse("th").unwrap().code(), "TH");
        assert_eq!(Country::parse("TH").unwrap().name(Lang::En), "Thailand");
        assert_eq!(Country::parse("TH").unwrap().name(Lang::Th), "ไทย");
        for bad in ["", "XX", "THA", "T", "UK", "ไท"] {
            assert!(Country::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(
            COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0),
            "country table must be sorted"
        );
        assert_eq!(COUNTRIES.len(), 249);
    }

    #[test]
    fn names_and_reasons() {
        assert_eq!(PersonName::parse("  Somchai ").unwrap().as_str(), "Somchai");
        assert_eq!(PersonName::parse("").unwrap_err().0, FieldCode::Required);
        assert_eq!(
            PersonName::parse("a\u{202E}b").unwrap_err().0,
            FieldCode::InvalidChars
        );
        assert_eq!(
            PersonName::parse("a\r\nBcc: x").unwrap_err().0,
            FieldCode::InvalidChars
        );
        assert_eq!(
            PersonName::parse(&"x".repeat(101)).unwrap_err(),
            FieldCodeWithLimit(FieldCode::TooLong, Some(100))
        );
        assert_eq!(
            PersonName::parse(&"ก".repeat(100))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            100
        );
        assert!(
            Reason::parse("line one\r\nline two")
                .unwrap()
                .as_str()
                .contains('\n')
        );
        assert_eq!(Reason::parse("short").unwrap_err().0, FieldCode::TooShort);
        assert_eq!(
            Reason::parse(&"x".repeat(REASON_MAX + 1)).unwrap_err().0,
            FieldCode::TooLong
        );
        assert_eq!(
            Reason::parse("bell \u{7} character").unwrap_err().0,
            FieldCode::InvalidChars
        );
    }

    #[test]
    fn urls() {
        assert_eq!(
            SourceUrl::parse("HTTPS://Example.COM:443/a.jpg#x")
                .unwrap()
                .as_str(),
            "https://example.com/a.jpg"
        );
        for (bad, code) in [
            ("javascript:alert(1)", FieldCode::UrlScheme),
            ("file:///etc/passwd", FieldCode::UrlScheme),
            ("data:image/png;base64,AAAA", FieldCode::UrlScheme),
            ("ftp://example.com/a.jpg", FieldCode::UrlScheme),
            ("http://", FieldCode::InvalidUrl),
            ("https:///path", FieldCode::InvalidUrl),
            ("example.com/a.jpg", FieldCode::InvalidUrl),
            ("http://user:pw@example.com/", FieldCode::InvalidUrl),
            ("http://exa mple.com/", FieldCode::InvalidUrl),
        ] {
            assert_eq!(SourceUrl::parse(bad).unwrap_err().0, code, "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(URL_MAX));
        assert_eq!(SourceUrl::parse(&long).unwrap_err().0, FieldCode::TooLong);
    }

    #[test]
    fn kinds_answer_consistently() {
        for k in CaseKind::ALL {
            assert_eq!(CaseKind::parse(k.as_str()), Some(k));
            // A face is embedded from a photo, and a photo is processed only with consent.
            assert!(!k.embeds_face() || k.takes_photo(), "{k:?}");
            assert!(
                !k.offers_faces() || (k.takes_photo() && !k.embeds_face()),
                "{k:?}"
            );
            assert_eq!(k.needs_consent(), k.takes_photo(), "{k:?}");
            // Every request names what is to be excluded: a photo or links.
            assert!(k.takes_photo() || k.takes_links(), "{k:?}");
            assert!(!k.approval_ground().is_empty());
        }
        assert_eq!(CaseKind::parse("face"), None);
    }

    #[test]
    fn case_ids_and_jobs() {
        let id = CaseId::new(Utc::now());
        assert_eq!(CaseId::parse(&id.to_string()), Some(id));
        assert_eq!(CaseId::parse("not-an-id"), None);
        assert_eq!(CaseId::parse("../../etc/passwd"), None);
        let job = EmbedJob {
            case_id: id,
            generation: 2,
        };
        assert_eq!(EmbedJob::from_json(&job.to_json()).unwrap(), job);
        assert!(EmbedJob::from_json("{\"case_id\":\"x\"}").is_err());
        assert!(EmbedJob::from_json("").is_err());
    }
}
