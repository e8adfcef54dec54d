//! The JSON API under `/v1/` (described by `/openapi.json`).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use optout_core::Lang;
use optout_core::model::{Case, CaseKind};
use optout_core::{DeskError, SubmissionInput};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

use crate::AppState;
use crate::json_body;
use crate::reject::{Body, Param};
use crate::respond::{json_error, json_invalid, json_unavailable};

/// A direct-upload form for one photo: POST `multipart/form-data` to `url` with every entry of
/// `fields` first and the file last, in the field named `file_field`.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadResponse {
    /// The key to name in `POST /v1/cases` as `upload_key` once the upload succeeded.
    pub key: String,
    pub url: String,
    /// Always `POST`.
    pub method: String,
    pub fields: BTreeMap<String, String>,
    pub file_field: String,
    /// The largest accepted file, in bytes.
    pub max_bytes: u64,
    pub expires_at: DateTime<Utc>,
}

/// A new request. The document adds the parsers' patterns and bounds, and what each kind
/// requires (`schema_rules`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
pub struct CaseRequest {
    pub kind: CaseKindSchema,
    /// The language of the emails: `en` (default) or `th`.
    #[serde(default)]
    pub lang: Option<String>,
    /// ISO 3166-1 alpha-2 code of the country of residence.
    pub country: String,
    /// 1 to 100 characters on one line.
    pub first_name: String,
    /// 1 to 100 characters on one line.
    pub last_name: String,
    /// At most 254 characters; the part before `@` in ASCII.
    pub email: String,
    /// As people dial it: a national number of the `country` of residence (`081 234 5678`), or
    /// an international one with `+` or `00` and the country code (`+66 81 234 5678`); digits,
    /// spaces, `-`, `.`, `/` and parentheses, at most 32 characters. It must be a valid number
    /// of its country (libphonenumber's metadata; refused with `invalid_phone_for_country`, the
    /// message naming the country) and is stored in E.164 (`+66812345678`). Required unless the
    /// operator made it optional.
    #[serde(default)]
    pub phone: Option<String>,
    /// Why (face or image opt-out) or the substantiated explanation (DSA notice): 10 to 5000
    /// characters.
    pub reason: String,
    /// Face or image opt-out: explicit consent to processing the photo for this purpose (must be
    /// true).
    #[serde(default)]
    pub consent: bool,
    /// Image opt-out: also exclude the faces the image shows (each face found in it, wherever it
    /// appears). Refused for the other kinds.
    #[serde(default)]
    pub exclude_faces: bool,
    /// DSA notice: the good-faith statement (must be true).
    #[serde(default)]
    pub good_faith: bool,
    /// DSA notice: 1 to 20 http(s) links of specific images (blank items are skipped; the same
    /// link twice is refused). A face opt-out ignores them.
    #[serde(default)]
    pub source_urls: Vec<String>,
    /// Face or image opt-out: the `key` of a completed upload (`POST /v1/uploads`).
    #[serde(default)]
    pub upload_key: Option<String>,
}

impl CaseRequest {
    /// The desk's input for this request, in `lang`, under `idempotency_key`.
    pub fn into_input(self, lang: Lang, idempotency_key: Option<String>) -> SubmissionInput {
        let kind = CaseKind::from(self.kind);
        SubmissionInput {
            kind: Some(kind),
            lang,
            country: self.country,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            phone: self.phone.unwrap_or_default(),
            reason: self.reason,
            consent: self.consent,
            good_faith: self.good_faith,
            exclude_faces: self.exclude_faces,
            source_urls: self.source_urls,
            // An opt-out without a photo is refused by the desk, on the field `photo`.
            upload_key: self
                .upload_key
                .or_else(|| kind.takes_photo().then(String::new)),
            idempotency_key,
        }
    }
}

/// The kind of a request.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum CaseKindSchema {
    FaceOptOut,
    ImageOptOut,
    DsaNotice,
}

impl From<CaseKindSchema> for CaseKind {
    fn from(k: CaseKindSchema) -> Self {
        match k {
            CaseKindSchema::FaceOptOut => CaseKind::FaceOptOut,
            CaseKindSchema::ImageOptOut => CaseKind::ImageOptOut,
            CaseKindSchema::DsaNotice => CaseKind::DsaNotice,
        }
    }
}

