//! Property tests of every parser of public input in the core: form fields, case ids, upload
//! keys, reviewer names, decision forms, signed tokens and links, indexer keys, queue cursors,
//! `Accept-Language`, queue (SQS) message bodies and photo bytes.
//!
//! The properties are the contracts the rest of the system relies on: a parser never panics; what
//! it accepts it accepts again unchanged (a stored value is re-parsed whenever a case is read back,
//! so a value that does not survive its own parser makes the case unreadable); what it refuses it
//! refuses with a code of the documented set; a signed token survives the round trip and no other
//! string, nor any one-byte change of it, verifies.

use chrono::{DateTime, Duration, TimeZone, Utc};
use optout_core::case::{DecisionInput, NOTE_MAX, parse_note};
use optout_core::error::FieldCodeWithLimit;
use optout_core::i18n::Lang;
use optout_core::indexer_keys::{self, PresentedKey};
use optout_core::model::*;
use optout_core::photo::{self, PhotoLimits};
use optout_core::ports::QueueCursor;
use optout_core::requester::valid_upload_key;
use optout_core::signing::{KeyRing, admin, random_token, scope};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Modest case counts so the suite runs in seconds; no regression files written into the tree.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Characters the field parsers treat specially (separators, controls, bidi and zero-width
/// characters, letters whose lower case is longer), mixed with anything at all.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        3 => prop::sample::select(vec![
            '@', '.', ' ', '\t', '\r', '\n', '\0', '\u{7f}', '\u{85}', '\u{202E}', '\u{200B}',
            '\u{2066}', '\u{FEFF}', '+', '-', '(', ')', '/', ':', '%', '#', '?', '&', '=', 'İ',
            'ẞ', 'ß', 'ก', 'é', '"', '<', '>', ',', ';', '\\', '[', ']', '_', '~', '\u{3000}',
        ]),
        2 => prop::char::range('a', 'z'),
        2 => prop::char::range('0', '9'),
    ]
}

fn tricky_string(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..max).prop_map(|v| v.into_iter().collect())
}

/// Checks that a refusal carries one of `allowed` codes, and its bound when it is `too_long`.
fn refused_with(
    e: FieldCodeWithLimit,
    allowed: &[&str],
    max: Option<usize>,
) -> Result<(), TestCaseError> {
    let FieldCodeWithLimit(code, limit) = e;
    prop_assert!(
        allowed.contains(&code.as_str()),
        "undocumented code {}",
        code.as_str()
    );
    if code.as_str() == "too_long" {
        prop_assert_eq!(limit, max.map(|m| m as u64));
    }
    Ok(())
}

/// A country of the list.
fn any_country() -> impl Strategy<Value = Country> {
    prop::sample::select(optout_core::countries::COUNTRIES.to_vec())
        .prop_map(|(code, _, _)| Country::parse(code).expect("a listed country"))
}

/// Valid numbers (country, as dialled there, E.164): the example numbers of libphonenumber's
/// metadata for a few countries, fixed and mobile.
const VALID_PHONES: &[(&str, &str, &str)] = &[
    ("TH", "081 234 5678", "+66812345678"),
    ("TH", "02 123 4567", "+6621234567"),
    ("GB", "07400 123456", "+447400123456"),
    ("GB", "0121 234 5678", "+441212345678"),
    ("US", "(201) 555-0123", "+12015550123"),
    ("DE", "030 123456", "+4930123456"),
    ("FR", "06 12 34 56 78", "+33612345678"),
    ("IT", "06 1234 5678", "+390612345678"),
    ("JP", "090-1234-5678", "+819012345678"),
    ("IN", "081234 56789", "+918123456789"),
    ("BR", "(11) 96123-4567", "+5511961234567"),
];

/// The value a store would give back: serialised and read again through serde.
fn stored<T: serde::Serialize + serde::de::DeserializeOwned>(v: &T) -> Result<T, String> {
    let json = serde_json::to_string(v).map_err(|e| e.to_string())?;
    serde_json::from_str(&json).map_err(|e| e.to_string())
}

fn has_forbidden(s: &str) -> bool {
    s.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
    })
}

