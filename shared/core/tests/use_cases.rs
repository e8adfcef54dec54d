//! The use cases of the core on in-memory fakes of every port (`optout_core::testing`): no
//! database, no emulator, no model; the whole file runs in a second or two.
//!
//! Each use case is driven through the public API only (`Desk`, `EmbedJobs` as a `JobHandler`,
//! `ExclusionService`, `send_once`): its happy path, its refusals, and what it does when a port
//! fails (injected with the fakes' `failures`, the one scripted behaviour) or when another writer
//! wins a race (`FakeCaseStore::meanwhile`). What the tests read back is what the world would
//! see: stored cases and audit trails, emails sent, jobs queued, exclusion entries, photos.
//!

use chrono::Duration;
use optout_core::case::MAX_ATTEMPTS;
use optout_core::error::FieldCode;
use optout_core::exclusions::snapshot::{RefreshLimits, refresh};
use optout_core::exclusions::{ChangesError, CheckError, MatchSettings};
use optout_core::housekeeper::Housekeeping;
use optout_core::i18n::Lang;
use optout_core::indexer_keys::{self, AuthError};
use optout_core::model::*;
use optout_core::ports::*;
use optout_core::requester::valid_upload_key;
use optout_core::reviewer::PhotoView;
use optout_core::send_once::CLAIM;
use optout_core::signing::{KeyRing, scope};
use optout_core::testing::*;
use optout_core::{DecisionInput, ReviewError, Verdict};
use optout_core::{Desk, DeskError, SubmissionInput};
use optout_matcher::Candidate;
use optout_matcher::wire::MAX_BATCH;

// ---------------------------------------------------------------------------------------------
// Helpers

fn alice() -> ReviewerName {
    ReviewerName::parse("alice").expect("reviewer name")
}

fn bob() -> ReviewerName {
    ReviewerName::parse("bob").expect("reviewer name")
}

fn approve() -> DecisionInput {
    DecisionInput::Approve { note: None }
}

fn reject() -> DecisionInput {
    DecisionInput::Reject {
        reason: RejectReason::NotIllegal,
        note: None,
    }
}

/// Moves the clock past the relay's grace period.
fn settle(fx: &Fakes) {
    fx.clock
        .advance(fx.settings.relay_grace + Duration::seconds(1));
}

fn token(desk: &Desk, case: &Case) -> String {
    desk.status_link(case).0
}

/// The field errors of an `Invalid` answer, as (field, code).
fn fields(e: DeskError) -> Vec<(String, FieldCode)> {
    match e {
        DeskError::Invalid(errs) => errs.0.into_iter().map(|e| (e.field, e.code)).collect(),
        other => panic!("expected invalid input, got {other:?}"),
    }
}

fn field(name: &str, code: FieldCode) -> (String, FieldCode) {
    (name.to_owned(), code)
}

/// A face opt-out of `photo_png(seed)`, submitted.
async fn submit_face(fx: &Fakes, desk: &Desk, seed: u8) -> Case {
    let key = fx.upload(desk, photo_png(seed)).await.expect("upload");
    desk.submit(face_input(&key)).await.expect("submit").case
}

/// A DSA notice about `urls`, submitted.
async fn submit_dsa(desk: &Desk, urls: &[&str]) -> Case {
    desk.submit(dsa_input(urls)).await.expect("submit").case
}

/// Runs the waiting jobs; every one must succeed.
async fn run_jobs(fx: &Fakes) {
    for (job, r) in fx.run_jobs().await {
        if let Err(e) = r {
            panic!("job {} failed: {e}", job.id());
        }
    }
}

/// The stored case `id`.
fn stored(fx: &Fakes, id: CaseId) -> Case {
    fx.cases.case(id).expect("stored case")
}

/// A face opt-out of `photo_png(seed)`, embedded and awaiting review.
async fn face_in_review(fx: &Fakes, desk: &Desk, seed: u8) -> Case {
    let c = submit_face(fx, desk, seed).await;
    run_jobs(fx).await;
    let c = stored(fx, c.id);
    assert_eq!(c.state, CaseState::AwaitingReview);
    c
}

/// A DSA notice about `urls`, awaiting review.
async fn dsa_in_review(fx: &Fakes, desk: &Desk, urls: &[&str]) -> Case {
    let c = submit_dsa(desk, urls).await;
    run_jobs(fx).await;
    stored(fx, c.id)
}

/// A face opt-out of `photo_png(seed)` approved by alice.
async fn approved_face(fx: &Fakes, desk: &Desk, seed: u8) -> Case {
    let c = face_in_review(fx, desk, seed).await;
    desk.decide(c.id, &alice(), c.version, approve())
        .await
        .expect("decide")
}

fn mail_case(id: CaseId) -> Mail {
    Mail {
        to: "someone@example.org".into(),
        subject: "a subject".into(),
        text: "a text".into(),
        html: "<p>a text</p>".into(),
        lang: Lang::En,
        tag: "test".into(),
        key: format!("{id}:test"),
        case_id: Some(id),
    }
}

// ---------------------------------------------------------------------------------------------
// Upload forms and the check of an upload

#[tokio::test]
async fn new_upload_hands_out_a_signed_form_for_a_fresh_key() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let now = fx.clock.now();
    let form = desk
        .new_upload(Some("https://desk.test/opt-out"))
        .await
        .unwrap();
    let other = desk.new_upload(None).await.unwrap();
    assert!(valid_upload_key(&form.key), "{}", form.key);
    assert_ne!(form.key, other.key);
    assert_eq!(form.expires_at, now + fx.settings.upload_ttl);
    assert_eq!(form.max_bytes, fx.settings.photo.max_bytes);
    assert_eq!(form.url, "https://desk.test/uploads");

    // The receiving end accepts the form as signed, and only until it expires.
    let ticket = fx.photos.check(&form.fields).unwrap();
    assert_eq!(ticket.key, form.key);
    assert_eq!(
        ticket.redirect.as_deref(),
        Some("https://desk.test/opt-out")
    );
    let mut forged = form.fields.clone();
    forged.insert("key".into(), other.key.clone());
    assert_eq!(fx.photos.check(&forged), Err(UploadRefused::Invalid));
    fx.photos
        .store(&ticket, Some("image/png"), photo_png(1))
        .await
        .unwrap();
    assert!(fx.photos.contains(&form.key));
    fx.clock
        .advance(fx.settings.upload_ttl + Duration::seconds(1));
    assert_eq!(fx.photos.check(&form.fields), Err(UploadRefused::Expired));

    fx.photos.failures.fail("upload_form", 1);
    assert!(matches!(
        desk.new_upload(None).await,
        Err(DeskError::Unavailable(_))
    ));
}

#[tokio::test]
async fn check_upload_verifies_the_photo_it_reads() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let png = photo_png(1);
    let key = fx.upload(&desk, png.clone()).await.unwrap();
    let v = desk.check_upload(&key).await.unwrap();
    assert_eq!(v.kind.mime(), "image/png");
    assert_eq!((v.width, v.height), (PHOTO_SIDE, PHOTO_SIDE));
    assert_eq!(v.bytes, png.len() as u64);
    assert_eq!(v.sha256, optout_matcher::Sha256::of(&png));
    let peeked = desk.peek_upload(&key).await.unwrap();
    assert_eq!((peeked.width, peeked.height), (PHOTO_SIDE, PHOTO_SIDE));

    let jpeg = fx
        .upload_as(&desk, photo_jpeg(1), Some("image/jpeg"))
        .await
        .unwrap();
    assert_eq!(
        desk.check_upload(&jpeg).await.unwrap().kind.mime(),
        "image/jpeg"
    );
}

#[tokio::test]
async fn check_upload_refuses_what_is_not_a_usable_photo() {
    let mut fx = Fakes::new();
    let desk = fx.desk();
    let photo_error = |e: DeskError| fields(e).into_iter().next().expect("one error");

    // Keys the desk never hands out, and keys with nothing behind them.
    let e = desk.check_upload("../etc/passwd").await.unwrap_err();
    assert_eq!(photo_error(e), field("photo", FieldCode::UploadMissing));
    let empty = desk.new_upload(None).await.unwrap().key;
    let e = desk.check_upload(&empty).await.unwrap_err();
    assert_eq!(photo_error(e), field("photo", FieldCode::UploadMissing));

    let tiny = fx
        .upload(&desk, png_by_rows(32, 32, |_, _| [9, 9, 9]))
        .await
        .unwrap();
    let e = desk.check_upload(&tiny).await.unwrap_err();
    assert_eq!(photo_error(e), field("photo", FieldCode::ImageTooSmall));

    let garbage = fx
        .upload_as(&desk, b"not an image at all".to_vec(), None)
        .await
        .unwrap();
    let e = desk.check_upload(&garbage).await.unwrap_err();
    assert_eq!(photo_error(e), field("photo", FieldCode::UnsupportedType));

    let mislabelled = fx
        .upload_as(&desk, photo_png(1), Some("image/jpeg"))
        .await
        .unwrap();
    let e = desk.check_upload(&mislabelled).await.unwrap_err();
    assert_eq!(photo_error(e), field("photo", FieldCode::TypeMismatch));

    let mut truncated = photo_jpeg(1);
    truncated.truncate(truncated.len() / 2);
    let truncated = fx
        .upload_as(&desk, truncated, Some("image/jpeg"))
        .await
        .unwrap();
    let e = desk.check_upload(&truncated).await.unwrap_err();
    assert_eq!(photo_error(e), field("photo", FieldCode::CorruptImage));

    let key = fx.upload(&desk, photo_png(1)).await.unwrap();
    fx.photos.failures.fail("read", 1);
    assert!(matches!(
        desk.check_upload(&key).await,
        Err(DeskError::Unavailable(_))
    ));

    fx.settings.photo.max_bytes = 100;
    let small_desk = fx.desk();
    match small_desk.check_upload(&key).await {
        Err(DeskError::Invalid(errs)) => {
            let e = errs.get("photo").expect("photo error");
            assert_eq!((e.code, e.limit), (FieldCode::FileTooLarge, Some(100)));
        }
        other => panic!("expected file_too_large, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Submission

#[tokio::test]
async fn a_face_opt_out_is_stored_queued_and_acknowledged_once() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let png = photo_png(1);
    let key = fx.upload(&desk, png.clone()).await.unwrap();
    let s = desk.submit(face_input(&key)).await.unwrap();
    assert!(s.created);
    let case = stored(&fx, s.case.id);
    assert_eq!(case, s.case);
    assert_eq!(case.kind, CaseKind::FaceOptOut);
    assert_eq!(case.state, CaseState::Received);
    assert_eq!(case.version, 2, "inserted, then its dispatch recorded");
    assert!(case.job_dispatched && case.receipt_sent && case.consent && !case.good_faith);
    assert!(case.pending.is_empty());
    assert_eq!(case.due_at, case.created_at + fx.settings.decision_due);
    let p = case.photo.as_ref().unwrap();
    assert_eq!(p.key, key);
    assert_eq!(p.content_type, "image/png");
    assert_eq!(p.sha256, optout_matcher::Sha256::of(&png));
    assert_eq!((p.width, p.generation), (PHOTO_SIDE, 1));
    let personal = case.personal.as_ref().unwrap();
    assert_eq!(personal.email.as_str(), "somchai@example.org");
    assert_eq!(personal.phone.as_ref().unwrap().as_str(), "+66812345678");
    assert_eq!(personal.country.code(), "TH");
    assert!(fx.photos.object(&key).unwrap().claimed);

    assert_eq!(s.status_url, desk.status_url(&case));
    assert!(s.status_url.starts_with("https://desk.test/status/"));
    assert_eq!(
        fx.queue.enqueued(),
        vec![EmbedJob {
            case_id: case.id,
            generation: 1
        }]
    );
    let mails = fx.mailer.sent();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].tag, "receipt");
    assert_eq!(mails[0].to, "somchai@example.org");
    assert_eq!(mails[0].case_id, Some(case.id));
    assert!(mails[0].text.contains(&s.status_url));
    assert_eq!(
        fx.mail_ledger.sent_keys(),
        vec![format!("{}:receipt", case.id)]
    );

    let audit = fx.cases.audit(case.id);
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        ["submitted", "job_enqueued,receipt_sent,photo_claimed"]
    );
    assert_eq!(audit[0].actor, Actor::Requester);
    assert_eq!(audit[1].actor, Actor::System);
}

#[tokio::test]
async fn a_dsa_notice_is_stored_with_its_links_normalised_and_a_job_without_photo() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let s = desk
        .submit(dsa_input(&[
            "HTTPS://Example.COM:443/a.jpg#frag",
            " https://example.com/b.jpg ",
        ]))
        .await
        .unwrap();
    let case = stored(&fx, s.case.id);
    let urls: Vec<&str> = case.source_urls.iter().map(|u| u.as_str()).collect();
    assert_eq!(
        urls,
        ["https://example.com/a.jpg", "https://example.com/b.jpg"]
    );
    assert!(case.photo.is_none() && case.good_faith && !case.consent);
    assert_eq!(
        fx.queue.enqueued(),
        vec![EmbedJob {
            case_id: case.id,
            generation: 0
        }]
    );
    assert_eq!(fx.mailer.tags(), ["receipt"]);
    assert_eq!(fx.mailer.sent()[0].to, "anna@example.de");
}

