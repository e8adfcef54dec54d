//! What is refused before a handler's own logic runs — an unknown route, a method a route does
//! not take, a body over the limit or unreadable, a path parameter that is not text — answered in
//! the shape of the surface the request addressed: the API's JSON error (`/v1/...`,
//! `/openapi.json`, `/healthz`, and `/uploads` when JSON is accepted), the review desk's page
//! under `/admin`, the site's page in the request's language elsewhere. axum's own rejections are
//! plain text, so handlers take [`Body`], [`Param`] and [`QueryMap`] instead of `Bytes`, `Path`
//! and `Query`, and the router's fallbacks are [`not_found`] and [`method_not_allowed`].

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode, header};
use optout_core::Lang;
use optout_core::i18n::texts;
use std::collections::HashMap;
use std::convert::Infallible;

use crate::FORM_BODY_MAX;
use crate::lang::PageLang;
use crate::respond::{html_message, json_error};

/// Who a request is answered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The JSON API (`ApiError` bodies).
    Api,
    /// The review desk (its English pages).
    Admin,
    /// The public site (pages in the request's language).
    Site(Lang),
}

/// Whether the client asked for JSON (the upload receiver answers both ways).
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
}

impl Surface {
    pub fn of(parts: &Parts) -> Surface {
        let path = parts.uri.path();
        let under = |prefix: &str| {
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        if under("/v1") || path == "/openapi.json" || path == "/healthz" {
            Surface::Api
        } else if under("/admin") {
            Surface::Admin
        } else if path == "/uploads" && wants_json(&parts.headers) {
            Surface::Api
        } else {
            Surface::Site(PageLang::of(parts).lang)
        }
    }

    /// The response refusing a request for `why`.
    pub fn refuse(self, why: Refusal) -> Response {
        let status = why.status();
        match self {
            Surface::Api => json_error(status, why.code(), &why.api_message()),
            Surface::Admin => crate::admin::msg(status, why.admin_title(), &why.admin_message()),
            Surface::Site(lang) => html_message(
                status,
                lang,
                texts(lang).site_title,
                &why.site_message(lang),
            ),
        }
    }
}

/// Why a request was refused before its handler's logic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No route has this path.
    NotFound,
    /// The route does not take this method (axum adds the `Allow` header).
    MethodNotAllowed(Method),
    /// The body is larger than this many bytes.
    TooLarge(usize),
    /// The body could not be read (the connection failed while it was sent).
    Unreadable,
    /// A path parameter is not UTF-8 once percent-decoded.
    BadPath,
    /// A form was not sent as `application/x-www-form-urlencoded` (the site's forms).
    NotAForm,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Unreadable | Refusal::BadPath => StatusCode::BAD_REQUEST,
            Refusal::NotAForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refusal::NotFound => "not_found",
            Refusal::MethodNotAllowed(_) => "method_not_allowed",
            Refusal::TooLarge(_) => "payload_too_large",
            Refusal::Unreadable | Refusal::BadPath => "malformed_request",
            Refusal::NotAForm => "unsupported_media_type",
        }
    }

    fn api_message(&self) -> String {
        match self {
            Refusal::NotFound => {
                "There is no such route; the API is described at /openapi.json.".into()
            }
            Refusal::MethodNotAllowed(m) => {
                format!("{m} is not allowed on this route; the Allow header lists what is.")
            }
            Refusal::TooLarge(max) => format!("The body is larger than {max} bytes."),
            Refusal::Unreadable => "The body could not be read.".into(),
            Refusal::BadPath => "The path is not valid UTF-8 once percent-decoded.".into(),
            Refusal::NotAForm => "Send application/x-www-form-urlencoded.".into(),
        }
    }

    fn admin_title(&self) -> &'static str {
        match self {
            Refusal::NotFound => "Not found",
            Refusal::MethodNotAllowed(_) => "Method not allowed",
            Refusal::TooLarge(_) => "Too large",
            Refusal::Unreadable | Refusal::BadPath => "Bad request",
            Refusal::NotAForm => "Unsupported form",
        }
    }

    fn admin_message(&self) -> String {
        match self {
            Refusal::NotFound => "There is no such page.".into(),
            Refusal::MethodNotAllowed(m) => format!("This page does not take {m} requests."),
            Refusal::TooLarge(max) => format!("The form is larger than {max} bytes."),
            Refusal::Unreadable => "The form could not be read. Try again.".into(),
            Refusal::BadPath => "This address is not valid.".into(),
            Refusal::NotAForm => "Send the form as application/x-www-form-urlencoded.".into(),
        }
    }

    /// What the site says, in `lang`.
    fn site_message(&self, lang: Lang) -> String {
        let th = lang == Lang::Th;
        match self {
            Refusal::NotFound => texts(lang).not_found.into(),
            Refusal::MethodNotAllowed(_) if th => {
                "ไม่สามารถเปิดหน้านี้ด้วยวิธีนี้ได้ โปรดกลับไปที่หน้าแรกแล้วลองอีกครั้ง".into()
            }
            Refusal::MethodNotAllowed(_) => {
                "This page cannot be opened this way. Go back to the home page and try again."
                    .into()
            }
            Refusal::TooLarge(max) if th => format!(
                "แบบฟอร์มมีขนาดใหญ่เกินไป (เกิน {} KiB) โปรดตัดข้อความให้สั้นลงแล้วส่งอีกครั้ง",
                max / 1024
            ),
            Refusal::TooLarge(max) => format!(
                "The form is too large (more than {} KiB). Shorten the text and send it again.",
                max / 1024
            ),
            Refusal::Unreadable | Refusal::BadPath if th => {
                "ไม่สามารถอ่านคำขอได้ โปรดย้อนกลับแล้วลองอีกครั้ง".into()
            }
            Refusal::Unreadable | Refusal::BadPath => {
                "The request could not be read. Go back and try again.".into()
            }
            Refusal::NotAForm if th => {
                "แบบฟอร์มไม่ได้ถูกส่งมาในรูปแบบที่หน้านี้รองรับ โปรดย้อนกลับแล้วส่งอีกครั้ง".into()
            }
            Refusal::NotAForm => {
                "The form was not sent in a format this page accepts. Go back and send it again."
                    .into()
            }
        }
    }
}