impl From<CaseKind> for CaseKindSchema {
    fn from(k: CaseKind) -> Self {
        match k {
            CaseKind::FaceOptOut => CaseKindSchema::FaceOptOut,
            CaseKind::ImageOptOut => CaseKindSchema::ImageOptOut,
            CaseKind::DsaNotice => CaseKindSchema::DsaNotice,
        }
    }
}

/// Read from a string, so that any other JSON value is told "expected a string" in words.
impl TryFrom<String> for CaseKindSchema {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        CaseKind::parse(&s)
            .map(CaseKindSchema::from)
            .ok_or_else(|| {
                let known: Vec<String> = CaseKind::ALL
                    .iter()
                    .map(|k| format!("`{}`", k.as_str()))
                    .collect();
                format!(
                    "unknown kind `{}`, expected one of {}",
                    s.chars().take(40).collect::<String>(),
                    known.join(", ")
                )
            })
    }
}

/// A case as its requester sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseResponse {
    /// The case reference (a ULID).
    pub id: String,
    pub kind: CaseKindSchema,
    /// `received`, `embedding`, `awaiting_review`, `needs_better_photo`, `approved`, `rejected`,
    /// `withdrawn`, `lapsed` (no usable photo came in time).
    pub state: String,
    pub lang: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When a decision is due.
    pub due_at: DateTime<Utc>,
    /// The private status link (keep it secret).
    pub status_url: String,
    pub status_link_expires_at: DateTime<Utc>,
    pub can_withdraw: bool,
    /// A face opt-out whose photo has no usable face may go on as an image opt-out of the same
    /// photo (`POST /v1/status/{token}/continue-as-image`).
    pub can_continue_as_image: bool,
}

fn case_response(state: &AppState, case: &Case) -> CaseResponse {
    let (_, status_url, expires) = state.desk.status_link(case);
    CaseResponse {
        id: case.id.to_string(),
        kind: case.kind.into(),
        state: case.state.as_str().to_owned(),
        lang: case.lang.code().to_owned(),
        created_at: case.created_at,
        updated_at: case.updated_at,
        due_at: case.due_at,
        status_url,
        status_link_expires_at: expires,
        can_withdraw: case.state.can_withdraw(),
        can_continue_as_image: can_continue_as_image(case),
    }
}

/// The answer to a requester's command: the case as it now is, or the refusal.
fn case_reply(state: &AppState, result: Result<Case, DeskError>) -> Response {
    match result {
        Ok(case) => Json(case_response(state, &case)).into_response(),
        Err(e) => desk_error(Lang::En, e),
    }
}

pub(crate) fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// The JSON body of a request, or why not: 415 unless it says `application/json`, 400 with the
/// field at fault unless it reads as `T`.
fn json_request<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, (StatusCode, &'static str, String)> {
    if !is_json(headers) {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send application/json.".into(),
        ));
    }
    json_body::parse(body).map_err(|m| (StatusCode::BAD_REQUEST, "malformed_request", m))
}

fn desk_error(lang: Lang, e: DeskError) -> Response {
    match e {
        DeskError::Invalid(errs) => json_invalid(lang, &errs),
        DeskError::InvalidLink => json_error(
            StatusCode::NOT_FOUND,
            "invalid_link",
            "Unknown, changed or expired link.",
        ),
        DeskError::WrongState(s) => json_error(
            StatusCode::CONFLICT,
            "wrong_state",
            &format!("Not possible while the case is {s}."),
        ),
        DeskError::ComplaintClosed(why) => json_error(
            StatusCode::CONFLICT,
            why.as_str(),
            optout_core::i18n::complaint_closed_text(lang, why),
        ),
        DeskError::Unavailable(cause) => json_unavailable(&cause),
    }
}

/// Creates a direct-upload form for one photo.
#[utoipa::path(post, path = "/v1/uploads", tag = "requests",
    responses(
        (status = 201, description = "An upload form", body = UploadResponse),
        (status = 503, description = "Unavailable; retry later", body = crate::respond::ApiError),
    ))]
pub async fn create_upload(State(state): State<AppState>) -> Response {
    match state.desk.new_upload(None).await {
        Ok(f) => (
            StatusCode::CREATED,
            Json(UploadResponse {
                key: f.key,
                url: f.url,
                method: "POST".into(),
                fields: f.fields,
                file_field: f.file_field,
                max_bytes: f.max_bytes,
                expires_at: f.expires_at,
            }),
        )
            .into_response(),
        Err(e) => desk_error(Lang::En, e),
    }
}

