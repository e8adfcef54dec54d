//! The scenarios both modes must pass. Each takes a fresh [`Mode`] and drives it as its users do.

use optout_core::model::CaseId;
use optout_core::ports::{EntryState, ExclusionValue};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use crate::photo_view::reviewer_views_a_large_photo;
use crate::{Mode, Reply, Req, encode, fixture};

/// The token at the end of a status URL.
pub fn status_token(status_url: &str) -> String {
    status_url
        .rsplit('/')
        .next()
        .expect("a status URL")
        .to_owned()
}

fn person(email: &str) -> Value {
    json!({
        "lang": "en",
        "country": "TH",
        "first_name": "Somchai",
        "last_name": "Jaidee",
        "email": email,
        "phone": "+66812345678",
        "reason": "I never agreed to photos of my face being searchable.",
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
    a
}

/// `POST /v1/uploads`, then the photo through the upload form; returns the upload key.
pub async fn upload_photo(mode: &dyn Mode, photo: Vec<u8>) -> String {
    let r = mode.send(Req::post_json("/v1/uploads", &json!({}))).await;
    assert_eq!(r.status, 201, "{}: upload form: {}", mode.name(), r.text());
    let form = r.json();
    let status = mode.upload(&form, photo, "image/jpeg").await;
    assert!(
        (200..400).contains(&status),
        "{}: the upload was refused ({status})",
        mode.name()
    );
    form["key"].as_str().expect("upload key").to_owned()
}

/// Submits a face opt-out with a real photo; returns the response document.
pub async fn submit_face(mode: &dyn Mode, email: &str, photo: Vec<u8>, idem: &str) -> Value {
    let key = upload_photo(mode, photo).await;
    let body = merge(
        person(email),
        json!({"kind": "face_opt_out", "consent": true, "upload_key": key}),
    );
    let r = mode
        .send(Req::post_json("/v1/cases", &body).header("idempotency-key", idem))
        .await;
    assert_eq!(r.status, 201, "{}: {}", mode.name(), r.text());
    r.json()
}

async fn status(mode: &dyn Mode, token: &str) -> Value {
    let r = mode.send(Req::get(&format!("/v1/status/{token}"))).await;
    assert_eq!(r.status, 200, "{}: {}", mode.name(), r.text());
    r.json()
}

/// Withdraws the request of `token` through the API.
async fn withdraw(mode: &dyn Mode, token: &str) {
    let path = format!("/v1/status/{token}/withdraw");
    let r = mode.send(Req::post_json(&path, &json!({}))).await;
    assert_eq!(r.status, 200, "{}: {}", mode.name(), r.text());
}

/// Asserts the state of the case of `token` as its requester sees it, and the `n` emails that
/// went to `email` (`what` they are).
async fn assert_outcome(
    mode: &dyn Mode,
    token: &str,
    state: &str,
    email: &str,
    what: &str,
    n: usize,
) {
    assert_eq!(status(mode, token).await["state"], state, "{}", mode.name());
    assert_mails(mode, email, n, what).await;
}

/// Asserts that `n` emails went to `email` (`what` they are).
async fn assert_mails(mode: &dyn Mode, email: &str, n: usize, what: &str) {
    let got = mode.mails_to(email).await.len();
    assert_eq!(got, n, "{}: {what}", mode.name());
}

/// The case page of `id` as the reviewer of `cookie` sees it.
pub async fn case_page(mode: &dyn Mode, cookie: &str, id: &str) -> Reply {
    let page = Req::get(&format!("/admin/cases/{id}")).header("cookie", cookie);
    let page = mode.send(page).await;
    assert_eq!(page.status, 200, "{}: case page", mode.name());
    page
}

/// The value of the hidden input `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\"");
    html.split("<input")
        .find(|tag| tag.contains(&marker))
        .and_then(|tag| tag.split("value=\"").nth(1))
        .and_then(|v| v.split('"').next())
        .unwrap_or_default()
        .replace("&amp;", "&")
}

/// Opens an admin link; returns the session cookie.
pub async fn login(mode: &dyn Mode, reviewer: &str) -> String {
    let r = mode.send(Req::get(&mode.admin_link(reviewer))).await;
    assert_eq!(r.status, 303, "{}: admin link: {}", mode.name(), r.text());
    let cookie = r.cookies().into_iter().next().expect("a session cookie");
    let attrs = r
        .header("set-cookie")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        attrs.contains("httponly") && attrs.contains("secure") && attrs.contains("samesite"),
        "{}: {attrs}",
        mode.name()
    );
    cookie
}

/// The CSRF token and version of a case page's decision forms, as a reviewer's browser has them.
pub async fn decision_form(mode: &dyn Mode, cookie: &str, id: &str) -> (String, String) {
    let html = case_page(mode, cookie, id).await.text();
    let (csrf, version) = (hidden(&html, "csrf"), hidden(&html, "version"));
    assert!(!csrf.is_empty() && !version.is_empty(), "{}", mode.name());
    (csrf, version)
}

/// Posts a decision with the form's hidden fields.
pub async fn decide(
    mode: &dyn Mode,
    cookie: &str,
    id: &str,
    form: &(String, String),
    fields: &[(&str, &str)],
) -> Reply {
    let mut body = vec![("csrf", form.0.as_str()), ("version", form.1.as_str())];
    body.extend_from_slice(fields);
    mode.send(Req::post_form(&format!("/admin/cases/{id}/decide"), &body).header("cookie", cookie))
        .await
}

/// The landing page, both forms in both languages, the health check and the API description.
pub async fn public_pages(mode: &dyn Mode) {
    for path in ["/", "/opt-out", "/dsa", "/?lang=th", "/opt-out?lang=th"] {
        let r = mode.send(Req::get(path)).await;
        assert_eq!(r.status, 200, "{}: {path}", mode.name());
        assert!(
            r.header("content-type")
                .unwrap_or_default()
                .starts_with("text/html")
        );
        if path.ends_with("th") {
            assert!(r.text().contains("lang=\"th\""), "{}: {path}", mode.name());
        }
        // The configured operator and support address, from the shared configuration.
        let text = r.text();
        assert!(
            text.contains("mailto:privacy@example.org") && text.contains("Example Search"),
            "{}: {path} does not name the operator and the support address",
            mode.name()
        );
    }
    let missing = mode.send(Req::get("/no-such-page")).await;
    assert!(
        missing.text().contains("privacy@example.org"),
        "{}",
        mode.name()
    );
    assert_eq!(mode.send(Req::get("/healthz")).await.status, 200);
    let doc = mode.send(Req::get("/openapi.json")).await.json();
    assert_eq!(doc["openapi"], "3.1.0", "{}", mode.name());
    assert_eq!(mode.send(Req::get("/no-such-page")).await.status, 404);
}

