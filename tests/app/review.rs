//! The review desk end to end over HTTP in the embedded mode: admin links (minted by the code the
//! `optout admin-url` command runs), session and CSRF, the queue, case pages, decisions with their
//! statement of reasons, exclusion entries, decision emails, complaints, withdrawal and retention.
//! A deterministic stand-in for the face pipeline keeps these tests fast; the real pipeline is
//! tested in `embedding.rs`.

use crate::common::*;
use crate::desk::*;
use crate::journeys::Browser;
use chrono::Duration;
use optout::admin_url::mint;
use optout_core::model::CaseId;
use optout_core::ports::{
    CaseFilter, Clock, EntryState, ExclusionValue, NewEntries, Paging, QueueCursor, SystemClock,
};
use optout_core::signing::{KeyRing, scope};
use std::sync::Arc;

fn mails_tagged(app: &TestApp, tag: &str) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(app.dir.join("outbox"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(&format!("-{tag}.eml")))
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn photo_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.dir.join("photos/uploads"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewer_journey_approve_writes_entries_mails_the_decision_and_deletes_the_photo() {
    let app = start(Arc::new(SystemClock)).await;
    let case = submit_face_case(&app, "th", jpeg(800, 600)).await;
    assert_eq!(photo_files(&app), 1);

    // Login: the link sets a strict, HttpOnly, Secure session cookie bound to /admin.
    let r = app.get(&admin_link(&app, "alice")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attr in [
        "optout_admin=",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/admin",
    ] {
        assert!(set.contains(attr), "{attr} missing in {set}");
    }
    let max_age: i64 = set
        .split("Max-Age=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!((28790..=28800).contains(&max_age), "Max-Age {max_age}");
    let cookie = set.split(';').next().unwrap().to_owned();

    // Queue.
    let r = get(&app, &cookie, "/admin").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["x-robots-tag"], "noindex, nofollow");
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"<meta name="robots" content="noindex">"#));
    assert!(html.contains(&format!("data-case=\"{}\"", case.id)));
    assert!(html.contains("alice"));

    // Case page: fields, photo with the face overlay, quality, audit trail.
    let (html, csrf, version) = case_page(&app, &cookie, case.id).await;
    assert!(!csrf.is_empty() && !version.is_empty());
    for needle in [
        "Somchai Jaidee",
        "somchai@example.org",
        "Please remove my face from your index.",
        "id=\"overlay\"",
        "viewBox=\"0 0 800 600\"",
        "class=\"landmark\"",
        "Detector score",
        "0.930",
        "id=\"audit\"",
        "submitted",
        "embedded",
        "id=\"no-similar\"",
    ] {
        assert!(html.contains(needle), "{needle} missing on the case page");
    }
    let photo = get(&app, &cookie, &format!("/admin/cases/{}/photo", case.id)).await;
    assert_eq!(photo.status(), 200);
    assert_eq!(photo.headers()["content-type"], "image/jpeg");
    assert_eq!(photo.headers()["cache-control"], "no-store");
    assert!(photo.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]));
    // Served by the app itself: the case page allows no other origin for images.
    let r = get(&app, &cookie, &format!("/admin/cases/{}", case.id)).await;
    assert_eq!(
        r.headers()["content-security-policy"],
        optout_web::CONTENT_SECURITY_POLICY
    );
    // Without a session, the photo is not there.
    let r = app.get(&format!("/admin/cases/{}/photo", case.id)).await;
    assert_eq!(r.status(), 403);

    // Approve.
    let note = [
        ("decision", "approve"),
        ("note", "Checked against the photo."),
    ];
    let r = decide_on_page(&app, &cookie, case.id, &note).await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("/admin/cases/{}?done=1", case.id)
    );

    // Entries: exactly the face embedding, the SHA-256 and the PDQ hash of the photo.
    let b = app.biometrics(case.id).await.unwrap();
    let ex = &app.system.desk.ports.exclusions;
    let entries = app.entries(case.id).await;
    assert_eq!(entries.len(), 3);
    assert_eq!(
        entries.iter().map(|e| e.value.clone()).collect::<Vec<_>>(),
        vec![
            ExclusionValue::Face(b.findings.embedding.clone().unwrap()),
            ExclusionValue::Sha256(b.findings.sha256),
            ExclusionValue::Pdq(b.findings.pdq.unwrap()),
        ]
    );
    assert!(entries.iter().all(|e| e.state == EntryState::Active));
    assert_eq!(
        entries.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(ex.changes(0, 100).await.unwrap(), entries);
    assert_eq!(ex.changes(2, 100).await.unwrap().len(), 1);
    assert_eq!(ex.active().await.unwrap().len(), 3);
    // Re-running the approval's effects does not duplicate entries.
    ex.add_entries(NewEntries::new(
        case.id,
        &entries.iter().map(|e| e.value.clone()).collect::<Vec<_>>(),
        chrono::Utc::now(),
    ))
    .await
    .unwrap();
    assert_eq!(app.entries(case.id).await.len(), 3);

    // The decision email: Thai, text and HTML, statement of reasons and how to contest it.
    let mails = mails_tagged(&app, "decision");
    assert_eq!(mails.len(), 1);
    let subject = eml_subject(&mails[0]);
    assert!(subject.contains("ผลการตัดสินคำขอของคุณ"), "{subject}");
    assert!(subject.contains(&case.id.to_string()));
    let text = eml_part(&mails[0], "text/plain");
    let html = eml_part(&mails[0], "text/html");
    for t in [&text, &html] {
        for needle in [
            "คำชี้แจงเหตุผล",                 // statement of reasons
            "อนุมัติ",                        // approved
            "ระบบตรวจจับและเปรียบเทียบใบหน้า", // automated means: face matching
            "มาตรา 17 และ 21 ของ GDPR",    // ground
            "องค์กรระงับข้อพิพาทนอกศาล",       // out-of-court dispute settlement
            "ภายในหกเดือน",                 // complaint within six months
            "Checked against the photo.",
            "/complaint",
        ] {
            assert!(t.contains(needle), "{needle} missing in the decision email");
        }
    }

    // The photo is gone; the case page says so; the photo proxy answers 404.
    assert_eq!(photo_files(&app), 0);
    let (html, _, _) = case_page(&app, &cookie, case.id).await;
    assert!(html.contains("id=\"photo-gone\""));
    assert!(html.contains("data-state=\"approved\""));
    assert!(html.contains("reviewer:alice"));
    assert!(
        !html.contains("id=\"approve\""),
        "no decision forms on a decided case"
    );
    let r = get(&app, &cookie, &format!("/admin/cases/{}/photo", case.id)).await;
    assert_eq!(r.status(), 404);

    // Audit: the decision by the reviewer and its effects.
    let audit = app.audit(case.id).await;
    let decision = audit
        .iter()
        .find(|a| a.action == "decision:approved")
        .unwrap();
    assert_eq!(
        decision.actor,
        optout_core::model::Actor::Reviewer("alice".into())
    );
    assert!(audit.iter().any(|a| a.action.contains("exclusions_written")
        && a.action.contains("photo_deleted")
        && a.action.contains("decision_sent")));

    // The status page shows the decision and offers the complaint form.
    let html = app.get_text(&format!("/status/{}", case.token)).await;
    assert!(html.contains("id=\"decision\""));
    assert!(html.contains("id=\"complaint-link\""));

    // A second case with the same photo shows the first one's exclusions as near-duplicates.
    let second = submit_face_case(&app, "en", jpeg(800, 600)).await;
    let (html, _, _) = case_page(&app, &cookie, second.id).await;
    assert!(html.contains("id=\"similar\""));
    assert!(html.contains("cosine 1.000"));
    assert!(html.contains("distance 0"));
    assert!(html.contains(&case.id.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_missing_admin_credentials_get_403() {
    let clock = TestClock::new();
    let app = start(Arc::new(clock.clone())).await;
    let link = admin_link(&app, "alice");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let keys = &app.system.desk.keys;
    let later = clock.now() + Duration::hours(1);
    let forged = [
        // another reviewer with the same MAC
        format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1],
            b64.encode("review:mallory"),
            parts[3]
        ),
        // a later expiry
        format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1].parse::<i64>().unwrap() + 86400,
            parts[2],
            parts[3]
        ),
        // an unknown key id
        format!("zz.{}.{}.{}", parts[1], parts[2], parts[3]),
        // the right subject signed for another scope (a status link)
        keys.sign(scope::STATUS, "review:alice", later),
        // a session token used as a link
        keys.sign(scope::ADMIN_SESSION, "review:alice", later),
        // another key
        KeyRing::generate(parts[0]).sign(scope::ADMIN, "review:alice", later),
        // a bad reviewer name, properly signed
        keys.sign(scope::ADMIN, "review:bad name", later),
        // another role, properly signed
        keys.sign(scope::ADMIN, "superuser:alice", later),
        String::new(),
        "garbage".into(),
    ];
    for t in &forged {
        let r = app.get(&format!("/admin/login?token={t}")).await;
        assert_eq!(r.status(), 403, "forged token accepted: {t}");
        assert!(r.headers().get("set-cookie").is_none());
        let body = r.text().await.unwrap();
        assert!(!body.contains("expired") && !body.contains("signature"));
    }
    assert_eq!(app.get("/admin/login").await.status(), 403);

    // No session, a forged session, a link token as a session: 403 everywhere.
    for cookie in [
        "".to_owned(),
        "optout_admin=garbage".to_owned(),
        format!("optout_admin={token}"),
    ] {
        for path in ["/admin", "/admin/cases/01JCASE0000000000000000000"] {
            let r = get(&app, &cookie, path).await;
            assert_eq!(r.status(), 403, "{path} with {cookie:?}");
            assert_eq!(r.headers()["x-robots-tag"], "noindex, nofollow");
        }
    }

    // A valid session works until the link's expiry, then neither link nor session do.
    let cookie = login(&app, "alice").await;
    assert_eq!(get(&app, &cookie, "/admin").await.status(), 200);
    clock.advance(Duration::hours(8) + Duration::seconds(1));
    assert_eq!(get(&app, &cookie, "/admin").await.status(), 403);
    assert_eq!(app.get(&link).await.status(), 403);

    // The CLI refuses bad reviewers and durations.
    for (reviewer, ttl) in [
        ("", "8h"),
        ("bad name", "8h"),
        (&"x".repeat(65)[..], "8h"),
        ("alice", "8"),
        ("alice", "0m"),
        ("alice", "31d"),
        ("alice", "-1h"),
    ] {
        assert!(
            mint(&admin_args(&app, reviewer, ttl), clock.now()).is_err(),
            "{reviewer:?} {ttl:?}"
        );
    }
    let mut no_keys = admin_args(&app, "alice", "1h");
    no_keys.serve.data = Some(app.dir.join("nowhere"));
    assert!(mint(&no_keys, clock.now()).is_err());
    assert!(mint(&admin_args(&app, "a.b-c_d@example.org", "30d"), clock.now()).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_need_the_sessions_csrf_token_and_valid_fields() {
    let app = start(Arc::new(SystemClock)).await;
    let case = submit_face_case(&app, "en", jpeg(640, 480)).await;
    let alice = login(&app, "alice").await;
    let bob = login(&app, "bob").await;
    let (_, csrf, version) = case_page(&app, &alice, case.id).await;
    let (_, bob_csrf, _) = case_page(&app, &bob, case.id).await;
    let approve_with = |csrf| {
        [
            ("csrf", csrf),
            ("version", version.as_str()),
            ("decision", "approve"),
        ]
    };
    for fields in [
        vec![("version", version.as_str()), ("decision", "approve")],
        approve_with("AAAA").to_vec(),
        approve_with("").to_vec(),
        // another session's token
        approve_with(bob_csrf.as_str()).to_vec(),
    ] {
        let r = decide(&app, &alice, case.id, &fields).await;
        assert_eq!(r.status(), 403, "{fields:?}");
    }
    // A CSRF token without a session.
    let r = decide(&app, "", case.id, &approve_with(csrf.as_str())).await;
    assert_eq!(r.status(), 403);
    // Invalid fields: 422, the case page again with the reason next to the forms and what was
    // typed kept; wrong ids: 400 / 404; not a form: 415.
    for (fields, needle) in [
        (vec![("decision", "delete")], "Choose approve, reject"),
        (
            vec![
                ("decision", "reject"),
                ("reason", "nope"),
                ("note", "typed by me"),
            ],
            "Choose a reason for the rejection",
        ),
        (
            vec![("decision", "reject"), ("reason", "other")],
            "The note is missing",
        ),
        (
            vec![("decision", "better_photo"), ("quality", "ugly")],
            "Choose what is wrong with the photo",
        ),
    ] {
        let mut f = vec![("csrf", csrf.as_str()), ("version", version.as_str())];
        f.extend(fields.iter().copied());
        let r = decide(&app, &alice, case.id, &f).await;
        assert_eq!(r.status(), 422, "{f:?}");
        let page = r.text().await.unwrap();
        let error = page
            .split(r#"id="decision-error""#)
            .nth(1)
            .unwrap_or_else(|| panic!("no inline error: {page}"));
        let error: String = error.chars().take(300).collect();
        assert!(error.contains(needle), "{f:?}");
        if fields.contains(&("note", "typed by me")) {
            assert!(page.contains(">typed by me</textarea>"), "the note is kept");
        }
    }
    let r = decide(
        &app,
        &alice,
        case.id,
        &[("csrf", csrf.as_str()), ("decision", "approve")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = decide(&app, &alice, "not-a-case", &approve_with(csrf.as_str())).await;
    assert_eq!(r.status(), 400);
    let unknown = CaseId::new(chrono::Utc::now());
    let fields = [
        ("csrf", csrf.as_str()),
        ("version", "1"),
        ("decision", "approve"),
    ];
    assert_eq!(decide(&app, &alice, unknown, &fields).await.status(), 404);
    let r = get(&app, &alice, &format!("/admin/cases/{unknown}")).await;
    assert_eq!(r.status(), 404);
    let url = app.url(&format!("/admin/cases/{}/decide", case.id));
    let r = as_reviewer(app.client().post(url).body("csrf=x"), &alice).await;
    assert_eq!(r.status(), 415);
    // Nothing was decided.
    assert_eq!(app.case(case.id).await.state.as_str(), "awaiting_review");
    // Queue parameters are checked.
    for q in [
        "state=bogus",
        "kind=x",
        "country=XX",
        "complaint=maybe",
        "after=zzz",
    ] {
        assert_eq!(
            get(&app, &alice, &format!("/admin?{q}")).await.status(),
            400,
            "{q}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_decisions_exactly_one_wins() {
    let app = start(Arc::new(SystemClock)).await;
    for round in 0..3 {
        let case = submit_face_case(&app, "en", jpeg(640 + round, 480)).await;
        let alice = login(&app, "alice").await;
        let bob = login(&app, "bob").await;
        let a_fields = decision_form(&app, &alice, case.id, &[("decision", "approve")]).await;
        let reject = [("decision", "reject"), ("reason", "not_the_requester")];
        let b_fields = decision_form(&app, &bob, case.id, &reject).await;
        let (a, b) = tokio::join!(
            decide(&app, &alice, case.id, &a_fields),
            decide(&app, &bob, case.id, &b_fields)
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [303, 409], "round {round}");
        let loser = if a.status() == 409 { a } else { b };
        assert!(loser.text().await.unwrap().contains("Already decided"));
        let c = app.case(case.id).await;
        let audit = app.audit(case.id).await;
        let decisions = audit.iter().filter(|a| a.action.starts_with("decision:"));
        assert_eq!(decisions.count(), 1);
        let entries = app.entries(case.id).await;
        match c.state.as_str() {
            "approved" => assert_eq!(entries.len(), 3),
            "rejected" => assert!(entries.is_empty()),
            s => panic!("unexpected state {s}"),
        }
        assert_eq!(mails_tagged(&app, "decision").len(), round as usize + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_and_better_photo_flows() {
    let app = start(Arc::new(SystemClock)).await;
    let alice = login(&app, "alice").await;

    // Reject: a reason from the list and a note; no entries; photo deleted; email with reasons.
    let case = submit_face_case(&app, "en", jpeg(700, 500)).await;
    let reject = [
        ("decision", "reject"),
        ("reason", "overriding_interest"),
        ("note", "The photos are part of news reporting."),
    ];
    let r = decide_on_page(&app, &alice, case.id, &reject).await;
    assert_eq!(r.status(), 303);
    assert!(app.entries(case.id).await.is_empty());
    assert_eq!(photo_files(&app), 0);
    let mails = mails_tagged(&app, "decision");
    assert_eq!(mails.len(), 1);
    assert!(eml_subject(&mails[0]).starts_with("Decision on your request"));
    let text = eml_part(&mails[0], "text/plain");
    for needle in [
        "Statement of reasons",
        "Rejected. Nothing was added to our exclusion list.",
        "Overriding legitimate grounds",
        "Article 17(3) and 21(1) GDPR",
        "Automated means: Yes, in part",
        "The decision itself was taken by a person",
        "The photos are part of news reporting.",
        "within six months",
        "out-of-court dispute settlement body",
        "before the courts",
        &format!("/status/{}/complaint", case.token),
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    let audit = app.audit(case.id).await;
    let d = audit.iter().find(|a| a.action == "decision:rejected");
    let detail = d.unwrap().detail.as_deref().unwrap();
    assert!(detail.contains("reason=overriding_interest"));
    assert!(!detail.contains("news"), "no free text in the audit");

    // Better photo: the case waits for a new photo and the requester is told how.
    let case = submit_face_case(&app, "th", jpeg(900, 700)).await;
    let better = [("decision", "better_photo"), ("quality", "too_blurred")];
    let r = decide_on_page(&app, &alice, case.id, &better).await;
    assert_eq!(r.status(), 303);
    wait_for_state(&app, &case.token, "needs_better_photo").await;
    let mails = mails_tagged(&app, "better_photo");
    assert_eq!(mails.len(), 1);
    let text = eml_part(&mails[0], "text/plain");
    assert!(text.contains("รูปเบลอเกินไป"), "{text}");
    assert!(text.contains(&format!("/status/{}/photo", case.token)));
    assert_eq!(
        photo_files(&app),
        1,
        "the photo stays until a new one replaces it"
    );
    let status = app.get_text(&format!("/status/{}", case.token)).await;
    assert!(status.contains("id=\"better-photo\""));

    // DSA notices: approving excludes each normalised link.
    let dsa = submit_dsa(&app, "DE").await;
    let r = approve(&app, &alice, dsa.id).await;
    assert_eq!(r.status(), 303);
    let entries = app.entries(dsa.id).await;
    assert_eq!(
        entries.iter().map(|e| e.value.clone()).collect::<Vec<_>>(),
        vec![
            ExclusionValue::Url("https://example.com/a.jpg".parse().unwrap()),
            ExclusionValue::Url("https://example.org/b.png".parse().unwrap()),
        ]
    );
    let text = eml_part(mails_tagged(&app, "decision").last().unwrap(), "text/plain");
    assert!(text.contains("The 2 image links of your notice were added"));
    assert!(text.contains("Article 16 of the EU Digital Services Act"));
    assert!(text.contains("fetched and hashed automatically"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawal_withdraws_the_cases_entries_in_the_change_feed() {
    let app = start(Arc::new(SystemClock)).await;
    let alice = login(&app, "alice").await;
    let case = submit_face_case(&app, "en", jpeg(640, 480)).await;
    assert_eq!(approve(&app, &alice, case.id).await.status(), 303);
    let ex = &app.system.desk.ports.exclusions;
    assert_eq!(ex.active().await.unwrap().len(), 3);
    let r = app
        .post(&format!("/v1/status/{}/withdraw", case.token))
        .await;
    assert_eq!(r.status(), 200);
    assert!(ex.active().await.unwrap().is_empty());
    let changes = ex.changes(3, 100).await.unwrap();
    assert_eq!(changes.len(), 3);
    assert!(
        changes
            .iter()
            .all(|e| e.state == EntryState::Withdrawn && e.case_id == case.id)
    );
    assert_eq!(
        changes.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![4, 5, 6]
    );
    assert!(ex.changes(6, 100).await.unwrap().is_empty());
    assert!(app.biometrics(case.id).await.is_none());
    let audit = app.audit(case.id).await;
    assert!(
        audit
            .iter()
            .any(|a| a.action.contains("exclusions_withdrawn"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_reopens_the_case_for_a_different_reviewer() {
    let clock = TestClock::new();
    let app = start(Arc::new(clock.clone())).await;
    let case = submit_face_case(&app, "en", jpeg(640, 480)).await;
    let alice = login(&app, "alice").await;
    let reject = [("decision", "reject"), ("reason", "not_the_requester")];
    let r = decide_on_page(&app, &alice, case.id, &reject).await;
    assert_eq!(r.status(), 303);

    // The complaint form: the text is required; then the case is back in the queue.
    let url = format!("/status/{}/complaint", case.token);
    assert_eq!(app.get(&url).await.status(), 200);
    let complain = |text: &'static str| {
        let (app, url) = (&app, url.clone());
        async move { app.post_form(&url, &[("complaint", text)]).await }
    };
    assert_eq!(complain("").await.status(), 422);
    clock.advance(Duration::days(30));
    let r = complain("The photo is really me; I can show my ID card.").await;
    assert_eq!(r.status(), 200);
    // (the sessions of a month ago expired)
    let alice = login(&app, "alice").await;
    let bob = login(&app, "bob").await;
    let html = admin_page(&app, &bob, "/admin?complaint=yes").await;
    assert!(html.contains(&case.id.to_string()));
    assert!(html.contains("complaint"));
    let html = admin_page(&app, &bob, "/admin?complaint=no").await;
    assert!(!html.contains(&case.id.to_string()));
    let r = complain("Once more, please look again.").await;
    assert_eq!(r.status(), 409, "one complaint at a time");

    // The first reviewer may not decide the complaint; another one may.
    let (html, _, _) = case_page(&app, &alice, case.id).await;
    assert!(html.contains("id=\"complaint\""));
    assert!(html.contains("I can show my ID card"));
    let r = approve(&app, &alice, case.id).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("different reviewer"));
    assert_eq!(approve(&app, &bob, case.id).await.status(), 303);
    let c = app.case(case.id).await;
    assert_eq!(c.state.as_str(), "approved");
    assert!(c.complaint.as_ref().unwrap().resolved_at.is_some());
    assert_eq!(c.decision.as_ref().unwrap().reviewer.as_str(), "bob");
    assert_eq!(app.entries(case.id).await.len(), 3);
    let text = eml_part(mails_tagged(&app, "decision").last().unwrap(), "text/plain");
    assert!(text.contains("answers your complaint"));
    // A decided complaint cannot be made again.
    assert_eq!(app.get(&url).await.status(), 409);

    // The complaint window: six months after the decision.
    let other = submit_face_case(&app, "en", jpeg(650, 480)).await;
    assert_eq!(approve(&app, &alice, other.id).await.status(), 303);
    clock.advance(Duration::days(184));
    let r = app.get(&format!("/status/{}/complaint", other.token)).await;
    assert_eq!(r.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_sweep_erases_personal_data_but_keeps_the_exclusions() {
    let clock = TestClock::new();
    let app = start(Arc::new(clock.clone())).await;
    let alice = login(&app, "alice").await;
    let approved = submit_face_case(&app, "en", jpeg(640, 480)).await;
    assert_eq!(approve(&app, &alice, approved.id).await.status(), 303);
    let pending = submit_dsa(&app, "TH").await;
    let desk = &app.system.desk;

    clock.advance(Duration::days(182));
    desk.sweep_retention(clock.now()).await.unwrap();
    let c = app.case(approved.id).await;
    assert_eq!(c.state.as_str(), "approved", "not yet");

    clock.advance(Duration::days(2));
    desk.sweep_retention(clock.now()).await.unwrap();
    let c = app.case(approved.id).await;
    assert_eq!(c.state.as_str(), "erased");
    assert!(c.personal.is_none());
    let decision = c.decision.as_ref().unwrap();
    assert!(decision.note.is_none());
    assert!(decision.statement.ground.contains("GDPR"));
    let id = [approved.id.to_string()];
    let n: i64 = app.query(
        "SELECT COUNT(*) FROM personal WHERE case_id = ?1",
        id.clone(),
    );
    assert_eq!(n, 0);
    let data: String = app.query("SELECT data FROM cases WHERE id = ?1", id);
    assert!(!data.contains("Somchai") && !data.contains("somchai@example.org"));
    assert!(app.biometrics(approved.id).await.is_none());
    assert_eq!(
        desk.ports.exclusions.active().await.unwrap().len(),
        3,
        "exclusions stay"
    );
    // The status link no longer shows anything.
    let r = app.get(&format!("/v1/status/{}", approved.token)).await;
    assert_eq!(r.status(), 404);
    // An undecided case is not erased; the audit trail records the erasure.
    assert!(app.case(pending.id).await.personal.is_some());
    let audit = app.audit(approved.id).await;
    assert!(audit.iter().any(|a| a.action == "erased"));
    // The admin case page still works for the erased case.
    let alice = login(&app, "alice").await;
    let (html, _, _) = case_page(&app, &alice, approved.id).await;
    assert!(html.contains("erased"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_filters_and_pages_most_urgent_first() {
    let clock = TestClock::new();
    let app = start(Arc::new(clock.clone())).await;
    let a = submit_dsa(&app, "DE").await;
    clock.advance(Duration::hours(1));
    let b = submit_face_case(&app, "en", jpeg(640, 480)).await;
    clock.advance(Duration::hours(1));
    let c = submit_dsa(&app, "TH").await;
    let alice = login(&app, "alice").await;
    let html = admin_page(&app, &alice, "/admin").await;
    let pos = |id: CaseId| html.find(&format!("data-case=\"{id}\"")).unwrap();
    assert!(
        pos(a.id) < pos(b.id) && pos(b.id) < pos(c.id),
        "earliest due first"
    );
    let html = admin_page(&app, &alice, "/admin?kind=dsa_notice&country=th").await;
    assert!(html.contains(&c.id.to_string()));
    assert!(!html.contains(&a.id.to_string()) && !html.contains(&b.id.to_string()));
    let html = admin_page(&app, &alice, "/admin?state=approved").await;
    assert!(html.contains("id=\"empty\""));

    // Keyset paging.
    let store = &app.system.desk.ports.cases;
    let filter = CaseFilter {
        states: vec![optout_core::model::CaseState::AwaitingReview],
        ..Default::default()
    };
    let mut after: Option<QueueCursor> = None;
    let mut seen = Vec::new();
    loop {
        let page = store
            .list_cases(&filter, Paging::new(1, after))
            .await
            .unwrap();
        seen.extend(page.cases.iter().map(|c| c.id));
        match page.next {
            Some(n) => {
                assert_eq!(QueueCursor::parse(&n.encode()), Some(n));
                let r = get(&app, &alice, &format!("/admin?after={}", n.encode())).await;
                assert_eq!(r.status(), 200);
                after = Some(n);
            }
            None => break,
        }
    }
    assert_eq!(seen, vec![a.id, b.id, c.id]);
}

/// The reviewer's journey in headless Chromium (playwright-core), like the requester's in
/// `browser.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviewer_journey_in_headless_chromium() {
    let browser = Browser::find(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    let app = start(Arc::new(SystemClock)).await;
    let case = submit_face_case(&app, "en", jpeg(800, 600)).await;
    let (link, id) = (admin_link(&app, "carol"), case.id.to_string());
    browser
        .run("review.mjs", "review journey", &[&link, &id], "")
        .await;
    let c = app.case(case.id).await;
    assert_eq!(c.state.as_str(), "approved");
    assert_eq!(c.decision.unwrap().reviewer.as_str(), "carol");
}

/// A reviewer who does not read Thai sees the statement of a Thai case's decision in English next
/// to the one sent; the queue's filters read as words and the country is picked from a list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_reads_in_the_reviewers_language() {
    let app = start(Arc::new(SystemClock)).await;
    let case = submit_face_case(&app, "th", jpeg(800, 600)).await;
    let waiting = submit_face_case(&app, "en", jpeg(640, 480)).await;
    let alice = login(&app, "alice").await;
    assert_eq!(approve(&app, &alice, case.id).await.status(), 303);
    let page = get(&app, &alice, &format!("/admin/cases/{}", case.id))
        .await
        .text()
        .await
        .unwrap();
    let english = page
        .split(r#"id="statement-en""#)
        .nth(1)
        .expect("the statement in English");
    assert!(english.contains("The face signature and the hashes of your photo were added"));
    assert!(page.contains("อนุมัติ"), "the statement sent, in Thai");
    assert!(page.contains(r#"id="back" href="/admin""#));
    assert!(
        page.contains(&format!(
            r#"id="next-case" href="/admin/cases/{}""#,
            waiting.id
        )),
        "the next case of the queue"
    );
    let next = get(&app, &alice, &format!("/admin/cases/{}", waiting.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        next.contains(r#"id="approve-confirm""#),
        "a decision asks to be confirmed"
    );
    assert!(next.contains(r#"<option value="" disabled selected>Choose a reason…</option>"#));
    let queue = get(&app, &alice, "/admin?state=all")
        .await
        .text()
        .await
        .unwrap();
    assert!(queue.contains(">Waiting for review</option>"), "{queue}");
    assert!(queue.contains(r#"<option value="TH">Thailand</option>"#));
}