/// Submits a face opt-out, an image opt-out or a DSA notice. Send an `Idempotency-Key` header (8-128 visible
/// characters) to make retries safe: a repeated key returns the first case with status 200.
#[utoipa::path(post, path = "/v1/cases", tag = "requests",
    request_body = CaseRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 8 to 128 visible ASCII characters")),
    responses(
        (status = 201, description = "Case created; a receipt email was sent", body = CaseResponse),
        (status = 200, description = "A repeated request: the case it created first", body = CaseResponse),
        (status = 400, description = "Malformed JSON, not an object, or a field of the wrong type or unknown (named in the message)", body = crate::respond::ApiError),
        (status = 413, description = "Body larger than 256 KiB", body = crate::respond::ApiError),
        (status = 415, description = "Not application/json", body = crate::respond::ApiError),
        (status = 422, description = "Invalid fields, each named (`idempotency_key` when the key is invalid or was used for a different request)", body = crate::respond::ApiError),
        (status = 503, description = "Unavailable; nothing was saved; retry later", body = crate::respond::ApiError),
    ))]
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let req: CaseRequest = match json_request(&headers, &body) {
        Ok(r) => r,
        Err((status, code, message)) => return json_error(status, code, &message),
    };
    let lang = match req.lang.as_deref() {
        None => Lang::En,
        Some(l) => match Lang::parse(l) {
            Some(l) => l,
            None => {
                let mut errs = optout_core::FieldErrors::default();
                errs.push("lang", optout_core::error::FieldCode::InvalidValue);
                return json_invalid(Lang::En, &errs);
            }
        },
    };
    let idempotency_key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) => Some(k.to_owned()),
        // Not visible ASCII: the rule the desk applies to every key (8 to 128 of them).
        Some(Err(_)) => {
            let mut errs = optout_core::FieldErrors::default();
            errs.push(
                "idempotency_key",
                optout_core::error::FieldCode::InvalidValue,
            );
            return json_invalid(lang, &errs);
        }
    };
    let input = req.into_input(lang, idempotency_key);
    match state.desk.submit(input).await {
        Ok(s) => {
            let status = if s.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let mut r = (status, Json(case_response(&state, &s.case))).into_response();
            if !s.created {
                r.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            r
        }
        Err(e) => desk_error(lang, e),
    }
}

/// The status of a case, from the token of its private status link.
#[utoipa::path(get, path = "/v1/status/{token}", tag = "requests",
    params(("token" = String, Path, description = "The token of the status link", max_length = 2048)),
    responses(
        (status = 200, description = "The case", body = CaseResponse),
        (status = 400, description = "The path is not valid UTF-8 once percent-decoded", body = crate::respond::ApiError),
        (status = 404, description = "Unknown, changed or expired link", body = crate::respond::ApiError),
        (status = 503, description = "Unavailable; retry later", body = crate::respond::ApiError),
    ))]
pub async fn status(State(state): State<AppState>, Param(token): Param) -> Response {
    match state.desk.status(&token).await {
        Ok(v) => Json(case_response(&state, &v.case)).into_response(),
        Err(e) => desk_error(Lang::En, e),
    }
}

/// Withdraws a request. Withdrawing twice is harmless.
#[utoipa::path(post, path = "/v1/status/{token}/withdraw", tag = "requests",
    params(("token" = String, Path, description = "The token of the status link", max_length = 2048)),
    responses(
        (status = 200, description = "The withdrawn case", body = CaseResponse),
        (status = 400, description = "The path is not valid UTF-8 once percent-decoded", body = crate::respond::ApiError),
        (status = 404, description = "Unknown, changed or expired link", body = crate::respond::ApiError),
        (status = 409, description = "The case can no longer be withdrawn", body = crate::respond::ApiError),
        (status = 503, description = "Unavailable; retry later", body = crate::respond::ApiError),
    ))]
pub async fn withdraw(State(state): State<AppState>, Param(token): Param) -> Response {
    case_reply(&state, state.desk.withdraw(&token).await)
}

/// A better photo for a case that needs one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
pub struct PhotoRequest {
    /// The `key` of a completed upload (`POST /v1/uploads`).
    pub upload_key: String,
}