#[tokio::test]
async fn an_empty_submission_reports_every_missing_field_and_writes_nothing() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let mut got = fields(desk.submit(SubmissionInput::default()).await.unwrap_err());
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want = vec![
        field("kind", FieldCode::Required),
        field("country", FieldCode::Required),
        field("first_name", FieldCode::Required),
        field("last_name", FieldCode::Required),
        field("email", FieldCode::Required),
        field("phone", FieldCode::Required),
        field("reason", FieldCode::Required),
    ];
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
    assert_eq!(fx.cases.failures.calls("insert_case"), 0);
    assert!(fx.cases.cases().is_empty());
    assert!(fx.mailer.sent().is_empty() && fx.queue.enqueued().is_empty());
}

#[tokio::test]
async fn face_opt_out_refusals_name_each_field_and_the_photo_together() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let key = fx.upload(&desk, photo_png(1)).await.unwrap();

    let mut no_consent = face_input(&key);
    no_consent.consent = false;
    assert_eq!(
        fields(desk.submit(no_consent).await.unwrap_err()),
        [field("consent", FieldCode::ConsentRequired)]
    );

    let mut no_photo = face_input(&key);
    no_photo.upload_key = None;
    assert_eq!(
        fields(desk.submit(no_photo).await.unwrap_err()),
        [field("photo", FieldCode::UploadMissing)]
    );

    // A bad field and a bad photo are reported at once.
    let tiny = fx
        .upload(&desk, png_by_rows(16, 16, |_, _| [0, 0, 0]))
        .await
        .unwrap();
    let mut both = face_input(&tiny);
    both.email = "not an email".into();
    both.phone = "081 234 ABCD".into();
    assert_eq!(
        fields(desk.submit(both).await.unwrap_err()),
        [
            field("email", FieldCode::InvalidEmail),
            field("phone", FieldCode::InvalidPhone),
            field("photo", FieldCode::ImageTooSmall),
        ]
    );

    let mut bad_key = face_input(&key);
    bad_key.idempotency_key = Some("short".into());
    assert_eq!(
        fields(desk.submit(bad_key).await.unwrap_err()),
        [field("idempotency_key", FieldCode::InvalidValue)]
    );

    assert_eq!(fx.cases.failures.calls("insert_case"), 0);
    assert!(fx.mailer.sent().is_empty() && fx.queue.enqueued().is_empty());
    assert!(!fx.photos.object(&key).unwrap().claimed);
}

#[tokio::test]
async fn dsa_notice_refusals() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let refused = |input: SubmissionInput| {
        let desk = desk.clone();
        async move { fields(desk.submit(input).await.unwrap_err()) }
    };
    let mut no_good_faith = dsa_input(&["https://example.com/a.jpg"]);
    no_good_faith.good_faith = false;
    assert_eq!(
        refused(no_good_faith).await,
        [field("good_faith", FieldCode::GoodFaithRequired)]
    );
    assert_eq!(
        refused(dsa_input(&["  "])).await,
        [field("source_urls", FieldCode::Required)]
    );
    assert_eq!(
        refused(dsa_input(&[
            "https://a.example/x.jpg",
            "HTTPS://A.EXAMPLE/x.jpg"
        ]))
        .await,
        [field("source_urls", FieldCode::DuplicateUrl)]
    );
    assert_eq!(
        refused(dsa_input(&["javascript:alert(1)"])).await,
        [field("source_urls", FieldCode::UrlScheme)]
    );
    let many: Vec<String> = (0..=URLS_MAX)
        .map(|i| format!("https://example.com/{i}.jpg"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    match desk.submit(dsa_input(&many)).await {
        Err(DeskError::Invalid(e)) => {
            let e = e.get("source_urls").unwrap();
            assert_eq!(
                (e.code, e.limit),
                (FieldCode::TooManyUrls, Some(URLS_MAX as u64))
            );
        }
        other => panic!("expected too_many_urls, got {other:?}"),
    }
    let key = fx.upload(&desk, photo_png(1)).await.unwrap();
    let mut with_photo = dsa_input(&["https://example.com/a.jpg"]);
    with_photo.upload_key = Some(key);
    assert_eq!(
        refused(with_photo).await,
        [field("upload_key", FieldCode::NotAllowed)]
    );
    assert!(fx.cases.cases().is_empty() && fx.mailer.sent().is_empty());
}

#[tokio::test]
async fn the_phone_is_optional_only_when_the_settings_say_so() {
    let mut fx = Fakes::new();
    let mut input = dsa_input(&["https://example.com/a.jpg"]);
    input.phone = " ".into();
    assert_eq!(
        fields(fx.desk().submit(input.clone()).await.unwrap_err()),
        [field("phone", FieldCode::Required)]
    );
    fx.settings.phone_required = false;
    let case = fx.desk().submit(input).await.unwrap().case;
    assert_eq!(case.personal.unwrap().phone, None);
}

#[tokio::test]
async fn a_phone_number_is_read_in_the_country_of_residence_and_stored_in_e164() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let key = fx.upload(&desk, photo_png(1)).await.unwrap();
    let mut national = face_input(&key);
    national.phone = "081 234 5678".into();
    national.idempotency_key = Some("phone-national-1".into());
    let case = desk.submit(national.clone()).await.unwrap().case;
    let phone = case.personal.as_ref().unwrap().phone.clone().unwrap();
    assert_eq!(phone.as_str(), "+66812345678");
    assert_eq!(stored(&fx, case.id), case);
    // The same number written internationally is the same request (a retry of the form).
    let mut international = national;
    international.phone = "0066 81 234 5678".into();
    let again = desk.submit(international).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.case.id, case.id);
    let receipt = &fx.mailer.with_tag("receipt")[0];
    assert!(
        receipt.text.contains("Phone: +66812345678"),
        "{}",
        receipt.text
    );

    // An impossible number is refused for the country it was read in, which the message names.
    let refused = |phone: &str, country: &str| {
        let mut input = dsa_input(&["https://example.com/a.jpg"]);
        input.phone = phone.into();
        input.country = country.into();
        let desk = desk.clone();
        async move {
            match desk.submit(input).await {
                Err(DeskError::Invalid(e)) => e.0,
                other => panic!("expected invalid input, got {other:?}"),
            }
        }
    };
    let th = Country::parse("TH").unwrap();
    let gb = Country::parse("GB").unwrap();
    for (phone, country, named) in [
        ("081 234 567", "TH", th),
        ("07400 123456", "TH", th),
        ("+44 7400 12345", "TH", gb),
    ] {
        let errs = refused(phone, country).await;
        assert_eq!(errs.len(), 1, "{errs:?}");
        let e = &errs[0];
        assert_eq!(
            (e.field.as_str(), e.code, e.country),
            ("phone", FieldCode::InvalidPhoneForCountry, Some(named)),
            "{phone} in {country}"
        );
    }
    // A national number waits for a valid country: only the country is refused.
    let errs = refused("081 234 5678", "XX").await;
    assert_eq!(
        errs.iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect::<Vec<_>>(),
        [("country", FieldCode::InvalidCountry)]
    );
    // An international one is checked all the same.
    let errs = refused("+66 81 234", "XX").await;
    assert_eq!(
        errs.iter()
            .map(|e| (e.field.as_str(), e.code))
            .collect::<Vec<_>>(),
        [
            ("country", FieldCode::InvalidCountry),
            ("phone", FieldCode::InvalidPhoneForCountry)
        ]
    );
    assert_eq!(fx.cases.cases().len(), 1);
}

#[tokio::test]
async fn a_repeated_submission_returns_the_first_case_and_sends_nothing_more() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let key = fx.upload(&desk, photo_png(1)).await.unwrap();
    let mut input = face_input(&key);
    input.idempotency_key = Some("form-token-0001".into());
    let first = desk.submit(input.clone()).await.unwrap();

    // The same request again (the email's domain in other letters is the same address).
    let mut again = input.clone();
    again.email = "somchai@EXAMPLE.org".into();
    let second = desk.submit(again).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.case.id, first.case.id);
    assert_eq!(second.status_url, first.status_url);

    // The same photo without a key: the same request too.
    let mut no_key = input.clone();
    no_key.idempotency_key = None;
    let third = desk.submit(no_key).await.unwrap();
    assert_eq!((third.created, third.case.id), (false, first.case.id));

    assert_eq!(fx.cases.cases().len(), 1);
    assert_eq!(fx.mailer.tags(), ["receipt"]);
    assert_eq!(fx.queue.enqueued().len(), 1);
}

#[tokio::test]
async fn a_key_or_photo_reused_for_another_request_is_refused() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let key = fx.upload(&desk, photo_png(1)).await.unwrap();
    let mut input = face_input(&key);
    input.idempotency_key = Some("form-token-0001".into());
    desk.submit(input.clone()).await.unwrap();

    let mut other_reason = input.clone();
    other_reason.reason = "Something else entirely, please.".into();
    assert_eq!(
        fields(desk.submit(other_reason).await.unwrap_err()),
        [field("idempotency_key", FieldCode::KeyReused)]
    );

    let mut other_person = input.clone();
    other_person.idempotency_key = None;
    other_person.email = "someone.else@example.org".into();
    assert_eq!(
        fields(desk.submit(other_person).await.unwrap_err()),
        [field("photo", FieldCode::PhotoReused)]
    );
    assert_eq!(fx.cases.cases().len(), 1);
    assert_eq!(fx.mailer.tags(), ["receipt"]);
}

#[tokio::test]
async fn a_submission_while_the_case_store_is_down_writes_and_sends_nothing() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let key = fx.upload(&desk, photo_png(1)).await.unwrap();
    fx.cases.failures.fail("insert_case", 1);
    assert!(matches!(
        desk.submit(face_input(&key)).await,
        Err(DeskError::Unavailable(_))
    ));
    assert!(fx.cases.cases().is_empty());
    assert!(fx.mailer.sent().is_empty() && fx.queue.enqueued().is_empty());
    assert!(!fx.photos.object(&key).unwrap().claimed);
    assert!(fx.mail_ledger.sent_keys().is_empty());

    // The client retries once the store is back.
    let s = desk.submit(face_input(&key)).await.unwrap();
    assert!(s.created);
    assert_eq!(fx.mailer.tags(), ["receipt"]);
}

#[tokio::test]
async fn a_submission_while_the_photo_store_is_down_is_refused_as_unavailable() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let key = fx.upload(&desk, photo_png(1)).await.unwrap();
    fx.photos.failures.fail("read", 1);
    assert!(matches!(
        desk.submit(face_input(&key)).await,
        Err(DeskError::Unavailable(_))
    ));
    assert!(fx.cases.cases().is_empty() && fx.mailer.sent().is_empty());
}

#[tokio::test]
async fn with_the_mailer_down_the_case_is_recorded_and_the_relay_sends_one_receipt() {
    let fx = Fakes::new();
    let desk = fx.desk();
    fx.mailer.failures.down();
    let s = desk
        .submit(dsa_input(&["https://example.com/a.jpg"]))
        .await
        .unwrap();
    assert!(s.created);
    let case = stored(&fx, s.case.id);
    assert!(case.job_dispatched && !case.receipt_sent);
    assert_eq!(fx.cases.actions(case.id), ["submitted", "job_enqueued"]);
    assert!(fx.mailer.sent().is_empty());
    let receipt_key = format!("{}:receipt", case.id);
    assert_eq!(fx.mail_ledger.entry(&receipt_key), None, "claim released");

    // Still down: the relay tries and leaves it pending.
    settle(&fx);
    assert_eq!(desk.relay(10).await.unwrap(), 1);
    assert!(!stored(&fx, case.id).receipt_sent);

    fx.mailer.failures.heal();
    assert_eq!(desk.relay(10).await.unwrap(), 1);
    assert_eq!(fx.mailer.tags(), ["receipt"]);
    assert!(stored(&fx, case.id).receipt_sent);
    assert_eq!(
        fx.cases.actions(case.id),
        ["submitted", "job_enqueued", "receipt_sent"]
    );
    assert_eq!(desk.relay(10).await.unwrap(), 0);
    assert_eq!(fx.mailer.sent().len(), 1);
}

#[tokio::test]
async fn the_relay_leaves_a_case_alone_during_its_grace_period() {
    let fx = Fakes::new();
    let desk = fx.desk();
    fx.mailer.failures.fail("send", 1);
    let case = submit_dsa(&desk, &["https://example.com/a.jpg"]).await;
    assert_eq!(desk.relay(10).await.unwrap(), 0);
    fx.clock
        .advance(fx.settings.relay_grace - Duration::seconds(1));
    assert_eq!(desk.relay(10).await.unwrap(), 0, "changed within the grace");
    fx.clock.advance(Duration::seconds(1));
    assert_eq!(desk.relay(10).await.unwrap(), 1);
    assert!(stored(&fx, case.id).receipt_sent);
}

#[tokio::test]
async fn the_relay_takes_at_most_its_batch_and_reports_a_store_failure() {
    let fx = Fakes::new();
    let desk = fx.desk();
    fx.mailer.failures.down();
    for i in 0..3 {
        submit_dsa(&desk, &[&format!("https://example.com/{i}.jpg")]).await;
    }
    fx.mailer.failures.heal();
    settle(&fx);
    assert_eq!(desk.relay(2).await.unwrap(), 2);
    assert_eq!(fx.mailer.sent().len(), 2);
    fx.cases.failures.fail("undispatched", 1);
    assert!(matches!(
        desk.relay(10).await,
        Err(DeskError::Unavailable(_))
    ));
    assert_eq!(desk.relay(10).await.unwrap(), 1);
    assert_eq!(fx.mailer.tags(), ["receipt", "receipt", "receipt"]);
}