/// The router's fallback: no route has this path.
pub async fn not_found(req: Request) -> Response {
    let (parts, _) = req.into_parts();
    Surface::of(&parts).refuse(Refusal::NotFound)
}

/// The fallback of every route for the methods it does not take (axum adds `Allow`).
pub async fn method_not_allowed(req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let method = parts.method.clone();
    Surface::of(&parts).refuse(Refusal::MethodNotAllowed(method))
}

/// A form or JSON body, read whole. Used on the routes limited to [`FORM_BODY_MAX`] bytes (the
/// router's `DefaultBodyLimit`), which is what a longer body is told.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let surface = Surface::of(&parts);
        match Bytes::from_request(Request::from_parts(parts, body), state).await {
            Ok(b) => Ok(Body(b)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(surface.refuse(Refusal::TooLarge(FORM_BODY_MAX)))
            }
            Err(_) => Err(surface.refuse(Refusal::Unreadable)),
        }
    }
}

/// The one path parameter of a route, as text.
pub struct Param(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Param {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(p)) => Ok(Param(p)),
            Err(_) => Err(Surface::of(parts).refuse(Refusal::BadPath)),
        }
    }
}

/// The query string's parameters (the first of repeated names; undecodable bytes replaced).
/// Reading it cannot fail: each handler judges the values it uses.
pub struct QueryMap(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let mut out = HashMap::new();
        let query = parts.uri.query().unwrap_or("");
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()).take(100) {
            out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Ok(QueryMap(out))
    }
}
