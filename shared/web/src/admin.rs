//! The review desk: `/admin/login` (signed, expiring admin links), the queue, case pages, the
//! photo (served here, or a redirect to the photo store) and decisions. Every response is
//! `no-store` and `noindex`; every state-changing request carries the session's CSRF token.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::Markup;
use optout_core::model::{CaseId, CaseKind, CaseState, Country};
use optout_core::ports::{CaseFilter, QueueCursor};
use optout_core::signing::admin::{self, AdminSession};
use optout_core::{DecisionInput, DomainError, ReviewError, reviewer::PhotoView};
use std::collections::HashMap;

use crate::AppState;
use crate::admin_pages::{self, CaseView, QueueQuery, Refused, Reviewer};
use crate::forms::form_fields;
use crate::reject::{Body, Param, QueryMap};

/// The session cookie's name.
pub const COOKIE: &str = "optout_admin";
/// Cases per queue page.
pub const PAGE_SIZE: usize = 50;

fn private(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-robots-tag",
        HeaderValue::from_static("noindex, nofollow"),
    );
    r
}

fn page(status: StatusCode, m: Markup) -> Response {
    private((status, axum::response::Html(m.into_string())).into_response())
}

pub(crate) fn msg(status: StatusCode, title: &str, body: &str) -> Response {
    page(status, admin_pages::message(title, body))
}

fn forbidden() -> Response {
    msg(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "This admin link or session is not valid. Ask for a new admin link.",
    )
}

fn unavailable(cause: &str) -> Response {
    tracing::error!(cause, "admin request failed: service unavailable");
    let mut r = msg(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "The service is unavailable; nothing was changed. Try again in a minute.",
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(crate::respond::RETRY_AFTER_SECS),
    );
    r
}

/// Why an admin request was refused before its handler ran.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// No valid session (or link): 403, saying nothing more.
    Forbidden,
    /// The CSRF token is missing or wrong: 403.
    Csrf,
    /// The body is not a urlencoded form: 415.
    NotAForm,
    /// The path's case id is malformed: 400.
    BadCaseId,
    /// The sign-outs could not be read: 503 (the cause is logged).
    Unavailable(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Forbidden => forbidden(),
            Refusal::Csrf => msg(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "The form's security token is missing or wrong. Reload the page and try again.",
            ),
            Refusal::NotAForm => msg(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported form",
                "Send the form as application/x-www-form-urlencoded.",
            ),
            Refusal::BadCaseId => msg(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "This is not a case reference.",
            ),
            Refusal::Unavailable(cause) => unavailable(&cause),
        }
    }
}

/// A reviewer's valid session.
struct Session {
    session: AdminSession,
    token: String,
}

impl Session {
    fn reviewer(&self) -> &optout_core::model::ReviewerName {
        &self.session.grant.reviewer
    }

    /// The reviewer's name and the session's CSRF token, for the pages' forms.
    fn page_reviewer(&self, state: &AppState) -> (String, String) {
        (
            self.reviewer().to_string(),
            admin::csrf(&state.desk.keys, &self.token),
        )
    }
}

/// The first session cookie that is signed, unexpired and not revoked by a sign-out: a browser
/// sends several when a page of another path (or a forger) set its own, and any of them may be
/// the valid one.
async fn session(state: &AppState, headers: &HeaderMap) -> Result<Session, Refusal> {
    let now = state.desk.ports.clock.now();
    // Only signed tokens reach the store; a flood of forged cookies costs a MAC each.
    for token in crate::cookies::values(headers, COOKIE).take(16) {
        let Ok(session) = admin::verify_session(&state.desk.keys, token, now) else {
            continue;
        };
        let revoked = state
            .sessions
            .revoked_until(&session.grant.reviewer)
            .await
            .map_err(|e| Refusal::Unavailable(e.to_string()))?;
        if revoked.is_some_and(|r| session.issued <= r) {
            continue;
        }
        return Ok(Session {
            session,
            token: token.to_owned(),
        });
    }
    Err(Refusal::Forbidden)
}

/// `GET /admin/login?token=...`: a valid admin link sets the session cookie (bound to the link's
/// expiry) and redirects to the queue.
pub async fn login(State(state): State<AppState>, QueryMap(q): QueryMap) -> Response {
    let Some(token) = q.get("token") else {
        return forbidden();
    };
    let now = state.desk.ports.clock.now();
    let grant = match admin::verify_link(&state.desk.keys, token, now) {
        Ok(g) => g,
        Err(e) => {
            tracing::info!(reason = %e, "admin link refused");
            return forbidden();
        }
    };
    let session = admin::session_token(&state.desk.keys, &grant, now);
    let max_age = (grant.expires - now).num_seconds().max(0);
    let cookie = format!(
        "{COOKIE}={session}; Path=/admin; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    );
    tracing::info!(reviewer = %grant.reviewer, "reviewer signed in");
    let mut r = private(Redirect::to("/admin").into_response());
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            r.headers_mut().insert(header::SET_COOKIE, v);
            r
        }
        Err(_) => forbidden(),
    }
}

