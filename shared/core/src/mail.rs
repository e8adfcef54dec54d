//! The emails of the desk, each with a text and an HTML part in the case's language. Values are
//! escaped in the HTML part by maud; no image is ever attached or linked.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use crate::i18n::{Lang, fill, kind_texts, state_label, texts};
use crate::model::Case;
use crate::ports::Mail;
use crate::settings::Settings;

/// Thailand's time (Asia/Bangkok: UTC+7 all year, no daylight saving time).
const BANGKOK_OFFSET_SECONDS: i32 = 7 * 3600;

/// A date as people read it in `lang`, in their time zone with the zone named: a Thai request in
/// Thailand's time and the Buddhist era, any other in UTC.
pub fn human_date(lang: Lang, at: DateTime<Utc>) -> String {
    match lang {
        Lang::En => at.format("%-d %B %Y, %H:%M UTC").to_string(),
        Lang::Th => {
            use chrono::Datelike;
            let at = chrono::FixedOffset::east_opt(BANGKOK_OFFSET_SECONDS)
                .map_or_else(|| at.fixed_offset(), |tz| at.with_timezone(&tz));
            const MONTHS: [&str; 12] = [
                "มกราคม",
                "กุมภาพันธ์",
                "มีนาคม",
                "เมษายน",
                "พฤษภาคม",
                "มิถุนายน",
                "กรกฎาคม",
                "สิงหาคม",
                "กันยายน",
                "ตุลาคม",
                "พฤศจิกายน",
                "ธันวาคม",
            ];
            let m = MONTHS[at.month0() as usize];
            format!(
                "{} {} {} {} น. (เวลาประเทศไทย)",
                at.day(),
                m,
                at.year() + 543,
                at.format("%H:%M")
            )
        }
    }
}

/// A block of the email body: a heading (optional) and paragraphs or list items.
enum Block {
    Para(String),
    Heading(String),
    List(Vec<String>),
    /// A link the reader follows: a button in HTML, its label and address in text.
    Button {
        label: String,
        url: String,
    },
}

fn render(lang: Lang, subject: &str, blocks: &[Block]) -> (String, String) {
    let mut text = String::new();
    for b in blocks {
        match b {
            Block::Para(p) => text.push_str(&format!("{p}\n\n")),
            Block::Heading(h) => {
                text.push_str(&format!("{h}\n{}\n", "-".repeat(h.chars().count().min(60))))
            }
            Block::List(items) => {
                for i in items {
                    text.push_str(&format!("- {i}\n"));
                }
                text.push('\n');
            }
            Block::Button { label, url } => text.push_str(&format!("{label}:\n{url}\n\n")),
        }
    }
    let markup: Markup = html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (subject) }
            }
            body style="font-family: sans-serif; line-height: 1.5; color: #1a1a1a; max-width: 40em; margin: 0 auto; padding: 0 1em; overflow-wrap: anywhere;" {
                @for b in blocks {
                    @match b {
                        Block::Para(p) => p style="white-space: pre-line;" { (p) },
                        Block::Heading(h) => h2 style="font-size: 1.1em;" { (h) },
                        Block::List(items) => ul { @for i in items { li style="white-space: pre-line;" { (i) } } },
                        Block::Button { label, url } => p {
                            a href=(url) style="display: inline-block; background: #1d4ed8; color: #ffffff; padding: 0.7em 1.3em; border-radius: 4px; text-decoration: none; font-weight: bold;" { (label) }
                        },
                    }
                }
            }
        }
    };
    (text.trim_end().to_owned() + "\n", markup.into_string())
}

fn email(case: &Case, to: &str, tag: &str, subject: String, blocks: Vec<Block>) -> Mail {
    let (text, html) = render(case.lang, &subject, &blocks);
    Mail {
        to: to.to_owned(),
        subject,
        text,
        html,
        lang: case.lang,
        tag: tag.to_owned(),
        key: format!("{}:{tag}", case.id),
        case_id: Some(case.id),
    }
}

