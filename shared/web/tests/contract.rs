//! The HTTP contract: every refusal of the JSON API comes in its documented JSON error shape
//! (the framework's own refusals included), the site's and the review desk's refusals are their
//! readable pages, messages name the field at fault and never a Rust type, and the served OpenAPI
//! document refuses what the server refuses.

mod common;

use axum::body::Body;
use common::{App, Reply};
use http::Method;
use optout_matcher::wire::MAX_CHANGES_LIMIT;
use serde_json::{Value, json};

const JSON: (&str, &str) = ("content-type", "application/json");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// The component `name` of the served document as a standalone JSON Schema.
fn schema(doc: &Value, name: &str) -> jsonschema::Validator {
    let s = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    jsonschema::draft202012::new(&s).unwrap()
}

/// Asserts a JSON error of `status` and `code` in the documented shape; returns its message.
fn assert_api_error(doc: &Value, r: &Reply, status: u16, code: &str, what: &str) -> String {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    assert!(
        r.content_type().starts_with("application/json"),
        "{what}: {} {}",
        r.content_type(),
        r.body
    );
    let v = r.json();
    assert_eq!(v["error"]["code"], code, "{what}: {v}");
    // The two error shapes agree on `code` and `message`; either documents the answer.
    let api = schema(doc, "ApiError").is_valid(&v);
    let indexer = schema(doc, "IndexerError").is_valid(&v);
    assert!(api || indexer, "{what}: {v} is not a documented error");
    let message = v["error"]["message"].as_str().unwrap().to_owned();
    assert_no_rust_types(&message);
    message
}

fn assert_no_rust_types(message: &str) {
    for word in [
        "struct ",
        "enum ",
        "CaseRequest",
        "PhotoRequest",
        "CaseKindSchema",
        "Candidate",
        "Raw",
        "f32",
        "u64",
        "u32",
        "Option",
        "Vec<",
        "String",
    ] {
        assert!(!message.contains(word), "{word:?} in {message:?}");
    }
}

fn dsa() -> Value {
    json!({
        "kind": "dsa_notice",
        "country": "TH",
        "first_name": "Somchai",
        "last_name": "Jaidee",
        "email": "somchai@example.org",
        "phone": "+66 81 234 5678",
        "reason": "These images show me without my consent.",
        "good_faith": true,
        "source_urls": ["https://images.example.com/a.jpg"],
    })
}

fn with(mut v: Value, k: &str, x: Value) -> Value {
    v[k] = x;
    v
}