/// A face opt-out from submission to approval: receipt, embedding with the real pipeline,
/// review through an admin link, decision email, exclusion entries, photo deleted.
pub async fn face_opt_out_to_approval(mode: &dyn Mode) {
    let email = mode.email("somchai");
    let photo = fixture("person_a_1.jpg");
    let sha = hex::encode(Sha256::digest(&photo));
    let case = submit_face(mode, &email, photo, "scenario-face-1").await;
    let id = case["id"].as_str().expect("case id").to_owned();
    assert_eq!(case["state"], "received", "{}", mode.name());
    let token = status_token(case["status_url"].as_str().expect("status url"));

    // The receipt, at once, with the case reference.
    let mails = mode.mails_to(&email).await;
    assert_eq!(mails.len(), 1, "{}: one receipt", mode.name());
    assert!(
        mails[0].html.contains(&id),
        "{}: reference in receipt",
        mode.name()
    );

    // The face pipeline runs; the case waits for review.
    assert_eq!(mode.run_jobs().await, 1, "{}: one job", mode.name());
    assert_eq!(status(mode, &token).await["state"], "awaiting_review");

    // A reviewer finds it in the queue and approves it.
    let cookie = login(mode, "alice").await;
    let queue = mode
        .send(Req::get("/admin").header("cookie", &cookie))
        .await;
    assert_eq!(queue.status, 200);
    assert!(queue.text().contains(&id), "{}: case in queue", mode.name());
    // Two reviewers had the page open; the first decision wins, the second is told so.
    let bob = login(mode, "bob").await;
    let alice_form = decision_form(mode, &cookie, &id).await;
    let bob_form = decision_form(mode, &bob, &id).await;
    let r = decide(mode, &cookie, &id, &alice_form, &[("decision", "approve")]).await;
    assert_eq!(r.status, 303, "{}: {}", mode.name(), r.text());
    let late = decide(
        mode,
        &bob,
        &id,
        &bob_form,
        &[
            ("decision", "reject"),
            ("reason", "not_the_requester"),
            ("note", "late"),
        ],
    )
    .await;
    assert_eq!(late.status, 409, "{}: {}", mode.name(), late.text());
    assert_eq!(status(mode, &token).await["state"], "approved");

    // The decision email, with the reference; the exclusion entries; the photo is gone.
    let mails = mode.mails_to(&email).await;
    assert_eq!(mails.len(), 2, "{}: receipt + decision", mode.name());
    assert!(mails[1].html.contains(&id), "{}", mode.name());
    let entries = entries_of(mode, &id).await;
    assert!(entries.iter().all(|e| e.state == EntryState::Active));
    // Exactly the face embedding, the PDQ hash and the SHA-256 of the photo.
    let mut kinds: Vec<&str> = entries.iter().map(|e| e.value.kind()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["face", "pdq", "sha256"], "{}", mode.name());
    assert!(
        entries
            .iter()
            .any(|e| e.value == ExclusionValue::Sha256(sha.parse().unwrap())),
        "{}: the photo's SHA-256 is excluded",
        mode.name()
    );
    let desk = mode.desk();
    let stored = stored_case(mode, &id).await;
    let key = stored
        .photo
        .as_ref()
        .map(|p| p.key.clone())
        .unwrap_or_default();
    assert!(
        desk.ports.photos.read(&key, 1 << 24).await.is_err(),
        "{}: the raw photo is deleted after the decision",
        mode.name()
    );
}

/// The same submission twice (same idempotency key) makes one case and one receipt.
pub async fn double_submit_makes_one_case(mode: &dyn Mode) {
    let email = mode.email("twice");
    let body = merge(
        person(&email),
        json!({"kind": "dsa_notice", "good_faith": true,
               "source_urls": ["https://images.example.com/a.jpg"]}),
    );
    let first = mode
        .send(Req::post_json("/v1/cases", &body).header("idempotency-key", "same-key-1"))
        .await;
    let again = mode
        .send(Req::post_json("/v1/cases", &body).header("idempotency-key", "same-key-1"))
        .await;
    assert_eq!(first.status, 201, "{}: {}", mode.name(), first.text());
    assert!(matches!(again.status, 200 | 201), "{}", mode.name());
    assert_eq!(first.json()["id"], again.json()["id"], "{}", mode.name());
    assert_mails(mode, &email, 1, "one receipt").await;
}

