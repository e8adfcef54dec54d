//! Handlers of the HTML pages and forms.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use optout_core::Lang;
use optout_core::error::{FieldCode, FieldErrors};
use optout_core::i18n::{complaint_closed_text, texts};
use optout_core::model::{CaseKind, ComplaintClosed};
use optout_core::signing::random_token;
use optout_core::{DeskError, SubmissionInput};
use std::collections::HashMap;

use crate::AppState;
use crate::lang::{PageLang, cookie};
use crate::pages::{self, FormValues};
use crate::reject::{Body, Param, QueryMap, Refusal, Surface};
use crate::respond::{html, html_message, html_unavailable};

/// Adds the language cookie when the language was chosen by the request.
fn remember(lang: PageLang, mut r: Response) -> Response {
    if lang.chosen
        && let Ok(v) = HeaderValue::from_str(&cookie(lang.lang))
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

pub async fn landing(lang: PageLang) -> Response {
    remember(lang, html(StatusCode::OK, pages::landing(lang.lang)))
}

/// The fields of a urlencoded form body; `None` if the body is not a form.
pub(crate) fn form_fields(headers: &HeaderMap, body: &Bytes) -> Option<HashMap<String, String>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    {
        return None;
    }
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body).take(200) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    Some(out)
}

fn checked(f: &HashMap<String, String>, name: &str) -> bool {
    f.get(name)
        .is_some_and(|v| matches!(v.as_str(), "yes" | "on" | "true" | "1"))
}

fn values(f: &HashMap<String, String>) -> FormValues {
    let g = |k: &str| f.get(k).cloned().unwrap_or_default();
    FormValues {
        country: g("country"),
        first_name: g("first_name"),
        last_name: g("last_name"),
        email: g("email"),
        phone: g("phone"),
        reason: g("reason"),
        consent: checked(f, "consent"),
        good_faith: checked(f, "good_faith"),
        exclude_faces: checked(f, "exclude_faces"),
        source_urls: g("source_urls"),
        upload_key: g("upload_key"),
        form_token: g("form_token"),
    }
}

fn input(kind: CaseKind, lang: Lang, v: &FormValues) -> SubmissionInput {
    SubmissionInput {
        kind: Some(kind),
        lang,
        country: v.country.clone(),
        first_name: v.first_name.clone(),
        last_name: v.last_name.clone(),
        email: v.email.clone(),
        phone: v.phone.clone(),
        reason: v.reason.clone(),
        consent: v.consent,
        good_faith: v.good_faith,
        exclude_faces: v.exclude_faces,
        source_urls: v.source_urls.lines().map(complete_scheme).collect(),
        upload_key: kind.takes_photo().then(|| v.upload_key.clone()),
        idempotency_key: (!v.form_token.is_empty()).then(|| v.form_token.clone()),
    }
}

/// A link of the notice form typed without its scheme (`www.example.com/x.jpg`) is read as an
/// `https://` link: a line without `://` that starts with a host name (a dot in it, and at most a
/// port after a colon), not with `/`. Any other line is left as typed, for the parser to judge.
pub fn complete_scheme(line: &str) -> String {
    let s = line.trim();
    if s.is_empty() || s.contains("://") || s.starts_with('/') {
        return line.to_owned();
    }
    let authority = s.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return line.to_owned(),
        None => authority,
    };
    let hostlike = host.contains('.')
        && !host.starts_with('.')
        && !host.contains(['@', ':', '\\'])
        && !host.chars().any(|c| c.is_whitespace() || c.is_control());
    if hostlike {
        format!("https://{s}")
    } else {
        line.to_owned()
    }
}

/// The language of a posted form: its hidden `lang` field, else the request's.
fn posted_lang(f: &HashMap<String, String>, lang: PageLang) -> Lang {
    f.get("lang")
        .and_then(|l| Lang::parse(l))
        .unwrap_or(lang.lang)
}

fn unsupported_form(lang: Lang) -> Response {
    Surface::Site(lang).refuse(Refusal::NotAForm)
}

/// A posted HTML form: its fields, and the language of the answer (the form's hidden `lang`
/// field, else the request's). A body that is not a form is refused in the request's language.
pub(crate) struct PostedForm {
    fields: HashMap<String, String>,
    lang: Lang,
}

impl<S: Send + Sync> FromRequest<S> for PostedForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let page = PageLang::of(&parts);
        let headers = parts.headers.clone();
        let Body(body) = Body::from_request(Request::from_parts(parts, body), state).await?;
        let fields = form_fields(&headers, &body).ok_or_else(|| unsupported_form(page.lang))?;
        let lang = posted_lang(&fields, page);
        Ok(PostedForm { fields, lang })
    }
}

