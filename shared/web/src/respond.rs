//! Turning outcomes into responses: readable HTML for the form, JSON for the API. Client errors
//! are 4xx with a precise message; infrastructure errors are logged and answered 503 with a
//! retry hint, saying nothing of the cause.

use axum::Json;
use axum::response::{Html, IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use maud::Markup;
use optout_core::Lang;
use optout_core::error::FieldErrors;
use optout_core::i18n::{field_error_message, texts};
use serde::Serialize;
use utoipa::ToSchema;

use crate::pages;

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECS: &str = "30";

pub fn html(status: StatusCode, page: Markup) -> Response {
    let mut r = (status, Html(page.into_string())).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn html_message(status: StatusCode, lang: Lang, title: &str, body: &str) -> Response {
    let mut r = html(status, pages::message(lang, title, body));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    r
}

pub fn html_unavailable(lang: Lang, cause: &str) -> Response {
    tracing::error!(cause, "request failed: service unavailable");
    let t = texts(lang);
    html_message(
        StatusCode::SERVICE_UNAVAILABLE,
        lang,
        t.site_title,
        t.unavailable,
    )
}

/// One invalid field of an API request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiFieldError {
    /// The field's name in the request (`email`, `source_urls`, `photo` ...).
    pub field: String,
    /// A stable code (`required`, `invalid_email`, `too_long`, `file_too_large` ...).
    pub code: String,
    /// A message for people, in the request's language.
    pub message: String,
}

/// The body of every API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    pub error: ApiErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiErrorBody {
    /// A stable code: `validation_failed`, `malformed_request`, `unsupported_media_type`,
    /// `payload_too_large`, `invalid_link`, `wrong_state`, `not_found`, `method_not_allowed`,
    /// `unavailable`; a complaint that is not possible: `no_decision`, `complaint_pending`,
    /// `complaint_decided`, `complaint_window_ended`.
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<ApiFieldError>,
}

pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = ApiError {
        error: ApiErrorBody {
            code: code.into(),
            message: message.into(),
            fields: vec![],
        },
    };
    let mut r = (status, Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub fn json_invalid(lang: Lang, errors: &FieldErrors) -> Response {
    let fields = errors
        .0
        .iter()
        .map(|e| ApiFieldError {
            field: e.field.clone(),
            code: e.code.as_str().into(),
            message: field_error_message(lang, e),
        })
        .collect();
    let body = ApiError {
        error: ApiErrorBody {
            code: "validation_failed".into(),
            message: "Some fields are invalid.".into(),
            fields,
        },
    };
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}

pub fn json_unavailable(cause: &str) -> Response {
    tracing::error!(cause, "request failed: service unavailable");
    json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "The service is unavailable; nothing was saved. Retry later.",
    )
}