proptest! {
    #![proptest_config(config())]

    // ---- names ----

    #[test]
    fn person_names_are_trimmed_bounded_and_stable(raw in tricky_string(130)) {
        match PersonName::parse(&raw) {
            Ok(n) => {
                prop_assert_eq!(n.as_str(), raw.trim());
                prop_assert!((1..=NAME_MAX).contains(&n.as_str().chars().count()));
                prop_assert!(!has_forbidden(n.as_str()));
                prop_assert_eq!(PersonName::parse(n.as_str()), Ok(n.clone()));
                prop_assert_eq!(stored(&n), Ok(n));
            }
            Err(e) => {
                prop_assert_eq!(e.0.as_str() == "required", raw.trim().is_empty());
                refused_with(e, &["required", "too_long", "invalid_chars"], Some(NAME_MAX))?;
            }
        }
    }

    #[test]
    fn names_of_letters_are_accepted(raw in "[\\p{L}][\\p{L} '\\-]{0,98}[\\p{L}]") {
        prop_assert_eq!(PersonName::parse(&raw).map(|n| n.as_str().to_owned()), Ok(raw.clone()));
    }

    // ---- email ----

    #[test]
    fn emails_are_stable_bounded_and_single_line(raw in tricky_string(80)) {
        check_email(&raw, Strict::No)?;
    }

    /// Lower-casing a domain can make it longer ('İ' is 2 bytes, its lower case 3): the address
    /// accepted must still fit [`EMAIL_MAX`], or the stored case can no longer be read back.
    #[test]
    fn emails_with_long_lowercase_forms_survive_storage(
        local in "[a-z]{1,10}",
        labels in prop::collection::vec(prop::collection::vec(prop::sample::select(vec!['İ', 'İ', 'İ', 'İ', 'a', 'ẞ', 'ก']), 17..=21), 4..=6),
    ) {
        let labels: Vec<String> = labels.into_iter().map(|l| l.into_iter().collect()).collect();
        check_email(&format!("{local}@{}.com", labels.join(".")), Strict::Yes)?;
    }

    #[test]
    fn ascii_emails_keep_their_local_part_and_lowercase_the_domain(
        local in "[A-Za-z0-9][A-Za-z0-9+_-]{0,20}(\\.[A-Za-z0-9_-]{1,10})?",
        labels in prop::collection::vec("[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?", 1..4),
        tld in "[A-Za-z]{2,6}",
    ) {
        let raw = format!("{local}@{}.{tld}", labels.join("."));
        let e = Email::parse(&format!("  {raw} ")).map_err(|e| TestCaseError::fail(e.0.as_str()))?;
        let (l, d) = e.as_str().rsplit_once('@').unwrap_or_default();
        prop_assert_eq!(l, local.as_str());
        prop_assert_eq!(d, format!("{}.{tld}", labels.join(".")).to_lowercase());
        check_email(&raw, Strict::Yes)?;
    }

    // ---- phone ----

    #[test]
    fn phones_are_e164_and_stable(raw in tricky_string(40), country in prop::option::of(any_country())) {
        match Phone::parse_in(&raw, country) {
            Ok(p) => {
                let digits = p.as_str().strip_prefix('+').unwrap_or("");
                prop_assert!((3..=15).contains(&digits.len()), "{}", p.as_str());
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'));
                prop_assert_eq!(Phone::parse(p.as_str()), Ok(p.clone()));
                prop_assert_eq!(Phone::parse_in(p.as_str(), country), Ok(p.clone()));
                prop_assert_eq!(stored(&p), Ok(p));
            }
            Err(PhoneError::NeedsCountry) => prop_assert!(country.is_none()),
            Err(e) => refused_with(
                e.code(),
                &["required", "too_long", "invalid_phone", "invalid_phone_for_country"],
                Some(PHONE_INPUT_MAX),
            )?,
        }
    }

    /// However a valid number is typed (national in its country, or international with `+` or
    /// `00` in any country; grouped by spaces, dashes, dots, slashes or parentheses), it is the
    /// same E.164 number.
    #[test]
    fn phones_as_people_type_them_become_e164(
        (country, national, e164) in prop::sample::select(VALID_PHONES.to_vec()),
        international in prop::bool::ANY,
        plus in prop::bool::ANY,
        residence in any_country(),
        seps in prop::collection::vec(prop::sample::select(vec!["", "", "", " ", "-", ".", "/"]), 16),
    ) {
        let (digits, residence) = if international {
            (format!("{}{}", if plus { "+" } else { "00" }, &e164[1..]), residence)
        } else {
            (national.to_owned(), Country::parse(country).map_err(|e| TestCaseError::fail(e.0.as_str()))?)
        };
        let mut typed = String::new();
        for (i, d) in digits.chars().enumerate() {
            // Separators between digits only (a `+` stays first, `00` stays whole).
            if i > 1 || (i == 1 && !digits.starts_with('+') && !digits.starts_with("00")) {
                typed.push_str(seps[i % seps.len()]);
            }
            typed.push(d);
        }
        prop_assume!(typed.len() <= PHONE_INPUT_MAX);
        prop_assert_eq!(
            Phone::parse_in(&typed, Some(residence)).map(|p| p.as_str().to_owned()),
            Ok(e164.to_owned()),
            "{} in {}", typed, residence
        );
    }

    // ---- country ----

    #[test]
    fn countries_are_listed_codes(raw in tricky_string(6)) {
        match Country::parse(&raw) {
            Ok(c) => {
                prop_assert!(optout_core::countries::COUNTRIES.iter().any(|(code, _, _)| *code == c.code()));
                prop_assert_eq!(Country::parse(c.code()), Ok(c));
                prop_assert_eq!(stored(&c), Ok(c));
            }
            Err(e) => refused_with(e, &["required", "invalid_country"], None)?,
        }
    }

    #[test]
    fn every_listed_country_is_accepted_in_any_case(i in 0..optout_core::countries::COUNTRIES.len(), lower in prop::bool::ANY) {
        let code = optout_core::countries::COUNTRIES[i].0;
        let typed = if lower { format!(" {} ", code.to_ascii_lowercase()) } else { code.to_owned() };
        prop_assert_eq!(Country::parse(&typed).map(|c| c.code().to_owned()), Ok(code.to_owned()));
    }

    // ---- reason ----

    #[test]
    fn reasons_are_bounded_and_stable(raw in prop_oneof![tricky_string(60), tricky_string(5100)]) {
        match Reason::parse(&raw) {
            Ok(r) => {
                prop_assert!((REASON_MIN..=REASON_MAX).contains(&r.as_str().chars().count()));
                prop_assert!(!r.as_str().contains('\r'));
                prop_assert!(r.as_str().split('\n').all(|l| !has_forbidden(l)));
                prop_assert_eq!(Reason::parse(r.as_str()), Ok(r.clone()));
                prop_assert_eq!(stored(&r), Ok(r));
            }
            Err(e) => refused_with(e, &["required", "too_long", "too_short", "invalid_chars"], Some(REASON_MAX))?,
        }
    }

    // ---- source URLs ----

    #[test]
    fn source_urls_are_normalised_once_and_for_all(raw in url_like()) {
        check_source_url(&raw, Strict::No)?;
    }

    #[test]
    fn source_urls_of_anything_never_panic(raw in tricky_string(120)) {
        check_source_url(&raw, Strict::No)?;
    }

    /// What the intake accepts must fit its own bound once normalised (percent-encoding makes a
    /// link up to 3 times longer) and must be readable by the matcher (which refuses empty host
    /// labels such as `http://a..b/`), or an approved notice's link never matches.
    #[test]
    fn source_urls_fit_their_bound_and_the_matcher(raw in url_like()) {
        check_source_url(&raw, Strict::Yes)?;
    }

    // ---- case ids, upload keys, queue cursors ----

    #[test]
    fn case_ids_round_trip(raw in prop_oneof!["[0-9A-Za-z]{26}", tricky_string(30)]) {
        if let Some(id) = CaseId::parse(&raw) {
            prop_assert_eq!(raw.len(), 26);
            prop_assert_eq!(CaseId::parse(&id.to_string()), Some(id));
            prop_assert_eq!(stored(&id), Ok(id));
        }
    }

    #[test]
    fn canonical_case_ids_are_accepted_as_written(raw in "[0-7][0-9A-HJKMNP-TV-Z]{25}") {
        prop_assert_eq!(CaseId::parse(&raw).map(|id| id.to_string()), Some(raw));
    }

    #[test]
    fn new_case_ids_round_trip(secs in 0i64..253_402_300_799, nanos in 0u32..1_000_000_000) {
        let at = Utc.timestamp_opt(secs, nanos).single().unwrap_or_else(Utc::now);
        let id = CaseId::new(at);
        prop_assert_eq!(CaseId::parse(&id.to_string()), Some(id));
        let cursor = QueueCursor { due_at: at, id };
        let back = QueueCursor::parse(&cursor.encode());
        // Instants past 2262 have no nanosecond count: they are paged at i64::MAX.
        if at.timestamp_nanos_opt().is_some() {
            prop_assert_eq!(back, Some(cursor));
        } else {
            prop_assert_eq!(back.map(|c| c.id), Some(id));
        }
    }

    #[test]
    fn queue_cursors_of_anything_never_panic(raw in prop_oneof![tricky_string(60), "[0-9]{0,24}-[0-9A-Z]{26}"]) {
        if let Some(c) = QueueCursor::parse(&raw) {
            prop_assert_eq!(QueueCursor::parse(&c.encode()), Some(c));
        }
    }

    #[test]
    fn upload_keys_name_one_file_of_the_upload_folder(raw in prop_oneof![tricky_string(40), "uploads/[A-Za-z0-9_./\\\\-]{20,24}"]) {
        if valid_upload_key(&raw) {
            let id = raw.strip_prefix("uploads/").unwrap_or("");
            prop_assert_eq!(id.len(), 22);
            prop_assert!(!id.contains('/') && !id.contains('\\') && !id.contains(".."), "{}", raw);
        }
    }

    #[test]
    fn upload_keys_handed_out_are_valid_and_one_changed_byte_is_not(i in 0usize..30, c in tricky_char()) {
        let key = format!("uploads/{}", random_token());
        prop_assert!(valid_upload_key(&key));
        let mut chars: Vec<char> = key.chars().collect();
        prop_assume!(chars[i] != c);
        chars[i] = c;
        let changed: String = chars.into_iter().collect();
        let alphabet = |ch: char| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_';
        prop_assert_eq!(valid_upload_key(&changed), i >= 8 && alphabet(c));
    }

    // ---- reviewers and decision forms ----

    #[test]
    fn reviewer_names_survive_an_admin_link(raw in prop_oneof!["[A-Za-z0-9._@-]{1,64}", tricky_string(70)]) {
        match ReviewerName::parse(&raw) {
            Some(name) => {
                prop_assert!((1..=64).contains(&raw.len()));
                prop_assert_eq!(stored(&name), Ok(name.clone()));
                let keys = KeyRing::generate("k1");
                let now = Utc::now();
                let (link, _) = admin::link(&keys, "https://desk.example.org", &name, Duration::hours(1), now);
                let token = link.split("token=").nth(1).unwrap_or("");
                let grant = admin::verify_link(&keys, token, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&grant.reviewer, &name);
                // A link is not a session.
                prop_assert!(admin::verify_session(&keys, token, now).is_err());
            }
            None => prop_assert!(raw.is_empty() || raw.len() > 64 || raw.bytes().any(|b| !(b.is_ascii_alphanumeric() || b".-_@".contains(&b)))),
        }
    }

    #[test]
    fn decision_forms_parse_or_name_the_wrong_field(
        decision in prop_oneof![Just("approve".to_owned()), Just("reject".to_owned()), Just("better_photo".to_owned()), tricky_string(14)],
        reason in prop::option::of(prop_oneof![prop::sample::select(RejectReason::ALL.iter().map(|r| r.as_str().to_owned()).collect::<Vec<_>>()), tricky_string(20)]),
        quality in prop::option::of(prop_oneof![prop::sample::select(BETTER_PHOTO_CODES.iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>()), tricky_string(20)]),
        note in prop::option::of(prop_oneof![tricky_string(40), tricky_string(2100)]),
    ) {
        match DecisionInput::parse(&decision, reason.as_deref(), quality.as_deref(), note.as_deref()) {
            Ok(DecisionInput::Approve { note: n }) => {
                prop_assert_eq!(decision.as_str(), "approve");
                check_note(n)?;
            }
            Ok(DecisionInput::Reject { reason: r, note: n }) => {
                prop_assert_eq!(decision.as_str(), "reject");
                prop_assert_eq!(Some(r.as_str()), reason.as_deref());
                prop_assert!(r != RejectReason::Other || n.is_some(), "'other' without a note");
                check_note(n)?;
            }
            Ok(DecisionInput::BetterPhoto { code, note: n }) => {
                prop_assert_eq!(decision.as_str(), "better_photo");
                prop_assert_eq!(Some(code.as_str()), quality.as_deref());
                check_note(n)?;
            }
            Err(optout_core::DomainError::Invalid(field)) => {
                prop_assert!(["decision", "reason", "quality", "note"].contains(&field));
            }
            Err(e) => return Err(TestCaseError::fail(format!("not a form error: {e}"))),
        }
    }

    // ---- signed tokens and links ----

    #[test]
    fn signed_tokens_round_trip(subject in any::<String>(), scope in "[a-z-]{1,16}", secs in 1i64..400 * 86_400) {
        let keys = KeyRing::generate("k1");
        let now = Utc::now();
        let expires = now + Duration::seconds(secs);
        let token = keys.sign(&scope, &subject, expires);
        prop_assume!(token.len() <= 2048);
        let (got, exp) = keys.verify(&scope, &token, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got, subject.clone());
        prop_assert_eq!(exp.timestamp(), expires.timestamp());
        // Bound to its scope and its expiry.
        let other = format!("{scope}x");
        prop_assert!(keys.verify(&other, &token, now).is_err());
        prop_assert!(keys.verify(&scope, &token, expires + Duration::seconds(1)).is_err());
        // The ring of another deployment, even under the same key id, refuses it.
        prop_assert!(KeyRing::generate("k1").verify(&scope, &token, now).is_err());
    }

    #[test]
    fn any_one_byte_change_of_a_signed_token_is_refused(
        subject in "[ -~]{0,40}",
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let keys = KeyRing::generate("k1");
        let now = Utc::now();
        let token = keys.sign(scope::STATUS, &subject, now + Duration::days(30));
        let mut bytes = token.clone().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        if let Ok(changed) = String::from_utf8(bytes) {
            prop_assert!(keys.verify(scope::STATUS, &changed, now).is_err(), "{} verified", changed);
        }
    }

    #[test]
    fn random_strings_never_verify(
        raw in prop_oneof![
            tricky_string(120),
            "k1\\.[0-9]{1,12}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{43}",
            "k1\\.[0-9]{10}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,60}",
        ],
    ) {
        let keys = KeyRing::generate("k1");
        let now = Utc::now();
        for s in [scope::STATUS, scope::UPLOAD, scope::ADMIN, scope::ADMIN_SESSION] {
            prop_assert!(keys.verify(s, &raw, now).is_err());
        }
        prop_assert!(admin::verify_link(&keys, &raw, now).is_err());
        prop_assert!(admin::verify_session(&keys, &raw, now).is_err());
        let session = keys.sign(scope::ADMIN_SESSION, "review:alice", now + Duration::hours(1));
        prop_assert!(!admin::check_csrf(&keys, &session, &raw));
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session(a in "[ -~]{1,60}", b in "[ -~]{1,60}") {
        let keys = KeyRing::generate("k1");
        let tag = admin::csrf(&keys, &a);
        prop_assert!(admin::check_csrf(&keys, &a, &tag));
        prop_assert_eq!(admin::check_csrf(&keys, &b, &tag), a == b);
        prop_assert!(!admin::check_csrf(&KeyRing::generate("k1"), &a, &tag));
    }

    #[test]
    fn admin_link_lifetimes_are_bounded(raw in prop_oneof![tricky_string(12), "-?[0-9]{1,9}[smhd]"]) {
        if let Some(d) = admin::parse_ttl(&raw) {
            prop_assert!(d >= Duration::minutes(1) && d <= Duration::days(admin::MAX_TTL_DAYS));
        }
    }

    #[test]
    fn admin_link_lifetimes_of_any_size_never_panic(raw in "-?[0-9]{1,20}[smhd]") {
        if let Some(d) = admin::parse_ttl(&raw) {
            prop_assert!(d >= Duration::minutes(1) && d <= Duration::days(admin::MAX_TTL_DAYS));
        }
    }

    // ---- indexer keys ----

    #[test]
    fn indexer_keys_are_refused_after_any_one_byte_change(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let (stored_key, key) = indexer_keys::generate("crawler", 600, Utc::now()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let presented = PresentedKey::parse(&key).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(presented.matches(&stored_key));
        let mut bytes = key.into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        if let Ok(changed) = String::from_utf8(bytes)
            && let Ok(p) = PresentedKey::parse(&changed)
        {
            prop_assert!(!p.matches(&stored_key), "{} matched", changed);
        }
    }

    #[test]
    fn indexer_keys_of_anything_never_panic(raw in prop_oneof![tricky_string(90), "optk_[a-z0-9]{12}_[0-9a-f]{64}"]) {
        if let Ok(p) = PresentedKey::parse(&raw) {
            prop_assert!(indexer_keys::is_key_id(p.id));
            prop_assert_eq!(raw.len(), 5 + 12 + 1 + 64);
        }
    }

    // ---- languages ----

    #[test]
    fn accept_language_headers_never_panic(raw in prop_oneof![tricky_string(80), "([a-zA-Z]{2}(-[A-Z]{2})?(;q=[0-9.]{1,4})?, ?){0,6}"]) {
        if let Some(l) = Lang::from_accept_language(&raw) {
            prop_assert!(raw.to_ascii_lowercase().contains(l.code()));
        }
    }

    // ---- queue (SQS) message bodies ----

    #[test]
    fn embed_job_bodies_parse_or_say_why(raw in prop_oneof![
        tricky_string(80),
        "\\{\"case_id\":\"[0-9A-Z]{0,30}\",\"generation\":-?[0-9]{1,12}(\\.[0-9])?\\}",
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]) {
        match EmbedJob::from_json(&raw) {
            Ok(job) => prop_assert_eq!(EmbedJob::from_json(&job.to_json()), Ok(job)),
            Err(why) => prop_assert!(why.starts_with("malformed embed job: "), "{}", why),
        }
    }

    #[test]
    fn embed_jobs_round_trip(secs in 0i64..4_000_000_000, generation in any::<u32>()) {
        let at = DateTime::from_timestamp(secs, 0).unwrap_or_else(Utc::now);
        let job = EmbedJob { case_id: CaseId::new(at), generation };
        prop_assert_eq!(EmbedJob::from_json(&job.to_json()), Ok(job));
    }

    // ---- photo bytes ----

    #[test]
    fn photo_bytes_of_anything_are_refused_with_a_documented_code(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2048),
            prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| [b"\x89PNG\r\n\x1a\n".as_slice(), &b].concat()),
            prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| [[0xFF, 0xD8, 0xFF].as_slice(), &b].concat()),
            prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| [b"RIFF\0\0\0\0WEBP".as_slice(), &b].concat()),
        ],
        declared in prop::option::of(prop_oneof![Just("image/png".to_owned()), Just("image/jpeg".to_owned()), tricky_string(20)]),
    ) {
        check_photo(&bytes, declared.as_deref())?;
    }

    #[test]
    fn damaged_photos_never_panic(png in prop::bool::ANY, changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = if png { sample_png() } else { sample_jpeg() };
        for (at, b) in changes {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        check_photo(&bytes, None)?;
    }
}

