//! Public intake end to end over HTTP in the embedded mode: forms, JSON API, receipt emails,
//! status page and withdrawal, every bad-input rule, atomicity and restart durability.

use crate::common::*;
use serde_json::{Value, json};
use std::sync::Arc;

/// The case reference a success page shows.
fn reference(page: &str) -> String {
    let after = page.split("id=\"reference\">").nth(1).unwrap();
    after.split('<').next().unwrap().to_owned()
}

fn face_form(hidden: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = hidden.to_vec();
    for (k, v) in person() {
        if !extra.iter().any(|(ek, _)| *ek == k) {
            f.push((k.into(), v.into()));
        }
    }
    for (k, v) in extra {
        f.push(((*k).into(), (*v).into()));
    }
    f
}

#[tokio::test]
async fn health_and_openapi() {
    let app = TestApp::start().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let doc = app.get_json("/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for p in [
        "/v1/uploads",
        "/v1/cases",
        "/v1/status/{token}",
        "/v1/status/{token}/withdraw",
    ] {
        assert!(
            doc["paths"][p].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
    let props = doc["components"]["schemas"]["CaseRequest"]["properties"]
        .as_object()
        .unwrap();
    for f in CASE_FIELDS {
        assert!(props.contains_key(*f), "CaseRequest.{f} undocumented");
    }
    assert_eq!(app.get("/no/such/page").await.status(), 404);
}

#[tokio::test]
async fn landing_in_english_and_thai_remembers_the_choice() {
    let app = TestApp::start().await;
    let c = app.client();
    let en = app.get_text("/").await;
    assert!(en.contains("Remove my face") && en.contains("Digital Services Act"));
    let r = app.get("/?lang=th").await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("lang=th"));
    assert!(r.text().await.unwrap().contains("ลบใบหน้าของฉัน"));
    let with_header = |path: &str, (name, value): (&'static str, &'static str)| {
        c.get(app.url(path)).header(name, value).send()
    };
    let again = with_header("/dsa", ("cookie", "lang=th")).await.unwrap();
    assert!(again.text().await.unwrap().contains("lang=\"th\""));
    let browser = with_header("/", ("accept-language", "th-TH,th;q=0.9"));
    let browser = browser.await.unwrap().text().await.unwrap();
    assert!(browser.contains("<html lang=\"th\""));
}

#[tokio::test]
async fn face_opt_out_through_the_html_form_then_status_and_withdrawal() {
    let app = TestApp::start().await;
    let hidden = upload_photo(&app, "en", jpeg(640, 480)).await;
    let key = hidden.iter().find(|(k, _)| k == "upload_key");
    let key = key.unwrap().1.clone();
    assert!(app.dir.join("photos").join(&key).exists());
    let form = face_form(&hidden, &[("consent", "yes")]);
    let r = app.post_form("/opt-out", &form).await;
    assert_eq!(r.status(), 200);
    let reference = reference(&r.text().await.unwrap());
    assert_eq!(reference.len(), 26);
    assert_eq!(app.count("cases"), 1);
    assert_eq!(app.count("jobs"), 1);
    // The receipt: text and HTML, the reference, what was received (no image), the status link.
    let outbox = app.outbox();
    assert_eq!(outbox.len(), 1);
    let eml = &outbox[0];
    assert!(eml.contains("To: somchai@example.org"));
    assert!(eml_subject(eml).contains(&reference));
    let text = eml_part(eml, "text/plain");
    let html = eml_part(eml, "text/html");
    for part in [&text, &html] {
        assert!(part.contains(&reference) && part.contains("Somchai") && part.contains("Thailand"));
        assert!(part.contains("A photo (not attached to this email)"));
        assert!(part.contains(&format!("{}/status/", app.url)));
    }
    assert!(!eml.contains("image/jpeg"), "no image in emails");
    let status_url = text
        .lines()
        .find(|l| l.starts_with(&format!("{}/status/", app.url)))
        .unwrap()
        .trim()
        .to_owned();
    let status = app.get(&status_url).await;
    assert_eq!(status.status(), 200);
    assert_eq!(status.headers()["cache-control"], "no-store");
    let status = status.text().await.unwrap();
    assert!(status.contains("data-state=\"received\"") && status.contains(&reference));
    // Withdrawal needs the confirmation box.
    let withdraw_url = format!("{status_url}/withdraw");
    let r = app.post_form(&withdraw_url, &[("lang", "en")]).await;
    assert_eq!(r.status(), 422);
    let confirmed = [("lang", "en"), ("confirm", "yes")];
    let r = app.post_form(&withdraw_url, &confirmed).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("data-state=\"withdrawn\""));
    assert!(
        !app.dir.join("photos").join(&key).exists(),
        "the photo of a withdrawn case is deleted"
    );
    let outbox = app.outbox();
    assert_eq!(outbox.len(), 2);
    assert!(eml_subject(&outbox[1]).contains("withdrawn"));
    // Twice is harmless.
    let r = app.post_form(&withdraw_url, &confirmed).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.outbox().len(), 2);
}

