//! The language of a request: `?lang=` (remembered in a cookie), then the cookie, then
//! `Accept-Language`, then English.

use axum::extract::FromRequestParts;
use http::request::Parts;
use http::{HeaderMap, header};
use optout_core::Lang;

/// The language a page is shown in, and whether it was chosen just now (to remember it).
#[derive(Debug, Clone, Copy)]
pub struct PageLang {
    pub lang: Lang,
    pub chosen: bool,
}

/// The first `lang` cookie that names a language.
fn from_cookie(headers: &HeaderMap) -> Option<Lang> {
    crate::cookies::values(headers, "lang").find_map(Lang::parse)
}

pub fn from_query(query: Option<&str>) -> Option<Lang> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Lang::parse(&v))
}

impl PageLang {
    /// The language of the request with these parts.
    pub fn of(parts: &Parts) -> PageLang {
        if let Some(lang) = from_query(parts.uri.query()) {
            return PageLang { lang, chosen: true };
        }
        let lang = from_cookie(&parts.headers)
            .or_else(|| {
                parts
                    .headers
                    .get(header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Lang::from_accept_language)
            })
            .unwrap_or_default();
        PageLang {
            lang,
            chosen: false,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PageLang::of(parts))
    }
}

/// The `Set-Cookie` value that remembers a chosen language for a year.
pub fn cookie(lang: Lang) -> String {
    format!(
        "lang={}; Path=/; Max-Age=31536000; SameSite=Lax; Secure; HttpOnly",
        lang.code()
    )
}