async fn photo_step(
    state: &AppState,
    kind: CaseKind,
    lang: Lang,
    errors: &FieldErrors,
) -> Response {
    let redirect = format!(
        "{}{}?lang={}",
        state.desk.settings.public_url,
        pages::form_path(kind),
        lang.code()
    );
    match state.desk.new_upload(Some(&redirect)).await {
        Ok(form) => {
            let status = if errors.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            html(status, pages::photo_step(lang, kind, &form, errors))
        }
        Err(e) => html_unavailable(lang, &e.to_string()),
    }
}

/// The form of an opt-out with a photo: the photo step, or (after an upload, `?key=`) the
/// details step.
async fn photo_form(
    state: AppState,
    kind: CaseKind,
    lang: PageLang,
    q: &HashMap<String, String>,
) -> Response {
    let l = lang.lang;
    let r = match q.get("key") {
        None => photo_step(&state, kind, l, &FieldErrors::default()).await,
        // The page only looks at the upload's headers: anyone with the key may load it at will,
        // and decoding is left to the submission (`Desk::check_upload`).
        Some(key) => match state.desk.peek_upload(key).await {
            Ok(_) => {
                let v = FormValues {
                    upload_key: key.clone(),
                    form_token: random_token(),
                    ..Default::default()
                };
                html(
                    StatusCode::OK,
                    pages::photo_details_step(
                        l,
                        kind,
                        &v,
                        &FieldErrors::default(),
                        state.desk.settings.phone_required,
                    ),
                )
            }
            Err(DeskError::Invalid(errs)) => {
                // A bad file is of no use to anyone: drop it now.
                if let Err(e) = state.desk.ports.photos.delete(key).await {
                    tracing::warn!(error = %e, "could not delete a refused upload");
                }
                photo_step(&state, kind, l, &errs).await
            }
            Err(e) => html_unavailable(l, &e.to_string()),
        },
    };
    remember(lang, r)
}

/// `GET /opt-out`: the face opt-out's form.
pub async fn face_page(
    State(state): State<AppState>,
    lang: PageLang,
    QueryMap(q): QueryMap,
) -> Response {
    photo_form(state, CaseKind::FaceOptOut, lang, &q).await
}

/// `GET /image-opt-out`: the image opt-out's form.
pub async fn image_page(
    State(state): State<AppState>,
    lang: PageLang,
    QueryMap(q): QueryMap,
) -> Response {
    photo_form(state, CaseKind::ImageOptOut, lang, &q).await
}

async fn submit_form(state: AppState, form: PostedForm, kind: CaseKind) -> Response {
    let PostedForm { fields: f, lang: l } = form;
    let v = values(&f);
    let phone_required = state.desk.settings.phone_required;
    match state.desk.submit(input(kind, l, &v)).await {
        Ok(s) => html(StatusCode::OK, pages::success(l, &s.case, &s.status_url)),
        Err(DeskError::Invalid(errs)) => {
            let mut v = v;
            if v.form_token.is_empty() {
                v.form_token = random_token();
            }
            let upload_missing = errs
                .get("photo")
                .is_some_and(|e| e.code == FieldCode::UploadMissing);
            let page = match kind.takes_photo() {
                true if upload_missing => return photo_step(&state, kind, l, &errs).await,
                true => pages::photo_details_step(l, kind, &v, &errs, phone_required),
                false => pages::dsa_form(l, &v, &errs, phone_required),
            };
            html(StatusCode::UNPROCESSABLE_ENTITY, page)
        }
        Err(e) => html_unavailable(l, &e.to_string()),
    }
}

/// `POST /opt-out`: the details of a face opt-out.
pub async fn face_submit(State(state): State<AppState>, form: PostedForm) -> Response {
    submit_form(state, form, CaseKind::FaceOptOut).await
}

/// `POST /image-opt-out`: the details of an image opt-out.
pub async fn image_submit(State(state): State<AppState>, form: PostedForm) -> Response {
    submit_form(state, form, CaseKind::ImageOptOut).await
}

/// `GET /dsa`: the DSA notice form.
pub async fn dsa_page(State(state): State<AppState>, lang: PageLang) -> Response {
    let v = FormValues {
        form_token: random_token(),
        ..Default::default()
    };
    let page = pages::dsa_form(
        lang.lang,
        &v,
        &FieldErrors::default(),
        state.desk.settings.phone_required,
    );
    remember(lang, html(StatusCode::OK, page))
}

/// `POST /dsa`: a DSA notice.
pub async fn dsa_submit(State(state): State<AppState>, form: PostedForm) -> Response {
    submit_form(state, form, CaseKind::DsaNotice).await
}

fn invalid_link(lang: Lang) -> Response {
    let t = texts(lang);
    html_message(
        StatusCode::NOT_FOUND,
        lang,
        t.link_invalid_title,
        t.link_invalid_body,
    )
}

