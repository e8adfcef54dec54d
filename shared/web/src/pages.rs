//! The HTML pages (maud escapes every value). Plain HTML forms that work without JavaScript.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use optout_core::countries::COUNTRIES;
use optout_core::error::{FieldCode, FieldErrors};
use optout_core::i18n::{
    Lang, Texts, complaint_closed_text, field_error_message, kind_texts, quality_message,
    state_label, texts,
};
use optout_core::mail::human_date;
use optout_core::model::{Case, CaseKind, CaseState, ComplaintClosed};
use optout_core::ports::UploadForm;
use optout_core::verdict::Verdict;

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans Thai",sans-serif;line-height:1.55;color:#1b1b1b;background:#f6f6f4;margin:0}
header,main,footer{max-width:44rem;margin:0 auto;padding:0 1rem}
header{display:flex;flex-wrap:wrap;gap:.3rem 1rem;justify-content:space-between;align-items:center;padding-top:1rem;padding-bottom:.5rem}
header a.home{font-weight:700;color:#1b1b1b;text-decoration:none}
nav.lang>*{margin-left:.6rem}
.skip{position:absolute;left:-9999px;top:.5rem;background:#fff;color:#1d4ed8;padding:.4rem .8rem;border-radius:4px;z-index:10}
.skip:focus{left:1rem}
main{background:#fff;border-radius:8px;padding:1.2rem 1.5rem 1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.08);overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:.3rem 0 1rem}
label{display:block;font-weight:600;margin-top:1rem}
.help{color:#555;font-size:.9rem;margin:.15rem 0}
input[type=text],input[type=email],input[type=tel],select,textarea{width:100%;box-sizing:border-box;padding:.5rem;font:inherit;border:1px solid #999;border-radius:4px}
input[type=file]{max-width:100%}
textarea{min-height:7rem}
.check{display:flex;gap:.6rem;align-items:flex-start;font-weight:400}
.check input{margin-top:.35rem}
.error{color:#a4000f;font-weight:600;margin:.2rem 0}
.invalid input,.invalid select,.invalid textarea{border:2px solid #a4000f}
.alert{border-left:4px solid #a4000f;background:#fff1f1;padding:.6rem .9rem;margin-bottom:1rem}
.alert ul{margin:.4rem 0 0;padding-left:1.2rem}.alert a{color:#a4000f;font-weight:600}
.alert:focus{outline:3px solid #1d4ed8;outline-offset:2px}
.ok{border-left:4px solid #11703a;background:#effaf2;padding:.6rem .9rem;margin:1rem 0}
button,.button{display:inline-block;margin-top:1.2rem;background:#1d4ed8;color:#fff;border:0;border-radius:4px;padding:.65rem 1.2rem;font:inherit;font-weight:600;text-decoration:none;cursor:pointer}
.card{border:1px solid #ddd;border-radius:6px;padding:1rem;margin:1rem 0}
.privacy{background:#f3f5fa;border-radius:6px;padding:.8rem 1rem;margin-top:1.2rem;font-size:.92rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0}
.ref{font-family:ui-monospace,monospace;font-size:1.15rem;letter-spacing:.03em;word-break:break-all}
footer{color:#666;font-size:.85rem;padding-top:1rem;padding-bottom:2rem;overflow-wrap:anywhere}
@media (max-width:36rem){
header,footer{padding-left:.75rem;padding-right:.75rem}
main{border-radius:0;padding:1rem .9rem 1.2rem}
dl{display:block}dt{margin-top:.7rem}dd{margin:.1rem 0 0}
}
"#;

/// Who runs the desk and where questions go, shown in the footer of every public page (from the
/// configuration: `OPTOUT_OPERATOR_NAME`, `OPTOUT_SUPPORT_EMAIL`).
#[derive(Debug, Clone)]
pub struct Site {
    pub operator: String,
    pub support_email: String,
}

tokio::task_local! {
    /// The [`Site`] of the request being served: the router sets it around every request (see
    /// `crate::router`), so that each page's frame can show it without every page function and
    /// error response carrying the configuration.
    static SITE: Site;
}

/// Runs `f` (the handling of one request) with `site` as the frame's [`Site`].
pub async fn with_site<F: std::future::Future>(site: Site, f: F) -> F::Output {
    SITE.scope(site, f).await
}

/// The footer line naming the operator and the support address (none outside a request).
fn support_line(t: &Texts) -> Markup {
    let Ok(site) = SITE.try_with(Site::clone) else {
        return html! {};
    };
    let line = optout_core::i18n::fill(
        t.site_support,
        &[("operator", &site.operator), ("contact", "\u{0}")],
    );
    let (before, after) = line.split_once('\u{0}').unwrap_or((&line, ""));
    html! {
        p.support {
            (before)
            a href={ "mailto:" (site.support_email) } { (site.support_email) }
            (after)
        }
    }
}

/// The frame of every page. `query` is kept in the language links (so a switch keeps the step:
/// the upload's `key`; what was typed in a form is not kept, as a link cannot carry it).
pub fn layout(lang: Lang, title: &str, path_and_query: &str, body: Markup) -> Markup {
    let t = texts(lang);
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · " (t.site_title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a.skip href="#main" { (t.skip_to_main) }
                header {
                    a.home href={ "/?lang=" (lang.code()) } { (t.site_title) }
                    nav.lang aria-label=(t.language) {
                        @for l in Lang::ALL {
                            @if l == lang { strong lang=(l.code()) { (l.native_name()) } }
                            @else { a lang=(l.code()) hreflang=(l.code()) href=(with_lang(path_and_query, l)) { (l.native_name()) } }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
                footer { p { (t.site_tagline) } (support_line(t)) }
            }
        }
    }
}

/// `path_and_query` with its `lang` parameter set to `lang`.
pub fn with_lang(path_and_query: &str, lang: Lang) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k != "lang" && k != "bucket" && k != "etag" {
            ser.append_pair(&k, &v);
        }
    }
    ser.append_pair("lang", lang.code());
    format!("{path}?{}", ser.finish())
}

pub fn landing(lang: Lang) -> Markup {
    let t = texts(lang);
    let l = lang.code();
    layout(
        lang,
        t.site_title,
        "/",
        html! {
            h1 { (t.site_title) }
            p { (t.landing_intro) }
            @for kind in CaseKind::ALL {
                @let k = kind_texts(lang, kind);
                section.card {
                    h2 { (k.landing_title) }
                    p { (k.landing_body) }
                    a.button href={ (form_path(kind)) "?lang=" (l) } { (k.landing_cta) }
                }
            }
            p.help { (t.landing_status_hint) }
            (scope_notice(t))
        },
    )
}

/// What the requester typed, to show it again after an error.
#[derive(Debug, Clone, Default)]
pub struct FormValues {
    pub country: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub reason: String,
    pub consent: bool,
    pub good_faith: bool,
    pub exclude_faces: bool,
    pub source_urls: String,
    pub upload_key: String,
    pub form_token: String,
}

/// The error of `field` (`<p id="{field}-error">`, every message of the field), if it has one.
fn field_error(lang: Lang, errors: &FieldErrors, field: &str) -> Markup {
    let messages: Vec<String> = errors
        .all(field)
        .map(|e| field_error_message(lang, e))
        .collect();
    html! {
        @if !messages.is_empty() {
            p.error id={ (field) "-error" } {
                @for (i, m) in messages.iter().enumerate() { @if i > 0 { br; } (m) }
            }
        }
    }
}

/// The `aria-describedby` of an input: its error (if invalid), then its help text (if any).
fn described_by(errors: &FieldErrors, field: &str, has_help: bool) -> Option<String> {
    let mut ids = Vec::new();
    if errors.get(field).is_some() {
        ids.push(format!("{field}-error"));
    }
    if has_help {
        ids.push(format!("{field}-help"));
    }
    (!ids.is_empty()).then(|| ids.join(" "))
}

/// The `aria-invalid` of an input.
fn aria_invalid(errors: &FieldErrors, field: &str) -> Option<&'static str> {
    errors.get(field).is_some().then_some("true")
}

/// The help text of `field` (`<p id="{field}-help">`).
fn help(field: &str, text: &str) -> Markup {
    html! { p.help id={ (field) "-help" } { (text) } }
}

/// The fields of a page that an error summary links to: the id of each input and its label
/// (`None`: the error's message says it all, as a checkbox's does).
type Targets<'a> = &'a [(&'a str, Option<&'a str>)];

/// The error summary of a re-rendered form: every problem, each linked to its field (`#id`)
/// when the page has it, focused on load (`autofocus`, no JavaScript).
fn errors_summary(lang: Lang, errors: &FieldErrors, targets: Targets<'_>) -> Markup {
    let t = texts(lang);
    html! {
        @if !errors.is_empty() {
            div.alert id="error-summary" role="alert" tabindex="-1" autofocus aria-labelledby="error-summary-title" {
                p id="error-summary-title" { strong { (t.errors_intro) } }
                ul {
                    @for e in &errors.0 {
                        @let message = field_error_message(lang, e);
                        @let target = targets.iter().find(|(id, _)| *id == e.field);
                        // A message that does not name its field gets the field's label.
                        @let text = match target {
                            Some((_, Some(label))) if e.code != FieldCode::Required && e.item.is_none() => format!("{label}: {message}"),
                            _ => message,
                        };
                        li {
                            @if target.is_some() { a href={ "#" (e.field) } { (text) } } @else { (text) }
                        }
                    }
                }
            }
        }
    }
}

/// The summary's targets of the personal fields.
fn personal_targets(t: &Texts) -> [(&'static str, Option<&'static str>); 5] {
    [
        ("country", Some(t.country)),
        ("first_name", Some(t.first_name)),
        ("last_name", Some(t.last_name)),
        ("email", Some(t.email)),
        ("phone", Some(t.phone)),
    ]
}

#[allow(clippy::too_many_arguments)]
fn text_input(
    lang: Lang,
    errors: &FieldErrors,
    name: &str,
    label: &str,
    ty: &str,
    value: &str,
    autocomplete: &str,
    help_text: Option<&str>,
) -> Markup {
    let invalid = errors.get(name).is_some();
    html! {
        div class=[invalid.then_some("invalid")] {
            label for=(name) { (label) }
            @if let Some(h) = help_text { (help(name, h)) }
            (field_error(lang, errors, name))
            input type=(ty) id=(name) name=(name) value=(value) maxlength="300" autocomplete=(autocomplete)
                aria-invalid=[aria_invalid(errors, name)] aria-describedby=[described_by(errors, name, help_text.is_some())];
        }
    }
}

fn personal_fields(
    lang: Lang,
    t: &Texts,
    v: &FormValues,
    errors: &FieldErrors,
    phone_required: bool,
) -> Markup {
    let country_invalid = errors.get("country").is_some();
    let names: Vec<(&str, &str)> = {
        let mut n: Vec<(&str, &str)> = COUNTRIES
            .iter()
            .map(|(c, en, th)| (*c, if lang == Lang::Th { *th } else { *en }))
            .collect();
        n.sort_by(|a, b| a.1.cmp(b.1));
        n
    };
    let phone_label = if phone_required {
        t.phone.to_owned()
    } else {
        format!("{} ({})", t.phone, t.optional)
    };
    html! {
        div class=[country_invalid.then_some("invalid")] {
            label for="country" { (t.country) }
            (field_error(lang, errors, "country"))
            select id="country" name="country" autocomplete="country"
                aria-invalid=[aria_invalid(errors, "country")] aria-describedby=[described_by(errors, "country", false)] {
                option value="" { (t.choose_country) }
                @for (code, name) in &names {
                    option value=(code) selected[v.country.eq_ignore_ascii_case(code)] { (name) }
                }
            }
        }
        (text_input(lang, errors, "first_name", t.first_name, "text", &v.first_name, "given-name", None))
        (text_input(lang, errors, "last_name", t.last_name, "text", &v.last_name, "family-name", None))
        (text_input(lang, errors, "email", t.email, "email", &v.email, "email", Some(t.email_help)))
        (text_input(lang, errors, "phone", &phone_label, "tel", &v.phone, "tel", Some(t.phone_help)))
    }
}

fn reason_field(
    lang: Lang,
    errors: &FieldErrors,
    label: &str,
    help_text: &str,
    value: &str,
) -> Markup {
    let invalid = errors.get("reason").is_some();
    html! {
        div class=[invalid.then_some("invalid")] {
            label for="reason" { (label) }
            (help("reason", help_text))
            (field_error(lang, errors, "reason"))
            textarea id="reason" name="reason" maxlength="6000"
                aria-invalid=[aria_invalid(errors, "reason")] aria-describedby=[described_by(errors, "reason", true)] { (value) }
        }
    }
}

fn checkbox(lang: Lang, errors: &FieldErrors, name: &str, text: &str, checked: bool) -> Markup {
    html! {
        div class=[errors.get(name).is_some().then_some("invalid")] {
            (field_error(lang, errors, name))
            label.check {
                input type="checkbox" id=(name) name=(name) value="yes" checked[checked]
                    aria-invalid=[aria_invalid(errors, name)] aria-describedby=[described_by(errors, name, false)];
                span { (text) }
            }
        }
    }
}

/// The photo input of an upload form (its help text is `help_text`).
fn photo_input(lang: Lang, errors: &FieldErrors, file_field: &str, help_text: &str) -> Markup {
    let t = texts(lang);
    html! {
        div class=[errors.get("photo").is_some().then_some("invalid")] {
            label for="photo" { (t.photo_label) }
            (help("photo", help_text))
            (field_error(lang, errors, "photo"))
            input type="file" id="photo" name=(file_field) accept="image/jpeg,image/png,image/webp" required
                aria-invalid=[aria_invalid(errors, "photo")] aria-describedby=[described_by(errors, "photo", true)];
        }
    }
}

/// Where the form of a kind of request is.
pub fn form_path(kind: CaseKind) -> &'static str {
    match kind {
        CaseKind::FaceOptOut => "/opt-out",
        CaseKind::ImageOptOut => "/image-opt-out",
        CaseKind::DsaNotice => "/dsa",
    }
}

/// What the desk does not do, and where questions go (the support address of the request's site).
fn scope_notice(t: &Texts) -> Markup {
    let contact = SITE
        .try_with(|s| s.support_email.clone())
        .unwrap_or_default();
    let text = optout_core::i18n::fill(t.scope_notice, &[("contact", "\u{0}")]);
    let (before, after) = text.split_once('\u{0}').unwrap_or((&text, ""));
    html! {
        p.help.scope id="scope-notice" {
            (before)
            @if contact.is_empty() { } @else { a href={ "mailto:" (contact) } { (contact) } }
            (after)
        }
    }
}

/// Step 1 of an opt-out with a photo: the photo, uploaded straight to the photo store.
pub fn photo_step(lang: Lang, kind: CaseKind, form: &UploadForm, errors: &FieldErrors) -> Markup {
    let t = texts(lang);
    let k = kind_texts(lang, kind);
    layout(
        lang,
        k.form_title,
        form_path(kind),
        html! {
            h1 { (k.form_title) }
            p.help { (t.step_photo) }
            (errors_summary(lang, errors, &[("photo", Some(t.photo_label))]))
            form method="post" action=(form.url) enctype="multipart/form-data" {
                @for (k, v) in &form.fields { input type="hidden" name=(k) value=(v); }
                (photo_input(lang, errors, &form.file_field, k.photo_help))
                button type="submit" { (t.upload_button) }
            }
            div.privacy { strong { (t.privacy_title) } p { (k.privacy) } }
            (scope_notice(t))
        },
    )
}

/// Step 2 of an opt-out with a photo: the details, naming the uploaded photo.
pub fn photo_details_step(
    lang: Lang,
    kind: CaseKind,
    v: &FormValues,
    errors: &FieldErrors,
    phone_required: bool,
) -> Markup {
    let t = texts(lang);
    let k = kind_texts(lang, kind);
    let path = form_path(kind);
    let mut targets = vec![("photo", Some(t.photo_label))];
    targets.extend(personal_targets(t));
    targets.extend([
        ("reason", Some(k.reason)),
        ("exclude_faces", None),
        ("consent", None),
    ]);
    layout(
        lang,
        k.form_title,
        &format!("{path}?key={}", v.upload_key),
        html! {
            h1 { (k.form_title) }
            p.help { (t.step_details) }
            (errors_summary(lang, errors, &targets))
            // A problem with the photo is fixed with another one: its summary link leads here.
            div.ok { (t.photo_received) " · " a id="photo" href={ (path) "?lang=" (lang.code()) } aria-describedby=[described_by(errors, "photo", false)] { (t.photo_change) } }
            (field_error(lang, errors, "photo"))
            form id="request-form" method="post" action=(path) novalidate {
                input type="hidden" name="lang" value=(lang.code());
                input type="hidden" name="upload_key" value=(v.upload_key);
                input type="hidden" name="form_token" value=(v.form_token);
                (personal_fields(lang, t, v, errors, phone_required))
                (reason_field(lang, errors, k.reason, k.reason_help, &v.reason))
                @if kind.offers_faces() {
                    (checkbox(lang, errors, "exclude_faces", t.exclude_faces, v.exclude_faces))
                }
                (checkbox(lang, errors, "consent", k.consent, v.consent))
                div.privacy { strong { (t.privacy_title) } p { (k.privacy) } }
                (scope_notice(t))
                button type="submit" { (t.submit) }
            }
        },
    )
}

pub fn dsa_form(lang: Lang, v: &FormValues, errors: &FieldErrors, phone_required: bool) -> Markup {
    let t = texts(lang);
    let k = kind_texts(lang, CaseKind::DsaNotice);
    let urls_invalid = errors.get("source_urls").is_some();
    let mut targets = personal_targets(t).to_vec();
    targets.extend([
        ("source_urls", Some(t.urls)),
        ("reason", Some(k.reason)),
        ("good_faith", None),
    ]);
    layout(
        lang,
        k.form_title,
        "/dsa",
        html! {
            h1 { (k.form_title) }
            (errors_summary(lang, errors, &targets))
            form id="request-form" method="post" action="/dsa" novalidate {
                input type="hidden" name="lang" value=(lang.code());
                input type="hidden" name="form_token" value=(v.form_token);
                (personal_fields(lang, t, v, errors, phone_required))
                div class=[urls_invalid.then_some("invalid")] {
                    label for="source_urls" { (t.urls) }
                    (help("source_urls", t.urls_help))
                    (field_error(lang, errors, "source_urls"))
                    textarea id="source_urls" name="source_urls" spellcheck="false" autocapitalize="none"
                        aria-invalid=[aria_invalid(errors, "source_urls")] aria-describedby=[described_by(errors, "source_urls", true)] { (v.source_urls) }
                }
                (reason_field(lang, errors, k.reason, k.reason_help, &v.reason))
                (checkbox(lang, errors, "good_faith", t.good_faith, v.good_faith))
                div.privacy { strong { (t.privacy_title) } p { (k.privacy) } }
                (scope_notice(t))
                button type="submit" { (t.submit) }
            }
        },
    )
}

pub fn success(lang: Lang, case: &Case, status_url: &str) -> Markup {
    let t = texts(lang);
    layout(
        lang,
        t.success_title,
        "/",
        html! {
            h1 { (t.success_title) }
            p { (t.success_reference) ": " span.ref id="reference" { (case.id) } }
            p { (t.success_email) }
            p { (kind_texts(lang, case.kind).next) }
            p { a.button id="status-link" href=(status_url) { (t.status_title) } }
            (scope_notice(t))
        },
    )
}

/// The status page. `complaint_closed` is why the decision cannot be contested (`None`: it can).
pub fn status(
    lang: Lang,
    case: &Case,
    token: &str,
    errors: &FieldErrors,
    done: Option<&str>,
    complaint_closed: Option<ComplaintClosed>,
) -> Markup {
    let t = texts(lang);
    layout(
        lang,
        t.status_title,
        &format!("/status/{token}"),
        html! {
            h1 { (t.status_title) }
            (errors_summary(lang, errors, &[("confirm", None)]))
            @if let Some(done) = done { div.ok role="status" id="done" { (done) } }
            dl {
                dt { (t.status_reference) } dd.ref { (case.id) }
                dt { (t.status_kind) } dd { (kind_texts(lang, case.kind).label) }
                dt { (t.status_state) } dd id="state" data-state=(case.state.as_str()) { (state_label(lang, case.state)) }
                dt { (t.status_received) } dd { (human_date(lang, case.created_at)) }
                dt { (t.status_updated) } dd { (human_date(lang, case.updated_at)) }
                @if !case.state.is_final() { dt { (t.status_due) } dd { (human_date(lang, case.due_at)) } }
            }
            @if case.state == CaseState::NeedsBetterPhoto {
                div.alert role="status" {
                    p { (quality_message(lang, case.quality_issue.unwrap_or(Verdict::Unreadable))) }
                    a.button id="better-photo" href={ "/status/" (token) "/photo?lang=" (lang.code()) } { (t.better_photo_title) }
                }
                @if case.kind.embeds_face() {
                    section.card id="continue-as-image" {
                        h2 { (t.continue_image_title) }
                        p { (t.continue_image_body) }
                        form method="post" action={ "/status/" (token) "/continue-as-image" } {
                            input type="hidden" name="lang" value=(lang.code());
                            button type="submit" { (t.continue_image_button) }
                        }
                    }
                }
            }
            @if let Some(d) = case.decision.as_ref().filter(|_| matches!(case.state, CaseState::Approved | CaseState::Rejected)) {
                section.card id="decision" {
                    h2 { (t.status_decision) }
                    dl {
                        dt { (t.sor_action) } dd { (d.statement.action) }
                        dt { (t.sor_facts) } dd { (d.statement.facts) }
                        dt { (t.sor_automated) } dd { (d.statement.automated) }
                        dt { (t.sor_ground) } dd { (d.statement.ground) }
                        @if let Some(n) = &d.note { dt { (t.sor_note) } dd { (n) } }
                        dt { (t.sor_redress) } dd { (d.statement.redress) }
                    }
                    @match complaint_closed {
                        None => a.button id="complaint-link" href={ "/status/" (token) "/complaint?lang=" (lang.code()) } { (t.complaint_title) },
                        // The internal procedure is over: what remains.
                        Some(why @ (ComplaintClosed::Decided | ComplaintClosed::WindowEnded)) => {
                            p id="complaint-closed" data-reason=(why.as_str()) { (complaint_closed_text(lang, why)) }
                        }
                        Some(_) => {}
                    }
                }
            }
            @if case.open_complaint().is_some() { div.ok id="complaint-open" { (t.complaint_open) } }
            @if case.state.can_withdraw() {
                section.card {
                    h2 { (t.withdraw_title) }
                    p { (t.withdraw_body) }
                    form method="post" action={ "/status/" (token) "/withdraw" } {
                        input type="hidden" name="lang" value=(lang.code());
                        (checkbox(lang, errors, "confirm", t.withdraw_confirm, false))
                        button type="submit" { (t.withdraw_button) }
                    }
                }
            }
            (scope_notice(t))
        },
    )
}

/// The complaint form against a decision (from the status link).
pub fn complaint(lang: Lang, token: &str, value: &str, errors: &FieldErrors) -> Markup {
    let t = texts(lang);
    let invalid = errors.get("complaint").is_some();
    layout(
        lang,
        t.complaint_title,
        &format!("/status/{token}/complaint"),
        html! {
            h1 { (t.complaint_title) }
            p { (t.complaint_body) }
            (errors_summary(lang, errors, &[("complaint", Some(t.complaint_label))]))
            form id="complaint-form" method="post" action={ "/status/" (token) "/complaint" } novalidate {
                input type="hidden" name="lang" value=(lang.code());
                div class=[invalid.then_some("invalid")] {
                    label for="complaint" { (t.complaint_label) }
                    (field_error(lang, errors, "complaint"))
                    textarea id="complaint" name="complaint" maxlength="6000"
                        aria-invalid=[aria_invalid(errors, "complaint")] aria-describedby=[described_by(errors, "complaint", false)] { (value) }
                }
                button type="submit" { (t.complaint_button) }
            }
        },
    )
}

/// The upload of a better photo for a case (from its status link).
pub fn better_photo_step(
    lang: Lang,
    case: &Case,
    token: &str,
    form: &UploadForm,
    errors: &FieldErrors,
) -> Markup {
    let t = texts(lang);
    layout(
        lang,
        t.better_photo_title,
        &format!("/status/{token}/photo"),
        html! {
            h1 { (t.better_photo_title) }
            p { (t.better_photo_body) }
            p.help { (quality_message(lang, case.quality_issue.unwrap_or(Verdict::Unreadable))) }
            (errors_summary(lang, errors, &[("photo", Some(t.photo_label))]))
            form method="post" action=(form.url) enctype="multipart/form-data" {
                @for (k, v) in &form.fields { input type="hidden" name=(k) value=(v); }
                (photo_input(lang, errors, &form.file_field, kind_texts(lang, case.kind).photo_help))
                button type="submit" { (t.upload_button) }
            }
        },
    )
}

/// The confirmation that attaches an uploaded better photo to its case.
pub fn better_photo_confirm(lang: Lang, token: &str, key: &str) -> Markup {
    let t = texts(lang);
    layout(
        lang,
        t.better_photo_title,
        &format!("/status/{token}/photo?key={key}"),
        html! {
            h1 { (t.better_photo_title) }
            div.ok { (t.photo_received) }
            form method="post" action={ "/status/" (token) "/photo" } {
                input type="hidden" name="lang" value=(lang.code());
                input type="hidden" name="upload_key" value=(key);
                button type="submit" { (t.submit) }
            }
        },
    )
}

/// A page with a title and a message (errors, expired links).
pub fn message(lang: Lang, title: &str, body: &str) -> Markup {
    let t = texts(lang);
    let home = format!("/?lang={}", lang.code());
    message_back(lang, title, body, (&home, t.back_home))
}

/// A page with a title, a message and one way on: `back` is (the link, its words).
pub fn message_back(lang: Lang, title: &str, body: &str, back: (&str, &str)) -> Markup {
    layout(
        lang,
        title,
        "/",
        html! {
            h1 { (title) }
            p { (body) }
            p { a.button id="back" href=(back.0) { (back.1) } }
        },
    )
}
