//! Field-level validation errors, collected so a form can show every problem at once.

use serde::Serialize;

use crate::model::Country;

/// One problem with one input field. `code` is stable (clients may switch on it); the message is
/// produced from the code in the requester's language by [`crate::i18n`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: FieldCode,
    /// A bound that the message refers to (a maximum length, a count ...), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// The country that the message refers to (a phone number not valid there), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
    /// The entry of a list field that the message refers to (a link of a notice), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<FieldItem>,
}

/// One entry of a list field: its line (from 1) and the entry as typed, shortened to
/// [`FieldItem::SHOWN_MAX`] characters so that a message stays readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldItem {
    pub line: u32,
    pub value: String,
}

impl FieldItem {
    /// How many characters of the entry a message shows.
    pub const SHOWN_MAX: usize = 60;

    /// Entry `value` at `line` (from 1), shortened with an ellipsis when longer than
    /// [`Self::SHOWN_MAX`] characters.
    pub fn new(line: usize, value: &str) -> FieldItem {
        let value = value.trim();
        let value = match value.char_indices().nth(Self::SHOWN_MAX) {
            Some((at, _)) => format!("{}…", &value[..at]),
            None => value.to_owned(),
        };
        FieldItem {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            value,
        }
    }
}

/// Stable error codes of input validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldCode {
    Required,
    TooLong,
    TooShort,
    InvalidEmail,
    /// Not written as a phone number (letters or other signs, no such country calling code).
    InvalidPhone,
    /// Written as a phone number, but not a valid one of the country named with the error.
    InvalidPhoneForCountry,
    InvalidCountry,
    InvalidChars,
    ConsentRequired,
    GoodFaithRequired,
    InvalidUrl,
    UrlScheme,
    TooManyUrls,
    DuplicateUrl,
    UnsupportedType,
    TypeMismatch,
    CorruptImage,
    ImageTooLarge,
    TooManyPixels,
    ImageTooSmall,
    FileTooLarge,
    UploadMissing,
    InvalidValue,
    /// The idempotency key (or form token) was already used for a request with other content.
    KeyReused,
    /// The uploaded photo already belongs to a request with other content.
    PhotoReused,
    /// The field does not belong to this kind of request (a photo with a DSA notice).
    NotAllowed,
    /// An email address with non-ASCII characters before the `@`, which mail services cannot deliver to.
    EmailNotAscii,
}

impl FieldCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldCode::Required => "required",
            FieldCode::TooLong => "too_long",
            FieldCode::TooShort => "too_short",
            FieldCode::InvalidEmail => "invalid_email",
            FieldCode::InvalidPhone => "invalid_phone",
            FieldCode::InvalidPhoneForCountry => "invalid_phone_for_country",
            FieldCode::InvalidCountry => "invalid_country",
            FieldCode::InvalidChars => "invalid_chars",
            FieldCode::ConsentRequired => "consent_required",
            FieldCode::GoodFaithRequired => "good_faith_required",
            FieldCode::InvalidUrl => "invalid_url",
            FieldCode::UrlScheme => "url_scheme",
            FieldCode::TooManyUrls => "too_many_urls",
            FieldCode::DuplicateUrl => "duplicate_url",
            FieldCode::UnsupportedType => "unsupported_type",
            FieldCode::TypeMismatch => "type_mismatch",
            FieldCode::CorruptImage => "corrupt_image",
            FieldCode::ImageTooLarge => "image_too_large",
            FieldCode::TooManyPixels => "too_many_pixels",
            FieldCode::ImageTooSmall => "image_too_small",
            FieldCode::FileTooLarge => "file_too_large",
            FieldCode::UploadMissing => "upload_missing",
            FieldCode::InvalidValue => "invalid_value",
            FieldCode::KeyReused => "key_reused",
            FieldCode::PhotoReused => "photo_reused",
            FieldCode::NotAllowed => "not_allowed",
            FieldCode::EmailNotAscii => "email_not_ascii",
        }
    }
}

/// Every field problem of one submission.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn push(&mut self, field: &str, code: FieldCode) {
        self.0.push(FieldError {
            field: field.to_owned(),
            code,
            limit: None,
            country: None,
            item: None,
        });
    }

    /// An error whose message names `country`.
    pub fn push_country(&mut self, field: &str, code: FieldCode, country: Country) {
        self.0.push(FieldError {
            field: field.to_owned(),
            code,
            limit: None,
            country: Some(country),
            item: None,
        });
    }

    pub fn push_limit(&mut self, field: &str, code: FieldCode, limit: u64) {
        self.0.push(FieldError {
            field: field.to_owned(),
            code,
            limit: Some(limit),
            country: None,
            item: None,
        });
    }

    /// An error about one entry of a list field (`code` and its bound, if any).
    pub fn push_item(&mut self, field: &str, r: FieldCodeWithLimit, item: FieldItem) {
        self.0.push(FieldError {
            field: field.to_owned(),
            code: r.0,
            limit: r.1,
            country: None,
            item: Some(item),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first error of `field`, if any.
    pub fn get(&self, field: &str) -> Option<&FieldError> {
        self.0.iter().find(|e| e.field == field)
    }

    /// Every error of `field` (several links of a notice may each have one).
    pub fn all(&self, field: &str) -> impl Iterator<Item = &FieldError> {
        self.0.iter().filter(move |e| e.field == field)
    }

    /// Records the error of a parse result and returns its value, so a whole form is checked in one pass.
    pub fn take<T>(&mut self, field: &str, r: Result<T, FieldCodeWithLimit>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(FieldCodeWithLimit(code, limit)) => {
                self.0.push(FieldError {
                    field: field.to_owned(),
                    code,
                    limit,
                    country: None,
                    item: None,
                });
                None
            }
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.code.as_str()))
            .collect();
        write!(f, "{}", parts.join(", "))
    }
}

impl std::error::Error for FieldErrors {}

/// The outcome of parsing one field: a code and an optional bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldCodeWithLimit(pub FieldCode, pub Option<u64>);

impl From<FieldCode> for FieldCodeWithLimit {
    fn from(c: FieldCode) -> Self {
        FieldCodeWithLimit(c, None)
    }
}