#[tokio::test]
async fn with_the_queue_down_the_job_is_left_to_the_relay() {
    let fx = Fakes::new();
    let desk = fx.desk();
    fx.queue.failures.fail("enqueue", 1);
    let case = submit_face(&fx, &desk, 1).await;
    let c = stored(&fx, case.id);
    assert!(!c.job_dispatched && c.receipt_sent);
    assert!(fx.queue.enqueued().is_empty());
    assert_eq!(
        fx.cases.actions(case.id),
        ["submitted", "receipt_sent,photo_claimed"]
    );
    // The insert carried the job (a store that holds the queue would have written it).
    assert_eq!(fx.cases.first_jobs().len(), 1);

    settle(&fx);
    assert_eq!(desk.relay(10).await.unwrap(), 1);
    assert_eq!(
        fx.queue.enqueued(),
        vec![EmbedJob {
            case_id: case.id,
            generation: 1
        }]
    );
    assert!(stored(&fx, case.id).job_dispatched);
    assert_eq!(
        fx.mailer.tags(),
        ["receipt"],
        "the receipt is not sent again"
    );
}

#[tokio::test]
async fn with_the_mail_ledger_down_nothing_is_sent_until_the_relay() {
    let fx = Fakes::new();
    let desk = fx.desk();
    fx.mail_ledger.failures.fail("claim", 1);
    let case = submit_dsa(&desk, &["https://example.com/a.jpg"]).await;
    assert!(!stored(&fx, case.id).receipt_sent);
    assert!(fx.mailer.sent().is_empty());
    settle(&fx);
    desk.relay(10).await.unwrap();
    assert_eq!(fx.mailer.tags(), ["receipt"]);
}

#[tokio::test]
async fn a_receipt_whose_record_was_lost_is_not_sent_again_by_the_relay() {
    let fx = Fakes::new();
    let desk = fx.desk();
    // Every write recording the dispatch loses (someone else wrote the case first).
    fx.cases
        .failures
        .fail_with("update_case", MAX_ATTEMPTS, Fault::Conflict);
    let case = submit_face(&fx, &desk, 1).await;
    let c = stored(&fx, case.id);
    assert_eq!(c.version, 1);
    assert!(!c.receipt_sent && !c.job_dispatched);
    assert_eq!(fx.mailer.tags(), ["receipt"]);

    settle(&fx);
    assert_eq!(desk.relay(10).await.unwrap(), 1);
    let c = stored(&fx, case.id);
    assert!(c.receipt_sent && c.job_dispatched);
    assert_eq!(fx.mailer.tags(), ["receipt"], "sent once");
    assert_eq!(fx.queue.enqueued().len(), 2, "enqueued again: harmless");
    assert_eq!(fx.queue.waiting().len(), 1);
}

#[tokio::test]
async fn a_photo_claim_that_fails_does_not_fail_the_submission() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let key = fx.upload(&desk, photo_png(1)).await.unwrap();
    fx.photos.failures.fail("claim", 1);
    let s = desk.submit(face_input(&key)).await.unwrap();
    assert!(s.created);
    assert!(!fx.photos.object(&key).unwrap().claimed);
    run_jobs(&fx).await;
    assert!(fx.photos.object(&key).unwrap().claimed, "the job claims it");
}

// ---------------------------------------------------------------------------------------------
// The status link

#[tokio::test]
async fn status_opens_the_case_behind_a_valid_link_only() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = submit_dsa(&desk, &["https://example.com/a.jpg"]).await;
    let (tok, url, expires) = desk.status_link(&case);
    assert_eq!(url, format!("https://desk.test/status/{tok}"));
    assert_eq!(expires, case.created_at + fx.settings.status_link_ttl);
    let view = desk.status(&tok).await.unwrap();
    assert_eq!(view.case.id, case.id);
    assert_eq!(view.token, tok);
    assert_eq!(view.link_expires.timestamp(), expires.timestamp());

    let refused = |t: String| {
        let desk = desk.clone();
        async move { matches!(desk.status(&t).await, Err(DeskError::InvalidLink)) }
    };
    let mut tampered = tok.clone().into_bytes();
    let i = tampered.len() - 3;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    assert!(refused(String::from_utf8(tampered).unwrap()).await);
    assert!(refused("garbage".into()).await);
    assert!(refused(fx.keys.sign(scope::UPLOAD, &case.id.to_string(), expires)).await);
    let unknown = CaseId::new(fx.clock.now());
    assert!(refused(fx.keys.sign(scope::STATUS, &unknown.to_string(), expires)).await);
    assert!(refused(fx.keys.sign(scope::STATUS, "not-a-case", expires)).await);
    let stranger = KeyRing::generate("test");
    assert!(refused(stranger.sign(scope::STATUS, &case.id.to_string(), expires)).await);

    fx.cases.failures.fail("get_case", 1);
    assert!(matches!(
        desk.status(&tok).await,
        Err(DeskError::Unavailable(_))
    ));

    fx.clock
        .advance(fx.settings.status_link_ttl + Duration::seconds(1));
    assert!(refused(tok).await, "expired");
}

// ---------------------------------------------------------------------------------------------
// Withdrawal

#[tokio::test]
async fn withdrawing_deletes_the_photo_and_biometrics_and_confirms_once() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = face_in_review(&fx, &desk, 1).await;
    let key = case.photo.clone().unwrap().key;
    assert!(fx.biometrics.get(case.id).is_some());
    let tok = token(&desk, &case);

    let w = desk.withdraw(&tok).await.unwrap();
    assert_eq!(w.state, CaseState::Withdrawn);
    assert!(w.pending.is_empty());
    assert_eq!(stored(&fx, case.id), w);
    assert!(!fx.photos.contains(&key));
    assert!(fx.biometrics.get(case.id).is_none());
    let withdrawn = fx.mailer.with_tag("withdrawn");
    assert_eq!(withdrawn.len(), 1);
    assert_eq!(withdrawn[0].to, "somchai@example.org");
    let actions = fx.cases.actions(case.id);
    assert_eq!(
        actions[actions.len() - 2..],
        [
            "withdrawn",
            "exclusions_withdrawn,photo_deleted,biometrics_deleted,withdrawal_sent"
        ]
    );

    // Twice is harmless.
    let again = desk.withdraw(&tok).await.unwrap();
    assert_eq!(again, w);
    assert_eq!(fx.mailer.tags(), ["receipt", "withdrawn"]);
}

#[tokio::test]
async fn withdrawing_an_approved_case_withdraws_its_exclusions_at_new_positions() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = approved_face(&fx, &desk, 1).await;
    let before = fx.exclusions.of_case(case.id);
    assert_eq!(
        before.iter().map(|e| e.position).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    desk.withdraw(&token(&desk, &case)).await.unwrap();
    let after = fx.exclusions.of_case(case.id);
    assert!(after.iter().all(|e| e.state == EntryState::Withdrawn));
    assert_eq!(
        after.iter().map(|e| e.position).collect::<Vec<_>>(),
        [4, 5, 6]
    );
    assert_eq!(fx.exclusions.head().await.unwrap(), 6);
    assert_eq!(fx.mailer.tags(), ["receipt", "decision", "withdrawn"]);
}

#[tokio::test]
async fn a_rejected_case_cannot_be_withdrawn() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = dsa_in_review(&fx, &desk, &["https://example.com/a.jpg"]).await;
    let rejected = desk
        .decide(case.id, &alice(), case.version, reject())
        .await
        .unwrap();
    let r = desk.withdraw(&token(&desk, &case)).await;
    assert!(matches!(r, Err(DeskError::WrongState(CaseState::Rejected))));
    assert_eq!(stored(&fx, case.id), rejected);
    assert!(fx.mailer.with_tag("withdrawn").is_empty());
}

#[tokio::test]
async fn a_withdrawal_that_loses_a_race_reads_the_case_again_and_loses_no_update() {
    let fx = Fakes::new();
    let desk = fx.desk();
    fx.queue.failures.fail("enqueue", 1);
    let case = submit_face(&fx, &desk, 1).await;
    assert!(!stored(&fx, case.id).job_dispatched);
    // The relay records the job between the withdrawal's read and its write.
    fx.cases.meanwhile(case.id, |c| c.job_dispatched = true);
    let w = desk.withdraw(&token(&desk, &case)).await.unwrap();
    assert_eq!(w.state, CaseState::Withdrawn);
    assert!(
        stored(&fx, case.id).job_dispatched,
        "the other write is kept"
    );
    assert_eq!(
        fx.cases.actions(case.id),
        [
            "submitted",
            "receipt_sent,photo_claimed",
            "concurrent_write",
            "withdrawn",
            "exclusions_withdrawn,photo_deleted,biometrics_deleted,withdrawal_sent"
        ]
    );
    assert_eq!(fx.mailer.with_tag("withdrawn").len(), 1);
}

#[tokio::test]
async fn a_withdrawal_gives_up_when_the_case_keeps_changing() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = submit_face(&fx, &desk, 1).await;
    let before = stored(&fx, case.id);
    let writes = fx.cases.failures.calls("update_case");
    fx.cases
        .failures
        .fail_with("update_case", 3, Fault::Conflict);
    match desk.withdraw(&token(&desk, &case)).await {
        Err(DeskError::Unavailable(m)) => assert!(m.contains("kept changing"), "{m}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert_eq!(fx.cases.failures.calls("update_case"), writes + 3);
    assert_eq!(stored(&fx, case.id), before);
    assert!(fx.photos.contains(&case.photo.unwrap().key));
    assert_eq!(fx.mailer.tags(), ["receipt"]);
}

#[tokio::test]
async fn a_withdrawal_while_the_store_is_down_changes_nothing() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = face_in_review(&fx, &desk, 1).await;
    fx.cases.failures.fail("update_case", 1);
    assert!(matches!(
        desk.withdraw(&token(&desk, &case)).await,
        Err(DeskError::Unavailable(_))
    ));
    assert_eq!(stored(&fx, case.id), case);
    assert!(fx.photos.contains(&case.photo.unwrap().key));
    assert!(fx.biometrics.get(case.id).is_some());
    assert_eq!(fx.mailer.tags(), ["receipt"]);
}

#[tokio::test]
async fn a_withdrawal_whose_exclusions_cannot_be_withdrawn_yet_is_finished_by_the_relay() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = approved_face(&fx, &desk, 1).await;
    fx.exclusions.failures.down();
    let w = desk.withdraw(&token(&desk, &case)).await.unwrap();
    assert_eq!(w.state, CaseState::Withdrawn);
    assert_eq!(w.pending, [Effect::WithdrawExclusions]);
    assert_eq!(stored(&fx, case.id).pending, [Effect::WithdrawExclusions]);
    assert!(
        fx.exclusions
            .of_case(case.id)
            .iter()
            .all(|e| e.state == EntryState::Active)
    );

    fx.exclusions.failures.heal();
    assert_eq!(desk.relay(10).await.unwrap(), 0, "within the grace period");
    settle(&fx);
    assert_eq!(desk.relay(10).await.unwrap(), 1);
    assert!(stored(&fx, case.id).pending.is_empty());
    assert!(
        fx.exclusions
            .of_case(case.id)
            .iter()
            .all(|e| e.state == EntryState::Withdrawn)
    );
}

/// The withdrawal confirmation is an effect of the withdrawal's outbox: a mail outage at that
/// moment leaves it to the relay.
#[tokio::test]
async fn a_withdrawal_confirmation_lost_to_a_mail_outage_is_sent_later() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = submit_dsa(&desk, &["https://example.com/a.jpg"]).await;
    fx.mailer.failures.down();
    desk.withdraw(&token(&desk, &case)).await.unwrap();
    fx.mailer.failures.heal();
    settle(&fx);
    desk.housekeep(10).await.unwrap();
    assert_eq!(fx.mailer.with_tag("withdrawn").len(), 1);
}

// ---------------------------------------------------------------------------------------------
// A better photo

/// A face opt-out whose photo showed no face: it needs a better one.
async fn needing_better_photo(fx: &Fakes, desk: &Desk) -> Case {
    fx.analyzer.answer(Analysis::Verdict(Verdict::NoFace));
    let case = submit_face(fx, desk, 1).await;
    run_jobs(fx).await;
    fx.analyzer.answer(Analysis::Face);
    stored(fx, case.id)
}