/// The language of a status page: chosen now, else the case's.
fn status_lang(lang: PageLang, case_lang: Lang) -> Lang {
    if lang.chosen { lang.lang } else { case_lang }
}

/// `GET /status/{token}`.
pub async fn status_page(
    State(state): State<AppState>,
    lang: PageLang,
    Param(token): Param,
) -> Response {
    let r = match state.desk.status(&token).await {
        Ok(v) => {
            let l = status_lang(lang, v.case.lang);
            html(
                StatusCode::OK,
                pages::status(
                    l,
                    &v.case,
                    &token,
                    &FieldErrors::default(),
                    None,
                    state.desk.complaint_closed(&v.case),
                ),
            )
        }
        Err(DeskError::InvalidLink) => invalid_link(lang.lang),
        Err(e) => html_unavailable(lang.lang, &e.to_string()),
    };
    remember(lang, r)
}

/// `POST /status/{token}/withdraw` (needs the `confirm` box).
pub async fn withdraw(
    State(state): State<AppState>,
    Param(token): Param,
    PostedForm { fields: f, lang: l }: PostedForm,
) -> Response {
    if !checked(&f, "confirm") {
        return match state.desk.status(&token).await {
            Ok(v) => {
                let mut errs = FieldErrors::default();
                errs.push("confirm", FieldCode::Required);
                html(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    pages::status(
                        l,
                        &v.case,
                        &token,
                        &errs,
                        None,
                        state.desk.complaint_closed(&v.case),
                    ),
                )
            }
            Err(DeskError::InvalidLink) => invalid_link(l),
            Err(e) => html_unavailable(l, &e.to_string()),
        };
    }
    let t = texts(l);
    let done = (t.withdrawn_done, t.withdraw_title, t.withdraw_not_possible);
    status_after(&state, l, &token, state.desk.withdraw(&token).await, done)
}

/// The status page after a requester's command: with `done.0` said on it, or (the case's state
/// does not allow the command) a 409 page titled `done.1` that says `done.2`.
fn status_after(
    state: &AppState,
    l: Lang,
    token: &str,
    result: Result<optout_core::model::Case, DeskError>,
    done: (&str, &str, &str),
) -> Response {
    let (said, title, not_possible) = done;
    match result {
        Ok(case) => html(
            StatusCode::OK,
            pages::status(
                l,
                &case,
                token,
                &FieldErrors::default(),
                Some(said),
                state.desk.complaint_closed(&case),
            ),
        ),
        Err(DeskError::InvalidLink) => invalid_link(l),
        Err(DeskError::WrongState(_)) => html_message(StatusCode::CONFLICT, l, title, not_possible),
        Err(e) => html_unavailable(l, &e.to_string()),
    }
}

/// `POST /status/{token}/continue-as-image`: a face opt-out without a usable face goes on as an
/// image opt-out of the same photo.
pub async fn continue_as_image(
    State(state): State<AppState>,
    Param(token): Param,
    PostedForm { lang: l, .. }: PostedForm,
) -> Response {
    let t = texts(l);
    let done = (
        t.continued_image_done,
        t.continue_image_title,
        t.continue_image_not_possible,
    );
    let result = state.desk.continue_as_image(&token).await;
    status_after(&state, l, &token, result, done)
}

/// `GET /status/{token}/photo`: the upload of a better photo, or (after it, `?key=`) its confirmation.
pub async fn better_photo_page(
    State(state): State<AppState>,
    lang: PageLang,
    Param(token): Param,
    QueryMap(q): QueryMap,
) -> Response {
    let view = match state.desk.status(&token).await {
        Ok(v) => v,
        Err(DeskError::InvalidLink) => return invalid_link(lang.lang),
        Err(e) => return html_unavailable(lang.lang, &e.to_string()),
    };
    let l = status_lang(lang, view.case.lang);
    if view.case.state != optout_core::model::CaseState::NeedsBetterPhoto {
        return axum::response::Redirect::to(&format!("/status/{token}")).into_response();
    }
    let mut errors = FieldErrors::default();
    if let Some(key) = q.get("key") {
        // Headers only, as on the opt-out page; the photo is decoded when it is attached.
        match state.desk.peek_upload(key).await {
            Ok(_) => {
                return remember(
                    lang,
                    html(StatusCode::OK, pages::better_photo_confirm(l, &token, key)),
                );
            }
            Err(DeskError::Invalid(errs)) => {
                if let Err(e) = state.desk.ports.photos.delete(key).await {
                    tracing::warn!(error = %e, "could not delete a refused upload");
                }
                errors = errs;
            }
            Err(e) => return html_unavailable(l, &e.to_string()),
        }
    }
    let redirect = format!(
        "{}/status/{token}/photo?lang={}",
        state.desk.settings.public_url,
        l.code()
    );
    match state.desk.new_upload(Some(&redirect)).await {
        Ok(form) => {
            let status = if errors.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            remember(
                lang,
                html(
                    status,
                    pages::better_photo_step(l, &view.case, &token, &form, &errors),
                ),
            )
        }
        Err(e) => html_unavailable(l, &e.to_string()),
    }
}