/// Whether a check includes the properties that known defects break (see the ignored tests).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strict {
    Yes,
    No,
}

fn check_email(raw: &str, strict: Strict) -> Result<(), TestCaseError> {
    match Email::parse(raw) {
        Ok(e) => {
            let s = e.as_str();
            if strict == Strict::No && s.len() > EMAIL_MAX {
                return Ok(());
            }
            prop_assert!(s.contains('@'));
            prop_assert!(
                !s.chars().any(|c| c.is_whitespace() || c.is_control()),
                "{:?}",
                s
            );
            prop_assert!(s.len() <= EMAIL_MAX, "{} bytes: {:?}", s.len(), s);
            prop_assert_eq!(Email::parse(s), Ok(e.clone()), "not stable: {:?}", s);
            prop_assert_eq!(stored(&e), Ok(e));
        }
        Err(e) => refused_with(
            e,
            &["required", "too_long", "invalid_email", "email_not_ascii"],
            Some(EMAIL_MAX),
        )?,
    }
    Ok(())
}

/// Links as people paste them: odd schemes and cases, hosts with dots, ports and non-ASCII,
/// paths and queries with escapes and non-ASCII, fragments.
fn url_like() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec![
        "http://",
        "https://",
        "HTTPS://",
        "Http://",
        "ftp://",
        "javascript:",
        "http:/",
        "https:///",
        "",
    ]);
    let host = prop_oneof![
        "[a-z0-9-]{1,12}(\\.[a-z0-9-]{0,12}){0,3}\\.[a-z]{2,5}",
        "[A-Za-zé0-9İ-]{1,10}\\.(com|ไทย|xn--p1ai)",
        "[0-9]{1,3}(\\.[0-9]{1,3}){3}",
        "\\[[0-9a-f:]{2,20}\\]",
        "[a-z]{1,8}\\.\\.[a-z]{2,4}",
        tricky_string(10),
    ];
    let port = prop::option::of(0u32..70_000);
    let path = prop_oneof![
        "(/[A-Za-z0-9._~%!$&'()*+,;=:@é-]{0,12}){0,5}",
        prop::collection::vec(
            prop::sample::select(vec![
                "é", "ก", "%41", "%zz", "..", ".", "/", "a", " ", "%2F"
            ]),
            0..700
        )
        .prop_map(|v| format!("/{}", v.concat())),
    ];
    let query =
        prop::option::of("[a-z_]{1,8}=[A-Za-z0-9é%+]{0,8}(&[a-z_]{1,8}=[a-z0-9]{0,8}){0,3}");
    let fragment = prop::option::of("[a-z0-9]{0,6}");
    (scheme, host, port, path, query, fragment).prop_map(|(s, h, p, path, q, f)| {
        let mut u = format!("{s}{h}");
        if let Some(p) = p {
            u.push_str(&format!(":{p}"));
        }
        u.push_str(&path);
        if let Some(q) = q {
            u.push('?');
            u.push_str(&q);
        }
        if let Some(f) = f {
            u.push('#');
            u.push_str(&f);
        }
        u
    })
}