#[tokio::test]
async fn a_better_photo_restarts_the_case_with_a_new_generation() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = needing_better_photo(&fx, &desk).await;
    let old_key = case.photo.clone().unwrap().key;
    let tok = token(&desk, &case);
    let new_key = fx.upload(&desk, photo_png(2)).await.unwrap();

    let r = desk.replace_photo(&tok, &new_key).await.unwrap();
    assert_eq!(r.state, CaseState::Received);
    assert_eq!(r.quality_issue, None);
    let p = r.photo.clone().unwrap();
    assert_eq!((p.key.as_str(), p.generation), (new_key.as_str(), 2));
    assert_eq!(stored(&fx, case.id), r);
    assert!(r.job_dispatched);
    assert!(!fx.photos.contains(&old_key));
    assert!(fx.photos.object(&new_key).unwrap().claimed);
    assert_eq!(
        fx.queue.waiting(),
        vec![EmbedJob {
            case_id: case.id,
            generation: 2
        }]
    );
    let actions = fx.cases.actions(case.id);
    assert_eq!(
        actions[actions.len() - 2..],
        [
            "photo_replaced",
            "job_enqueued,photo_claimed,replaced_photo_deleted"
        ]
    );

    // The same form posted twice changes nothing.
    let again = desk.replace_photo(&tok, &new_key).await.unwrap();
    assert_eq!(again, r);
    assert_eq!(fx.queue.enqueued().len(), 2);

    run_jobs(&fx).await;
    let c = stored(&fx, case.id);
    assert_eq!(c.state, CaseState::AwaitingReview);
    assert_eq!(fx.biometrics.get(case.id).unwrap().generation, 2);

    // A late job of the first photo does nothing.
    let calls = fx.analyzer.calls();
    fx.queue.redeliver(EmbedJob {
        case_id: case.id,
        generation: 1,
    });
    run_jobs(&fx).await;
    assert_eq!(stored(&fx, case.id), c);
    assert_eq!(fx.analyzer.calls(), calls);
}

#[tokio::test]
async fn replace_photo_refusals() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let received = submit_face(&fx, &desk, 3).await;
    let key = fx.upload(&desk, photo_png(2)).await.unwrap();
    assert!(matches!(
        desk.replace_photo(&token(&desk, &received), &key).await,
        Err(DeskError::WrongState(CaseState::Received))
    ));

    let case = needing_better_photo(&fx, &desk).await;
    let tok = token(&desk, &case);
    let garbage = fx
        .upload_as(&desk, b"GIF89a....".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(
        fields(desk.replace_photo(&tok, &garbage).await.unwrap_err()),
        [field("photo", FieldCode::UnsupportedType)]
    );
    let missing = desk.new_upload(None).await.unwrap().key;
    assert_eq!(
        fields(desk.replace_photo(&tok, &missing).await.unwrap_err()),
        [field("photo", FieldCode::UploadMissing)]
    );
    assert!(matches!(
        desk.replace_photo("forged", &key).await,
        Err(DeskError::InvalidLink)
    ));
    fx.cases.failures.fail("update_case", 1);
    assert!(matches!(
        desk.replace_photo(&tok, &key).await,
        Err(DeskError::Unavailable(_))
    ));
    assert_eq!(stored(&fx, case.id), case);
    assert!(!fx.photos.object(&key).unwrap().claimed);
    assert!(fx.photos.contains(&case.photo.unwrap().key));
}

#[tokio::test]
async fn a_photo_replacement_that_loses_a_race_is_retried_and_loses_no_update() {
    let fx = Fakes::new();
    let desk = fx.desk();
    // The receipt and the better-photo email both wait for the relay.
    fx.mailer.failures.fail("send", 2);
    let case = needing_better_photo(&fx, &desk).await;
    assert!(!case.receipt_sent);
    let key = fx.upload(&desk, photo_png(2)).await.unwrap();
    // The relay records the receipt between the replacement's read and its write.
    fx.cases.meanwhile(case.id, |c| c.receipt_sent = true);
    let r = desk
        .replace_photo(&token(&desk, &case), &key)
        .await
        .unwrap();
    assert_eq!(r.photo.unwrap().generation, 2);
    assert!(stored(&fx, case.id).receipt_sent, "the other write is kept");
    assert!(
        fx.mailer.with_tag("receipt").is_empty(),
        "no receipt sent on a stale read"
    );
}

// ---------------------------------------------------------------------------------------------
// The embedding job

#[tokio::test]
async fn a_face_job_embeds_the_photo_and_moves_the_case_to_review() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let png = photo_png(1);
    let key = fx.upload(&desk, png.clone()).await.unwrap();
    let case = desk.submit(face_input(&key)).await.unwrap().case;
    let results = fx.run_jobs().await;
    assert_eq!(results.len(), 1);
    assert!(results[0].1.is_ok());
    let c = stored(&fx, case.id);
    assert_eq!(c.state, CaseState::AwaitingReview);
    assert_eq!(
        fx.cases.actions(case.id),
        [
            "submitted",
            "job_enqueued,receipt_sent,photo_claimed",
            "embedding_started",
            "embedded"
        ]
    );
    let b = fx.biometrics.get(case.id).unwrap();
    assert_eq!(b.generation, 1);
    // The chosen face only: the other faces of a face opt-out's photo are bystanders'.
    let findings = FakeAnalyzer::face_findings(&png);
    assert!(!findings.face_embeddings.is_empty());
    assert_eq!(
        b.findings,
        PhotoFindings {
            face_embeddings: Vec::new(),
            ..findings
        }
    );
    assert_eq!(fx.analyzer.calls(), 1);
    assert_eq!(fx.mailer.tags(), ["receipt"]);
}

#[tokio::test]
async fn a_dsa_job_moves_the_notice_to_review_without_analysis() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = dsa_in_review(&fx, &desk, &["https://example.com/a.jpg"]).await;
    assert_eq!(case.state, CaseState::AwaitingReview);
    assert_eq!(
        fx.cases.actions(case.id).last().unwrap(),
        "ready_for_review"
    );
    assert_eq!(fx.analyzer.calls(), 0);
    assert!(fx.biometrics.is_empty());
}

#[tokio::test]
async fn an_unusable_photo_asks_once_for_a_better_one() {
    let fx = Fakes::new();
    let desk = fx.desk();
    fx.analyzer.answer(Analysis::Verdict(Verdict::SeveralFaces));
    let case = submit_face(&fx, &desk, 1).await;
    let job = fx.queue.waiting()[0].clone();
    run_jobs(&fx).await;
    let c = stored(&fx, case.id);
    assert_eq!(c.state, CaseState::NeedsBetterPhoto);
    assert_eq!(c.quality_issue, Some(Verdict::SeveralFaces));
    assert!(fx.biometrics.get(case.id).is_none());
    let asks = fx.mailer.with_tag("better_photo");
    assert_eq!(asks.len(), 1);
    assert_eq!(asks[0].key, format!("{}:better_photo:1", case.id));
    assert!(
        asks[0]
            .text
            .contains(&format!("{}/photo", desk.status_url(&c)))
    );

    // A redelivery of the same job finds the case moved on.
    fx.queue.redeliver(job);
    run_jobs(&fx).await;
    assert_eq!(stored(&fx, case.id), c);
    assert_eq!(fx.mailer.with_tag("better_photo").len(), 1);
}

#[tokio::test]
async fn an_unreadable_photo_asks_for_a_better_one() {
    let fx = Fakes::new();
    let desk = fx.desk();
    fx.analyzer
        .answer(Analysis::Unreadable("bad huffman table".into()));
    let case = submit_face(&fx, &desk, 1).await;
    run_jobs(&fx).await;
    let c = stored(&fx, case.id);
    assert_eq!(c.state, CaseState::NeedsBetterPhoto);
    assert_eq!(c.quality_issue, Some(Verdict::Unreadable));
    assert_eq!(fx.mailer.with_tag("better_photo").len(), 1);
}

/// The better-photo email is an effect of the job's transition: a mail outage at that moment
/// leaves it to the relay, and the requester is told.
#[tokio::test]
async fn a_better_photo_email_lost_to_a_mail_outage_is_sent_later() {
    let fx = Fakes::new();
    let desk = fx.desk();
    fx.analyzer.answer(Analysis::Verdict(Verdict::NoFace));
    submit_face(&fx, &desk, 1).await;
    fx.mailer.failures.down();
    run_jobs(&fx).await;
    fx.mailer.failures.heal();
    settle(&fx);
    desk.housekeep(10).await.unwrap();
    assert_eq!(fx.mailer.with_tag("better_photo").len(), 1);
}

#[tokio::test]
async fn a_failing_pipeline_is_retried_and_the_redelivery_carries_on() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let jobs = fx.embed_jobs();
    fx.analyzer
        .answer(Analysis::Failed("model not loaded".into()));
    let case = submit_face(&fx, &desk, 1).await;
    let job = fx.queue.take().remove(0);
    assert!(matches!(jobs.handle(&job).await, Err(JobError::Retry(_))));
    assert_eq!(stored(&fx, case.id).state, CaseState::Embedding);
    assert!(fx.biometrics.is_empty());

    fx.analyzer.answer(Analysis::Face);
    jobs.handle(&job).await.unwrap();
    assert_eq!(stored(&fx, case.id).state, CaseState::AwaitingReview);
    assert_eq!(
        fx.cases.actions(case.id)[2..],
        ["embedding_started", "embedded"],
        "the redelivery carries on from embedding"
    );
    assert_eq!(fx.analyzer.calls(), 2);
}

#[tokio::test]
async fn stale_and_orphan_jobs_do_nothing() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let jobs = fx.embed_jobs();
    let orphan = EmbedJob {
        case_id: CaseId::new(fx.clock.now()),
        generation: 1,
    };
    jobs.handle(&orphan).await.unwrap();

    let case = submit_face(&fx, &desk, 1).await;
    let future = EmbedJob {
        case_id: case.id,
        generation: 2,
    };
    jobs.handle(&future).await.unwrap();
    assert_eq!(stored(&fx, case.id).state, CaseState::Received);

    desk.withdraw(&token(&desk, &case)).await.unwrap();
    run_jobs(&fx).await;
    assert_eq!(stored(&fx, case.id).state, CaseState::Withdrawn);
    assert_eq!(fx.analyzer.calls(), 0);
    assert!(fx.biometrics.is_empty());
}

#[tokio::test]
async fn failures_of_the_ports_make_a_job_retry_or_park() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let jobs = fx.embed_jobs();
    let case = submit_face(&fx, &desk, 1).await;
    let job = fx.queue.take().remove(0);
    let retry = |r: Result<(), JobError>| matches!(r, Err(JobError::Retry(_)));

    fx.cases.failures.fail("get_case", 1);
    assert!(retry(jobs.handle(&job).await));
    fx.cases.failures.fail("update_case", 1);
    assert!(retry(jobs.handle(&job).await));
    assert_eq!(stored(&fx, case.id).state, CaseState::Received);
    fx.photos.failures.fail("read", 1);
    assert!(retry(jobs.handle(&job).await));
    assert_eq!(stored(&fx, case.id).state, CaseState::Embedding);
    fx.biometrics.failures.fail("put_biometrics", 1);
    assert!(retry(jobs.handle(&job).await));
    assert_eq!(stored(&fx, case.id).state, CaseState::Embedding);
    assert!(fx.biometrics.is_empty());
    jobs.handle(&job).await.unwrap();
    assert_eq!(stored(&fx, case.id).state, CaseState::AwaitingReview);

    // A photo that is gone can never be embedded: the job is parked.
    let other = submit_face(&fx, &desk, 2).await;
    fx.photos
        .delete(&other.photo.clone().unwrap().key)
        .await
        .unwrap();
    let job = fx.queue.take().remove(0);
    assert!(matches!(
        jobs.handle(&job).await,
        Err(JobError::Permanent(_))
    ));
}

#[tokio::test]
async fn a_withdrawal_before_embedding_starts_wins_over_the_job() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let jobs = fx.embed_jobs();
    let case = submit_face(&fx, &desk, 1).await;
    let job = fx.queue.take().remove(0);
    fx.cases
        .meanwhile(case.id, |c| c.state = CaseState::Withdrawn);
    // The job's write loses; it reads the case again, finds it withdrawn and stops.
    jobs.handle(&job).await.unwrap();
    jobs.handle(&job).await.unwrap();
    assert_eq!(stored(&fx, case.id).state, CaseState::Withdrawn);
    assert_eq!(fx.analyzer.calls(), 0);
    assert!(fx.biometrics.is_empty());
}

/// A withdrawal while the photo is being analysed deletes the biometrics (there are none yet) and
/// the photo; the job then stores the biometrics and loses its write: it must delete them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawal_during_analysis_leaves_no_biometrics() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let jobs = fx.embed_jobs();
    let case = submit_face(&fx, &desk, 1).await;
    let job = fx.queue.take().remove(0);
    fx.analyzer.pause();
    // The requester withdraws while the photo is being analysed (at most 5 s of waiting for the
    // job to get there, so that a job that never does fails the test instead of hanging it).
    let withdraw = async {
        for _ in 0..5000 {
            if fx.analyzer.waiting() > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let analysing = fx.analyzer.waiting() > 0;
        let w = desk.withdraw(&token(&desk, &case)).await;
        fx.analyzer.resume();
        (analysing, w)
    };
    let (handled, (analysing, withdrawn)) = tokio::join!(jobs.handle(&job), withdraw);
    assert!(analysing, "the job never reached the analysis");
    assert_eq!(withdrawn.unwrap().state, CaseState::Withdrawn);
    // The job's write loses to the withdrawal; it reads the case again, stops, and deletes the
    // biometrics it stored after the withdrawal's clean-up ran.
    handled.unwrap();
    jobs.handle(&job).await.unwrap();
    assert_eq!(stored(&fx, case.id).state, CaseState::Withdrawn);
    assert!(fx.biometrics.get(case.id).is_none());
}

