//! `POST /uploads`: the embedded mode's receiver of upload forms (the same shape as an S3
//! presigned POST: signed fields first, then the file). The body is streamed: a file over the
//! limit is refused with 413 as soon as it is seen to be too big, without reading it all.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{StatusCode, header};
use optout_core::Lang;
use optout_core::i18n::texts;
use optout_core::ports::{StoreError, UploadRefused, UploadTicket};
use std::collections::BTreeMap;

use crate::AppState;
use crate::lang::PageLang;
use crate::reject::{self, wants_json};
use crate::respond::{html_message, json_error, json_unavailable};

/// Room for the multipart framing and the signed fields around the file.
pub const MULTIPART_OVERHEAD: usize = 64 * 1024;
const TEXT_FIELD_MAX: usize = 4096;

enum Refusal {
    /// Not `multipart/form-data` (415).
    NotMultipart,
    TooLarge,
    Expired,
    Invalid(&'static str),
    NoFile,
    Unavailable(String),
}

/// The page a browser's upload came from, when it is one of this desk's (its path and query):
/// where the refusal page leads back to, so that the requester can choose another file.
fn form_page(headers: &http::HeaderMap, public_url: &str) -> Option<String> {
    let referer = headers.get(header::REFERER)?.to_str().ok()?;
    let path = referer.strip_prefix(public_url)?;
    let plain = path.starts_with('/')
        && !path.starts_with("//")
        && path.len() <= 2048
        && !path.contains(['"', '<', '>', '\\']);
    plain.then(|| path.to_owned())
}

/// The answer to a refused upload: JSON for a client that asks for it, else a readable page
/// that leads back to `back` (the form the upload came from) when it is known.
fn respond_back(json: bool, lang: Lang, r: Refusal, back: Option<&str>) -> Response {
    let t = texts(lang);
    if !json && let Some(back) = back {
        let body = match &r {
            Refusal::TooLarge => Some((StatusCode::PAYLOAD_TOO_LARGE, t.too_large)),
            Refusal::Expired | Refusal::Invalid(_) => {
                Some((StatusCode::BAD_REQUEST, t.upload_expired))
            }
            _ => None,
        };
        if let Some((status, body)) = body {
            let status = match r {
                Refusal::Expired => StatusCode::FORBIDDEN,
                _ => status,
            };
            let page = crate::pages::message_back(
                lang,
                t.upload_refused_title,
                body,
                (back, t.back_to_form),
            );
            return crate::respond::html(status, page);
        }
    }
    match (json, r) {
        (_, Refusal::Unavailable(cause)) if json => json_unavailable(&cause),
        (_, Refusal::Unavailable(cause)) => crate::respond::html_unavailable(lang, &cause),
        (true, Refusal::NotMultipart) => json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send multipart/form-data.",
        ),
        (false, Refusal::NotMultipart) => {
            reject::Surface::Site(lang).refuse(reject::Refusal::NotAForm)
        }
        (true, Refusal::TooLarge) => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The file is larger than the upload form allows.",
        ),
        (true, Refusal::Expired) => json_error(
            StatusCode::FORBIDDEN,
            "upload_expired",
            "The upload form has expired.",
        ),
        (true, Refusal::Invalid(why)) => {
            json_error(StatusCode::BAD_REQUEST, "malformed_request", why)
        }
        (true, Refusal::NoFile) => json_error(
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "No file was sent.",
        ),
        (false, Refusal::TooLarge) => html_message(
            StatusCode::PAYLOAD_TOO_LARGE,
            lang,
            t.upload_refused_title,
            t.too_large,
        ),
        (false, Refusal::Expired) => html_message(
            StatusCode::FORBIDDEN,
            lang,
            t.upload_refused_title,
            t.upload_expired,
        ),
        (false, Refusal::Invalid(_)) => html_message(
            StatusCode::BAD_REQUEST,
            lang,
            t.upload_refused_title,
            t.upload_expired,
        ),
        (false, Refusal::NoFile) => html_message(
            StatusCode::BAD_REQUEST,
            lang,
            t.photo_label,
            &optout_core::i18n::field_error_message(
                lang,
                &optout_core::error::FieldError {
                    field: "photo".into(),
                    code: optout_core::error::FieldCode::Required,
                    limit: None,
                    country: None,
                    item: None,
                },
            ),
        ),
    }
}