/// The field codes of a 422 answer.
fn field_codes(r: &Reply) -> Vec<(String, String)> {
    r.json()["error"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["field"].as_str().unwrap_or_default().to_owned(),
                f["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Asserts a 422 that names exactly one field, with `code`.
fn assert_refused(r: &Reply, field: &str, code: &str, mode: &str) {
    assert_eq!(r.status, 422, "{mode}: {}", r.text());
    let want = vec![(field.to_owned(), code.to_owned())];
    assert_eq!(field_codes(r), want, "{mode}");
}

/// Idempotency keys and photos are scoped to their request: concurrent replays make one case and
/// one receipt; a key or photo reused with other data is refused and reveals nothing; a notice
/// takes no photo; addresses are what mail services can deliver to.
pub async fn replays_are_scoped_to_their_request(mode: &dyn Mode) {
    let m = mode.name();
    // Eight identical submissions at once (a double click, an eager retry): one case, one receipt.
    let email = mode.email("burst");
    let body = merge(
        person(&email),
        json!({"kind": "dsa_notice", "good_faith": true,
               "source_urls": ["https://images.example.com/burst.jpg"]}),
    );
    let key = "burst-key-0001";
    let replies = futures_util::future::join_all(
        (0..8)
            .map(|_| mode.send(Req::post_json("/v1/cases", &body).header("idempotency-key", key))),
    )
    .await;
    let ids: std::collections::BTreeSet<String> = replies
        .iter()
        .map(|r| {
            assert!(
                matches!(r.status, 200 | 201),
                "{m}: {} {}",
                r.status,
                r.text()
            );
            r.json()["id"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{m}: {ids:?}");
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1, "{m}");
    mode.housekeep().await;
    assert_mails(mode, &email, 1, "one receipt").await;
    let first = &replies[0].json();

    // The same key with another person's data: refused, and nothing of the first case shows.
    let other_email = mode.email("intruder");
    let intruder = merge(
        merge(
            person(&other_email),
            json!({"first_name": "Mallory", "country": "DE"}),
        ),
        json!({"kind": "dsa_notice", "good_faith": true,
               "source_urls": ["https://images.example.com/burst.jpg"]}),
    );
    let r = mode
        .send(Req::post_json("/v1/cases", &intruder).header("idempotency-key", key))
        .await;
    assert_refused(&r, "idempotency_key", "key_reused", m);
    let text = r.text();
    let first_id = first["id"].as_str().expect("id");
    let first_status = first["status_url"].as_str().expect("status url");
    assert!(
        !text.contains(first_id) && !text.contains(&status_token(first_status)),
        "{m}: {text}"
    );
    assert!(mode.mails_to(&other_email).await.is_empty(), "{m}");
    // The same data with other links is another request too.
    let other_links = merge(
        body.clone(),
        json!({"source_urls": ["https://images.example.com/other.jpg"]}),
    );
    let r = mode
        .send(Req::post_json("/v1/cases", &other_links).header("idempotency-key", key))
        .await;
    assert_eq!(r.status, 422, "{m}: {}", r.text());
    // Spacing and the case of the email's domain do not make a request another one.
    let respaced = merge(
        body.clone(),
        json!({"first_name": " Somchai ", "email": email.replace("example.org", "EXAMPLE.org")}),
    );
    let r = mode
        .send(Req::post_json("/v1/cases", &respaced).header("idempotency-key", key))
        .await;
    assert_eq!(r.status, 200, "{m}: {}", r.text());
    assert_eq!(r.header("idempotent-replayed"), Some("true"), "{m}");
    assert_eq!(r.json()["id"], first["id"], "{m}");

    // Someone else's photo (its upload key) with other personal data: refused.
    let owner = mode.email("owner");
    let photo = fixture("person_a_1.jpg");
    let upload = upload_photo(mode, photo).await;
    let face = |who: &str| {
        merge(
            person(who),
            json!({"kind": "face_opt_out", "consent": true, "upload_key": upload}),
        )
    };
    let r = mode.send(Req::post_json("/v1/cases", &face(&owner))).await;
    assert_eq!(r.status, 201, "{m}: {}", r.text());
    let owned = r.json();
    let thief = mode.email("thief");
    let r = mode.send(Req::post_json("/v1/cases", &face(&thief))).await;
    assert_refused(&r, "photo", "photo_reused", m);
    assert!(!r.text().contains(owned["id"].as_str().expect("id")), "{m}");
    // The owner's own retry without a key is still the same request.
    let r = mode.send(Req::post_json("/v1/cases", &face(&owner))).await;
    assert_eq!(r.status, 200, "{m}: {}", r.text());
    assert_eq!(r.json()["id"], owned["id"], "{m}");
    mode.housekeep().await;
    assert_mails(mode, &owner, 1, "one receipt").await;
    assert!(mode.mails_to(&thief).await.is_empty(), "{m}");

    // A notice with a photo: the photo would be dropped silently, so it is refused.
    let notice_with_photo = merge(body.clone(), json!({"upload_key": upload}));
    let r = mode
        .send(Req::post_json("/v1/cases", &notice_with_photo))
        .await;
    assert_eq!(r.status, 422, "{m}: {}", r.text());
    assert!(
        field_codes(&r).contains(&("upload_key".to_owned(), "not_allowed".to_owned())),
        "{m}: {}",
        r.text()
    );

    // Addresses: an internationalised domain is sent to in its ASCII form; letters outside
    // ASCII before the @ cannot be delivered by mail services and are refused with their code.
    let local = mode.email("idn");
    let local = local.split('@').next().expect("local part");
    let idn = merge(
        body.clone(),
        json!({"email": format!("{local}@bücher.example"),
               "source_urls": ["https://images.example.com/idn.jpg"]}),
    );
    let r = mode.send(Req::post_json("/v1/cases", &idn)).await;
    assert_eq!(r.status, 201, "{m}: {}", r.text());
    mode.housekeep().await;
    let mails = mode
        .mails_to(&format!("{local}@xn--bcher-kva.example"))
        .await;
    assert_eq!(
        mails.len(),
        1,
        "{m}: the receipt goes to the punycode address"
    );
    let r = mode
        .send(Req::post_json(
            "/v1/cases",
            &merge(body.clone(), json!({"email": "sömchai@example.org"})),
        ))
        .await;
    assert_refused(&r, "email", "email_not_ascii", m);
}

/// A mailer that takes its time (the window in which a racing dispatch used to send a second
/// receipt: after the first send began, before the case recorded it).
struct SlowMailer(std::sync::Arc<dyn optout_core::ports::Mailer>);

#[async_trait::async_trait]
impl optout_core::ports::Mailer for SlowMailer {
    async fn send(
        &self,
        mail: &optout_core::ports::Mail,
    ) -> Result<(), optout_core::ports::MailError> {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        self.0.send(mail).await
    }
}

/// Eight submissions of one request at once, on parallel tasks, with a slow mail service: one
/// case, one receipt; then the relay runs over it and sends nothing more.
pub async fn concurrent_submissions_send_one_receipt(mode: &dyn Mode) {
    let m = mode.name();
    let mut desk = mode.desk().clone();
    desk.ports.mailer = std::sync::Arc::new(SlowMailer(desk.ports.mailer.clone()));
    let email = mode.email("race");
    let input = optout_core::SubmissionInput {
        kind: Some(optout_core::model::CaseKind::DsaNotice),
        country: "TH".into(),
        first_name: "Somchai".into(),
        last_name: "Jaidee".into(),
        email: email.clone(),
        phone: "+66812345678".into(),
        reason: "I never agreed to photos of my face being searchable.".into(),
        good_faith: true,
        source_urls: vec!["https://images.example.com/race.jpg".into()],
        idempotency_key: Some("race-key-0001".into()),
        ..Default::default()
    };
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (desk, input) = (desk.clone(), input.clone());
            tokio::spawn(async move { desk.submit(input).await })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    let mut created = 0;
    for t in tasks {
        let s = t
            .await
            .expect("task")
            .unwrap_or_else(|e| panic!("{m}: {e}"));
        ids.insert(s.case.id);
        created += usize::from(s.created);
    }
    assert_eq!((ids.len(), created), (1, 1), "{m}");
    let id = *ids.first().expect("a case");
    mode.housekeep().await;
    assert_mails(mode, &email, 1, "one receipt").await;
    // However often a relay or a retry dispatches the case now, nothing more is sent.
    for _ in 0..3 {
        let mut unsent = stored_case(mode, &id.to_string()).await;
        unsent.receipt_sent = false;
        desk.dispatch(unsent).await;
    }
    assert_mails(mode, &email, 1, "still one receipt").await;
}

/// A DSA notice withdrawn from its status link: confirmation email, state withdrawn.
pub async fn dsa_notice_withdrawn(mode: &dyn Mode) {
    let email = mode.email("anna");
    let body = merge(
        person(&email),
        json!({"kind": "dsa_notice", "good_faith": true,
               "source_urls": ["https://images.example.com/a.jpg", "https://cdn.example.net/b.png?x=1"]}),
    );
    let r = mode.send(Req::post_json("/v1/cases", &body)).await;
    assert_eq!(r.status, 201, "{}: {}", mode.name(), r.text());
    let case = r.json();
    let token = status_token(case["status_url"].as_str().expect("status url"));
    assert_eq!(case["can_withdraw"], true);
    withdraw(mode, &token).await;
    assert_outcome(
        mode,
        &token,
        "withdrawn",
        &email,
        "receipt + confirmation",
        2,
    )
    .await;
    // A tampered status link reveals nothing.
    let mut bad = token.clone();
    bad.pop();
    bad.push(if token.ends_with('A') { 'B' } else { 'A' });
    let r = mode.send(Req::get(&format!("/v1/status/{bad}"))).await;
    assert!(
        matches!(r.status, 403 | 404),
        "{}: {}",
        mode.name(),
        r.status
    );
}

/// Bad input: a precise 4xx, nothing stored, nothing sent.
pub async fn bad_input_is_refused_whole(mode: &dyn Mode) {
    let email = mode.email("refused");
    let body = merge(
        person(&email),
        json!({"kind": "face_opt_out", "consent": false, "phone": "12",
               "upload_key": "uploads/not-an-upload"}),
    );
    let r = mode.send(Req::post_json("/v1/cases", &body)).await;
    assert_eq!(r.status, 422, "{}: {}", mode.name(), r.text());
    let doc = r.json();
    let fields: Vec<&str> = doc["error"]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert!(fields.contains(&"consent"), "{}: {fields:?}", mode.name());
    assert!(fields.contains(&"phone"), "{}: {fields:?}", mode.name());
    let r = mode
        .send(Req::post_json("/v1/cases", &json!({"kind": "nonsense"})))
        .await;
    assert!(matches!(r.status, 400 | 422), "{}", mode.name());
    let r = mode
        .send(Req {
            body: b"{not json".to_vec(),
            ..Req::post_json("/v1/cases", &json!({}))
        })
        .await;
    assert_eq!(r.status, 400, "{}", mode.name());
    assert!(mode.mails_to(&email).await.is_empty(), "{}", mode.name());
    assert_eq!(mode.run_jobs().await, 0, "{}: no job", mode.name());
}

/// Submits a DSA notice for `link` and runs its job: a case awaiting review. Returns its id and
/// status token.
async fn dsa_case_awaiting_review(mode: &dyn Mode, email: &str, link: &str) -> (String, String) {
    let body = merge(
        person(email),
        json!({"kind": "dsa_notice", "good_faith": true, "source_urls": [link]}),
    );
    let submitted = submit_case(mode, &body).await;
    assert_eq!(mode.run_jobs().await, 1, "{}: one job", mode.name());
    submitted
}

/// A DSA notice for `link`, approved by reviewer alice through the admin pages. Returns its id
/// and status token.
async fn approved_dsa_notice(mode: &dyn Mode, email: &str, link: &str) -> (String, String) {
    let (id, token) = dsa_case_awaiting_review(mode, email, link).await;
    approve_as_alice(mode, &id).await;
    (id, token)
}

/// Reviewer alice approves case `id` through the admin pages.
async fn approve_as_alice(mode: &dyn Mode, id: &str) {
    let alice = login(mode, "alice").await;
    let form = decision_form(mode, &alice, id).await;
    let r = decide(mode, &alice, id, &form, &[("decision", "approve")]).await;
    assert_eq!(r.status, 303, "{}: {}", mode.name(), r.text());
}

/// The kinds of the exclusion entries of case `id`, sorted.
async fn entry_kinds(mode: &dyn Mode, id: &str) -> Vec<&'static str> {
    let mut kinds: Vec<&str> = entries_of(mode, id)
        .await
        .iter()
        .map(|e| e.value.kind())
        .collect();
    kinds.sort_unstable();
    kinds
}

/// Submits `body` to `POST /v1/cases` (201 expected); returns the case's id and status token.
async fn submit_case(mode: &dyn Mode, body: &Value) -> (String, String) {
    let r = mode.send(Req::post_json("/v1/cases", body)).await;
    assert_eq!(r.status, 201, "{}: {}", mode.name(), r.text());
    let case = r.json();
    (
        case["id"].as_str().expect("case id").to_owned(),
        status_token(case["status_url"].as_str().expect("status url")),
    )
}

/// Case `id` as the mode's store has it.
pub async fn stored_case(mode: &dyn Mode, id: &str) -> optout_core::model::Case {
    let id = CaseId::parse(id).expect("ULID");
    let case = mode.desk().ports.cases.get_case(id).await;
    case.expect("store").expect("case")
}

/// The exclusion entries of case `id`, read from the mode's store.
async fn entries_of(mode: &dyn Mode, id: &str) -> Vec<optout_core::ports::ExclusionEntry> {
    mode.desk()
        .ports
        .exclusions
        .case_entries(CaseId::parse(id).expect("ULID"))
        .await
        .expect("exclusion entries")
}

/// The state of a case as the requester's status page reports it.
async fn state_of(mode: &dyn Mode, token: &str) -> Value {
    status(mode, token).await["state"].clone()
}

/// Admin links and sessions: a forged, re-scoped or foreign-key link gets 403 and no session;
/// admin pages without a valid session get 403; a decision without the session's CSRF token is
/// refused and changes nothing; admin pages are never cached or indexed.
pub async fn admin_links_and_csrf_are_checked(mode: &dyn Mode) {
    use optout_core::signing::{KeyRing, scope};
    let email = mode.email("forgery");
    let (id, token) =
        dsa_case_awaiting_review(mode, &email, "https://images.example.com/forged.jpg").await;
    let link = mode.admin_link("alice");
    let signed = link
        .split("token=")
        .nth(1)
        .expect("token in link")
        .to_owned();
    let parts: Vec<&str> = signed.split('.').collect();
    assert_eq!(parts.len(), 4, "{}: {signed}", mode.name());
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let desk = mode.desk();
    let later = desk.ports.clock.now() + chrono::Duration::hours(1);
    let expiry: i64 = parts[1].parse().expect("expiry");
    let forged = [
        // another reviewer under alice's MAC
        format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1],
            b64("review:mallory"),
            parts[3]
        ),
        // a later expiry
        format!("{}.{}.{}.{}", parts[0], expiry + 86_400, parts[2], parts[3]),
        // an unknown key id
        format!("zz.{}.{}.{}", parts[1], parts[2], parts[3]),
        // signed by the desk, but for another scope
        desk.keys.sign(scope::STATUS, "review:alice", later),
        desk.keys.sign(scope::ADMIN_SESSION, "review:alice", later),
        // signed by another key under the same key id
        KeyRing::generate(parts[0]).sign(scope::ADMIN, "review:alice", later),
        // already expired
        desk.keys.sign(
            scope::ADMIN,
            "review:alice",
            desk.ports.clock.now() - chrono::Duration::seconds(1),
        ),
        String::new(),
        "garbage".into(),
    ];
    for t in &forged {
        let r = mode
            .send(Req::get(&format!("/admin/login?token={}", encode(t))))
            .await;
        assert_eq!(r.status, 403, "{}: forged link accepted: {t}", mode.name());
        assert!(r.cookies().is_empty(), "{}: {t}", mode.name());
        let body = r.text();
        assert!(
            !body.contains("expired") && !body.contains("signature"),
            "{}: the refusal says why: {body}",
            mode.name()
        );
    }
    for cookie in [
        String::new(),
        "optout_admin=garbage".to_owned(),
        format!("optout_admin={signed}"),
    ] {
        for path in ["/admin".to_owned(), format!("/admin/cases/{id}")] {
            let r = mode.send(Req::get(&path).header("cookie", &cookie)).await;
            assert_eq!(r.status, 403, "{}: {path} with {cookie:?}", mode.name());
            assert_eq!(
                r.header("x-robots-tag"),
                Some("noindex, nofollow"),
                "{}",
                mode.name()
            );
        }
    }

    // A real session: pages are private; decisions need this session's CSRF token.
    let alice = login(mode, "alice").await;
    let bob = login(mode, "bob").await;
    let page = case_page(mode, &alice, &id).await;
    assert!(
        page.header("cache-control")
            .unwrap_or_default()
            .contains("no-store"),
        "{}: {:?}",
        mode.name(),
        page.header("cache-control")
    );
    assert_eq!(page.header("x-robots-tag"), Some("noindex, nofollow"));
    let (csrf, version) = decision_form(mode, &alice, &id).await;
    let (bob_csrf, _) = decision_form(mode, &bob, &id).await;
    for (cookie, fields) in [
        (&alice, vec![("version", version.as_str())]),
        (&alice, vec![("csrf", ""), ("version", &version)]),
        (&alice, vec![("csrf", "AAAA"), ("version", &version)]),
        (&alice, vec![("csrf", &bob_csrf), ("version", &version)]),
        (&String::new(), vec![("csrf", &csrf), ("version", &version)]),
    ] {
        let mut body = fields.clone();
        body.push(("decision", "approve"));
        let r = mode
            .send(
                Req::post_form(&format!("/admin/cases/{id}/decide"), &body)
                    .header("cookie", cookie),
            )
            .await;
        assert_eq!(r.status, 403, "{}: {fields:?}", mode.name());
    }
    assert_outcome(mode, &token, "awaiting_review", &email, "receipt only", 1).await;
}

/// A rejected DSA notice contested from the status page: the case is back in the queue, marked as
/// a complaint; the first reviewer may not decide it; another approves it; the decision email
/// answers the complaint; the URL entry exists; the complaint cannot be made twice.
pub async fn complaint_reopens_for_another_reviewer(mode: &dyn Mode) {
    let email = mode.email("contest");
    let link = "https://images.example.com/contested.jpg";
    let (id, token) = dsa_case_awaiting_review(mode, &email, link).await;
    let alice = login(mode, "alice").await;
    let form = decision_form(mode, &alice, &id).await;
    let r = decide(
        mode,
        &alice,
        &id,
        &form,
        &[("decision", "reject"), ("reason", "not_the_requester")],
    )
    .await;
    assert_eq!(r.status, 303, "{}: {}", mode.name(), r.text());
    assert_outcome(mode, &token, "rejected", &email, "receipt + decision", 2).await;

    // The complaint form: the text is required.
    let url = format!("/status/{token}/complaint");
    assert_eq!(
        mode.send(Req::get(&url)).await.status,
        200,
        "{}",
        mode.name()
    );
    let r = mode.send(Req::post_form(&url, &[("complaint", "")])).await;
    assert_eq!(r.status, 422, "{}", mode.name());
    let r = mode
        .send(Req::post_form(
            &url,
            &[("complaint", "These are my photos; I can show my ID card.")],
        ))
        .await;
    assert_eq!(r.status, 200, "{}: {}", mode.name(), r.text());
    let r = mode
        .send(Req::post_form(&url, &[("complaint", "Once more.")]))
        .await;
    assert_eq!(r.status, 409, "{}: one complaint at a time", mode.name());

    // Back in the queue, marked as a complaint.
    let bob = login(mode, "bob").await;
    let queue = |filter: &'static str| {
        let bob = bob.clone();
        async move {
            let r = mode
                .send(Req::get(&format!("/admin?complaint={filter}")).header("cookie", &bob))
                .await;
            assert_eq!(r.status, 200, "{}", mode.name());
            r.text()
        }
    };
    assert!(queue("yes").await.contains(&id), "{}", mode.name());
    assert!(!queue("no").await.contains(&id), "{}", mode.name());

    // The reviewer of the first decision may not decide the complaint.
    let page = case_page(mode, &alice, &id).await;
    assert!(
        page.text().contains("I can show my ID card"),
        "{}",
        mode.name()
    );
    let form = decision_form(mode, &alice, &id).await;
    let r = decide(mode, &alice, &id, &form, &[("decision", "approve")]).await;
    assert_eq!(r.status, 403, "{}", mode.name());
    assert!(r.text().contains("different reviewer"), "{}", mode.name());
    let form = decision_form(mode, &bob, &id).await;
    let r = decide(mode, &bob, &id, &form, &[("decision", "approve")]).await;
    assert_eq!(r.status, 303, "{}: {}", mode.name(), r.text());
    assert_eq!(state_of(mode, &token).await, "approved");

    let mails = mode.mails_to(&email).await;
    assert_eq!(mails.len(), 3, "{}", mode.name());
    assert!(
        mails[2].html.contains("answers your complaint"),
        "{}: {}",
        mode.name(),
        mails[2].html
    );
    let entries = entries_of(mode, &id).await;
    assert_eq!(entries.len(), 1, "{}: {entries:?}", mode.name());
    assert_eq!(entries[0].value.kind(), "url", "{}", mode.name());
    assert_eq!(entries[0].state, EntryState::Active);
    // A decided complaint cannot be made again.
    assert_eq!(
        mode.send(Req::get(&url)).await.status,
        409,
        "{}",
        mode.name()
    );
}

/// An approved DSA notice excludes its link (and its trivial variants) for the indexer; withdrawn
/// from the status page, its entry is withdrawn and stops matching at once; the requester gets the
/// receipt, the decision and the withdrawal's confirmation.
pub async fn withdrawal_stops_matching(mode: &dyn Mode) {
    use optout_core::exclusions::{ExclusionService, MatchSettings};
    use optout_matcher::Candidate;
    let email = mode.email("rethink");
    let link = "https://images.example.com/gallery/me.jpg";
    let (id, token) = approved_dsa_notice(mode, &email, link).await;

    // Exactly one entry, the normalised link; the indexer's check matches it and its variants.
    let entries = entries_of(mode, &id).await;
    assert_eq!(entries.len(), 1, "{}: {entries:?}", mode.name());
    assert_eq!(entries[0].state, EntryState::Active);
    let service = ExclusionService::new(
        mode.desk().ports.exclusions.clone(),
        MatchSettings::default(),
    );
    let candidates = || {
        vec![
            Candidate::Url(link.to_owned()),
            Candidate::Url("HTTPS://Images.Example.com:443/gallery/me.jpg?utm_source=x#top".into()),
            Candidate::Url("https://images.example.com/gallery/someone-else.jpg".into()),
        ]
    };
    let before = service.check(candidates()).await.expect("check");
    let hits: Vec<bool> = before.results.iter().map(|r| r.excluded).collect();
    assert_eq!(hits, [true, true, false], "{}", mode.name());
    assert_eq!(before.results[0].entry_id, Some(entries[0].id));

    withdraw(mode, &token).await;
    let entries = entries_of(mode, &id).await;
    assert!(
        entries.iter().all(|e| e.state == EntryState::Withdrawn),
        "{}: {entries:?}",
        mode.name()
    );
    let after = service.check(candidates()).await.expect("check");
    assert!(
        after.results.iter().all(|r| !r.excluded),
        "{}: {:?}",
        mode.name(),
        after.results
    );
    assert!(after.position > before.position, "{}", mode.name());
    let mails = "receipt, decision, confirmation";
    assert_outcome(mode, &token, "withdrawn", &email, mails, 3).await;
}

/// The indexer API over HTTP: keys required; a batch check matches an approved link and its
/// variants, never another image, and answers with the change position; a malformed candidate
/// gets 400 with its index; the change feed and the snapshot (inline in the embedded mode, a
/// presigned S3 object in AWS) hold the entry; after a withdrawal it no longer matches.
pub async fn indexer_api_over_http(mode: &dyn Mode) {
    let email = mode.email("indexed");
    let link = "https://images.example.com/indexer/me.jpg";
    let (_, token) = approved_dsa_notice(mode, &email, link).await;

    let key = mode.indexer_key().await;
    let bearer = format!("Bearer {key}");
    let body = json!({"candidates": [
        {"url": "http://IMAGES.example.com/indexer/me.jpg?utm_campaign=x"},
        {"url": "https://images.example.com/indexer/other.jpg"},
        {"sha256": "00".repeat(32)},
    ]});
    let check = |auth: Option<String>, body: Value| async move {
        let mut req = Req::post_json("/v1/exclusions/check", &body);
        if let Some(a) = auth {
            req = req.header("authorization", &a);
        }
        mode.send(req).await
    };
    // Without a key, or with a wrong one: 401.
    assert_eq!(
        check(None, body.clone()).await.status,
        401,
        "{}",
        mode.name()
    );
    let last = if key.ends_with('x') { 'y' } else { 'x' };
    let wrong = format!("Bearer {}{last}", &key[..key.len() - 1]);
    assert_eq!(
        check(Some(wrong), body.clone()).await.status,
        401,
        "{}",
        mode.name()
    );

    let r = check(Some(bearer.clone()), body.clone()).await;
    assert_eq!(r.status, 200, "{}: {}", mode.name(), r.text());
    let doc = r.json();
    let excluded: Vec<bool> = doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["excluded"] == true)
        .collect();
    assert_eq!(excluded, [true, false, false], "{}: {doc}", mode.name());
    assert_eq!(doc["results"][0]["kind"], "url", "{}", mode.name());
    let entry_id = doc["results"][0]["entry_id"].as_u64().expect("entry id");
    let position = doc["position"].as_u64().expect("position");
    assert!(position > 0, "{}", mode.name());
    assert!(
        !doc.to_string().contains(&email),
        "{}: personal data",
        mode.name()
    );

    // A malformed candidate: 400 naming its index, nothing else answered.
    let r = check(
        Some(bearer.clone()),
        json!({"candidates": [{"url": link}, {"sha256": "not-hex"}]}),
    )
    .await;
    assert_eq!(r.status, 400, "{}: {}", mode.name(), r.text());
    assert_eq!(r.json()["error"]["index"], 1, "{}", mode.name());

    // The change feed and the snapshot hold the entry.
    let r = mode
        .send(Req::get("/v1/exclusions/changes?after=0&limit=100").header("authorization", &bearer))
        .await;
    assert_eq!(r.status, 200, "{}: {}", mode.name(), r.text());
    let feed = r.json();
    assert!(
        feed["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .any(|e| e["id"] == entry_id && e["state"] == "active"),
        "{}: {feed}",
        mode.name()
    );
    let r = mode
        .send(Req::get("/v1/exclusions/snapshot").header("authorization", &bearer))
        .await;
    let snapshot: Value = match r.status {
        200 => r.json(),
        303 => {
            // AWS: a presigned object, fetched without the key.
            let url = r.header("location").expect("a presigned URL").to_owned();
            let got = reqwest::get(&url).await.expect("the snapshot object");
            assert!(
                got.status().is_success(),
                "{}: {}",
                mode.name(),
                got.status()
            );
            got.json().await.expect("snapshot JSON")
        }
        other => panic!("{}: snapshot answered {other}: {}", mode.name(), r.text()),
    };
    assert!(
        snapshot["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["id"] == entry_id),
        "{}: {snapshot}",
        mode.name()
    );

    // Withdrawn: the next check no longer matches, at a later position.
    withdraw(mode, &token).await;
    let doc = check(Some(bearer), body).await.json();
    assert_eq!(
        doc["results"][0]["excluded"],
        false,
        "{}: {doc}",
        mode.name()
    );
    assert!(doc["position"].as_u64() > Some(position), "{}", mode.name());
}

/// Signing out revokes the session on the server: a copy of the cookie kept from before no
/// longer opens the desk, and a forged `optout_admin` cookie sent before the valid one does not
/// lock the reviewer out. Every desk page carries the sign-out form.
pub async fn sign_out_revokes_the_session(mode: &dyn Mode) {
    let m = mode.name();
    let alice = login(mode, "alice").await;
    let forged = "optout_admin=k1.9999999999.cmV2aWV3OmFsaWNlOjA.AAAA";
    let page = mode
        .send(Req::get("/admin").header("cookie", &format!("{forged}; {alice}")))
        .await;
    assert_eq!(page.status, 200, "{m}: a forged cookie sent first");
    let html = page.text();
    assert!(html.contains("action=\"/admin/logout\""), "{m}: {html}");
    let csrf = hidden(&html, "csrf");
    let r = mode
        .send(Req::post_form("/admin/logout", &[("csrf", csrf.as_str())]).header("cookie", &alice))
        .await;
    assert_eq!(r.status, 200, "{m}: {}", r.text());
    let r = mode.send(Req::get("/admin").header("cookie", &alice)).await;
    assert_eq!(
        r.status, 403,
        "{m}: the cookie kept from before the sign-out"
    );
    // Sessions are revoked to the millisecond: the next sign-in is a new session.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let again = login(mode, "alice").await;
    let r = mode.send(Req::get("/admin").header("cookie", &again)).await;
    assert_eq!(r.status, 200, "{m}: signed in again");
}

/// A picture with no face in it (a synthetic landscape: sky, hills, a sun), `width`×`height`,
/// as a JPEG; `seed` varies it.
pub fn landscape_jpeg(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let s = seed as f32;
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let hill = 0.6 + 0.08 * (fx * (7.0 + s)).sin() + 0.05 * (fx * 23.0 + s).cos();
        let sun = ((fx - 0.75).powi(2) + (fy - 0.2).powi(2)).sqrt() < 0.08;
        let px = if sun {
            [250, 220, 90]
        } else if fy > hill {
            let g = 90.0 + 60.0 * ((fx * 40.0 + fy * 13.0 + s).sin() * 0.5 + 0.5);
            [40, g as u8, 35]
        } else {
            let b = 255.0 - 120.0 * fy;
            [
                (120.0 - 60.0 * fy) as u8,
                (170.0 - 40.0 * fy) as u8,
                b as u8,
            ]
        };
        image::Rgb(px)
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .expect("encode");
    out
}

/// `jpeg` resized to `width` pixels wide and encoded again at quality 70: a copy an indexer
/// may find elsewhere.
fn resized_copy(jpeg: &[u8], width: u32) -> Vec<u8> {
    let img = image::load_from_memory(jpeg).expect("a picture");
    let height = img.height() * width / img.width();
    let small = img.resize_exact(width, height, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70)
        .encode_image(&small.to_rgb8())
        .expect("encode");
    out
}

/// The PDQ hash of `bytes` as the face pipeline computes it (what an indexer's `optout check`
/// sends).
fn pdq_of(bytes: &[u8]) -> String {
    let f = crate::analyzer().analyze(bytes).expect("analysis");
    f.pdq.expect("a PDQ hash").to_string()
}

/// Checks `candidates` with an indexer key; returns whether each is excluded.
async fn excluded(mode: &dyn Mode, candidates: Value) -> Vec<bool> {
    let key = mode.indexer_key().await;
    let r = mode
        .send(
            Req::post_json("/v1/exclusions/check", &json!({ "candidates": candidates }))
                .header("authorization", &format!("Bearer {key}")),
        )
        .await;
    assert_eq!(r.status, 200, "{}: {}", mode.name(), r.text());
    r.json()["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["excluded"] == true)
        .collect()
}

/// An image opt-out of a picture without a face: reviewed, approved, excluded by its hashes, so
/// that a resized, re-encoded copy is excluded and an unrelated picture is not; the emails say
/// what the desk does not do and where questions go.
pub async fn image_opt_out_excludes_copies(mode: &dyn Mode) {
    let email = mode.email("owner");
    let picture = landscape_jpeg(1024, 768, 1);
    let key = upload_photo(mode, picture.clone()).await;
    let body = merge(
        person(&email),
        json!({"kind": "image_opt_out", "consent": true, "upload_key": key}),
    );
    let (id, token) = submit_case(mode, &body).await;
    assert_eq!(mode.run_jobs().await, 1, "{}: one job", mode.name());
    assert_eq!(
        state_of(mode, &token).await,
        "awaiting_review",
        "{}",
        mode.name()
    );
    approve_as_alice(mode, &id).await;
    assert_eq!(
        entry_kinds(mode, &id).await,
        ["pdq", "sha256"],
        "{}: hashes only",
        mode.name()
    );

    let copy = resized_copy(&picture, 640);
    let other = landscape_jpeg(1024, 768, 9);
    let sha = hex::encode(Sha256::digest(&picture));
    let got = excluded(
        mode,
        json!([{"pdq": pdq_of(&copy)}, {"sha256": sha}, {"pdq": pdq_of(&other)}]),
    )
    .await;
    assert_eq!(got, [true, true, false], "{}", mode.name());

    let mails = mode.mails_to(&email).await;
    assert_eq!(mails.len(), 2, "{}: receipt + decision", mode.name());
    for m in &mails {
        assert!(
            m.html.contains("stops indexing on this service only"),
            "{}: {}",
            mode.name(),
            m.subject
        );
    }
}

/// A face opt-out whose photo shows no face is not a dead end: the status page offers a better
/// photo or to go on as an image opt-out of the same photo, which then goes to review.
pub async fn face_request_without_a_face_continues_as_image(mode: &dyn Mode) {
    let email = mode.email("noface");
    let case = submit_face(
        mode,
        &email,
        landscape_jpeg(800, 600, 2),
        "scenario-noface-1",
    )
    .await;
    let token = status_token(case["status_url"].as_str().expect("status url"));
    assert_eq!(mode.run_jobs().await, 1, "{}: one job", mode.name());
    let s = status(mode, &token).await;
    assert_eq!(s["state"], "needs_better_photo", "{}", mode.name());
    assert_eq!(s["can_continue_as_image"], true, "{}", mode.name());
    let page = mode
        .send(Req::get(&format!("/status/{token}?lang=th")))
        .await;
    assert!(
        page.text()
            .contains(&format!("/status/{token}/continue-as-image")),
        "{}: the page offers the way on",
        mode.name()
    );
    let r = mode
        .send(Req::post_form(
            &format!("/status/{token}/continue-as-image"),
            &[("lang", "th")],
        ))
        .await;
    assert_eq!(r.status, 200, "{}: {}", mode.name(), r.text());
    assert!(
        r.text().contains("ดำเนินการต่อเป็นคำขอหยุดจัดทำดัชนีรูปภาพ"),
        "{}",
        mode.name()
    );
    let s = status(mode, &token).await;
    assert_eq!(
        (s["kind"].as_str(), s["state"].as_str()),
        (Some("image_opt_out"), Some("received"))
    );
    assert_eq!(
        mode.run_jobs().await,
        1,
        "{}: the photo hashed again",
        mode.name()
    );
    assert_eq!(
        state_of(mode, &token).await,
        "awaiting_review",
        "{}",
        mode.name()
    );
    // Asking again is harmless; a case in review cannot.
    let again = mode
        .send(Req::post_json(
            &format!("/v1/status/{token}/continue-as-image"),
            &json!({}),
        ))
        .await;
    assert_eq!(again.status, 200, "{}: {}", mode.name(), again.text());
    let other = submit_face(
        mode,
        &mode.email("withface"),
        fixture("person_b_1.jpg"),
        "scenario-noface-2",
    )
    .await;
    let other_token = status_token(other["status_url"].as_str().expect("status url"));
    assert_eq!(mode.run_jobs().await, 1, "{}", mode.name());
    let refused = mode
        .send(Req::post_json(
            &format!("/v1/status/{other_token}/continue-as-image"),
            &json!({}),
        ))
        .await;
    assert_eq!(refused.status, 409, "{}: {}", mode.name(), refused.text());
}

/// A DSA notice whose links are fetched: the image behind the first is hashed, the second serves
/// a web page and is not (the reviewer sees both); once approved, the same picture at another
/// address, even resized, is excluded, and both links by their address.
pub async fn dsa_links_become_images(mode: &dyn Mode) {
    let picture = landscape_jpeg(640, 480, 5);
    let site = crate::serve::serve_files(vec![
        ("/pics/a.jpg", "image/jpeg", picture.clone()),
        ("/page.html", "text/html", b"<p>an article</p>".to_vec()),
    ])
    .await;
    let (image, page) = (format!("{site}/pics/a.jpg"), format!("{site}/page.html"));
    let email = mode.email("links");
    let body = merge(
        person(&email),
        json!({"kind": "dsa_notice", "good_faith": true, "source_urls": [image, page]}),
    );
    let (id, _) = submit_case(mode, &body).await;
    assert_eq!(mode.run_jobs().await, 1, "{}: one job", mode.name());
    let case = stored_case(mode, &id).await;
    assert_eq!(case.state.as_str(), "awaiting_review", "{}", mode.name());
    let sha = hex::encode(Sha256::digest(&picture));
    match case.link_checks.as_slice() {
        [
            optout_core::model::LinkCheck::Hashed { sha256, bytes, .. },
            optout_core::model::LinkCheck::Failed { why },
        ] => {
            assert_eq!(sha256.to_hex(), sha, "{}", mode.name());
            assert_eq!(*bytes, picture.len() as u64, "{}", mode.name());
            assert!(why.contains("not an image"), "{}: {why}", mode.name());
        }
        other => panic!("{}: link checks {other:?}", mode.name()),
    }

    let alice = login(mode, "alice").await;
    let html = case_page(mode, &alice, &id).await.text();
    assert!(
        html.contains("image fetched") && html.contains("image not fetched"),
        "{}: the reviewer sees what each link gave",
        mode.name()
    );
    approve_as_alice(mode, &id).await;
    assert_eq!(
        entry_kinds(mode, &id).await,
        ["pdq", "sha256", "url", "url"],
        "{}",
        mode.name()
    );
    let got = excluded(
        mode,
        json!([
            {"sha256": sha},
            {"pdq": pdq_of(&resized_copy(&picture, 320))},
            {"url": page},
            {"url": "https://elsewhere.example/another.jpg"},
        ]),
    )
    .await;
    assert_eq!(got, [true, true, true, false], "{}", mode.name());
}