// ---------------------------------------------------------------------------------------------
// The review queue, a case as a reviewer sees it, its photo

#[tokio::test]
async fn the_queue_lists_matching_cases_most_urgent_first_page_by_page() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            submit_dsa(&desk, &[&format!("https://img.example/{i}.jpg")])
                .await
                .id,
        );
        fx.clock.advance(Duration::minutes(1));
    }
    let face = face_in_review(&fx, &desk, 1).await;
    ids.push(face.id);
    let review = CaseFilter {
        states: vec![CaseState::AwaitingReview],
        ..CaseFilter::default()
    };

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = desk.queue(&review, 2, after.as_ref()).await.unwrap();
        assert!(page.cases.len() <= 2);
        seen.extend(page.cases.iter().map(|c| c.id));
        pages += 1;
        assert!(pages <= 3, "paging does not end");
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);

    let list = |f: CaseFilter| {
        let desk = desk.clone();
        async move {
            let page = desk.queue(&f, 200, None).await.unwrap();
            page.cases.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
    };
    let face_only = CaseFilter {
        kind: Some(CaseKind::FaceOptOut),
        ..review.clone()
    };
    assert_eq!(list(face_only).await, [face.id]);
    let germany = CaseFilter {
        country: Some(Country::parse("DE").unwrap()),
        ..CaseFilter::default()
    };
    assert_eq!(list(germany).await, &ids[..5]);
    let complaints = CaseFilter {
        complaint: Some(true),
        ..CaseFilter::default()
    };
    assert!(list(complaints).await.is_empty());
    let received = CaseFilter {
        states: vec![CaseState::Received],
        ..CaseFilter::default()
    };
    assert!(list(received).await.is_empty());

    // A limit of 0 is read as 1.
    let one = desk.queue(&review, 0, None).await.unwrap();
    assert_eq!(one.cases.len(), 1);
    assert!(one.next.is_some());

    fx.cases.failures.fail("list_cases", 1);
    assert!(matches!(
        desk.queue(&review, 10, None).await,
        Err(ReviewError::Unavailable(_))
    ));
}

#[tokio::test]
async fn review_case_shows_biometrics_audit_entries_and_similar_exclusions() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let first = approved_face(&fx, &desk, 1).await;
    // Another request with the same picture under another upload.
    let key = fx.upload(&desk, photo_png(1)).await.unwrap();
    let mut input = face_input(&key);
    input.email = "somebody@example.org".into();
    let second = desk.submit(input).await.unwrap().case;
    run_jobs(&fx).await;

    let r = desk.review_case(second.id).await.unwrap();
    assert_eq!(r.case.id, second.id);
    assert_eq!(r.biometrics.as_ref().unwrap().generation, 1);
    assert_eq!(r.audit, fx.cases.audit(second.id));
    assert!(r.entries.is_empty());
    let mut kinds: Vec<&str> = r.similar.iter().map(|s| s.kind).collect();
    kinds.sort();
    assert_eq!(kinds, ["face", "pdq", "sha256"]);
    assert!(r.similar.iter().all(|s| s.case_id == first.id));
    let face = r.similar.iter().find(|s| s.kind == "face").unwrap();
    assert!(face.score.unwrap().0 > 0.999);
    let pdq = r.similar.iter().find(|s| s.kind == "pdq").unwrap();
    assert_eq!(pdq.distance, Some(0));

    // A case is not similar to itself.
    let own = desk.review_case(first.id).await.unwrap();
    assert_eq!(own.entries.len(), 3);
    assert!(own.similar.is_empty());

    // DSA notices about the same link.
    let url = "https://img.example/same.jpg";
    let a = dsa_in_review(&fx, &desk, &[url]).await;
    desk.decide(a.id, &alice(), a.version, approve())
        .await
        .unwrap();
    let mut again = dsa_input(&[url]);
    again.email = "other@example.de".into();
    let b = desk.submit(again).await.unwrap().case;
    let r = desk.review_case(b.id).await.unwrap();
    assert_eq!(r.similar.len(), 1);
    assert_eq!((r.similar[0].kind, r.similar[0].case_id), ("url", a.id));

    assert!(matches!(
        desk.review_case(CaseId::new(fx.clock.now())).await,
        Err(ReviewError::NotFound)
    ));
    fx.exclusions.failures.fail("active", 1);
    assert!(matches!(
        desk.review_case(b.id).await,
        Err(ReviewError::Unavailable(_))
    ));
}

#[tokio::test]
async fn photo_view_serves_the_photo_while_it_exists() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = face_in_review(&fx, &desk, 1).await;
    assert!(desk.photo_available(&case).await.unwrap());
    assert_eq!(
        desk.photo_view(case.id).await.unwrap(),
        Some(PhotoView::Bytes {
            bytes: photo_png(1),
            content_type: "image/png".into()
        })
    );

    // A store with view URLs (S3) sends the browser there.
    fx.photos.serve_view_urls("https://photos.desk.test");
    let key = case.photo.clone().unwrap().key;
    match desk.photo_view(case.id).await.unwrap() {
        Some(PhotoView::Url(u)) => {
            assert!(u.starts_with("https://photos.desk.test/"), "{u}");
            assert!(u.contains(&key));
        }
        other => panic!("expected a URL, got {other:?}"),
    }

    fx.photos.failures.fail("exists", 1);
    assert!(matches!(
        desk.photo_view(case.id).await,
        Err(ReviewError::Unavailable(_))
    ));

    // A decision deletes it.
    let decided = desk
        .decide(case.id, &alice(), case.version, approve())
        .await
        .unwrap();
    assert_eq!(desk.photo_view(case.id).await.unwrap(), None);
    assert!(!desk.photo_available(&decided).await.unwrap());

    let dsa = submit_dsa(&desk, &["https://example.com/a.jpg"]).await;
    assert_eq!(desk.photo_view(dsa.id).await.unwrap(), None);
    assert!(!desk.photo_available(&dsa).await.unwrap());
    assert_eq!(
        desk.photo_view(CaseId::new(fx.clock.now())).await.unwrap(),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Decisions

#[tokio::test]
async fn approving_a_face_opt_out_excludes_it_deletes_the_photo_and_mails_the_decision() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = face_in_review(&fx, &desk, 1).await;
    let findings = fx.biometrics.get(case.id).unwrap().findings;
    fx.clock.advance(Duration::hours(2));
    let note = DecisionInput::Approve {
        note: Some("Same person as in the ID check.".into()),
    };
    let d = desk
        .decide(case.id, &alice(), case.version, note)
        .await
        .unwrap();
    assert_eq!(d.state, CaseState::Approved);
    assert!(d.pending.is_empty());
    assert_eq!(stored(&fx, case.id), d);
    let decision = d.decision.clone().unwrap();
    assert_eq!(decision.outcome, Outcome::Approved);
    assert_eq!(decision.reviewer, alice());
    assert_eq!(decision.at, fx.clock.now());
    assert!(!decision.on_complaint);
    assert!(!decision.statement.action.is_empty() && !decision.statement.ground.is_empty());

    let entries = fx.exclusions.of_case(case.id);
    let values: Vec<ExclusionValue> = entries.iter().map(|e| e.value.clone()).collect();
    assert_eq!(
        values,
        [
            ExclusionValue::Face(findings.embedding.clone().unwrap()),
            ExclusionValue::Sha256(findings.sha256),
            ExclusionValue::Pdq(findings.pdq.unwrap()),
        ]
    );
    assert!(entries.iter().all(|e| e.state == EntryState::Active));
    assert!(!fx.photos.contains(&case.photo.unwrap().key));
    assert!(fx.biometrics.get(case.id).is_some(), "kept for a complaint");

    let mails = fx.mailer.with_tag("decision");
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, "somchai@example.org");
    assert!(mails[0].text.contains(&desk.complaint_url(&d)));
    assert!(mails[0].text.contains("Same person as in the ID check."));

    let audit = fx.cases.audit(case.id);
    let decided = &audit[audit.len() - 2];
    assert_eq!(decided.action, "decision:approved");
    assert_eq!(decided.actor, Actor::Reviewer("alice".into()));
    assert!(
        decided
            .detail
            .as_deref()
            .unwrap()
            .contains("ground=gdpr_art17_21")
    );
    assert_eq!(
        audit.last().unwrap().action,
        "exclusions_written,photo_deleted,decision_sent"
    );
    assert!(desk.complaint_open(&d));
}

#[tokio::test]
async fn approving_a_dsa_notice_excludes_its_links() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = dsa_in_review(
        &fx,
        &desk,
        &["https://example.com/a.jpg", "https://example.com/b.jpg"],
    )
    .await;
    desk.decide(case.id, &alice(), case.version, approve())
        .await
        .unwrap();
    let values: Vec<ExclusionValue> = fx
        .exclusions
        .of_case(case.id)
        .into_iter()
        .map(|e| e.value)
        .collect();
    assert_eq!(
        values,
        [
            ExclusionValue::Url(url("https://example.com/a.jpg")),
            ExclusionValue::Url(url("https://example.com/b.jpg")),
        ]
    );
    assert_eq!(fx.mailer.tags(), ["receipt", "decision"]);
}

#[tokio::test]
async fn rejecting_excludes_nothing_and_mails_the_reasons() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = face_in_review(&fx, &desk, 1).await;
    let d = desk
        .decide(case.id, &alice(), case.version, reject())
        .await
        .unwrap();
    assert_eq!(d.state, CaseState::Rejected);
    assert_eq!(
        d.decision.as_ref().unwrap().reject_reason,
        Some(RejectReason::NotIllegal)
    );
    assert!(fx.exclusions.entries().is_empty());
    assert!(!fx.photos.contains(&case.photo.unwrap().key));
    assert_eq!(fx.mailer.with_tag("decision").len(), 1);
    let audit = fx.cases.audit(case.id);
    assert!(
        audit[audit.len() - 2]
            .detail
            .as_deref()
            .unwrap()
            .contains("reason=not_illegal")
    );
    assert!(desk.complaint_open(&d));
}

#[tokio::test]
async fn asking_for_a_better_photo_keeps_the_photo_and_mails_the_upload_link() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = face_in_review(&fx, &desk, 1).await;
    let input = DecisionInput::BetterPhoto {
        code: Verdict::TooBlurred,
        note: None,
    };
    let d = desk
        .decide(case.id, &alice(), case.version, input)
        .await
        .unwrap();
    assert_eq!(d.state, CaseState::NeedsBetterPhoto);
    assert_eq!(d.quality_issue, Some(Verdict::TooBlurred));
    assert!(fx.photos.contains(&case.photo.clone().unwrap().key));
    let asks = fx.mailer.with_tag("better_photo");
    assert_eq!(asks.len(), 1);
    assert!(
        asks[0]
            .text
            .contains(&format!("{}/photo", desk.status_url(&d)))
    );
    assert!(!desk.complaint_open(&d));

    // Not for a notice, which has no photo.
    let dsa = dsa_in_review(&fx, &desk, &["https://example.com/a.jpg"]).await;
    let input = DecisionInput::BetterPhoto {
        code: Verdict::NoFace,
        note: None,
    };
    assert!(matches!(
        desk.decide(dsa.id, &alice(), dsa.version, input).await,
        Err(ReviewError::Invalid("decision"))
    ));
    assert_eq!(stored(&fx, dsa.id), dsa);
}

#[tokio::test]
async fn decide_refusals_write_nothing() {
    let fx = Fakes::new();
    let desk = fx.desk();
    assert!(matches!(
        desk.decide(CaseId::new(fx.clock.now()), &alice(), 1, approve())
            .await,
        Err(ReviewError::NotFound)
    ));

    let received = submit_face(&fx, &desk, 2).await;
    let v = stored(&fx, received.id).version;
    assert!(matches!(
        desk.decide(received.id, &alice(), v, approve()).await,
        Err(ReviewError::AlreadyDecided(CaseState::Received))
    ));
    fx.queue.take();

    let case = face_in_review(&fx, &desk, 1).await;
    assert!(matches!(
        desk.decide(case.id, &alice(), case.version - 1, approve())
            .await,
        Err(ReviewError::AlreadyDecided(CaseState::AwaitingReview))
    ));

    fx.biometrics.failures.fail("get_biometrics", 1);
    assert!(matches!(
        desk.decide(case.id, &alice(), case.version, approve())
            .await,
        Err(ReviewError::Unavailable(_))
    ));
    fx.cases.failures.fail("update_case", 1);
    assert!(matches!(
        desk.decide(case.id, &alice(), case.version, approve())
            .await,
        Err(ReviewError::Unavailable(_))
    ));

    fx.biometrics.delete_biometrics(case.id).await.unwrap();
    assert!(matches!(
        desk.decide(case.id, &alice(), case.version, approve())
            .await,
        Err(ReviewError::NotReady(_))
    ));
    assert_eq!(stored(&fx, case.id), case);
    assert!(fx.exclusions.entries().is_empty());
    assert_eq!(fx.mailer.tags(), ["receipt", "receipt"]);

    // A rejection needs no embedding.
    desk.decide(case.id, &alice(), case.version, reject())
        .await
        .unwrap();
}