impl Mail {
    /// Makes the deduplication key name one occurrence of a message that a case may get more
    /// than once (one decision email per decision, one better-photo email per photo).
    fn occurrence(mut self, n: impl std::fmt::Display) -> Mail {
        self.key = format!("{}:{n}", self.key);
        self
    }
}

fn greeting(case: &Case) -> Option<(String, String)> {
    let p = case.personal.as_ref()?;
    let t = texts(case.lang);
    Some((
        p.email.to_ascii(),
        fill(t.mail_greeting, &[("name", p.first_name.as_str())]),
    ))
}

/// The end of an email: `line` (what to do if the reader did not ask for this, or where
/// questions go; `{contact}` is the support address) and the signature.
fn footer(case: &Case, s: &Settings, line: Option<&str>) -> Vec<Block> {
    let t = texts(case.lang);
    let mut blocks: Vec<Block> = line
        .map(|l| Block::Para(fill(l, &[("contact", &s.contact_email)])))
        .into_iter()
        .collect();
    blocks.push(Block::Para(fill(
        t.mail_signature,
        &[("operator", &s.operator_name)],
    )));
    blocks
}

/// The receipt sent at once when a case is accepted. `None` if the case has no personal data.
pub fn receipt(
    case: &Case,
    s: &Settings,
    status_url: &str,
    status_expires: DateTime<Utc>,
) -> Option<Mail> {
    let t = texts(case.lang);
    let p = case.personal.as_ref()?;
    let (to, hello) = greeting(case)?;
    let reference = case.id.to_string();
    let lang = case.lang;
    let mut received = vec![
        format!("{}: {}", t.status_kind, kind_texts(lang, case.kind).label),
        format!("{}: {} {}", t.mail_full_name, p.first_name, p.last_name),
        format!("{}: {}", t.email, p.email),
    ];
    if let Some(phone) = &p.phone {
        received.push(format!("{}: {}", t.phone, phone));
    }
    received.push(format!("{}: {}", t.country, p.country.name(lang)));
    received.push(format!("{}:\n{}", t.mail_reason, p.reason));
    if case.photo.is_some() {
        received.push(t.mail_photo_received.to_owned());
    }
    if !case.source_urls.is_empty() {
        let urls: Vec<&str> = case.source_urls.iter().map(|u| u.as_str()).collect();
        received.push(format!("{}:\n{}", t.urls, urls.join("\n")));
    }
    let subject = fill(t.mail_receipt_subject, &[("reference", &reference)]);
    let mut blocks = vec![
        Block::Para(hello),
        Block::Para(fill(
            t.mail_receipt_intro,
            &[
                ("reference", &reference),
                ("date", &human_date(lang, case.created_at)),
            ],
        )),
        Block::Heading(t.mail_received_heading.to_owned()),
        Block::List(received),
        Block::Heading(t.mail_next_heading.to_owned()),
        Block::Para(kind_texts(lang, case.kind).next.to_owned()),
        Block::Para(t.mail_status_link.to_owned()),
        Block::Button {
            label: t.status_title.to_owned(),
            url: status_url.to_owned(),
        },
        Block::Para(fill(
            t.mail_status_link_private,
            &[("date", &human_date(lang, status_expires))],
        )),
        Block::Para(scope_notice(case, s)),
    ];
    blocks.extend(footer(case, s, Some(t.mail_not_you)));
    Some(email(case, &to, "receipt", subject, blocks))
}

/// The confirmation of a withdrawal.
pub fn withdrawn(case: &Case, s: &Settings, at: DateTime<Utc>) -> Option<Mail> {
    let t = texts(case.lang);
    let state = format!("{}: {}", t.status_state, state_label(case.lang, case.state));
    let notice = Notice {
        tag: "withdrawn",
        subject: t.mail_withdrawn_subject,
        body: t.mail_withdrawn_body,
        days: None,
        last: state,
        line: Some(t.mail_not_you_withdrawn),
    };
    notice.mail(case, s, at)
}