fn check_source_url(raw: &str, strict: Strict) -> Result<(), TestCaseError> {
    match SourceUrl::parse(raw) {
        Ok(u) => {
            let s = u.as_str();
            prop_assert!(
                s.starts_with("http://") || s.starts_with("https://"),
                "{}",
                s
            );
            prop_assert!(!s.contains('#'), "{}", s);
            if strict == Strict::No {
                if s.len() <= URL_MAX {
                    prop_assert_eq!(SourceUrl::parse(s), Ok(u.clone()), "not stable: {}", s);
                    prop_assert_eq!(stored(&u), Ok(u.clone()));
                }
                return Ok(());
            }
            prop_assert!(
                s.len() <= URL_MAX,
                "{} bytes from {} bytes",
                s.len(),
                raw.len()
            );
            prop_assert_eq!(SourceUrl::parse(s), Ok(u.clone()), "not stable: {}", s);
            prop_assert_eq!(stored(&u), Ok(u.clone()));
            // What is kept is the matcher's normal form (an approved notice's links become
            // exclusion entries as they are): the one normaliser, applied once.
            let again = optout_matcher::normalize_url(s);
            prop_assert_eq!(
                again.as_ref(),
                Ok(u.normalized()),
                "accepted at intake, not in the matcher's form: {}",
                s
            );
        }
        Err(e) => refused_with(
            e,
            &["required", "too_long", "invalid_url", "url_scheme"],
            Some(URL_MAX),
        )?,
    }
    Ok(())
}