#[tokio::test]
async fn the_same_form_posted_twice_makes_one_case() {
    let app = TestApp::start().await;
    let hidden = upload_photo(&app, "en", jpeg(320, 240)).await;
    let form = face_form(&hidden, &[("consent", "yes")]);
    let post = |form: Vec<(String, String)>| {
        let app = &app;
        async move { app.post_form("/opt-out", &form).await.text().await.unwrap() }
    };
    let a = post(form.clone()).await;
    let b = post(form.clone()).await;
    assert_eq!(reference(&a), reference(&b));
    assert_eq!(app.count("cases"), 1);
    assert_eq!(app.outbox().len(), 1, "one receipt");
    // Another form token naming the same photo is still the same case.
    let mut other = form.clone();
    for (k, v) in other.iter_mut() {
        if k == "form_token" {
            *v = "another-token-123".into();
        }
    }
    let c3 = post(other).await;
    assert_eq!(reference(&c3), reference(&a));
    assert_eq!(app.count("cases"), 1);
}

fn dsa_json() -> Value {
    json!({
        "kind": "dsa_notice",
        "lang": "th",
        "country": "DE",
        "first_name": "Anna",
        "last_name": "Schmidt",
        "email": "anna@example.org",
        "phone": "+49 30 1234 5678",
        "reason": "These images are published without my consent and violate my right to my own image.",
        "good_faith": true,
        "source_urls": ["https://images.example.com/a.jpg", "http://EXAMPLE.org:80/b.png#frag"]
    })
}

#[tokio::test]
async fn dsa_notice_through_the_json_api_is_idempotent_and_thai() {
    let app = TestApp::start().await;
    let c = app.client();
    let post = |body: Value| {
        c.post(format!("{}/v1/cases", app.url))
            .header("idempotency-key", "retry-key-0001")
            .json(&body)
            .send()
    };
    let r = post(dsa_json()).await.unwrap();
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    assert_eq!(first["state"], "received");
    assert_eq!(first["lang"], "th");
    let r = post(dsa_json()).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let again: Value = r.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(app.count("cases"), 1);
    let outbox = app.outbox();
    assert_eq!(outbox.len(), 1);
    assert!(eml_subject(&outbox[0]).contains("เราได้รับคำขอของคุณแล้ว"));
    let text = eml_part(&outbox[0], "text/plain");
    assert!(
        text.contains("http://example.org/b.png"),
        "URLs are normalised: {text}"
    );
    assert!(text.contains("เยอรมนี"));
    // Status through the API.
    let token = status_token(&first);
    let s = app.get_json(&format!("/v1/status/{token}")).await;
    assert_eq!(s["id"], first["id"]);
    assert_eq!(s["can_withdraw"], true);
    let w = app.post(&format!("/v1/status/{token}/withdraw")).await;
    let w: Value = w.json().await.unwrap();
    assert_eq!(w["state"], "withdrawn");
    assert_eq!(w["can_withdraw"], false);
}

#[tokio::test]
async fn face_opt_out_through_the_json_api() {
    let app = TestApp::start().await;
    let case = submit_face(&app, jpeg(400, 300)).await;
    assert_eq!(case["kind"], "face_opt_out");
    assert_eq!(app.count("jobs"), 1);
}