/// A short email about one event of a case: its subject and body (`{reference}`, `{date}` and
/// `{days}` filled in), a last paragraph, the footer with `line`.
struct Notice<'a> {
    tag: &'a str,
    subject: &'a str,
    body: &'a str,
    /// What `{days}` stands for.
    days: Option<i64>,
    last: String,
    line: Option<&'a str>,
}

impl Notice<'_> {
    fn mail(self, case: &Case, s: &Settings, at: DateTime<Utc>) -> Option<Mail> {
        let (to, hello) = greeting(case)?;
        let reference = case.id.to_string();
        let days = self.days.map(|d| d.to_string()).unwrap_or_default();
        let values = [
            ("reference", reference.as_str()),
            ("date", &human_date(case.lang, at)),
            ("days", &days),
        ];
        let subject = fill(self.subject, &values);
        let mut blocks = vec![
            Block::Para(hello),
            Block::Para(fill(self.body, &values)),
            Block::Para(self.last),
        ];
        blocks.extend(footer(case, s, self.line));
        Some(email(case, &to, self.tag, subject, blocks))
    }
}

/// The reviewers' daily list of deadlines (in English, like the review desk): the cases overdue
/// and those due within the next 48 hours, each with its page on the review desk. It holds no
/// signed link and no personal data: a reviewer opens the pages with their own admin session.
pub fn deadline_digest(
    s: &Settings,
    to: &str,
    now: DateTime<Utc>,
    overdue: &[Case],
    due_soon: &[Case],
) -> Mail {
    let lang = Lang::En;
    let day = now.format("%Y-%m-%d").to_string();
    let subject = format!(
        "Review desk, {day}: {} overdue, {} due within 48 hours",
        overdue.len(),
        due_soon.len()
    );
    let line = |c: &Case| {
        format!(
            "{} · {} · {} · due {}\n{}/admin/cases/{}",
            c.id,
            kind_texts(lang, c.kind).label,
            state_label(lang, c.state),
            human_date(lang, c.due_at),
            s.public_url,
            c.id
        )
    };
    let mut blocks = vec![Block::Para(format!(
        "The cases of the review desk whose decision is due, as of {}.",
        human_date(lang, now)
    ))];
    for (heading, cases) in [
        ("Overdue", overdue),
        ("Due within the next 48 hours", due_soon),
    ] {
        if !cases.is_empty() {
            blocks.push(Block::Heading(format!("{heading} ({})", cases.len())));
            blocks.push(Block::List(cases.iter().map(line).collect()));
        }
    }
    blocks.extend([
        Block::Button {
            label: "Open the queue".to_owned(),
            url: format!("{}/admin", s.public_url),
        },
        Block::Para(
            "The pages open with your own admin link (this email holds none). You get this email \
             because you are among the desk's reviewers (OPTOUT_REVIEWER_EMAILS)."
                .to_owned(),
        ),
        Block::Para(fill(
            texts(lang).mail_signature,
            &[("operator", &s.operator_name)],
        )),
    ]);
    let (text, html) = render(lang, &subject, &blocks);
    Mail {
        to: to.to_owned(),
        subject,
        text,
        html,
        lang,
        tag: "deadlines".to_owned(),
        key: format!("deadlines:{day}:{to}"),
        case_id: None,
    }
}

/// The notice that a case lapsed: no usable photo came within the lapse period.
pub fn lapsed(case: &Case, s: &Settings, at: DateTime<Utc>) -> Option<Mail> {
    let t = texts(case.lang);
    let notice = Notice {
        tag: "lapsed",
        subject: t.mail_lapsed_subject,
        body: t.mail_lapsed_body,
        days: Some(s.lapse_after.num_days()),
        last: scope_notice(case, s),
        line: None,
    };
    notice.mail(case, s, at)
}