#[tokio::test]
async fn of_two_decisions_on_one_version_the_first_wins() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = face_in_review(&fx, &desk, 1).await;
    desk.decide(case.id, &alice(), case.version, approve())
        .await
        .unwrap();
    assert!(matches!(
        desk.decide(case.id, &bob(), case.version, reject()).await,
        Err(ReviewError::AlreadyDecided(CaseState::Approved))
    ));
    assert_eq!(fx.mailer.with_tag("decision").len(), 1);
    assert_eq!(stored(&fx, case.id).state, CaseState::Approved);
}

#[tokio::test]
async fn a_decision_that_loses_to_a_withdrawal_is_reported_and_does_nothing() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = face_in_review(&fx, &desk, 1).await;
    fx.cases
        .meanwhile(case.id, |c| c.state = CaseState::Withdrawn);
    assert!(matches!(
        desk.decide(case.id, &alice(), case.version, approve())
            .await,
        Err(ReviewError::AlreadyDecided(CaseState::Withdrawn))
    ));
    assert!(fx.exclusions.entries().is_empty());
    assert!(fx.photos.contains(&case.photo.unwrap().key));
    assert_eq!(fx.mailer.tags(), ["receipt"]);
}

#[tokio::test]
async fn decision_effects_that_fail_are_finished_by_the_relay() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = face_in_review(&fx, &desk, 1).await;
    fx.exclusions.failures.down();
    fx.mailer.failures.down();
    let d = desk
        .decide(case.id, &alice(), case.version, approve())
        .await
        .unwrap();
    assert_eq!(d.state, CaseState::Approved);
    assert_eq!(d.pending, [Effect::WriteExclusions, Effect::DecisionMail]);
    assert_eq!(stored(&fx, case.id), d);
    assert!(!fx.photos.contains(&case.photo.unwrap().key));
    assert!(fx.exclusions.entries().is_empty());
    assert_eq!(fx.cases.actions(case.id).last().unwrap(), "photo_deleted");

    fx.exclusions.failures.heal();
    fx.mailer.failures.heal();
    assert_eq!(desk.relay(10).await.unwrap(), 0);
    settle(&fx);
    assert_eq!(desk.relay(10).await.unwrap(), 1);
    assert!(stored(&fx, case.id).pending.is_empty());
    assert_eq!(fx.exclusions.of_case(case.id).len(), 3);
    assert_eq!(fx.mailer.with_tag("decision").len(), 1);
    assert_eq!(desk.relay(10).await.unwrap(), 0);
    assert_eq!(fx.mailer.with_tag("decision").len(), 1);
}

#[tokio::test]
async fn decision_effects_done_but_not_recorded_are_harmless_to_redo() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = face_in_review(&fx, &desk, 1).await;
    // The decision is written; the write recording its effects loses.
    fx.cases
        .failures
        .fail_after("update_case", 1, MAX_ATTEMPTS, Fault::Conflict);
    desk.decide(case.id, &alice(), case.version, approve())
        .await
        .unwrap();
    assert_eq!(stored(&fx, case.id).pending.len(), 3);
    assert_eq!(fx.exclusions.head().await.unwrap(), 3);

    settle(&fx);
    assert_eq!(desk.relay(10).await.unwrap(), 1);
    assert!(stored(&fx, case.id).pending.is_empty());
    assert_eq!(
        fx.exclusions.head().await.unwrap(),
        3,
        "no entry added twice"
    );
    assert_eq!(fx.exclusions.of_case(case.id).len(), 3);
    assert_eq!(fx.mailer.with_tag("decision").len(), 1, "sent once");
}

// ---------------------------------------------------------------------------------------------
// Complaints

#[tokio::test]
async fn a_complaint_reopens_the_case_for_another_reviewer() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = approved_face(&fx, &desk, 1).await;
    let tok = token(&desk, &case);
    fx.clock.advance(Duration::days(3));
    let c = desk
        .complain(&tok, "I never asked for this, it was someone else.")
        .await
        .unwrap();
    assert_eq!(c.state, CaseState::AwaitingReview);
    assert_eq!(c.due_at, fx.clock.now() + fx.settings.decision_due);
    let complaint = c.open_complaint().unwrap();
    assert_eq!(complaint.first_reviewer, alice());
    assert_eq!(complaint.contested, Outcome::Approved);
    assert_eq!(stored(&fx, case.id), c);
    let audit = fx.cases.audit(case.id);
    let last = audit.last().unwrap();
    assert_eq!(
        (last.action.as_str(), &last.actor),
        ("complaint", &Actor::Requester)
    );
    assert_eq!(last.detail.as_deref(), Some("contested=approved"));
    assert!(!desk.complaint_open(&c));
    assert_eq!(desk.complaint_closed(&c), Some(ComplaintClosed::Pending));
    // A second complaint while the first waits is refused, and says why.
    assert!(matches!(
        desk.complain(&tok, "And a second one while you look at the first.")
            .await,
        Err(DeskError::ComplaintClosed(ComplaintClosed::Pending))
    ));
    assert_eq!(stored(&fx, case.id), c);

    let open = CaseFilter {
        complaint: Some(true),
        ..CaseFilter::default()
    };
    let page = desk.queue(&open, 10, None).await.unwrap();
    assert_eq!(
        page.cases.iter().map(|c| c.id).collect::<Vec<_>>(),
        [case.id]
    );

    assert!(matches!(
        desk.decide(case.id, &alice(), c.version, reject()).await,
        Err(ReviewError::SameReviewer)
    ));
    fx.clock.advance(Duration::days(1));
    let d = desk
        .decide(case.id, &bob(), c.version, reject())
        .await
        .unwrap();
    assert_eq!(d.state, CaseState::Rejected);
    assert!(d.decision.as_ref().unwrap().on_complaint);
    assert_eq!(
        d.complaint.as_ref().unwrap().resolved_at,
        Some(fx.clock.now())
    );
    assert!(
        fx.exclusions
            .of_case(case.id)
            .iter()
            .all(|e| e.state == EntryState::Withdrawn)
    );
    assert_eq!(fx.mailer.with_tag("decision").len(), 2);
    assert!(desk.queue(&open, 10, None).await.unwrap().cases.is_empty());
    // One complaint per case: the decision that answers it names the routes that remain, and
    // its email has no complaint form.
    let en = optout_core::i18n::texts(Lang::En);
    let first = &case.decision.as_ref().unwrap().statement;
    assert_eq!(first.redress, en.redress);
    let second = &d.decision.as_ref().unwrap().statement;
    assert_eq!(second.redress, en.redress_after_complaint);
    assert!(second.redress.contains("Article 21") && !second.redress.contains("complaint form"));
    let mails = fx.mailer.with_tag("decision");
    assert!(mails[0].text.contains(&desk.complaint_url(&d)));
    assert!(
        !mails[1].text.contains(&desk.complaint_url(&d)),
        "{}",
        mails[1].text
    );
    assert!(!mails[1].text.contains(en.mail_complaint_link));
    assert!(mails[1].text.contains(en.redress_after_complaint));
    assert!(!desk.complaint_open(&d));
    assert_eq!(desk.complaint_closed(&d), Some(ComplaintClosed::Decided));
    assert!(matches!(
        desk.complain(&tok, "And now I complain about this one too.")
            .await,
        Err(DeskError::ComplaintClosed(ComplaintClosed::Decided))
    ));
    assert_eq!(stored(&fx, case.id), d);
    // Still so after the window: the complaint was made.
    fx.clock
        .advance(fx.settings.complaint_window + Duration::seconds(1));
    assert_eq!(desk.complaint_closed(&d), Some(ComplaintClosed::Decided));
}

#[tokio::test]
async fn complaint_refusals() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let text = "The decision is wrong, please look again.";
    let in_review = face_in_review(&fx, &desk, 2).await;
    assert_eq!(
        desk.complaint_closed(&in_review),
        Some(ComplaintClosed::NoDecision)
    );
    assert!(matches!(
        desk.complain(&token(&desk, &in_review), text).await,
        Err(DeskError::ComplaintClosed(ComplaintClosed::NoDecision))
    ));

    let case = approved_face(&fx, &desk, 1).await;
    let tok = token(&desk, &case);
    assert_eq!(
        fields(desk.complain(&tok, "short").await.unwrap_err()),
        [field("complaint", FieldCode::TooShort)]
    );
    assert!(matches!(
        desk.complain("forged", text).await,
        Err(DeskError::InvalidLink)
    ));
    fx.cases.failures.fail("update_case", 1);
    assert!(matches!(
        desk.complain(&tok, text).await,
        Err(DeskError::Unavailable(_))
    ));
    assert_eq!(stored(&fx, case.id), case);

    assert_eq!(desk.complaint_closed(&case), None);
    fx.clock
        .advance(fx.settings.complaint_window - Duration::seconds(1));
    assert!(desk.complaint_open(&case));
    fx.clock.advance(Duration::seconds(2));
    assert!(!desk.complaint_open(&case));
    assert_eq!(
        desk.complaint_closed(&case),
        Some(ComplaintClosed::WindowEnded)
    );
    assert!(matches!(
        desk.complain(&tok, text).await,
        Err(DeskError::ComplaintClosed(ComplaintClosed::WindowEnded))
    ));
    assert_eq!(stored(&fx, case.id), case);

    // A withdrawn case has no decision to contest any more.
    let withdrawn = approved_face(&fx, &desk, 3).await;
    let tok = token(&desk, &withdrawn);
    let withdrawn = desk.withdraw(&tok).await.unwrap();
    assert_eq!(
        desk.complaint_closed(&withdrawn),
        Some(ComplaintClosed::NoDecision)
    );
    assert!(matches!(
        desk.complain(&tok, text).await,
        Err(DeskError::ComplaintClosed(ComplaintClosed::NoDecision))
    ));
}

#[tokio::test]
async fn a_complaint_that_loses_a_race_is_retried_and_loses_no_update() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = face_in_review(&fx, &desk, 1).await;
    fx.mailer.failures.fail("send", 1);
    let case = desk
        .decide(case.id, &alice(), case.version, approve())
        .await
        .unwrap();
    assert_eq!(case.pending, [Effect::DecisionMail]);
    // The relay sends the decision email between the complaint's read and its write.
    fx.cases.meanwhile(case.id, |c| c.pending.clear());
    let c = desk
        .complain(&token(&desk, &case), "Please look at this once more.")
        .await
        .unwrap();
    assert_eq!(c.state, CaseState::AwaitingReview);
    assert!(
        stored(&fx, case.id).pending.is_empty(),
        "the other write is kept"
    );
}

// ---------------------------------------------------------------------------------------------
// Retention and housekeeping

#[tokio::test]
async fn retention_erases_closed_cases_and_keeps_approved_exclusions() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let approved = approved_face(&fx, &desk, 1).await;
    let url = "https://example.com/a.jpg";
    let dsa = dsa_in_review(&fx, &desk, &[url]).await;
    let dsa = desk
        .decide(
            dsa.id,
            &alice(),
            dsa.version,
            DecisionInput::Reject {
                reason: RejectReason::Other,
                note: Some("Not our content.".into()),
            },
        )
        .await
        .unwrap();
    fx.clock.advance(Duration::days(1));
    desk.complain(&token(&desk, &dsa), "It is your content, look again.")
        .await
        .unwrap();
    let dsa = stored(&fx, dsa.id);
    let again = DecisionInput::Reject {
        reason: RejectReason::NotIllegal,
        note: Some("Checked again.".into()),
    };
    let dsa = desk
        .decide(dsa.id, &bob(), dsa.version, again)
        .await
        .unwrap();
    let withdrawn = submit_dsa(&desk, &["https://example.com/w.jpg"]).await;
    desk.withdraw(&token(&desk, &withdrawn)).await.unwrap();
    let waiting = face_in_review(&fx, &desk, 2).await;

    assert_eq!(desk.sweep_retention(fx.clock.now()).await.unwrap(), 0);
    fx.clock.advance(fx.settings.retention + Duration::days(1));
    let now = fx.clock.now();
    assert_eq!(desk.sweep_retention(now).await.unwrap(), 3);

    let a = stored(&fx, approved.id);
    assert_eq!(a.state, CaseState::Erased);
    assert!(a.personal.is_none() && a.pending.is_empty());
    assert_eq!(
        a.decision.as_ref().unwrap().statement,
        approved.decision.clone().unwrap().statement
    );
    assert!(fx.biometrics.get(approved.id).is_none());
    assert_eq!(fx.exclusions.of_case(approved.id).len(), 3);
    assert!(
        fx.exclusions
            .of_case(approved.id)
            .iter()
            .all(|e| e.state == EntryState::Active),
        "approved exclusions stay"
    );
    let actions = fx.cases.actions(approved.id);
    assert_eq!(
        actions[actions.len() - 2..],
        ["erased", "biometrics_deleted,photo_deleted"]
    );
    assert!(matches!(
        desk.status(&token(&desk, &approved)).await,
        Err(DeskError::InvalidLink)
    ));

    let d = stored(&fx, dsa.id);
    assert_eq!(d.state, CaseState::Erased);
    assert!(d.source_urls.is_empty() && d.personal.is_none());
    assert_eq!(d.decision.unwrap().note, None);
    assert_eq!(d.complaint.unwrap().text, None);
    assert_eq!(stored(&fx, withdrawn.id).state, CaseState::Erased);
    assert_eq!(stored(&fx, waiting.id), waiting, "an open case is kept");

    let sent = fx.mailer.sent().len();
    assert_eq!(desk.sweep_retention(now).await.unwrap(), 0);
    assert_eq!(fx.mailer.sent().len(), sent, "erasure sends nothing");
}