/// `POST /status/{token}/photo`: attaches the uploaded better photo.
pub async fn better_photo_submit(
    State(state): State<AppState>,
    Param(token): Param,
    PostedForm { fields: f, lang: l }: PostedForm,
) -> Response {
    let key = f.get("upload_key").cloned().unwrap_or_default();
    match state.desk.replace_photo(&token, &key).await {
        Ok(case) => html(
            StatusCode::OK,
            pages::status(
                l,
                &case,
                &token,
                &FieldErrors::default(),
                Some(texts(l).better_photo_received),
                state.desk.complaint_closed(&case),
            ),
        ),
        Err(DeskError::InvalidLink) => invalid_link(l),
        Err(DeskError::Invalid(_)) => {
            axum::response::Redirect::to(&format!("/status/{token}/photo?lang={}", l.code()))
                .into_response()
        }
        Err(DeskError::WrongState(_)) => {
            axum::response::Redirect::to(&format!("/status/{token}")).into_response()
        }
        Err(e) => html_unavailable(l, &e.to_string()),
    }
}

/// `GET /status/{token}/complaint`: the complaint form, while a complaint is possible.
pub async fn complaint_page(
    State(state): State<AppState>,
    lang: PageLang,
    Param(token): Param,
) -> Response {
    let view = match state.desk.status(&token).await {
        Ok(v) => v,
        Err(DeskError::InvalidLink) => return invalid_link(lang.lang),
        Err(e) => return html_unavailable(lang.lang, &e.to_string()),
    };
    let l = status_lang(lang, view.case.lang);
    if let Some(why) = state.desk.complaint_closed(&view.case) {
        return complaint_closed(l, why);
    }
    remember(
        lang,
        html(
            StatusCode::OK,
            pages::complaint(l, &token, "", &FieldErrors::default()),
        ),
    )
}

/// `POST /status/{token}/complaint`: contests the decision (field `complaint`).
pub async fn complaint_submit(
    State(state): State<AppState>,
    Param(token): Param,
    PostedForm { fields: f, lang: l }: PostedForm,
) -> Response {
    let text = f.get("complaint").cloned().unwrap_or_default();
    match state.desk.complain(&token, &text).await {
        Ok(_) => {
            let t = texts(l);
            html_message(StatusCode::OK, l, t.complaint_title, t.complaint_done)
        }
        Err(DeskError::Invalid(errs)) => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::complaint(l, &token, &text, &errs),
        ),
        Err(DeskError::InvalidLink) => invalid_link(l),
        Err(DeskError::ComplaintClosed(why)) => complaint_closed(l, why),
        Err(DeskError::WrongState(_)) => complaint_closed(l, ComplaintClosed::NoDecision),
        Err(e) => html_unavailable(l, &e.to_string()),
    }
}

/// The page that says why no complaint is possible (409: a second complaint, or one too late).
fn complaint_closed(lang: Lang, why: ComplaintClosed) -> Response {
    html_message(
        StatusCode::CONFLICT,
        lang,
        texts(lang).complaint_title,
        complaint_closed_text(lang, why),
    )
}

#[cfg(test)]
mod tests {
    use super::complete_scheme;

    #[test]
    fn a_link_typed_without_its_scheme_is_read_as_https() {
        for (typed, read) in [
            ("www.example.com/x.jpg", "https://www.example.com/x.jpg"),
            (
                "  images.example.org:8443/a.png?s=1 ",
                "https://images.example.org:8443/a.png?s=1",
            ),
            ("example.com", "https://example.com"),
            ("ตัวอย่าง.ไทย/รูป.jpg", "https://ตัวอย่าง.ไทย/รูป.jpg"),
        ] {
            assert_eq!(complete_scheme(typed), read, "{typed}");
        }
        // Anything else is left as typed, for the parser to judge (and name).
        for typed in [
            "",
            "https://example.com/x.jpg",
            "http://example.com/x.jpg",
            "ftp://example.com/x.jpg",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "mailto:anna@example.org",
            "anna@example.org",
            "//example.com/x.jpg",
            "/x.jpg",
            "not a url",
            "localhost/x.jpg",
            ".example.com/x.jpg",
            "http:example.com/x.jpg",
        ] {
            assert_eq!(complete_scheme(typed), typed, "{typed}");
        }
    }
}