/// What the desk does and does not do, and where questions go.
fn scope_notice(case: &Case, s: &Settings) -> String {
    fill(
        texts(case.lang).scope_notice,
        &[("contact", &s.contact_email)],
    )
}

/// The request for a better photo after a failed quality gate, with the link to upload one.
pub fn better_photo(
    case: &Case,
    s: &Settings,
    quality: crate::verdict::Verdict,
    upload_url: &str,
) -> Option<Mail> {
    let t = texts(case.lang);
    let (to, hello) = greeting(case)?;
    let reference = case.id.to_string();
    let subject = fill(t.mail_better_photo_subject, &[("reference", &reference)]);
    let mut blocks = vec![
        Block::Para(hello),
        Block::Para(fill(t.mail_better_photo_body, &[("reference", &reference)])),
        Block::Para(crate::i18n::quality_message(case.lang, quality).to_owned()),
        Block::Para(t.mail_better_photo_link.to_owned()),
        Block::Button {
            label: t.better_photo_title.to_owned(),
            url: upload_url.to_owned(),
        },
    ];
    if case.kind.embeds_face() {
        blocks.push(Block::Para(t.mail_better_photo_or_image.to_owned()));
    }
    blocks.extend(footer(case, s, Some(t.mail_questions)));
    let generation = case.photo.as_ref().map_or(0, |p| p.generation);
    Some(email(case, &to, "better_photo", subject, blocks).occurrence(generation))
}