/// Posts a JSON case and expects 422 naming `field` with `code`; nothing stored, nothing sent.
async fn expect_invalid(app: &TestApp, body: Value, field: &str, code: &str) {
    let r = app.post_json("/v1/cases", &body).await;
    assert_eq!(r.status(), 422, "{field}/{code}: {body}");
    let e: Value = r.json().await.unwrap();
    let fields = e["error"]["fields"].as_array().unwrap();
    assert!(
        fields
            .iter()
            .any(|f| f["field"] == field && f["code"] == code),
        "expected {field}/{code}, got {fields:?}"
    );
    assert!(
        fields
            .iter()
            .all(|f| !f["message"].as_str().unwrap().is_empty())
    );
    assert_eq!(app.count("cases"), 0);
    assert_eq!(app.count("jobs"), 0);
    assert!(app.outbox().is_empty());
}

fn with(mut v: Value, k: &str, x: Value) -> Value {
    v[k] = x;
    v
}

#[tokio::test]
async fn every_field_rule_is_enforced() {
    let app = TestApp::start().await;
    // A valid notice with one field changed: that field is refused with its code.
    let too_many: Vec<String> = (0..21)
        .map(|i| format!("https://a.example/{i}.jpg"))
        .collect();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("first_name", json!(""), "required"),
        ("last_name", json!("   "), "required"),
        ("email", json!(""), "required"),
        ("email", json!("not-an-email"), "invalid_email"),
        (
            "email",
            json!("a@b.com\r\nBcc: victim@example.org"),
            "invalid_email",
        ),
        ("phone", json!("0812 ABC 678"), "invalid_phone"),
        ("phone", json!("+66 81 234"), "invalid_phone_for_country"),
        ("phone", json!(""), "required"),
        ("country", json!("XX"), "invalid_country"),
        ("country", json!(""), "required"),
        ("first_name", json!("x".repeat(101)), "too_long"),
        (
            "first_name",
            json!("Anna\r\nBcc: victim@example.org"),
            "invalid_chars",
        ),
        ("last_name", json!("Schmidt\u{202E}"), "invalid_chars"),
        ("reason", json!("x".repeat(5001)), "too_long"),
        ("reason", json!("short"), "too_short"),
        ("good_faith", json!(false), "good_faith_required"),
        ("source_urls", json!([]), "required"),
        ("source_urls", json!(["javascript:alert(1)"]), "url_scheme"),
        ("source_urls", json!(["file:///etc/passwd"]), "url_scheme"),
        ("source_urls", json!(["https://"]), "invalid_url"),
        ("source_urls", json!(["not a url"]), "invalid_url"),
        (
            "source_urls",
            json!(["https://a.example/1.jpg", "https://a.example/1.jpg"]),
            "duplicate_url",
        ),
        ("source_urls", json!(too_many), "too_many_urls"),
        ("lang", json!("fr"), "invalid_value"),
    ];
    for (field, value, code) in cases {
        expect_invalid(&app, with(dsa_json(), field, value), field, code).await;
    }
    // Face opt-out: consent and a photo are required.
    let face = json!({"kind": "face_opt_out", "country": "TH", "first_name": "A", "last_name": "B",
        "email": "a@example.org", "phone": "+66812345678", "reason": "Please remove my face."});
    let key = |k: &str| with(face.clone(), "upload_key", json!(k));
    for (body, field, code) in [
        (face.clone(), "consent", "consent_required"),
        (face.clone(), "photo", "upload_missing"),
        (key("uploads/../../etc/passwd"), "photo", "upload_missing"),
        (
            key("uploads/AAAAAAAAAAAAAAAAAAAAAA"),
            "photo",
            "upload_missing",
        ),
    ] {
        expect_invalid(&app, body, field, code).await;
    }
    // Malformed requests.
    let r = app
        .post_raw("/v1/cases", "application/json", "{not json")
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        app.post_raw("/v1/cases", "text/plain", "{}").await.status(),
        415
    );
    let r = app
        .post_json("/v1/cases", &with(dsa_json(), "extra", json!(1)))
        .await;
    assert_eq!(r.status(), 400, "unknown fields are refused");
    let r = app.post_json("/v1/cases", &json!({"kind": "other"})).await;
    assert_eq!(r.status(), 400);
    let big = with(dsa_json(), "reason", json!("x".repeat(400_000)));
    assert_eq!(app.post_json("/v1/cases", &big).await.status(), 413);
    assert_eq!(app.count("cases"), 0);
    assert!(app.outbox().is_empty());
}