/// Replaces the photo of a case in state `needs_better_photo`; the case goes back to `received`.
#[utoipa::path(post, path = "/v1/status/{token}/photo", tag = "requests",
    params(("token" = String, Path, description = "The token of the status link", max_length = 2048)),
    request_body = PhotoRequest,
    responses(
        (status = 200, description = "The case, received again with its new photo", body = CaseResponse),
        (status = 400, description = "Malformed JSON, not an object, or a field of the wrong type or unknown; or a path that is not UTF-8", body = crate::respond::ApiError),
        (status = 404, description = "Unknown, changed or expired link", body = crate::respond::ApiError),
        (status = 409, description = "The case does not need a new photo", body = crate::respond::ApiError),
        (status = 413, description = "Body larger than 256 KiB", body = crate::respond::ApiError),
        (status = 415, description = "Not application/json", body = crate::respond::ApiError),
        (status = 422, description = "The photo is not usable", body = crate::respond::ApiError),
        (status = 503, description = "Unavailable; retry later", body = crate::respond::ApiError),
    ))]
pub async fn replace_photo(
    State(state): State<AppState>,
    Param(token): Param,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let req: PhotoRequest = match json_request(&headers, &body) {
        Ok(r) => r,
        Err((status, code, message)) => return json_error(status, code, &message),
    };
    case_reply(
        &state,
        state.desk.replace_photo(&token, &req.upload_key).await,
    )
}

/// Whether the requester may go on with `case` as an image opt-out of its photo.
pub(crate) fn can_continue_as_image(case: &Case) -> bool {
    case.state == optout_core::model::CaseState::NeedsBetterPhoto && case.kind.embeds_face()
}

/// Goes on with a face opt-out whose photo has no usable face as an image opt-out of the same
/// photo: the case is received again as an image opt-out, and excluded by the photo's hashes once
/// approved. Asking twice is harmless.
#[utoipa::path(post, path = "/v1/status/{token}/continue-as-image", tag = "requests",
    params(("token" = String, Path, description = "The token of the status link", max_length = 2048)),
    responses(
        (status = 200, description = "The case, received again as an image opt-out", body = CaseResponse),
        (status = 400, description = "The path is not valid UTF-8 once percent-decoded", body = crate::respond::ApiError),
        (status = 404, description = "Unknown, changed or expired link", body = crate::respond::ApiError),
        (status = 409, description = "The case is not a face opt-out waiting for a better photo", body = crate::respond::ApiError),
        (status = 503, description = "Unavailable; retry later", body = crate::respond::ApiError),
    ))]
pub async fn continue_as_image(State(state): State<AppState>, Param(token): Param) -> Response {
    case_reply(&state, state.desk.continue_as_image(&token).await)
}

/// A complaint against the decision of a case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, expecting = "a JSON object")]
pub struct ComplaintRequest {
    /// Why the decision is wrong: 10 to 5000 characters.
    pub complaint: String,
}

/// Contests the decision of a case in state `approved` or `rejected`, within six months of it:
/// the case goes back to `awaiting_review`, to be decided by another reviewer. One complaint per
/// case: the decision that answers it is not contested here again.
#[utoipa::path(post, path = "/v1/status/{token}/complaint", tag = "requests",
    params(("token" = String, Path, description = "The token of the status link", max_length = 2048)),
    request_body = ComplaintRequest,
    responses(
        (status = 200, description = "The case, awaiting review again", body = CaseResponse),
        (status = 400, description = "Malformed JSON, not an object, or a field of the wrong type or unknown; or a path that is not UTF-8", body = crate::respond::ApiError),
        (status = 404, description = "Unknown, changed or expired link", body = crate::respond::ApiError),
        (status = 409, description = "No complaint is possible; `error.code` says why: `no_decision` (nothing decided to contest), `complaint_pending` (a complaint waits for its decision), `complaint_decided` (the complaint was decided: what remains is an out-of-court dispute settlement body under Art. 21 DSA, the courts or the data protection authority), `complaint_window_ended` (six months after the decision)", body = crate::respond::ApiError),
        (status = 413, description = "Body larger than 256 KiB", body = crate::respond::ApiError),
        (status = 415, description = "Not application/json", body = crate::respond::ApiError),
        (status = 422, description = "The complaint is missing, too short or too long (field `complaint`)", body = crate::respond::ApiError),
        (status = 503, description = "Unavailable; retry later", body = crate::respond::ApiError),
    ))]
pub async fn complain(
    State(state): State<AppState>,
    Param(token): Param,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let req: ComplaintRequest = match json_request(&headers, &body) {
        Ok(r) => r,
        Err((status, code, message)) => return json_error(status, code, &message),
    };
    case_reply(&state, state.desk.complain(&token, &req.complaint).await)
}