#[tokio::test]
async fn retention_pages_through_every_closed_case() {
    let fx = Fakes::new();
    let desk = fx.desk();
    for i in 0..130 {
        let c = submit_dsa(&desk, &[&format!("https://example.com/{i}.jpg")]).await;
        desk.withdraw(&token(&desk, &c)).await.unwrap();
    }
    fx.clock.advance(fx.settings.retention + Duration::days(1));
    assert_eq!(desk.sweep_retention(fx.clock.now()).await.unwrap(), 130);
    assert!(
        fx.cases
            .cases()
            .iter()
            .all(|c| c.state == CaseState::Erased)
    );
}

#[tokio::test]
async fn retention_reports_a_store_failure_and_skips_a_case_that_changed() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let a = approved_face(&fx, &desk, 1).await;
    let b = approved_face(&fx, &desk, 2).await;
    fx.clock.advance(fx.settings.retention + Duration::days(1));
    fx.cases.failures.fail("list_cases", 1);
    assert!(matches!(
        desk.sweep_retention(fx.clock.now()).await,
        Err(DeskError::Unavailable(_))
    ));
    // A complaint reopens `a` between the sweep's read and its write: `a` is read again and left.
    fx.cases
        .meanwhile(a.id, |c| c.state = CaseState::AwaitingReview);
    assert_eq!(desk.sweep_retention(fx.clock.now()).await.unwrap(), 1);
    assert_eq!(stored(&fx, b.id).state, CaseState::Erased);
    assert_eq!(
        stored(&fx, a.id).state,
        CaseState::AwaitingReview,
        "left alone"
    );
    assert_eq!(desk.sweep_retention(fx.clock.now()).await.unwrap(), 0);
}

/// The erasure adds its effects to the case's outbox: a withdrawal whose exclusions were not
/// withdrawn yet (a long outage) still withdraws them.
#[tokio::test]
async fn erasure_keeps_the_withdrawal_of_exclusions_pending() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = approved_face(&fx, &desk, 1).await;
    fx.exclusions
        .failures
        .fail_always("withdraw_case", Fault::Unavailable);
    desk.withdraw(&token(&desk, &case)).await.unwrap();
    fx.clock.advance(fx.settings.retention + Duration::days(1));
    desk.sweep_retention(fx.clock.now()).await.unwrap();
    fx.exclusions.failures.heal();
    settle(&fx);
    desk.housekeep(10).await.unwrap();
    assert!(
        fx.exclusions
            .of_case(case.id)
            .iter()
            .all(|e| e.state == EntryState::Withdrawn)
    );
}

#[tokio::test]
async fn housekeeping_relays_then_sweeps_even_when_the_relay_fails() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let approved = approved_face(&fx, &desk, 1).await;
    fx.clock.advance(fx.settings.retention + Duration::days(1));
    fx.mailer.failures.fail("send", 1);
    let pending = submit_dsa(&desk, &["https://example.com/a.jpg"]).await;
    settle(&fx);

    fx.cases.failures.fail("undispatched", 1);
    assert!(matches!(
        desk.housekeep(10).await,
        Err(DeskError::Unavailable(_))
    ));
    assert_eq!(
        stored(&fx, approved.id).state,
        CaseState::Erased,
        "the sweep ran"
    );
    assert!(!stored(&fx, pending.id).receipt_sent);

    assert_eq!(
        desk.housekeep(10).await.unwrap(),
        Housekeeping {
            relayed: 1,
            erased: 0,
            lapsed: 0,
            overdue: 0
        }
    );
    assert!(stored(&fx, pending.id).receipt_sent);
}

// ---------------------------------------------------------------------------------------------
// Sending an email once

#[tokio::test]
async fn send_once_sends_each_message_once() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let m = mail_case(CaseId::new(fx.clock.now()));
    desk.send_once(&m).await.unwrap();
    desk.send_once(&m).await.unwrap();
    assert_eq!(fx.mailer.sent(), std::slice::from_ref(&m));
    assert!(fx.mail_ledger.entry(&m.key).unwrap().sent_at.is_some());
}

#[tokio::test]
async fn send_once_leaves_a_message_to_the_sender_holding_its_claim() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let m = mail_case(CaseId::new(fx.clock.now()));
    let now = fx.clock.now();
    let claim = fx
        .mail_ledger
        .claim(&m.key, Hold::new("another-sender", now, now + CLAIM))
        .await
        .unwrap();
    assert_eq!(claim, MailClaim::Claimed);
    assert!(matches!(
        desk.send_once(&m).await,
        Err(MailError::Unavailable(_))
    ));
    assert!(fx.mailer.sent().is_empty());
    // The other sender died: its claim ends and the message goes out.
    fx.clock.advance(CLAIM);
    desk.send_once(&m).await.unwrap();
    assert_eq!(fx.mailer.sent().len(), 1);
}

#[tokio::test]
async fn a_failed_send_gives_its_claim_back_at_once() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let m = mail_case(CaseId::new(fx.clock.now()));
    fx.mailer.failures.fail_with("send", 1, Fault::Refused);
    assert!(matches!(
        desk.send_once(&m).await,
        Err(MailError::Refused(_))
    ));
    assert_eq!(fx.mail_ledger.entry(&m.key), None);
    desk.send_once(&m).await.unwrap();
    assert_eq!(fx.mailer.sent().len(), 1);

    let other = mail_case(CaseId::new(fx.clock.now()));
    fx.mail_ledger.failures.fail("claim", 1);
    assert!(matches!(
        desk.send_once(&other).await,
        Err(MailError::Unavailable(_))
    ));
    assert_eq!(fx.mailer.sent().len(), 1, "nothing sent without a claim");
}

#[tokio::test]
async fn a_send_not_recorded_goes_out_again_only_after_its_claim_ends() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let m = mail_case(CaseId::new(fx.clock.now()));
    fx.mail_ledger.failures.fail("mark_sent", 1);
    desk.send_once(&m).await.unwrap();
    assert!(desk.send_once(&m).await.is_err(), "its claim still holds");
    assert_eq!(fx.mailer.sent().len(), 1);
    // The documented window: once the claim ends, the message is sent a second time.
    fx.clock.advance(CLAIM);
    desk.send_once(&m).await.unwrap();
    assert_eq!(fx.mailer.sent().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// The exclusion service (the indexer's side)

#[tokio::test]
async fn checks_follow_approvals_and_withdrawals_at_once() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let svc = fx.exclusion_service();
    let case = approved_face(&fx, &desk, 1).await;
    let f = fx.biometrics.get(case.id).unwrap().findings;
    let candidates = vec![
        Candidate::Face(f.embedding.clone().unwrap().as_slice().to_vec()),
        Candidate::Sha256(f.sha256.to_string()),
        Candidate::Pdq(f.pdq.unwrap().to_string()),
        Candidate::Url("https://elsewhere.example/x.jpg".into()),
        Candidate::Face(embedding_of(b"someone else")),
    ];
    let r = svc.check(candidates.clone()).await.unwrap();
    assert_eq!(r.position, 3);
    let excluded: Vec<bool> = r.results.iter().map(|x| x.excluded).collect();
    assert_eq!(excluded, [true, true, true, false, false]);
    assert_eq!(svc.indexed().unwrap(), 3);

    desk.withdraw(&token(&desk, &case)).await.unwrap();
    let r = svc.check(candidates).await.unwrap();
    assert_eq!(r.position, 6);
    assert!(r.results.iter().all(|x| !x.excluded));
    assert_eq!(svc.indexed().unwrap(), 0);

    let dsa = dsa_in_review(&fx, &desk, &["https://elsewhere.example/x.jpg"]).await;
    desk.decide(dsa.id, &alice(), dsa.version, approve())
        .await
        .unwrap();
    let r = svc
        .check(vec![Candidate::Url(
            "HTTPS://ELSEWHERE.example/x.jpg".into(),
        )])
        .await
        .unwrap();
    assert!(r.results[0].excluded);
}

#[tokio::test]
async fn the_change_feed_gives_every_change_its_position() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let svc = fx.exclusion_service();
    let case = approved_face(&fx, &desk, 1).await;
    let feed = svc.changes(0, 100).await.unwrap();
    assert_eq!(
        feed.changes.iter().map(|c| c.position).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!((feed.next_after, feed.head), (3, 3));

    desk.withdraw(&token(&desk, &case)).await.unwrap();
    let feed = svc.changes(3, 100).await.unwrap();
    assert_eq!(
        feed.changes.iter().map(|c| c.position).collect::<Vec<_>>(),
        [4, 5, 6]
    );
    assert_eq!(
        feed.changes.iter().map(|c| c.id).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let all = svc.changes(0, 100).await.unwrap();
    assert_eq!(
        all.changes.len(),
        3,
        "each entry once, in its current state"
    );
    let one = svc.changes(0, 0).await.unwrap();
    assert_eq!((one.changes.len(), one.next_after), (1, 4));
    let none = svc.changes(6, 10).await.unwrap();
    assert!(none.changes.is_empty());
    assert_eq!(none.next_after, 6);
    assert!(matches!(
        svc.changes(7, 10).await,
        Err(ChangesError::BeyondHead { after: 7, head: 6 })
    ));
    fx.exclusions.failures.fail("changes", 1);
    assert!(matches!(
        svc.changes(0, 10).await,
        Err(ChangesError::Store(_))
    ));
}

#[tokio::test]
async fn a_snapshot_holds_the_active_entries_labelled_with_the_head() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let svc = fx.exclusion_service();
    let face = approved_face(&fx, &desk, 1).await;
    let dsa = dsa_in_review(&fx, &desk, &["https://example.com/a.jpg"]).await;
    desk.decide(dsa.id, &alice(), dsa.version, approve())
        .await
        .unwrap();
    desk.withdraw(&token(&desk, &face)).await.unwrap();
    let snap = svc.snapshot().await.unwrap();
    assert_eq!(snap.position, fx.exclusions.head().await.unwrap());
    assert_eq!(snap.entries.len(), 1);
    assert_eq!(snap.entries[0].id, fx.exclusions.of_case(dsa.id)[0].id);
}

#[tokio::test]
async fn check_refusals() {
    let fx = Fakes::new();
    let svc = fx.exclusion_service();
    let one = vec![Candidate::Url("https://example.com/".into())];
    fx.exclusions.failures.fail("head", 1);
    assert!(matches!(
        svc.check(one.clone()).await,
        Err(CheckError::Store(_))
    ));
    assert!(!svc.check(one.clone()).await.unwrap().results[0].excluded);
    fx.exclusions.failures.fail("changes", 1);
    assert!(matches!(svc.check(one).await, Err(CheckError::Store(_))));
    assert!(matches!(
        svc.check(Vec::new()).await,
        Err(CheckError::Empty)
    ));
    let many = vec![Candidate::Url("https://example.com/".into()); MAX_BATCH + 1];
    assert!(matches!(
        svc.check(many).await,
        Err(CheckError::TooMany { count }) if count == MAX_BATCH + 1
    ));
    let bad = vec![
        Candidate::Url("https://example.com/".into()),
        Candidate::Sha256("not hex".into()),
    ];
    assert!(matches!(
        svc.check(bad).await,
        Err(CheckError::InvalidCandidate { index: 1, .. })
    ));
}

#[tokio::test]
async fn a_service_starts_from_the_matcher_snapshot_and_catches_up() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let face = approved_face(&fx, &desk, 1).await;
    let r = refresh(
        fx.exclusions.as_ref(),
        fx.matcher_snapshots.as_ref(),
        MatchSettings::default(),
        RefreshLimits::default(),
    )
    .await
    .unwrap();
    assert!(r.written);
    assert_eq!((r.position, r.entries), (3, 3));
    assert_eq!(fx.matcher_snapshots.stored().unwrap().0, 3);
    let dsa = dsa_in_review(&fx, &desk, &["https://example.com/a.jpg"]).await;
    desk.decide(dsa.id, &alice(), dsa.version, approve())
        .await
        .unwrap();

    let embedding = fx
        .biometrics
        .get(face.id)
        .unwrap()
        .findings
        .embedding
        .unwrap();
    let candidates = vec![
        Candidate::Face(embedding.as_slice().to_vec()),
        Candidate::Url("https://example.com/a.jpg".into()),
    ];
    let svc = fx
        .exclusion_service()
        .with_snapshots(fx.matcher_snapshots.clone());
    let r = svc.check(candidates.clone()).await.unwrap();
    assert!(r.results.iter().all(|x| x.excluded));
    assert_eq!(r.position, 4);
    assert_eq!(
        fx.exclusions.failures.calls("active"),
        0,
        "loaded from the snapshot, not the table"
    );

    // A damaged snapshot is refused: the service reads the whole table instead.
    fx.matcher_snapshots.put(3, b"not a snapshot".to_vec());
    let svc = fx
        .exclusion_service()
        .with_snapshots(fx.matcher_snapshots.clone());
    let r = svc.check(candidates).await.unwrap();
    assert!(r.results.iter().all(|x| x.excluded));
    assert_eq!(fx.exclusions.failures.calls("active"), 1);
}