/// The decision email: what was decided, the statement of reasons and how to contest it (with the
/// complaint form's link, unless the decision answered a complaint: one complaint per case).
/// `None` if the case has no personal data or no decision.
pub fn decision(case: &Case, s: &Settings, complaint_url: &str) -> Option<Mail> {
    let t = texts(case.lang);
    let d = case.decision.as_ref()?;
    let (to, hello) = greeting(case)?;
    let reference = case.id.to_string();
    let subject = fill(t.mail_decision_subject, &[("reference", &reference)]);
    let st = &d.statement;
    let mut blocks = vec![
        Block::Para(hello),
        Block::Para(fill(
            t.mail_decision_intro,
            &[
                ("reference", &reference),
                ("date", &human_date(case.lang, d.at)),
            ],
        )),
    ];
    if d.on_complaint {
        blocks.push(Block::Para(t.mail_decision_complaint.to_owned()));
    }
    blocks.extend([
        Block::Heading(t.sor_heading.to_owned()),
        Block::List(vec![
            format!("{}: {}", t.sor_action, st.action),
            format!("{}: {}", t.sor_facts, st.facts),
            format!("{}: {}", t.sor_automated, st.automated),
            format!("{}: {}", t.sor_ground, st.ground),
        ]),
    ]);
    if let Some(note) = &d.note {
        blocks.push(Block::Para(format!("{}: {note}", t.sor_note)));
    }
    blocks.extend([
        Block::Heading(t.sor_redress.to_owned()),
        Block::Para(st.redress.clone()),
    ]);
    if !d.on_complaint {
        blocks.extend([
            Block::Para(t.mail_complaint_link.to_owned()),
            Block::Button {
                label: t.complaint_title.to_owned(),
                url: complaint_url.to_owned(),
            },
        ]);
    }
    blocks.push(Block::Para(scope_notice(case, s)));
    blocks.extend(footer(case, s, None));
    let decided = case
        .decision
        .as_ref()
        .map_or(0, |d| d.at.timestamp_millis());
    Some(email(case, &to, "decision", subject, blocks).occurrence(decided))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::NewRequest;
    use crate::model::*;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).single().unwrap()
    }

    fn settings() -> Settings {
        Settings::local("https://optout.example")
    }

    /// A request of `kind` in `lang` by Somchai Jaidee, who lives in Thailand.
    fn case(kind: CaseKind, lang: Lang) -> Case {
        let th = Country::parse("TH").unwrap();
        let personal = Personal {
            first_name: PersonName::parse("Somchai").unwrap(),
            last_name: PersonName::parse("Jaidee").unwrap(),
            email: Email::parse("somchai@example.org").unwrap(),
            phone: Some(Phone::parse_in("081 234 5678", Some(th)).unwrap()),
            country: th,
            reason: Reason::parse("Please never show these images again.").unwrap(),
        };
        let request = NewRequest {
            id: CaseId::new(t0()),
            kind,
            lang,
            personal,
            photo: kind.takes_photo().then(|| PhotoRef {
                key: "uploads/AAAAAAAAAAAAAAAAAAAAAA".into(),
                content_type: "image/jpeg".into(),
                bytes: 1000,
                width: 400,
                height: 400,
                sha256: optout_matcher::Sha256([0xab; 32]),
                generation: 1,
            }),
            source_urls: ["https://example.org/a.jpg", "https://example.org/b.jpg"]
                .into_iter()
                .filter(|_| kind.takes_links())
                .map(|u| SourceUrl::parse(u).unwrap())
                .collect(),
            consent: true,
            good_faith: true,
            exclude_faces: false,
        };
        Case::receive(request, t0(), &settings().policy()).case
    }

    /// The receipt's list of what was received, one label per value (the name is the full name).
    #[test]
    fn the_receipt_labels_every_value_for_what_it_is() {
        let receipt_of = |kind, lang| {
            receipt(
                &case(kind, lang),
                &settings(),
                "https://optout.example/status/t",
                t0(),
            )
            .unwrap()
        };
        let face_en = receipt_of(CaseKind::FaceOptOut, Lang::En);
        assert!(
            face_en.text.contains(
                "- Type: Face opt-out\n\
                 - Name: Somchai Jaidee\n\
                 - Email: somchai@example.org\n\
                 - Phone: +66812345678\n\
                 - Country of residence: Thailand\n\
                 - Your explanation:\nPlease never show these images again.\n\
                 - A photo (not attached to this email)\n\n"
            ),
            "{}",
            face_en.text
        );
        let dsa_en = receipt_of(CaseKind::DsaNotice, Lang::En);
        assert!(
            dsa_en.text.contains(
                "- Type: DSA notice\n\
                 - Name: Somchai Jaidee\n\
                 - Email: somchai@example.org\n\
                 - Phone: +66812345678\n\
                 - Country of residence: Thailand\n\
                 - Your explanation:\nPlease never show these images again.\n\
                 - Links to the specific images:\n\
                 https://example.org/a.jpg\nhttps://example.org/b.jpg\n\n"
            ),
            "{}",
            dsa_en.text
        );
        let face_th = receipt_of(CaseKind::FaceOptOut, Lang::Th);
        assert!(
            face_th.text.contains(
                "- ประเภท: คำขอลบใบหน้า\n\
                 - ชื่อ-นามสกุล: Somchai Jaidee\n\
                 - อีเมล: somchai@example.org\n\
                 - โทรศัพท์: +66812345678\n\
                 - ประเทศที่พำนัก: ไทย\n\
                 - คำอธิบายของคุณ:\nPlease never show these images again.\n\
                 - รูปถ่าย (ไม่ได้แนบมากับอีเมลนี้)\n\n"
            ),
            "{}",
            face_th.text
        );
        let dsa_th = receipt_of(CaseKind::DsaNotice, Lang::Th);
        assert!(
            dsa_th.text.contains(
                "- ลิงก์ของรูปภาพเฉพาะ:\nhttps://example.org/a.jpg\nhttps://example.org/b.jpg\n\n"
            ),
            "{}",
            dsa_th.text
        );
        for m in [&face_en, &dsa_en] {
            assert!(m.html.contains("Name: Somchai Jaidee"), "{}", m.html);
            assert!(!m.text.contains("First name") && !m.html.contains("First name"));
        }
    }

    /// The decision email: each part of the statement under its label; the complaint form only
    /// for a decision that did not answer a complaint.
    #[test]
    fn the_decision_email_labels_its_statement_and_offers_one_complaint() {
        let mut c = case(CaseKind::FaceOptOut, Lang::En);
        c.state = CaseState::Approved;
        let decision = |on_complaint| Decision {
            outcome: Outcome::Approved,
            reviewer: ReviewerName::parse("alice").unwrap(),
            at: t0(),
            reject_reason: None,
            note: Some("Checked.".into()),
            statement: Statement {
                action: "the action".into(),
                facts: "the facts".into(),
                automated: "the means".into(),
                ground: "the ground".into(),
                redress: "the redress".into(),
            },
            on_complaint,
        };
        let form = "https://optout.example/status/t/complaint";
        c.decision = Some(decision(false));
        let first = super::decision(&c, &settings(), form).unwrap();
        assert!(
            first.text.contains(
                "- Decision and its scope: the action\n\
                 - Facts relied on: the facts\n\
                 - Automated means: the means\n\
                 - Ground: the ground\n\n\
                 Note from the reviewer: Checked.\n\n\
                 How to contest this decision\n"
            ),
            "{}",
            first.text
        );
        assert!(first.text.contains(&format!(
            "the redress\n\nOur complaint form for this request:\n\nContest this decision:\n{form}\n"
        )));
        // In HTML the form is a button, and the email fits a phone's screen.
        assert!(
            first.html.contains(&format!(
                r#"<a href="{form}" style="display: inline-block;"#
            )),
            "{}",
            first.html
        );
        assert!(first.html.contains(r#"name="viewport""#));
        assert!(
            first
                .text
                .ends_with("Kind regards,\nThe image opt-out desk of optout\n")
        );
        c.decision = Some(decision(true));
        let second = super::decision(&c, &settings(), form).unwrap();
        assert!(
            second
                .text
                .contains(texts(Lang::En).mail_decision_complaint)
        );
        assert!(second.text.contains("the redress\n\n"));
        assert!(!second.text.contains(form) && !second.html.contains(form));
        assert!(!second.text.contains("Our complaint form"));
    }

    /// Each email ends with what fits its event: the receipt asks who did not send the request
    /// to write, the withdrawal who did not withdraw it; both name the support address.
    #[test]
    fn each_email_says_what_to_do_if_it_was_not_you() {
        let c = case(CaseKind::DsaNotice, Lang::En);
        let s = settings();
        let receipt = receipt(&c, &s, "https://optout.example/status/t", t0()).unwrap();
        let gone = withdrawn(&c, &s, t0()).unwrap();
        assert!(
            receipt
                .text
                .contains("If you did not send this request, write to privacy@localhost")
        );
        assert!(
            gone.text.contains(
                "If you did not withdraw this request yourself, write to privacy@localhost"
            )
        );
        assert!(!gone.text.contains("did not send"));
        for m in [&receipt, &gone] {
            assert!(
                m.text.contains("The image opt-out desk of optout"),
                "{}",
                m.text
            );
        }
    }

    #[test]
    fn thai_dates_use_the_buddhist_era() {
        let at = DateTime::parse_from_rfc3339("2026-11-24T03:19:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            human_date(Lang::Th, at),
            "24 พฤศจิกายน 2569 10:19 น. (เวลาประเทศไทย)"
        );
        // Past midnight in Bangkok: the next day.
        let late = at + chrono::Duration::hours(18);
        assert_eq!(
            human_date(Lang::Th, late),
            "25 พฤศจิกายน 2569 04:19 น. (เวลาประเทศไทย)"
        );
        assert_eq!(human_date(Lang::En, at), "24 November 2026, 03:19 UTC");
    }
}