async fn post_case(app: &App, body: &Value) -> Reply {
    app.send(
        Method::POST,
        "/v1/cases",
        &[JSON],
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

#[tokio::test]
async fn every_refusal_of_the_api_is_the_documented_json_error() {
    let app = App::new();
    let doc = app.openapi().await;
    let big = vec![b' '; 300 * 1024];

    // Bodies over the limit: the framework's own refusal, in the API's shape.
    let r = app
        .send(Method::POST, "/v1/cases", &[JSON], big.clone())
        .await;
    let m = assert_api_error(&doc, &r, 413, "payload_too_large", "large case");
    assert!(m.contains("262144"), "{m}");
    let r = app
        .send(Method::POST, "/v1/status/abc/photo", &[JSON], big.clone())
        .await;
    assert_api_error(&doc, &r, 413, "payload_too_large", "large photo request");

    // Malformed JSON, wrong shapes and types: 400 naming the field.
    let raw = |b: &'static str| app.send(Method::POST, "/v1/cases", &[JSON], b);
    let m = assert_api_error(
        &doc,
        &raw("{not json").await,
        400,
        "malformed_request",
        "bad",
    );
    assert!(m.starts_with("Malformed JSON"), "{m}");
    let m = assert_api_error(&doc, &raw("[]").await, 400, "malformed_request", "array");
    assert_eq!(m, "The body must be a JSON object.");
    let m = assert_api_error(&doc, &raw("").await, 400, "malformed_request", "empty");
    assert!(m.contains("empty"), "{m}");
    for (body, expected) in [
        (
            with(dsa(), "country", json!(5)),
            "country: invalid type: integer `5`, expected a string.",
        ),
        (
            with(dsa(), "source_urls", json!(["https://a.example/x", 7])),
            "source_urls[1]: invalid type: integer `7`, expected a string.",
        ),
        (
            with(dsa(), "good_faith", json!("yes")),
            "good_faith: invalid type: string \"yes\", expected a boolean.",
        ),
        (
            with(dsa(), "kind", json!("other")),
            "kind: unknown kind `other`, expected one of `face_opt_out`, `image_opt_out`, `dsa_notice`.",
        ),
        (
            with(dsa(), "kind", json!(3)),
            "kind: invalid type: integer `3`, expected a string.",
        ),
        (
            with(dsa(), "extra", json!(1)),
            "extra: unknown field `extra`, expected one of `kind`, `lang`, `country`, `first_name`, `last_name`, `email`, `phone`, `reason`, `consent`, `exclude_faces`, `good_faith`, `source_urls`, `upload_key`.",
        ),
    ] {
        let r = post_case(&app, &body).await;
        let m = assert_api_error(&doc, &r, 400, "malformed_request", expected);
        assert_eq!(m, expected);
    }
    let mut missing = dsa();
    missing.as_object_mut().unwrap().remove("country");
    let m = assert_api_error(
        &doc,
        &post_case(&app, &missing).await,
        400,
        "malformed_request",
        "missing",
    );
    assert_eq!(m, "missing field `country`.");
    let r = app
        .send(
            Method::POST,
            "/v1/status/abc/photo",
            &[JSON],
            r#"{"upload_key": 5}"#,
        )
        .await;
    let m = assert_api_error(&doc, &r, 400, "malformed_request", "photo type");
    assert!(m.starts_with("upload_key: "), "{m}");

    // The wrong content type, a bad header.
    let r = app
        .send(
            Method::POST,
            "/v1/cases",
            &[("content-type", "text/plain")],
            "{}",
        )
        .await;
    assert_api_error(&doc, &r, 415, "unsupported_media_type", "text/plain");
    let mut req = http::Request::builder()
        .method(Method::POST)
        .uri("/v1/cases")
        .header("content-type", "application/json");
    req.headers_mut().unwrap().insert(
        "idempotency-key",
        http::HeaderValue::from_bytes(b"key-\xff-12345").unwrap(),
    );
    let resp = tower::ServiceExt::oneshot(
        app.router.clone(),
        req.body(Body::from(dsa().to_string())).unwrap(),
    )
    .await
    .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(status, 422);
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["error"]["fields"][0]["field"], "idempotency_key", "{v}");
    assert!(schema(&doc, "ApiError").is_valid(&v));

    // The embedded mode's upload receiver, asked for JSON: multipart or nothing.
    let accept = ("accept", "application/json");
    for (content_type, status, code, what) in [
        (
            "text/plain",
            415,
            "unsupported_media_type",
            "upload not multipart",
        ),
        (
            "multipart/form-data",
            400,
            "malformed_request",
            "upload without boundary",
        ),
    ] {
        let headers = [accept, ("content-type", content_type)];
        let r = app.send(Method::POST, "/uploads", &headers, "x").await;
        assert_api_error(&doc, &r, status, code, what);
    }
    let r = app.get("/uploads", &[accept]).await;
    assert_api_error(&doc, &r, 405, "method_not_allowed", "GET /uploads");

    // Path parameters that are not text; unknown routes and methods under the API prefix.
    let r = app.get("/v1/status/%FF%FE", &[]).await;
    assert_api_error(&doc, &r, 400, "malformed_request", "bad token path");
    let r = app
        .send(
            Method::POST,
            "/v1/status/%C3%28/withdraw",
            &[],
            Body::empty(),
        )
        .await;
    assert_api_error(&doc, &r, 400, "malformed_request", "bad withdraw path");
    for path in [
        "/v1/nope",
        "/v1",
        "/v1/",
        "/v1/status",
        "/v1/exclusions/nope",
    ] {
        let r = app.get(path, &[]).await;
        assert_api_error(&doc, &r, 404, "not_found", path);
    }
    for (method, path, allow) in [
        (Method::GET, "/v1/cases", "POST"),
        (Method::DELETE, "/v1/cases", "POST"),
        (Method::PUT, "/v1/status/abc", "GET"),
        (Method::POST, "/v1/exclusions/changes", "GET"),
        (Method::GET, "/v1/exclusions/check", "POST"),
        (Method::POST, "/openapi.json", "GET"),
    ] {
        let r = app.send(method.clone(), path, &[], Body::empty()).await;
        assert_api_error(&doc, &r, 405, "method_not_allowed", path);
        let allowed = r.headers["allow"].to_str().unwrap();
        assert!(allowed.contains(allow), "{method} {path}: Allow {allowed}");
    }

    // The indexer API's refusals (its own error shape).
    let key = app.indexer_key().await;
    let bearer = format!("Bearer {key}");
    let auth = ("authorization", bearer.as_str());
    for q in ["limit=0", "limit=10001", "after=-1", "limit=abc", "x=1"] {
        let r = app
            .get(&format!("/v1/exclusions/changes?{q}"), &[auth])
            .await;
        assert_api_error(&doc, &r, 400, "invalid_query", q);
    }
    let headers = [auth, JSON];
    let check = |body: String| app.send(Method::POST, "/v1/exclusions/check", &headers, body);
    let r =
        check(r#"{"candidates": [{"url": "https://a.example/x"}, {"face": [0.1, "x"]}]}"#.into())
            .await;
    let m = assert_api_error(&doc, &r, 400, "invalid_candidate", "face text");
    assert_eq!(m, "candidates[1].face[1]: expected a number");
    assert_eq!(r.json()["error"]["index"], 1);
    let r = check(r#"{"candidates": [{"pdq": 5}]}"#.into()).await;
    let m = assert_api_error(&doc, &r, 400, "invalid_candidate", "pdq number");
    assert_eq!(m, "candidates[0].pdq: expected a string");
    let r = check("[1]".into()).await;
    assert_api_error(&doc, &r, 400, "malformed_request", "check array");
    let r = app
        .get(
            "/v1/exclusions/snapshot",
            &[("authorization", "Basic dXNlcjpwdw==")],
        )
        .await;
    assert_api_error(&doc, &r, 401, "unauthorized", "not a bearer key");
    let r = check(format!(
        "{{\"candidates\": [{}]}}",
        " ".repeat(4 * 1024 * 1024)
    ))
    .await;
    assert_api_error(&doc, &r, 413, "payload_too_large", "check too large");
}

#[tokio::test]
async fn the_sites_and_the_desks_refusals_are_their_readable_pages() {
    let app = App::new();
    let html = |r: &Reply, status: u16, what: &str| {
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert!(
            r.content_type().starts_with("text/html"),
            "{what}: {}",
            r.content_type()
        );
        assert!(r.body.contains("<html"), "{what}: {}", r.body);
    };
    let big = format!("reason={}", "x".repeat(300 * 1024));

    let r = app.send(Method::POST, "/dsa", &[FORM], big.clone()).await;
    html(&r, 413, "large form");
    assert!(r.body.contains("256 KiB"), "{}", r.body);
    let r = app
        .send(Method::POST, "/dsa?lang=th", &[FORM], big.clone())
        .await;
    html(&r, 413, "large form in Thai");
    assert!(r.body.contains("แบบฟอร์มมีขนาดใหญ่เกินไป"), "{}", r.body);
    let r = app
        .send(Method::POST, "/status/abc/complaint", &[FORM], big.clone())
        .await;
    html(&r, 413, "large complaint");
    let r = app.send(Method::POST, "/dsa", &[JSON], "{}").await;
    html(&r, 415, "JSON to a form");
    assert!(
        r.body.contains("not sent in a format this page accepts"),
        "{}",
        r.body
    );
    let r = app.get("/status/%FF", &[]).await;
    html(&r, 400, "bad status path");
    let r = app.get("/nowhere", &[]).await;
    html(&r, 404, "unknown page");
    let r = app.send(Method::DELETE, "/dsa", &[], Body::empty()).await;
    html(&r, 405, "DELETE on a form");
    assert!(r.headers["allow"].to_str().unwrap().contains("POST"));

    // The review desk: its own pages, never cached nor indexed.
    let desk = |r: &Reply, status: u16, what: &str| {
        html(r, status, what);
        assert!(r.body.contains("review desk"), "{what}: {}", r.body);
        assert_eq!(r.headers["x-robots-tag"], "noindex, nofollow");
    };
    let r = app
        .send(
            Method::POST,
            "/admin/cases/01JCASE0000000000000000000/decide",
            &[FORM],
            big,
        )
        .await;
    desk(&r, 413, "large decision");
    let r = app.get("/admin/cases/%FF", &[]).await;
    desk(&r, 400, "bad case path");
    let r = app.send(Method::PUT, "/admin", &[], Body::empty()).await;
    desk(&r, 405, "PUT on the queue");
    let r = app.get("/admin/nowhere", &[]).await;
    desk(&r, 404, "unknown desk page");
}

#[tokio::test]
async fn the_document_states_the_servers_bounds() {
    let app = App::new();
    let doc = app.openapi().await;
    let changes = &doc["paths"]["/v1/exclusions/changes"]["get"]["parameters"];
    let param = |name: &str| {
        changes
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["schema"]
            .clone()
    };
    assert_eq!(param("limit")["minimum"], 1);
    assert_eq!(param("limit")["maximum"], MAX_CHANGES_LIMIT);
    assert_eq!(param("after")["minimum"], 0);
    let face = &doc["components"]["schemas"]["FaceCandidate"]["properties"]["face"];
    assert_eq!(face["minItems"], 128);
    assert_eq!(face["maxItems"], 128);
    let key = &doc["paths"]["/v1/cases"]["post"]["parameters"][0];
    assert_eq!(key["name"], "Idempotency-Key");
    assert_eq!(key["required"], false);
    assert_eq!(key["schema"]["type"], "string");
    let cr = &doc["components"]["schemas"]["CaseRequest"];
    assert!(cr["properties"]["country"]["pattern"].is_string());
    for required in [
        "kind",
        "country",
        "first_name",
        "last_name",
        "email",
        "reason",
        "phone",
    ] {
        assert!(
            cr["required"]
                .as_array()
                .unwrap()
                .contains(&json!(required)),
            "{required}"
        );
    }

    // Every documented 4xx of every operation is one of the two JSON error schemas.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            for (status, resp) in op["responses"].as_object().unwrap() {
                if !status.starts_with('4') {
                    continue;
                }
                let r = resp["content"]["application/json"]["schema"]["$ref"]
                    .as_str()
                    .unwrap_or_default();
                assert!(
                    r.ends_with("/ApiError") || r.ends_with("/IndexerError"),
                    "{method} {path} {status}: {resp}"
                );
            }
        }
    }
}