/// `POST /admin/logout`: ends every session of the reviewer issued until now (on this device and
/// any other, so a copied cookie stops working too) and forgets the cookie.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Response {
    let s = match checked_form(&state, &headers, &body).await {
        Ok((s, _)) => s,
        Err(r) => return r.into_response(),
    };
    // Never before this session's own issue time, whatever another server's clock says.
    let until = state.desk.ports.clock.now().max(s.session.issued);
    if let Err(e) = state.sessions.revoke(s.reviewer(), until).await {
        return unavailable(&e.to_string());
    }
    tracing::info!(reviewer = %s.reviewer(), "reviewer signed out");
    let mut r = private(msg(StatusCode::OK, "Signed out", "You are signed out.").into_response());
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "optout_admin=; Path=/admin; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
        ),
    );
    r
}

fn bad_request(what: &str) -> Response {
    msg(
        StatusCode::BAD_REQUEST,
        "Bad request",
        &format!("The parameter “{what}” is not valid."),
    )
}

/// `GET /admin`: the queue, most urgent first, with filters and keyset paging (`?after=`).
pub async fn queue(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryMap(q): QueryMap,
) -> Response {
    let s = match session(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let get = |k: &str| q.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let query = QueueQuery {
        state: get("state"),
        kind: get("kind"),
        country: get("country"),
        complaint: get("complaint"),
    };
    let mut filter = CaseFilter::default();
    match query.state.as_str() {
        "" => filter.states = vec![CaseState::AwaitingReview],
        "all" => {}
        st => match CaseState::parse(st) {
            Some(st) => filter.states = vec![st],
            None => return bad_request("state"),
        },
    }
    if !query.kind.is_empty() {
        match CaseKind::parse(&query.kind) {
            Some(k) => filter.kind = Some(k),
            None => return bad_request("kind"),
        }
    }
    if !query.country.is_empty() {
        match Country::parse(&query.country) {
            Ok(c) => filter.country = Some(c),
            Err(_) => return bad_request("country"),
        }
    }
    filter.complaint = match query.complaint.as_str() {
        "" => None,
        "yes" => Some(true),
        "no" => Some(false),
        _ => return bad_request("complaint"),
    };
    let after = match q.get("after") {
        None => None,
        Some(a) => match QueueCursor::parse(a) {
            Some(c) => Some(c),
            None => return bad_request("after"),
        },
    };
    let (name, csrf) = s.page_reviewer(&state);
    match state.desk.queue(&filter, PAGE_SIZE, after.as_ref()).await {
        Ok(p) => page(
            StatusCode::OK,
            admin_pages::queue(
                &Reviewer {
                    name: &name,
                    csrf: &csrf,
                },
                &query,
                &p,
                state.desk.ports.clock.now(),
            ),
        ),
        Err(e) => unavailable(&e.to_string()),
    }
}

fn case_id(raw: &str) -> Result<CaseId, Refusal> {
    CaseId::parse(raw).ok_or(Refusal::BadCaseId)
}

fn not_found() -> Response {
    msg(StatusCode::NOT_FOUND, "Not found", "There is no such case.")
}

/// `GET /admin/cases/{id}`.
pub async fn case_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Param(id): Param,
    QueryMap(q): QueryMap,
) -> Response {
    let s = match session(&state, &headers).await {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let id = match case_id(&id) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let view = CaseView {
        photo: false,
        done: q.contains_key("done"),
        refused: None,
        statement_en: None,
        next: None,
    };
    show_case(&state, &s, id, StatusCode::OK, view).await
}

/// The case page of `id` for the reviewer of session `s`, with `view`'s notices (the photo and
/// the English statement are looked up here).
async fn show_case(
    state: &AppState,
    s: &Session,
    id: CaseId,
    status: StatusCode,
    mut view: CaseView<'_>,
) -> Response {
    let review = match state.desk.review_case(id).await {
        Ok(r) => r,
        Err(ReviewError::NotFound) => return not_found(),
        Err(e) => return unavailable(&e.to_string()),
    };
    view.photo = match state.desk.photo_available(&review.case).await {
        Ok(p) => p,
        Err(e) => return unavailable(&e.to_string()),
    };
    view.statement_en = state.desk.statement_for_reviewer(&review.case);
    view.next = match state.desk.next_in_queue(id).await {
        Ok(n) => n,
        Err(e) => return unavailable(&e.to_string()),
    };
    // Where the browser will be sent for the photo, if not here: the page must allow it.
    let image_origin = if view.photo {
        match state.desk.ports.photos.view_origin().await {
            Ok(o) => o,
            Err(e) => return unavailable(&e.to_string()),
        }
    } else {
        None
    };
    let (name, csrf) = s.page_reviewer(state);
    let mut r = page(
        status,
        admin_pages::case_page(
            &Reviewer {
                name: &name,
                csrf: &csrf,
            },
            &review,
            &view,
        ),
    );
    if let Some(origin) = image_origin {
        match crate::csp_with_image_origin(&origin) {
            Some(v) => {
                r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            }
            None => return unavailable("the photo store's origin cannot go in a page policy"),
        }
    }
    r
}

/// `GET /admin/cases/{id}/photo`: the raw photo, only with a session, never cached. When the
/// photo store gives view URLs (AWS), a `303 See Other` to a short-lived one, so that the photo
/// (up to 10 MB) never passes through the api function (whose responses stop at 6 MB); the URL
/// is a credential: it is never logged, and no Referer follows it.
pub async fn photo(
    State(state): State<AppState>,
    headers: HeaderMap,
    Param(id): Param,
) -> Response {
    if let Err(r) = session(&state, &headers).await {
        return r.into_response();
    }
    let id = match case_id(&id) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    match state.desk.photo_view(id).await {
        Ok(Some(PhotoView::Url(url))) => {
            let Ok(location) = HeaderValue::from_str(&url) else {
                return unavailable("the photo store gave a URL that is not a header value");
            };
            let mut r = StatusCode::SEE_OTHER.into_response();
            let h = r.headers_mut();
            h.insert(header::LOCATION, location);
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            private(r)
        }
        Ok(Some(PhotoView::Bytes {
            bytes,
            content_type: ct,
        })) => {
            let mut r = Response::new(axum::body::Body::from(bytes));
            if let Ok(v) = HeaderValue::from_str(&ct) {
                r.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            r.headers_mut().insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("inline"),
            );
            private(r)
        }
        Ok(None) => not_found(),
        Err(e) => unavailable(&e.to_string()),
    }
}

/// The fields of a posted admin form after the session and CSRF checks.
async fn checked_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Session, HashMap<String, String>), Refusal> {
    let s = session(state, headers).await?;
    let f = form_fields(headers, body).ok_or(Refusal::NotAForm)?;
    let ok = f
        .get("csrf")
        .is_some_and(|c| admin::check_csrf(&state.desk.keys, &s.token, c));
    if !ok {
        return Err(Refusal::Csrf);
    }
    Ok((s, f))
}