fn check_note(note: Option<String>) -> Result<(), TestCaseError> {
    if let Some(n) = note {
        prop_assert!(!n.is_empty() && n.chars().count() <= NOTE_MAX);
        prop_assert!(!n.chars().any(|c| c.is_control() && c != '\n'));
        prop_assert_eq!(parse_note(&n).ok().flatten(), Some(n.clone()));
    }
    Ok(())
}

fn check_photo(bytes: &[u8], declared: Option<&str>) -> Result<(), TestCaseError> {
    let limits = PhotoLimits::default();
    match photo::verify(bytes, declared, &limits) {
        Ok(v) => {
            prop_assert!(v.width >= limits.min_side && v.height >= limits.min_side);
            prop_assert_eq!(v.bytes, bytes.len() as u64);
        }
        Err(e) => refused_with(
            e,
            &[
                "required",
                "unsupported_type",
                "type_mismatch",
                "corrupt_image",
                "image_too_large",
                "too_many_pixels",
                "image_too_small",
                "file_too_large",
            ],
            None,
        )?,
    }
    Ok(())
}

fn sample_png() -> Vec<u8> {
    let img =
        image::RgbImage::from_fn(80, 72, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .unwrap_or_else(|e| panic!("{e}"));
    out.into_inner()
}

fn sample_jpeg() -> Vec<u8> {
    let img =
        image::RgbImage::from_fn(80, 72, |x, y| image::Rgb([x as u8, y as u8, (x ^ y) as u8]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap_or_else(|e| panic!("{e}"));
    out.into_inner()
}