#[tokio::test]
async fn indexer_keys_authenticate_until_revoked() {
    let fx = Fakes::new();
    let (key, plain) = indexer_keys::generate("crawler", 60, fx.clock.now()).unwrap();
    fx.indexer_keys.add(key.clone());
    let found = indexer_keys::authenticate(fx.indexer_keys.as_ref(), &plain)
        .await
        .unwrap();
    assert_eq!(found, key);
    fx.indexer_keys.failures.fail("find_key", 1);
    assert!(matches!(
        indexer_keys::authenticate(fx.indexer_keys.as_ref(), &plain).await,
        Err(AuthError::Store(_))
    ));
    assert!(fx.indexer_keys.revoke(&key.id, fx.clock.now()));
    assert!(matches!(
        indexer_keys::authenticate(fx.indexer_keys.as_ref(), &plain).await,
        Err(AuthError::Refused)
    ));
}

/// A link as the exclusion table keeps it.
fn url(s: &str) -> optout_matcher::NormalizedUrl {
    optout_matcher::normalize_url(s).expect("a valid link")
}

// ---------------------------------------------------------------------------------------------
// Image opt-outs, continuing as one, lapsing, and the images behind a notice's links

/// An image opt-out of `photo_png(seed)`, submitted (its faces excluded when `faces`).
async fn submit_image(fx: &Fakes, desk: &Desk, seed: u8, faces: bool) -> Case {
    let key = fx.upload(desk, photo_png(seed)).await.expect("upload");
    let input = SubmissionInput {
        exclude_faces: faces,
        ..image_input(&key)
    };
    desk.submit(input).await.expect("submit").case
}

fn kinds(entries: &[ExclusionEntry]) -> Vec<&'static str> {
    let mut k: Vec<_> = entries.iter().map(|e| e.value.kind()).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn an_image_without_a_face_is_reviewed_and_excluded_by_its_hashes() {
    let fx = Fakes::new();
    let desk = fx.desk();
    fx.analyzer.answer(Analysis::Verdict(Verdict::NoFace));
    let case = submit_image(&fx, &desk, 7, false).await;
    assert_eq!(case.kind, CaseKind::ImageOptOut);
    assert!(case.consent && !case.exclude_faces);
    run_jobs(&fx).await;
    let c = stored(&fx, case.id);
    assert_eq!(c.state, CaseState::AwaitingReview, "no face is no dead end");
    let b = fx.biometrics.get(case.id).unwrap();
    assert_eq!(
        (
            b.findings.embedding.as_ref(),
            b.findings.face_embeddings.len()
        ),
        (None, 0)
    );
    let c = desk
        .decide(c.id, &alice(), c.version, approve())
        .await
        .unwrap();
    assert_eq!(c.state, CaseState::Approved);
    assert_eq!(kinds(&fx.exclusions.of_case(c.id)), ["pdq", "sha256"]);
    let d = c.decision.unwrap();
    assert!(
        d.statement.action.contains("hashes of your image"),
        "{}",
        d.statement.action
    );
    // The receipt and the decision say what the desk does not do, and where questions go.
    for m in fx.mailer.sent() {
        assert!(
            m.text.contains("stops indexing on this service only"),
            "{}",
            m.tag
        );
        assert!(m.text.contains(&fx.settings.contact_email), "{}", m.tag);
    }
    let svc = fx.exclusion_service();
    let pdq = fx.biometrics.get(case.id).unwrap().findings.pdq.unwrap();
    let mut near = pdq.0;
    near[0] ^= 0b0000_0111; // three bits off: a re-encoded copy
    let r = svc
        .check(vec![
            Candidate::Pdq(optout_matcher::PdqHash(near).to_string()),
            Candidate::Pdq(optout_matcher::PdqHash([0x55; 32]).to_string()),
        ])
        .await
        .unwrap();
    let excluded: Vec<bool> = r.results.iter().map(|x| x.excluded).collect();
    assert_eq!(excluded, [true, false]);
}

#[tokio::test]
async fn an_image_opt_out_excludes_its_faces_only_when_asked() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let with = submit_image(&fx, &desk, 8, true).await;
    let without = submit_image(&fx, &desk, 9, false).await;
    run_jobs(&fx).await;
    let faces = |id| {
        fx.biometrics
            .get(id)
            .unwrap()
            .findings
            .face_embeddings
            .len()
    };
    assert_eq!((faces(with.id), faces(without.id)), (1, 0));
    for id in [with.id, without.id] {
        let c = stored(&fx, id);
        desk.decide(id, &alice(), c.version, approve())
            .await
            .unwrap();
    }
    assert_eq!(
        kinds(&fx.exclusions.of_case(with.id)),
        ["face", "pdq", "sha256"]
    );
    assert_eq!(kinds(&fx.exclusions.of_case(without.id)), ["pdq", "sha256"]);
    // Only an image opt-out takes the choice.
    let key = fx.upload(&desk, photo_png(10)).await.unwrap();
    let face = SubmissionInput {
        exclude_faces: true,
        ..face_input(&key)
    };
    assert_eq!(
        fields(desk.submit(face).await.unwrap_err()),
        [field("exclude_faces", FieldCode::NotAllowed)]
    );
}

#[tokio::test]
async fn a_face_opt_out_without_a_face_can_continue_as_an_image_opt_out() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = needing_better_photo(&fx, &desk).await;
    assert_eq!(case.state, CaseState::NeedsBetterPhoto);
    let better = fx
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.tag == "better_photo")
        .unwrap();
    assert!(
        better
            .text
            .contains("continue the request as an image opt-out")
    );
    fx.analyzer.answer(Analysis::Verdict(Verdict::NoFace));
    let t = token(&desk, &case);
    let c = desk.continue_as_image(&t).await.unwrap();
    assert_eq!(
        (c.kind, c.state),
        (CaseKind::ImageOptOut, CaseState::Received)
    );
    assert_eq!(c.photo_generation(), case.photo_generation() + 1);
    run_jobs(&fx).await;
    let c = stored(&fx, case.id);
    assert_eq!(c.state, CaseState::AwaitingReview);
    // Asking again changes nothing; a case that never needed a photo cannot.
    assert_eq!(desk.continue_as_image(&t).await.unwrap().version, c.version);
    fx.analyzer.answer(Analysis::Face);
    let other = face_in_review(&fx, &desk, 3).await;
    assert!(matches!(
        desk.continue_as_image(&token(&desk, &other)).await,
        Err(DeskError::WrongState(CaseState::AwaitingReview))
    ));
    let c = desk
        .decide(c.id, &alice(), c.version, approve())
        .await
        .unwrap();
    assert_eq!(kinds(&fx.exclusions.of_case(c.id)), ["pdq", "sha256"]);
}

#[tokio::test]
async fn a_case_waiting_for_a_photo_lapses_after_the_period_with_its_photo_erased() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let case = needing_better_photo(&fx, &desk).await;
    let key = case.photo.as_ref().unwrap().key.clone();
    fx.clock.advance(Duration::days(29));
    assert_eq!(desk.housekeep(10).await.unwrap().lapsed, 0);
    assert_eq!(stored(&fx, case.id).state, CaseState::NeedsBetterPhoto);
    fx.clock.advance(Duration::days(2));
    assert_eq!(desk.housekeep(10).await.unwrap().lapsed, 1);
    let c = stored(&fx, case.id);
    assert_eq!(c.state, CaseState::Lapsed);
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    assert!(
        !fx.photos.contains(&key),
        "the photo is erased at the lapse"
    );
    let lapse = fx
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.tag == "lapsed")
        .unwrap();
    assert!(lapse.text.contains("within 30 days"), "{}", lapse.text);
    // A lapsed case is closed: no withdrawal, no new photo; its data goes with the retention.
    assert!(matches!(
        desk.withdraw(&token(&desk, &c)).await,
        Err(DeskError::WrongState(CaseState::Lapsed))
    ));
    fx.clock.advance(fx.settings.retention + Duration::days(1));
    assert_eq!(desk.housekeep(10).await.unwrap().erased, 1);
    assert_eq!(stored(&fx, case.id).state, CaseState::Erased);
}

#[tokio::test]
async fn the_images_behind_a_notice_s_links_are_hashed_and_excluded_wherever_served() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let img = photo_png(21);
    fx.links
        .serve("https://pics.example/a.png", img.clone(), "image/png");
    fx.links.fail(
        "https://pics.example/b.png",
        FetchError::Refused("private address 10.0.0.1".into()),
    );
    let case = dsa_in_review(
        &fx,
        &desk,
        &["https://pics.example/a.png", "https://pics.example/b.png"],
    )
    .await;
    assert_eq!(case.state, CaseState::AwaitingReview);
    assert_eq!(fx.links.fetches(), 2);
    let expected = FakeAnalyzer::face_findings(&img);
    assert_eq!(
        case.link_checks,
        [
            LinkCheck::Hashed {
                sha256: expected.sha256,
                pdq: expected.pdq,
                bytes: img.len() as u64
            },
            LinkCheck::Failed {
                why: "refused: private address 10.0.0.1".into()
            }
        ]
    );
    desk.decide(case.id, &alice(), case.version, approve())
        .await
        .unwrap();
    assert_eq!(
        kinds(&fx.exclusions.of_case(case.id)),
        ["pdq", "sha256", "url", "url"]
    );
    // The same picture at another address is excluded; the link that failed still is, by URL.
    let r = fx
        .exclusion_service()
        .check(vec![
            Candidate::Sha256(optout_matcher::Sha256::of(&img).to_string()),
            Candidate::Url("https://pics.example/b.png".into()),
        ])
        .await
        .unwrap();
    assert!(r.results.iter().all(|x| x.excluded));
}

#[tokio::test]
async fn a_notice_whose_link_analysis_fails_is_retried_not_half_written() {
    let fx = Fakes::new();
    let desk = fx.desk();
    fx.links
        .serve("https://pics.example/a.png", photo_png(22), "image/png");
    fx.analyzer
        .answer(Analysis::Failed("inference crashed".into()));
    let case = submit_dsa(&desk, &["https://pics.example/a.png"]).await;
    let results = fx.run_jobs().await;
    assert!(matches!(results[0].1, Err(JobError::Retry(_))));
    let c = stored(&fx, case.id);
    assert_eq!((c.state, c.link_checks.len()), (CaseState::Received, 0));
}

// ---------------------------------------------------------------------------------------------
// The reviewers' daily list of deadlines

#[tokio::test]
async fn reviewers_get_the_days_deadlines_once_from_the_configured_hour() {
    let mut fx = Fakes::new();
    fx.settings.reviewer_emails = vec!["alice@desk.test".into(), "bob@desk.test".into()];
    fx.settings.digest_hour = 7;
    let desk = fx.desk();
    let soon = face_in_review(&fx, &desk, 1).await;
    let later = face_in_review(&fx, &desk, 2).await;
    let _notice = dsa_in_review(&fx, &desk, &["https://example.org/a.jpg"]).await;
    // Move to the day the first cases fall due, before the hour: counted, not sent.
    let due = soon.due_at;
    let morning = due.date_naive().and_hms_opt(5, 0, 0).unwrap().and_utc();
    fx.clock.set(morning);
    let d = desk.check_deadlines(fx.clock.now()).await.unwrap();
    assert_eq!((d.overdue, d.due_soon, d.mailed), (0, 3, 0));
    assert!(!fx.mailer.tags().contains(&"deadlines".to_owned()));
    // From 07:00: one list per reviewer, once that day however often it runs.
    fx.clock.set(morning + Duration::hours(3));
    for _ in 0..3 {
        let d = desk.check_deadlines(fx.clock.now()).await.unwrap();
        assert_eq!(d.mailed, 2);
    }
    let lists: Vec<Mail> = fx
        .mailer
        .sent()
        .into_iter()
        .filter(|m| m.tag == "deadlines")
        .collect();
    assert_eq!(lists.len(), 2, "once a day per reviewer");
    let m = &lists[0];
    assert_eq!(m.case_id, None);
    assert!(
        m.subject.contains("0 overdue, 3 due within 48 hours"),
        "{}",
        m.subject
    );
    for c in [&soon, &later] {
        assert!(
            m.text
                .contains(&format!("https://desk.test/admin/cases/{}", c.id))
        );
    }
    // No signed link, no personal data.
    assert!(
        !m.text.contains("token") && !m.text.contains("sig="),
        "{}",
        m.text
    );
    assert!(
        !m.text.contains("Somchai") && !m.text.contains("somchai@"),
        "{}",
        m.text
    );
    // A day later they are overdue: the next day's list says so.
    fx.clock.advance(Duration::days(1));
    let d = desk.housekeep(10).await.unwrap();
    assert_eq!(d.overdue, 3);
    assert_eq!(
        fx.mailer
            .sent()
            .iter()
            .filter(|m| m.tag == "deadlines")
            .count(),
        4
    );
}

#[tokio::test]
async fn without_reviewers_no_list_is_sent() {
    let fx = Fakes::new();
    let desk = fx.desk();
    let c = face_in_review(&fx, &desk, 1).await;
    fx.clock.set(c.due_at + Duration::hours(12));
    let d = desk.check_deadlines(fx.clock.now()).await.unwrap();
    assert_eq!((d.overdue, d.mailed), (1, 0));
    assert!(!fx.mailer.tags().contains(&"deadlines".to_owned()));
}