/// `POST /admin/cases/{id}/decide`: approve, reject (reason + note) or ask for a better photo.
pub async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Param(id): Param,
    Body(body): Body,
) -> Response {
    let (s, f) = match checked_form(&state, &headers, &body).await {
        Ok(x) => x,
        Err(r) => return r.into_response(),
    };
    let id = match case_id(&id) {
        Ok(id) => id,
        Err(r) => return r.into_response(),
    };
    let Some(version) = f.get("version").and_then(|v| v.parse::<u64>().ok()) else {
        return invalid("version");
    };
    let field = |name: &str| f.get(name).map_or("", String::as_str);
    // A refused decision: the case page again, the reason next to the form, what was typed kept.
    let refuse = |why: &str| CaseView {
        photo: false,
        done: false,
        refused: Some(Refused {
            decision: field("decision"),
            message: why.to_owned(),
            reason: field("reason"),
            note: field("note"),
        }),
        statement_en: None,
        next: None,
    };
    let input = match DecisionInput::parse(
        field("decision"),
        f.get("reason").map(String::as_str),
        f.get("quality").map(String::as_str),
        f.get("note").map(String::as_str),
    ) {
        Ok(i) => i,
        Err(DomainError::Invalid(name)) => {
            let view = refuse(invalid_why(name));
            return show_case(&state, &s, id, StatusCode::UNPROCESSABLE_ENTITY, view).await;
        }
        Err(e) => return unavailable(&e.to_string()),
    };
    match state.desk.decide(id, s.reviewer(), version, input).await {
        Ok(_) => private(Redirect::to(&format!("/admin/cases/{id}?done=1")).into_response()),
        Err(ReviewError::NotFound) => not_found(),
        Err(ReviewError::AlreadyDecided(st)) => msg(
            StatusCode::CONFLICT,
            "Already decided",
            &format!(
                "This case was already decided or changed since you opened it (it is now “{}”). Reload it.",
                st.as_str()
            ),
        ),
        Err(ReviewError::SameReviewer) => msg(
            StatusCode::FORBIDDEN,
            "Another reviewer must decide",
            "This complaint contests your own decision: a different reviewer must decide it.",
        ),
        Err(ReviewError::Invalid(name)) => {
            let view = refuse(invalid_why(name));
            show_case(&state, &s, id, StatusCode::UNPROCESSABLE_ENTITY, view).await
        }
        Err(ReviewError::NotReady(why)) => {
            let view = refuse(&format!("This case cannot be approved yet: {why}."));
            show_case(&state, &s, id, StatusCode::CONFLICT, view).await
        }
        Err(ReviewError::Unavailable(e)) => unavailable(&e),
    }
}

/// Why a decision's field was refused, as the reviewer reads it.
fn invalid_why(field: &str) -> &'static str {
    match field {
        "reason" => "Choose a reason for the rejection from the list.",
        "note" => {
            "The note is missing (it is required for “Other reason”: say why), too long (at most 2000 characters) or has control characters."
        }
        "quality" => "Choose what is wrong with the photo from the list.",
        "version" => "The form is incomplete (case version). Reload the case.",
        _ => "Choose approve, reject or ask for a better photo.",
    }
}

fn invalid(field: &str) -> Response {
    msg(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid decision",
        &format!("{field}: {}", invalid_why(field)),
    )
}
