//! The review desk's pages (for staff, in English): queue, case, messages. maud escapes every value.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use optout_core::countries::COUNTRIES;
use optout_core::i18n::{Lang, quality_message, reject_reason_text, state_label};
use optout_core::model::{BETTER_PHOTO_CODES, Case, CaseKind, CaseState, LinkCheck, RejectReason};
use optout_core::ports::{CasePage, EntryState, ExclusionValue};
use optout_core::reviewer::CaseReview;
use serde_json::Value;

const STYLE: &str = r#"
body{font-family:system-ui,sans-serif;line-height:1.45;color:#1b1b1b;background:#f4f4f2;margin:0}
header{display:flex;justify-content:space-between;align-items:center;padding:.6rem 1rem;background:#1f2937;color:#fff}
header a{color:#fff}
main{max-width:72rem;margin:1rem auto;background:#fff;padding:1rem 1.4rem;border-radius:6px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
.overdue{color:#a4000f;font-weight:700}.tag{display:inline-block;background:#fde68a;border-radius:3px;padding:0 .3rem;font-size:.85rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0;white-space:pre-line}
.photo{position:relative;display:inline-block;max-width:100%}.photo img{display:block;max-width:100%;height:auto}
.photo svg{position:absolute;left:0;top:0;width:100%;height:100%}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:1.5rem}
form.decide{border:1px solid #ccc;border-radius:6px;padding:.7rem;margin:.6rem 0}
textarea,select,input[type=text]{width:100%;box-sizing:border-box;font:inherit;padding:.35rem}
button{margin-top:.5rem;background:#1d4ed8;color:#fff;border:0;border-radius:4px;padding:.45rem 1rem;font:inherit;cursor:pointer}
button.reject{background:#a4000f}button.photo-req{background:#92400e}
.alert{border-left:4px solid #a4000f;background:#fff1f1;padding:.5rem .8rem}.ok{border-left:4px solid #11703a;background:#effaf2;padding:.5rem .8rem}
label.check{display:flex;gap:.4rem;align-items:flex-start;font-weight:400;margin-top:.5rem}
nav.cases{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap;margin:.5rem 0}
.link-ok{color:#11703a}.link-failed{color:#a4000f;font-weight:600}
.filters{display:flex;gap:.6rem;align-items:end;flex-wrap:wrap}.filters label{display:block;font-size:.85rem}
header .who{display:flex;gap:.8rem;align-items:center}header form{margin:0}
header button{margin:0;background:#fff;color:#1f2937;padding:.25rem .8rem}
"#;

/// The signed-in reviewer, as the pages show them: their name, and the CSRF token of their
/// session for the pages' forms (decisions, sign-out).
pub struct Reviewer<'a> {
    pub name: &'a str,
    pub csrf: &'a str,
}

pub fn layout(title: &str, reviewer: Option<&Reviewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · review desk" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a href="/admin" { "Review desk" }
                    @if let Some(r) = reviewer {
                        div.who {
                            span id="reviewer" { "Signed in as " strong { (r.name) } }
                            form id="logout" method="post" action="/admin/logout" {
                                input type="hidden" name="csrf" value=(r.csrf);
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn message(title: &str, body: &str) -> Markup {
    layout(
        title,
        None,
        html! { h1 { (title) } p.alert id="message" { (body) } },
    )
}

fn date(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The desk is in English: a kind as the reviewer reads it.
fn kind_label(k: CaseKind) -> &'static str {
    optout_core::i18n::kind_texts(Lang::En, k).label
}

/// The countries as the country filter lists them: (code, English name), by name.
fn countries_by_name() -> Vec<(&'static str, &'static str)> {
    let mut c: Vec<_> = COUNTRIES.iter().map(|(code, en, _)| (*code, *en)).collect();
    c.sort_by(|a, b| a.1.cmp(b.1));
    c
}

/// The queue's filters as given (to keep them in the form and the next link).
#[derive(Debug, Clone, Default)]
pub struct QueueQuery {
    pub state: String,
    pub kind: String,
    pub country: String,
    pub complaint: String,
}

pub fn queue(reviewer: &Reviewer, q: &QueueQuery, page: &CasePage, now: DateTime<Utc>) -> Markup {
    let next = page.next.map(|c| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("state", &q.state),
            ("kind", &q.kind),
            ("country", &q.country),
            ("complaint", &q.complaint),
        ] {
            if !v.is_empty() {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("after", &c.encode());
        format!("/admin?{}", ser.finish())
    });
    layout(
        "Queue",
        Some(reviewer),
        html! {
            h1 { "Queue" }
            form.filters method="get" action="/admin" {
                div { label for="state" { "State" }
                    select id="state" name="state" {
                        option value="" { "awaiting review (default)" }
                        option value="all" selected[q.state == "all"] { "all" }
                        @for s in CaseState::ALL { option value=(s.as_str()) selected[q.state == s.as_str()] { (state_label(Lang::En, s)) } }
                    }
                }
                div { label for="kind" { "Kind" }
                    select id="kind" name="kind" {
                        option value="" { "any" }
                        @for k in CaseKind::ALL { option value=(k.as_str()) selected[q.kind == k.as_str()] { (kind_label(k)) } }
                    }
                }
                div { label for="country" { "Country" }
                    select id="country" name="country" {
                        option value="" { "any" }
                        @for (code, name) in countries_by_name() {
                            option value=(code) selected[q.country.eq_ignore_ascii_case(code)] { (name) }
                        }
                    }
                }
                div { label for="complaint" { "Complaints" }
                    select id="complaint" name="complaint" {
                        option value="" { "any" }
                        option value="yes" selected[q.complaint == "yes"] { "complaints only" }
                        option value="no" selected[q.complaint == "no"] { "no complaints" }
                    }
                }
                button type="submit" { "Filter" }
            }
            @if page.cases.is_empty() { p id="empty" { "No cases." } } @else {
                table id="queue" {
                    thead { tr { th { "Case" } th { "Kind" } th { "Country" } th { "State" } th { "Age" } th { "Due" } } }
                    tbody {
                        @for c in &page.cases {
                            tr data-case=(c.id) {
                                td { a href={ "/admin/cases/" (c.id) } { (c.id) }
                                     @if c.open_complaint().is_some() { " " span.tag { "complaint" } } }
                                td { (kind_label(c.kind)) }
                                td { (c.personal.as_ref().map(|p| p.country.code()).unwrap_or("–")) }
                                td data-state=(c.state.as_str()) { (state_label(Lang::En, c.state)) }
                                td { ((now - c.created_at).num_days()) " d" }
                                td class=[(c.due_at < now && !c.state.is_final()).then_some("overdue")] { (date(c.due_at)) }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = next { p { a id="next" href=(n) { "Next page →" } } }
        },
    )
}

/// The SVG overlay of the detected faces (boxes and the five landmarks) in the photo's pixels.
fn overlay(details: &Value) -> Option<Markup> {
    let w = details.get("width")?.as_f64()?;
    let h = details.get("height")?.as_f64()?;
    let chosen = details.get("chosen_face").and_then(Value::as_u64);
    let faces = details.get("faces")?.as_array()?;
    let f = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    Some(html! {
        svg id="overlay" viewBox={ "0 0 " (w) " " (h) } preserveAspectRatio="none" aria-label="detected faces" {
            @for (i, face) in faces.iter().enumerate() {
                @let b = face.get("box").cloned().unwrap_or(Value::Null);
                @let color = if chosen == Some(i as u64) { "#22c55e" } else { "#f59e0b" };
                rect.face x=(f(&b, "x")) y=(f(&b, "y")) width=(f(&b, "width")) height=(f(&b, "height"))
                    fill="none" stroke=(color) stroke-width=(((w.max(h)) / 250.0).max(1.0)) {}
                @for p in face.get("landmarks").and_then(Value::as_array).into_iter().flatten() {
                    @if let Some(p) = p.as_array() {
                        circle.landmark cx=(p.first().and_then(Value::as_f64).unwrap_or(0.0)) cy=(p.get(1).and_then(Value::as_f64).unwrap_or(0.0))
                            r=(((w.max(h)) / 150.0).max(1.5)) fill=(color) {}
                    }
                }
            }
        }
    })
}

/// A decision the desk refused, shown next to its form with what the reviewer typed.
pub struct Refused<'a> {
    /// `approve`, `reject` or `better_photo`: the form it came from.
    pub decision: &'a str,
    pub message: String,
    pub reason: &'a str,
    pub note: &'a str,
}

/// The box a reviewer ticks before a decision is sent: the browser asks for it (a decision is not
/// undone by a click that slipped).
fn confirm(form: &str, text: &str) -> Markup {
    let id = format!("{form}-confirm");
    html! {
        label.check for=(id) { input type="checkbox" id=(id) name="confirm" value="yes" required; " " (text) }
    }
}

fn decision_forms(case: &Case, csrf: &str, refused: Option<&Refused>) -> Markup {
    let hidden = html! {
        input type="hidden" name="csrf" value=(csrf);
        input type="hidden" name="version" value=(case.version);
    };
    let action = format!("/admin/cases/{}/decide", case.id);
    // What the reviewer typed in the form of a refused decision.
    let typed = |form: &str| {
        refused
            .filter(|r| r.decision == form)
            .map_or("", |r| r.note)
    };
    let chosen_reason = refused
        .filter(|r| r.decision == "reject")
        .map_or("", |r| r.reason);
    html! {
        h2 { "Decide" }
        @if let Some(r) = refused {
            p.alert id="decision-error" role="alert" { (r.message) }
        }
        form.decide id="approve" method="post" action=(action) {
            (hidden)
            input type="hidden" name="decision" value="approve";
            label for="approve-note" { "Note for the requester (optional)" }
            textarea id="approve-note" name="note" maxlength="2000" { (typed("approve")) }
            (confirm("approve", "I have checked the request: exclude what it names."))
            button type="submit" { "Approve and exclude" }
        }
        form.decide id="reject" method="post" action=(action) {
            (hidden)
            input type="hidden" name="decision" value="reject";
            label for="reject-reason" { "Reason" }
            select id="reject-reason" name="reason" required {
                option value="" disabled selected[chosen_reason.is_empty()] { "Choose a reason…" }
                @for r in RejectReason::ALL { option value=(r.as_str()) selected[chosen_reason == r.as_str()] { (reject_reason_text(Lang::En, r).0) } }
            }
            label for="reject-note" { "Note for the requester (required for “Other reason”)" }
            textarea id="reject-note" name="note" maxlength="2000" { (typed("reject")) }
            (confirm("reject", "I have checked the request: reject it with this reason."))
            button.reject type="submit" { "Reject" }
        }
        @if case.kind.embeds_face() {
            form.decide id="better-photo" method="post" action=(action) {
                (hidden)
                input type="hidden" name="decision" value="better_photo";
                label for="quality" { "What is wrong with the photo" }
                select id="quality" name="quality" {
                    @for c in BETTER_PHOTO_CODES { option value=(c) { (c) " – " (quality_message(Lang::En, c)) } }
                }
                label for="photo-note" { "Note (optional)" }
                textarea id="photo-note" name="note" maxlength="2000" { (typed("better_photo")) }
                (confirm("photo", "I have looked at the photo: ask for another."))
                button.photo-req type="submit" { "Ask for a better photo" }
            }
        }
    }
}

/// What the case page shows around the case.
pub struct CaseView<'a> {
    /// Whether the photo can be shown.
    pub photo: bool,
    /// A decision was just recorded.
    pub done: bool,
    /// The decision just posted was refused.
    pub refused: Option<Refused<'a>>,
    /// The decision's statement in English, for a case decided in another language.
    pub statement_en: Option<optout_core::model::Statement>,
    /// The case to take up next (the first of the queue other than this one).
    pub next: Option<optout_core::model::CaseId>,
}

pub fn case_page(reviewer: &Reviewer, r: &CaseReview, view: &CaseView) -> Markup {
    let (photo, done) = (view.photo, view.done);
    let c = &r.case;
    let findings = r.biometrics.as_ref().map(|b| &b.findings);
    let details = findings.map(|f| &f.details);
    let chosen = details.and_then(|d| {
        let i = d.get("chosen_face")?.as_u64()? as usize;
        d.get("faces")?.as_array()?.get(i).cloned()
    });
    layout(
        &format!("Case {}", c.id),
        Some(reviewer),
        html! {
            nav.cases {
                a id="back" href="/admin" { "← Back to the queue" }
                @if let Some(n) = view.next { a id="next-case" href={ "/admin/cases/" (n) } { "Next case in the queue →" } }
            }
            h1 { "Case " span id="case-id" { (c.id) } }
            @if done { p.ok id="done" role="status" { "Decision recorded." } }
            @if let Some(cp) = c.open_complaint() {
                div.alert id="complaint" {
                    strong { "Complaint" } " against the decision “" (cp.contested.as_str()) "” of " (cp.first_reviewer)
                    " (received " (date(cp.at)) "). Another reviewer must decide it."
                    @if let Some(t) = &cp.text { p { (t) } }
                }
            }
            div.cols {
                section {
                    h2 { "Request" }
                    dl {
                        dt { "Kind" } dd { (kind_label(c.kind)) }
                        dt { "State" } dd id="state" data-state=(c.state.as_str()) { (c.state.as_str()) }
                        dt { "Version" } dd { (c.version) }
                        dt { "Language" } dd { (c.lang.code()) }
                        dt { "Received" } dd { (date(c.created_at)) }
                        dt { "Due" } dd { (date(c.due_at)) }
                        @if let Some(p) = &c.personal {
                            dt { "Name" } dd id="name" { (p.first_name) " " (p.last_name) }
                            dt { "Email" } dd { (p.email) }
                            dt { "Phone" } dd { (p.phone.as_ref().map(|p| p.as_str()).unwrap_or("–")) }
                            dt { "Country" } dd { (p.country.name(Lang::En)) " (" (p.country.code()) ")" }
                            dt { "Reason" } dd id="reason" { (p.reason) }
                        } @else {
                            dt { "Personal data" } dd { "erased" }
                        }
                        @if c.kind.needs_consent() { dt { "Consent" } dd { (if c.consent { "given" } else { "missing" }) } }
                        @if c.kind.needs_good_faith() { dt { "Good faith" } dd { (if c.good_faith { "confirmed" } else { "missing" }) } }
                        @if c.kind.offers_faces() {
                            dt { "Its faces" } dd id="exclude-faces" {
                                @if !c.exclude_faces {
                                    "not to be excluded (hashes only)"
                                } @else if let Some(f) = findings {
                                    (f.face_embeddings.len()) " to be excluded too (every face large and sharp enough, of "
                                    (details.and_then(|d| d.get("faces")).and_then(Value::as_array).map_or(0, Vec::len))
                                    " detected: boxed on the photo)"
                                } @else {
                                    "to be excluded too, once the photo is analysed"
                                }
                            }
                        }
                        @if !c.source_urls.is_empty() {
                            dt { "Links" } dd { ul id="urls" { @for (i, u) in c.source_urls.iter().enumerate() {
                                li {
                                    (u)
                                    @match c.link_checks.get(i) {
                                        Some(LinkCheck::Hashed { sha256, bytes, .. }) => {
                                            " " span.link-ok { "image fetched (" (bytes / 1024) " KiB, SHA-256 " code { (sha256.to_hex()[..12]) "…" } "): copies elsewhere are excluded too" }
                                        }
                                        Some(LinkCheck::Failed { why }) => {
                                            " " span.link-failed { "image not fetched (" (why) "): excluded by this address only" }
                                        }
                                        None => { " " span.help { "not fetched yet" } }
                                    }
                                }
                            } } }
                        }
                    }
                    @if let Some(d) = &c.decision {
                        h2 { "Decision" }
                        dl id="decision" {
                            dt { "Outcome" } dd { (d.outcome.as_str()) }
                            dt { "By" } dd { (d.reviewer) " on " (date(d.at)) }
                            dt { "Action" } dd { (d.statement.action) }
                            dt { "Facts" } dd { (d.statement.facts) }
                            dt { "Automated means" } dd { (d.statement.automated) }
                            dt { "Ground" } dd { (d.statement.ground) }
                            @if let Some(n) = &d.note { dt { "Note" } dd { (n) } }
                        }
                        @if let Some(st) = &view.statement_en {
                            h3 { "The statement in English (the requester got it in " (c.lang.code()) ")" }
                            dl id="statement-en" {
                                dt { "Action" } dd { (st.action) }
                                dt { "Facts" } dd { (st.facts) }
                                dt { "Automated means" } dd { (st.automated) }
                                dt { "Ground" } dd { (st.ground) }
                                dt { "Redress" } dd { (st.redress) }
                            }
                        }
                    }
                }
                section {
                    h2 { "Photo" }
                    @if photo {
                        div.photo {
                            img id="photo" src={ "/admin/cases/" (c.id) "/photo" } alt="submitted photo";
                            @if let Some(o) = details.and_then(overlay) { (o) }
                        }
                    } @else if c.kind.takes_photo() { p id="photo-gone" { "The photo was deleted (a decision was made) or is not available." } }
                    @if let Some(f) = findings {
                        h3 { "Quality" }
                        dl id="quality-figures" {
                            dt { "Verdict" } dd { (f.verdict) }
                            @if let Some(d) = details {
                                dt { "Size" } dd { (d.get("width").and_then(Value::as_u64).unwrap_or(0)) " × " (d.get("height").and_then(Value::as_u64).unwrap_or(0)) " px" }
                                dt { "Faces" } dd { (d.get("faces").and_then(Value::as_array).map_or(0, Vec::len)) }
                            }
                            @if let Some(ch) = &chosen {
                                dt { "Detector score" } dd { (format!("{:.3}", ch.get("score").and_then(Value::as_f64).unwrap_or(0.0))) }
                                dt { "Sharpness" } dd { (format!("{:.1}", ch.get("sharpness").and_then(Value::as_f64).unwrap_or(0.0))) }
                                @if let Some(b) = ch.get("box") {
                                    dt { "Face size" } dd { (format!("{:.0} × {:.0} px", b.get("width").and_then(Value::as_f64).unwrap_or(0.0), b.get("height").and_then(Value::as_f64).unwrap_or(0.0))) }
                                }
                            }
                            dt { "SHA-256" } dd { code { (f.sha256) } }
                            dt { "PDQ" } dd { code { @if let Some(h) = &f.pdq { (h) } } " (quality " (f.pdq_quality) ")" }
                        }
                    }
                }
            }
            h2 { "Similar active exclusions" }
            @if r.similar.is_empty() { p id="no-similar" { "None." } } @else {
                table id="similar" {
                    thead { tr { th { "Case" } th { "Match" } th { "Similarity" } } }
                    tbody { @for s in &r.similar {
                        tr { td { a href={ "/admin/cases/" (s.case_id) } { (s.case_id) } } td { (s.kind) }
                             td { @if let Some(x) = s.score { "cosine " (format!("{x:.3}")) } @else if let Some(d) = s.distance { "distance " (d) } } }
                    } }
                }
            }
            @if !r.entries.is_empty() {
                h2 { "Exclusion entries of this case" }
                table id="entries" {
                    thead { tr { th { "Id" } th { "Position" } th { "Kind" } th { "State" } } }
                    tbody { @for e in &r.entries {
                        tr { td { (e.id) } td { (e.position) } td { (e.value.kind()) @if let ExclusionValue::Url(u) = &e.value { " " (u) } }
                             td { (if e.state == EntryState::Active { "active" } else { "withdrawn" }) } }
                    } }
                }
            }
            @if c.state == CaseState::AwaitingReview { (decision_forms(c, reviewer.csrf, view.refused.as_ref())) }
            h2 { "Audit trail" }
            table id="audit" {
                thead { tr { th { "When" } th { "Who" } th { "What" } th { "State" } th { "Detail" } } }
                tbody { @for a in &r.audit {
                    tr { td { (date(a.at)) } td { (a.actor.to_string()) } td { (a.action) } td { (a.state.as_str()) } td { (a.detail.as_deref().unwrap_or("")) } }
                } }
            }
        },
    )
}