pub async fn receive(State(state): State<AppState>, lang: PageLang, req: Request) -> Response {
    let json = wants_json(req.headers());
    let lang = lang.lang;
    let back = form_page(req.headers(), &state.desk.settings.public_url);
    let respond = |json, lang, r| respond_back(json, lang, r, back.as_deref());
    let Some(sink) = state.uploads.clone() else {
        return json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "Uploads go straight to the photo store in this deployment.",
        );
    };
    let limit = state.desk.settings.photo.max_bytes as usize + MULTIPART_OVERHEAD;
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > limit as u64) {
        return respond(json, lang, Refusal::TooLarge);
    }
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("multipart/form-data"));
    if !is_multipart {
        return respond(json, lang, Refusal::NotMultipart);
    }
    let mut multipart = match Multipart::from_request(req, &state).await {
        Ok(m) => m,
        Err(_) => {
            return respond(
                json,
                lang,
                Refusal::Invalid("The multipart/form-data boundary is missing or invalid."),
            );
        }
    };
    let mut fields = BTreeMap::new();
    let mut ticket: Option<UploadTicket> = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return respond(json, lang, Refusal::TooLarge);
            }
            Err(_) => return respond(json, lang, Refusal::Invalid("Malformed multipart body.")),
        };
        let name = field.name().unwrap_or("").to_owned();
        if name == "file" {
            let Some(t) = ticket.take().or_else(|| sink.check(&fields).ok()) else {
                return match sink.check(&fields) {
                    Err(UploadRefused::Expired) => respond(json, lang, Refusal::Expired),
                    _ => respond(
                        json,
                        lang,
                        Refusal::Invalid("The signed fields must come before the file."),
                    ),
                };
            };
            let content_type = field.content_type().map(str::to_owned);
            let mut bytes = Vec::new();
            loop {
                match field.chunk().await {
                    Ok(Some(c)) => {
                        if (bytes.len() + c.len()) as u64 > t.max_bytes {
                            return respond(json, lang, Refusal::TooLarge);
                        }
                        bytes.extend_from_slice(&c);
                    }
                    Ok(None) => break,
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        return respond(json, lang, Refusal::TooLarge);
                    }
                    Err(_) => {
                        return respond(json, lang, Refusal::Invalid("Malformed multipart body."));
                    }
                }
            }
            if bytes.is_empty() {
                return respond(json, lang, Refusal::NoFile);
            }
            return match sink.store(&t, content_type.as_deref(), bytes).await {
                Ok(()) => match &t.redirect {
                    Some(r) => {
                        let sep = if r.contains('?') { '&' } else { '?' };
                        let target = format!(
                            "{r}{sep}key={}",
                            url::form_urlencoded::byte_serialize(t.key.as_bytes())
                                .collect::<String>()
                        );
                        Redirect::to(&target).into_response()
                    }
                    None => StatusCode::NO_CONTENT.into_response(),
                },
                Err(StoreError::Conflict) => respond(
                    json,
                    lang,
                    Refusal::Invalid("This upload was already used."),
                ),
                Err(e) => respond(json, lang, Refusal::Unavailable(e.to_string())),
            };
        }
        let mut value = Vec::new();
        loop {
            match field.chunk().await {
                Ok(Some(c)) if value.len() + c.len() <= TEXT_FIELD_MAX => {
                    value.extend_from_slice(&c)
                }
                Ok(Some(_)) => {
                    return respond(json, lang, Refusal::Invalid("A form field is too long."));
                }
                Ok(None) => break,
                Err(_) => {
                    return respond(json, lang, Refusal::Invalid("Malformed multipart body."));
                }
            }
        }
        let value = String::from_utf8_lossy(&value).into_owned();
        fields.insert(name, value);
        if fields.contains_key("key") && fields.contains_key("policy") && ticket.is_none() {
            match sink.check(&fields) {
                Ok(t) => ticket = Some(t),
                Err(UploadRefused::Expired) => return respond(json, lang, Refusal::Expired),
                Err(UploadRefused::Invalid) => {
                    return respond(
                        json,
                        lang,
                        Refusal::Invalid("The upload form is not valid."),
                    );
                }
            }
        }
        if fields.len() > 20 {
            return respond(json, lang, Refusal::Invalid("Too many form fields."));
        }
    }
    respond(json, lang, Refusal::NoFile)
}