#[tokio::test]
async fn the_html_form_keeps_the_input_and_explains_each_error() {
    let app = TestApp::start().await;
    let mut form = hidden_inputs(&app.get_text("/dsa").await);
    form.extend(
        [
            ("country", "TH"),
            ("first_name", "<script>alert(1)</script>"),
            ("last_name", "Jaidee"),
            ("email", "bad@"),
            ("phone", "+66812345678"),
            ("reason", "These images show me without my consent."),
            (
                "source_urls",
                "https://a.example/1.jpg\njavascript:alert(1)",
            ),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let r = app.post_form("/dsa", &form).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"email-error\"") && html.contains("not a valid email address"));
    assert!(html.contains("id=\"source_urls-error\""));
    assert!(html.contains("id=\"good_faith-error\""));
    assert!(!html.contains("id=\"first_name-error\""));
    assert!(
        html.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""),
        "input kept and escaped"
    );
    assert!(!html.contains("<script>alert(1)"));
    assert!(html.contains("These images show me without my consent."));
    assert_eq!(app.count("cases"), 0);
    // Fixed, it goes through, and markup in a name is escaped in the pages and the email.
    for (k, v) in form.iter_mut() {
        match k.as_str() {
            "email" => *v = "somchai@example.org".into(),
            "source_urls" => *v = "https://a.example/1.jpg".into(),
            _ => {}
        }
    }
    form.push(("good_faith".into(), "yes".into()));
    assert_eq!(app.post_form("/dsa", &form).await.status(), 200);
    let eml = &app.outbox()[0];
    let html = eml_part(eml, "text/html");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"));
    // A form with a wrong content type gets a readable page.
    let r = app.post_raw("/dsa", "text/plain", "x").await;
    assert_eq!(r.status(), 415);
    let content_type = r.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"));
}

#[tokio::test]
async fn bad_photos_are_refused_with_a_precise_message() {
    let app = TestApp::start().await;
    let photo_page = || app.get_text("/opt-out");
    let mut truncated = jpeg(640, 480);
    truncated.truncate(truncated.len() / 2);
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            b"%PDF-1.4 definitely not an image".to_vec(),
            "application/pdf",
            "file type is not supported",
        ),
        (png(200, 200), "image/jpeg", "does not match its type"),
        (truncated, "image/jpeg", "damaged or incomplete"),
        (png_bomb(50_000, 50_000), "image/png", "too large"),
        (
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
            "image/gif",
            "file type is not supported",
        ),
    ];
    for (bytes, ct, message) in cases {
        let r = upload(&app, &photo_page().await, bytes, ct).await;
        assert_eq!(
            r.status(),
            303,
            "the store takes the bytes; the desk verifies them"
        );
        let r = app.get(r.headers()["location"].to_str().unwrap()).await;
        assert_eq!(r.status(), 422, "{message}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("id=\"photo-error\"") && html.contains(message),
            "{message}: {html}"
        );
    }
    assert_eq!(app.count("uploads"), 0, "refused uploads are deleted");
    // Over 10 MB: 413 without reading it all.
    let r = upload(
        &app,
        &photo_page().await,
        vec![0xFF; 10 * 1024 * 1024 + 1],
        "image/jpeg",
    )
    .await;
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("larger than 10 MB"));
    // A declared length over the limit is refused before any byte is read.
    let r = app
        .client()
        .post(app.url("/uploads"))
        .header("content-type", "multipart/form-data; boundary=x")
        .header("content-length", "50000000")
        .body(vec![0u8; 10])
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    // Forged or missing signed fields.
    let page = photo_page().await;
    let forged = page.replace(
        "name=\"key\" value=\"uploads/",
        "name=\"key\" value=\"uploads/X",
    );
    let r = upload(&app, &forged, jpeg(100, 100), "image/jpeg").await;
    assert_eq!(r.status(), 400);
    // Not multipart/form-data at all: the wrong media type.
    let r = app.client().post(app.url("/uploads")).body("x").send();
    assert_eq!(r.await.unwrap().status(), 415);
    assert_eq!(app.count("uploads"), 0);
    assert_eq!(app.count("cases"), 0);
    assert!(app.outbox().is_empty());
}