/// What the document says of a request body and what the server does with it agree: each of
/// these is refused by both or accepted by both.
#[tokio::test]
async fn the_document_refuses_what_the_server_refuses() {
    let app = App::new();
    let doc = app.openapi().await;
    let case_request = schema(&doc, "CaseRequest");
    let long = |n: usize| "x".repeat(n);
    let links = |n: usize| {
        let urls: Vec<String> = (0..n)
            .map(|i| format!("https://a.example/{i}.jpg"))
            .collect();
        json!(urls)
    };
    let mut cases = vec![dsa()];
    // A valid notice with one field changed to each of these texts, then to other values.
    #[rustfmt::skip]
    let texts: &[(&str, &[&str])] = &[
        ("country", &["", "ZZ", "th", " TH ", "THA"]),
        ("first_name", &["", "   ", "Ann\u{7}", "A\u{202E}nn", "สมชาย"]),
        ("last_name", &["Jai\ndee"]),
        ("email", &["", "somchai@example", "somchai@example.123", "som chai@example.org"]),
        ("email", &[".somchai@example.org", "som..chai@example.org", "สมชาย@example.org"]),
        ("email", &["somchai@ตัวอย่าง.ไทย", " Somchai+x@Example.ORG ", "a@b@example.org"]),
        ("phone", &["", "0812345678", "+66 (81) 234-5678", "0066812345678", "+0812345678"]),
        ("phone", &["081-234-5678", " 02 123 4567 ", "+44 7400 123456", "+1 (201) 555-0123"]),
        ("phone", &["+12", "081 ABC 5678", "66+812345678", "++66812345678", "tel:+66812345678"]),
        ("phone", &["+66 81 234 5678 x", "+66 81 234 5678 . . . . . . . . .", "08\n12345678"]),
        ("reason", &["too short", "Line one\r\nline two", "Line one\rline two"]),
        ("reason", &["Tab\there is bad"]),
        ("lang", &["th", "EN", "fr"]),
        ("upload_key", &["uploads/AAAAAAAAAAAAAAAAAAAAAA"]),
    ];
    let mut variants: Vec<(&str, Value)> = texts
        .iter()
        .flat_map(|(k, vs)| vs.iter().map(|v| (*k, json!(v))))
        .collect();
    variants.extend([
        ("first_name", json!(long(100))),
        ("first_name", json!(format!("  {}  ", long(100)))),
        ("first_name", json!(long(101))),
        ("email", json!(format!("{}@example.org", long(65)))),
        ("phone", json!(null)),
        // `PHONE_INPUT_MAX` characters once trimmed, and one more.
        ("phone", json!(format!(" {}081 234 5678 ", "(".repeat(20)))),
        ("phone", json!(format!("{}081 234 5678", "(".repeat(21)))),
        ("reason", json!(long(10))),
        ("reason", json!(format!("  {}  ", long(10)))),
        ("reason", json!(long(5000))),
        ("reason", json!(long(5001))),
        ("lang", json!(null)),
        ("good_faith", json!(false)),
        ("consent", json!(true)),
        ("source_urls", json!([])),
        ("source_urls", json!([""])),
        ("source_urls", json!(["", "https://a.example/x.jpg", " "])),
        ("source_urls", json!(["ftp://a.example/x.jpg"])),
        ("source_urls", json!(["javascript:alert(1)"])),
        ("source_urls", json!(["https://user@a.example/x.jpg"])),
        ("source_urls", json!(["https://a.example/x y.jpg"])),
        ("source_urls", links(20)),
        ("source_urls", links(21)),
        ("upload_key", json!(null)),
    ]);
    for (k, v) in variants {
        cases.push(with(dsa(), k, v));
    }
    let mut no_phone = dsa();
    no_phone.as_object_mut().unwrap().remove("phone");
    cases.push(no_phone);
    let mut no_good_faith = dsa();
    no_good_faith.as_object_mut().unwrap().remove("good_faith");
    cases.push(no_good_faith);
    // A face opt-out without its consent or its upload is refused by both.
    let face = with(
        with(dsa(), "kind", json!("face_opt_out")),
        "good_faith",
        json!(false),
    );
    cases.push(with(face.clone(), "consent", json!(true)));
    cases.push(with(
        face,
        "upload_key",
        json!("uploads/AAAAAAAAAAAAAAAAAAAAAA"),
    ));

    let mut disagreements = Vec::new();
    let mut accepted = 0;
    for body in &cases {
        let r = post_case(&app, body).await;
        let served = r.status.is_success();
        accepted += usize::from(served);
        assert!(
            r.status.is_success() || r.status.is_client_error(),
            "{body}: {}",
            r.body
        );
        let documented = case_request.is_valid(body);
        if served != documented {
            disagreements.push(format!(
                "{body}: server {} / document {}",
                r.status,
                if documented { "valid" } else { "invalid" }
            ));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    // What only the server can tell: whether a number written as one is in its country's plan.
    let impossible = with(dsa(), "phone", json!("+1234567"));
    assert!(case_request.is_valid(&impossible));
    let r = post_case(&app, &impossible).await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.json()["error"]["fields"][0]["code"],
        "invalid_phone_for_country"
    );
    // Both answers occur: the comparison means something.
    assert!(
        accepted >= 15 && cases.len() - accepted >= 30,
        "{accepted} of {}",
        cases.len()
    );
}

/// A urlencoded form body.
fn form_body(fields: &[(&str, &str)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        ser.append_pair(k, v);
    }
    ser.finish()
}

/// Issue #14: a phone number as people type it. The API and the form read a national number in
/// the country of residence and keep it in E.164; an impossible one is refused with a message,
/// in the request's language, that names the country the number was read in.
#[tokio::test]
async fn phone_numbers_are_read_as_people_type_them() {
    let app = App::new();
    let doc = app.openapi().await;
    let r = post_case(&app, &with(dsa(), "phone", json!("081 234 5678"))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = optout_core::model::CaseId::parse(r.json()["id"].as_str().unwrap()).unwrap();
    let case = app.desk.ports.cases.get_case(id).await.unwrap().unwrap();
    let phone = case.personal.unwrap().phone.unwrap();
    assert_eq!(phone.as_str(), "+66812345678");

    for (lang, country, phone, said) in [
        (
            "en",
            "TH",
            "081 234 567",
            "This is not a valid phone number for Thailand.",
        ),
        (
            "en",
            "TH",
            "07400 123456",
            "This is not a valid phone number for Thailand.",
        ),
        (
            "en",
            "GB",
            "07400 12345",
            "This is not a valid phone number for United Kingdom.",
        ),
        (
            "en",
            "TH",
            "+44 7400 12345",
            "This is not a valid phone number for United Kingdom.",
        ),
        ("th", "TH", "081 234 567", "ไม่ใช่หมายเลขโทรศัพท์ที่ถูกต้องของไทย"),
    ] {
        let body = with(
            with(with(dsa(), "lang", json!(lang)), "country", json!(country)),
            "phone",
            json!(phone),
        );
        let r = post_case(&app, &body).await;
        assert_api_error(&doc, &r, 422, "validation_failed", phone);
        let fields = &r.json()["error"]["fields"];
        assert_eq!(fields.as_array().unwrap().len(), 1, "{fields}");
        assert_eq!(fields[0]["field"], "phone");
        assert_eq!(fields[0]["code"], "invalid_phone_for_country", "{phone}");
        let message = fields[0]["message"].as_str().unwrap();
        assert!(message.contains(said), "{phone}: {message}");
        assert!(message.contains("+66 81 234 5678"), "{message}");
    }
    let r = post_case(&app, &with(dsa(), "phone", json!("081 ABC 5678"))).await;
    assert_api_error(&doc, &r, 422, "validation_failed", "letters");
    let f = &r.json()["error"]["fields"][0];
    assert_eq!(
        (&f["field"], &f["code"]),
        (&json!("phone"), &json!("invalid_phone"))
    );
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .starts_with("This is not a phone number.")
    );

    // The form: the same reading, and the message on the field, the number as typed kept.
    let fields = |lang: &'static str, phone: &'static str, token: &'static str| {
        form_body(&[
            ("lang", lang),
            ("form_token", token),
            ("country", "TH"),
            ("first_name", "Somchai"),
            ("last_name", "Jaidee"),
            ("email", "somchai@example.org"),
            ("phone", phone),
            ("source_urls", "https://images.example.com/b.jpg"),
            ("reason", "These images show me without my consent."),
            ("good_faith", "yes"),
        ])
    };
    let r = app
        .send(
            Method::POST,
            "/dsa",
            &[FORM],
            fields("en", "081-234-5678", "form-phone-1"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Request received"), "{}", r.body);
    for (lang, said) in [
        ("en", "This is not a valid phone number for Thailand."),
        ("th", "ไม่ใช่หมายเลขโทรศัพท์ที่ถูกต้องของไทย"),
    ] {
        let r = app
            .send(
                Method::POST,
                "/dsa",
                &[FORM],
                fields(lang, "081 234 567", "form-phone-2"),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("id=\"phone-error\""), "{}", r.body);
        assert!(r.body.contains(said), "{lang}: {}", r.body);
        assert!(r.body.contains("value=\"081 234 567\""), "{}", r.body);
    }
    // The form's hint says both ways of writing a number.
    let page = app.get("/dsa?lang=en", &[]).await;
    assert!(page.body.contains("081 234 5678") && page.body.contains("+66 81 234 5678"));
}

/// Analyses nothing: a notice has no photo.
struct NoPhotos;

impl optout_core::ports::PhotoAnalyzer for NoPhotos {
    fn analyze(
        &self,
        _: &[u8],
    ) -> Result<optout_core::ports::PhotoFindings, optout_core::ports::AnalyzerError> {
        unreachable!("a notice has no photo")
    }
}

/// A DSA notice through the API, moved to review by its job; its id and status token.
async fn notice_in_review(app: &App, url: &str) -> (optout_core::model::CaseId, String) {
    use optout_core::ports::JobHandler;
    let r = post_case(app, &with(dsa(), "source_urls", json!([url]))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let v = r.json();
    let id = optout_core::model::CaseId::parse(v["id"].as_str().unwrap()).unwrap();
    let token = v["status_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let jobs = optout_core::EmbedJobs {
        desk: app.desk.clone(),
        analyzer: std::sync::Arc::new(NoPhotos),
        fetcher: std::sync::Arc::new(optout_core::testing::FakeLinkFetcher::default()),
    };
    let job = optout_core::model::EmbedJob {
        case_id: id,
        generation: 0,
    };
    jobs.handle(&job).await.unwrap();
    (id, token)
}

/// Decides case `id` as `reviewer` (the version as it is now).
async fn decide(app: &App, id: optout_core::model::CaseId, reviewer: &str, approve: bool) {
    let case = app.desk.ports.cases.get_case(id).await.unwrap().unwrap();
    let input = if approve {
        optout_core::DecisionInput::Approve { note: None }
    } else {
        optout_core::DecisionInput::Reject {
            reason: optout_core::model::RejectReason::NotIllegal,
            note: None,
        }
    };
    let reviewer = optout_core::model::ReviewerName::parse(reviewer).unwrap();
    app.desk
        .decide(id, &reviewer, case.version, input)
        .await
        .unwrap();
}

/// Issue #14: one complaint per decision. The API refuses a second complaint (and one without a
/// decision, or too late) with 409 and a code saying why; the form with a readable 409 page; the
/// status page stops offering the form and names the routes that remain.
#[tokio::test]
async fn one_complaint_per_decision() {
    let app = &App::new();
    let doc = app.openapi().await;
    let complaint_request = schema(&doc, "ComplaintRequest");
    let complain = |token: &str, text: &str| {
        let body = json!({ "complaint": text });
        assert_eq!(
            complaint_request.is_valid(&body),
            text.trim().chars().count() >= 10
        );
        let path = format!("/v1/status/{token}/complaint");
        async move {
            app.send(Method::POST, &path, &[JSON], body.to_string())
                .await
        }
    };
    let complain_form = |token: &str, lang: &str| {
        let path = format!("/status/{token}/complaint");
        let body = form_body(&[
            ("lang", lang),
            ("complaint", "This decision is wrong, look again."),
        ]);
        async move { app.send(Method::POST, &path, &[FORM], body).await }
    };
    let status_page = |token: &str, lang: &str| {
        let path = format!("/status/{token}?lang={lang}");
        async move { app.get(&path, &[]).await }
    };
    let en = optout_core::i18n::texts(optout_core::Lang::En);
    let th = optout_core::i18n::texts(optout_core::Lang::Th);
    let text = "This decision is wrong, look again.";

    let (id, token) = notice_in_review(app, "https://images.example.com/1.jpg").await;
    // Nothing decided yet.
    let m = assert_api_error(
        &doc,
        &complain(&token, text).await,
        409,
        "no_decision",
        "in review",
    );
    assert_eq!(m, en.complaint_no_decision);
    decide(app, id, "alice", true).await;
    let page = status_page(&token, "en").await;
    assert!(page.body.contains("id=\"complaint-link\""), "{}", page.body);
    assert!(!page.body.contains("complaint-closed"));

    // The first complaint: a text of 10 characters or more.
    let r = complain(&token, "short").await;
    assert_api_error(&doc, &r, 422, "validation_failed", "short complaint");
    assert_eq!(r.json()["error"]["fields"][0]["field"], "complaint");
    let r = complain(&token, text).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["state"], "awaiting_review");

    // A second one while the first waits.
    let m = assert_api_error(
        &doc,
        &complain(&token, text).await,
        409,
        "complaint_pending",
        "pending",
    );
    assert_eq!(m, en.complaint_open);
    let r = complain_form(&token, "en").await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains(en.complaint_open), "{}", r.body);
    let page = status_page(&token, "en").await;
    assert!(page.body.contains("id=\"complaint-open\""), "{}", page.body);

    // Decided by another reviewer: no form any more, the routes that remain instead.
    decide(app, id, "bob", false).await;
    let m = assert_api_error(
        &doc,
        &complain(&token, text).await,
        409,
        "complaint_decided",
        "decided",
    );
    assert_eq!(m, en.complaint_decided);
    assert!(m.contains("Article 21 of the Digital Services Act") && m.contains("courts"));
    assert!(m.contains("data protection authority"));
    for (lang, t) in [("en", en), ("th", th)] {
        let page = status_page(&token, lang).await;
        assert_eq!(page.status, 200);
        assert!(
            !page.body.contains("complaint-link"),
            "{lang}: {}",
            page.body
        );
        assert!(
            page.body.contains("data-reason=\"complaint_decided\""),
            "{lang}"
        );
        assert!(
            page.body.contains(t.complaint_decided),
            "{lang}: {}",
            page.body
        );
        // The statement of reasons, in the case's language.
        assert!(
            page.body.contains(en.redress_after_complaint),
            "{lang}: {}",
            page.body
        );
        let r = complain_form(&token, lang).await;
        assert_eq!(r.status, 409, "{lang}: {}", r.body);
        assert!(r.content_type().starts_with("text/html"));
        assert!(r.body.contains(t.complaint_decided), "{lang}: {}", r.body);
        let r = app
            .get(&format!("/status/{token}/complaint?lang={lang}"), &[])
            .await;
        assert_eq!(r.status, 409, "{lang}: {}", r.body);
        assert!(r.body.contains(t.complaint_decided), "{lang}: {}", r.body);
    }
    assert!(th.complaint_decided.contains("มาตรา 21"));

    // Too late: the window after the decision ended.
    let (late, late_token) = notice_in_review(app, "https://images.example.com/2.jpg").await;
    decide(app, late, "alice", false).await;
    app.clock
        .advance(app.desk.settings.complaint_window + chrono::Duration::seconds(1));
    let m = assert_api_error(
        &doc,
        &complain(&late_token, text).await,
        409,
        "complaint_window_ended",
        "late",
    );
    assert_eq!(m, en.complaint_window_ended);
    let page = status_page(&late_token, "en").await;
    assert!(!page.body.contains("complaint-link"));
    assert!(
        page.body.contains(en.complaint_window_ended),
        "{}",
        page.body
    );
    let r = complain_form(&late_token, "th").await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains(th.complaint_window_ended), "{}", r.body);

    // An unknown link, a body that is not a complaint.
    assert_api_error(
        &doc,
        &complain("forged", text).await,
        404,
        "invalid_link",
        "forged",
    );
    let r = app
        .send(
            Method::POST,
            &format!("/v1/status/{token}/complaint"),
            &[JSON],
            r#"{"text": "x"}"#,
        )
        .await;
    let m = assert_api_error(&doc, &r, 400, "malformed_request", "unknown field");
    assert!(m.starts_with("text: unknown field `text`"), "{m}");
}