#[tokio::test]
async fn unknown_or_tampered_status_links_reveal_nothing() {
    let app = TestApp::start().await;
    let case = create_case(&app, &dsa_json()).await;
    let url = case["status_url"].as_str().unwrap().to_owned();
    let mut tampered = status_token(&case).into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for t in [tampered.as_str(), "nonsense", "k1.1.x.y", &"A".repeat(3000)] {
        let r = app.get(&format!("/status/{t}")).await;
        assert_eq!(r.status(), 404);
        assert!(r.text().await.unwrap().contains("This link is not valid"));
        assert_eq!(app.get(&format!("/v1/status/{t}")).await.status(), 404);
        let withdraw = format!("/status/{t}/withdraw");
        let r = app.post_form(&withdraw, &[("confirm", "yes")]).await;
        assert_eq!(r.status(), 404);
    }
    assert_eq!(app.get(&url).await.status(), 200);
}

#[tokio::test]
async fn phone_can_be_optional_by_configuration() {
    let mut args = desk_args();
    args.phone_required = Some("false".into());
    let app = TestApp::start_with(Setup {
        desk: args,
        ..Setup::default()
    })
    .await;
    let r = app
        .post_json("/v1/cases", &with(dsa_json(), "phone", json!("")))
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .post_json("/v1/cases", &with(dsa_json(), "phone", json!("12")))
        .await;
    assert_eq!(r.status(), 422, "a given phone must still be valid");
    app.stop().await;
}

#[tokio::test]
async fn data_survives_a_restart() {
    let app = TestApp::start().await;
    let case = create_case(&app, &dsa_json()).await;
    let dir = app.dir.clone();
    let tmp = app.stop().await;
    let app = TestApp::start_in(&dir, Setup::default()).await;
    let s = app
        .get_json(&format!("/v1/status/{}", status_token(&case)))
        .await;
    assert_eq!(s["id"], case["id"]);
    assert_eq!(app.count("jobs"), 1);
    app.stop().await;
    drop(tmp);
}

#[tokio::test]
async fn status_links_expire() {
    let clock = TestClock::new();
    let app = TestApp::start_with(Setup {
        clock: Arc::new(clock.clone()),
        ..Setup::default()
    })
    .await;
    let case = create_case(&app, &dsa_json()).await;
    let url = case["status_url"].as_str().unwrap().to_owned();
    clock.advance(chrono::Duration::days(399));
    assert_eq!(app.get(&url).await.status(), 200);
    clock.advance(chrono::Duration::days(2));
    let r = app.get(&url).await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("expired"));
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_matches_what_the_server_accepts_and_returns() {
    let app = TestApp::start().await;
    // Requests: what the server accepts matches the request schema, and what it refuses as
    // malformed does not.
    assert!(matches_schema(&app, "CaseRequest", &dsa_json()).await);
    assert!(!matches_schema(&app, "CaseRequest", &with(dsa_json(), "extra", json!(1))).await);
    assert!(!matches_schema(&app, "CaseRequest", &json!({"kind": "other"})).await);
    // Responses of every kind match their documented schemas.
    let r = app.post("/v1/uploads").await;
    assert_eq!(r.status(), 201);
    assert_schema(&app, "UploadResponse", &r.json().await.unwrap()).await;
    let case = create_case(&app, &dsa_json()).await;
    assert_schema(&app, "CaseResponse", &case).await;
    let token = status_token(&case);
    let s = app.get_json(&format!("/v1/status/{token}")).await;
    assert_schema(&app, "CaseResponse", &s).await;
    let errors: Vec<reqwest::Response> = vec![
        app.post_json("/v1/cases", &with(dsa_json(), "email", json!("x")))
            .await,
        app.post_raw("/v1/cases", "application/json", "{").await,
        app.client()
            .post(app.url("/v1/cases"))
            .body("x")
            .send()
            .await
            .unwrap(),
        app.get("/v1/status/nope").await,
    ];
    for r in errors {
        assert!(r.status().is_client_error());
        assert_schema(&app, "ApiError", &r.json().await.unwrap()).await;
    }
    let w = app.post(&format!("/v1/status/{token}/withdraw")).await;
    assert_schema(&app, "CaseResponse", &w.json().await.unwrap()).await;
    let key = json!({"upload_key": "uploads/x"});
    let r = app
        .post_json(&format!("/v1/status/{token}/photo"), &key)
        .await;
    assert_eq!(r.status(), 409);
    assert_schema(&app, "ApiError", &r.json().await.unwrap()).await;
}
