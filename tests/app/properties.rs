//! Property tests of the app's public inputs, driven in process (tower's `oneshot` on the router
//! `optout serve` runs, on its real SQLite store, photo files and outbox): JSON bodies of the API,
//! multipart bodies of the upload receiver, urlencoded forms, status tokens in paths, indexer
//! keys, language and admin cookies. Whatever arrives, the answer is never a 5xx; refusals of
//! the JSON API are its documented error document with a documented code; a refused request
//! stores and sends nothing; an accepted one can be read back and got exactly one receipt.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use optout::config::{DeskArgs, ServeArgs};
use optout::embedded::System;
use optout_core::model::{CaseId, ReviewerName};
use optout_core::ports::{Clock, SystemClock};
use optout_core::signing::admin;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::CASE_FIELDS;

/// The public URL the harness's desk believes it is served on.
pub const PUBLIC_URL: &str = "https://desk.example.org";

/// Top-level error codes the JSON API documents (`ApiError`, `IndexerError`), less
/// `unavailable` (a 5xx, which no input may cause).
const API_CODES: &[&str] = &[
    "validation_failed",
    "malformed_request",
    "unsupported_media_type",
    "payload_too_large",
    "invalid_link",
    "wrong_state",
    "not_found",
    "method_not_allowed",
    "upload_expired",
    "unauthorized",
    "rate_limited",
    "invalid_candidate",
    "too_many_candidates",
    "invalid_query",
    "beyond_head",
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// The embedded system of `optout serve` on a fresh data directory, and a runtime to call its
/// router in process.
pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub system: System,
    pub app: axum::Router,
    dir: tempfile::TempDir,
}

/// A response, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Result<Value, TestCaseError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            TestCaseError::fail(format!(
                "status {}: not JSON ({e}): {}",
                self.status,
                self.text().chars().take(300).collect::<String>()
            ))
        })
    }

    fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Harness {
    fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let args = ServeArgs {
            data: Some(dir.path().to_owned()),
            desk: DeskArgs {
                public_url: Some(PUBLIC_URL.into()),
                ..crate::common::desk_args()
            },
            ..Default::default()
        };
        let config = args
            .sources_with_env(false)
            .and_then(|s| s.resolve("127.0.0.1:9".parse().expect("address")))
            .expect("configuration");
        let system = {
            let _in_runtime = rt.enter();
            System::open(&config, clock).expect("embedded system")
        };
        let app = system.app();
        Harness {
            rt,
            system,
            app,
            dir,
        }
    }

    pub fn send(&self, req: Request<Body>) -> Answer {
        self.rt.block_on(async {
            let resp = self
                .app
                .clone()
                .oneshot(req)
                .await
                .unwrap_or_else(|e| match e {});
            let (parts, body) = resp.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .expect("response body")
                .to_vec();
            Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            }
        })
    }

    pub fn post(&self, path: &str, headers: &[(&str, HeaderValue)], body: Vec<u8>) -> Answer {
        let mut req = Request::post(path);
        for (k, v) in headers {
            req = req.header(*k, v.clone());
        }
        self.send(req.body(Body::from(body)).expect("request"))
    }

    pub fn get(&self, path: &str, headers: &[(&str, HeaderValue)]) -> Answer {
        let mut req = Request::get(path);
        for (k, v) in headers {
            req = req.header(*k, v.clone());
        }
        self.send(req.body(Body::empty()).expect("request"))
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.post(
            path,
            &[("content-type", HeaderValue::from_static("application/json"))],
            body.to_string().into_bytes(),
        )
    }

    /// Runs `test` on `cases` values of `strategy`; a failure panics with the smallest input found.
    fn check<S: Strategy>(&self, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
    where
        S::Value: std::fmt::Debug,
    {
        let mut runner = TestRunner::new(config());
        if let Err(e) = runner.run(&strategy, test) {
            panic!("{e}");
        }
    }

    /// Cases stored, and emails written, so far.
    pub fn written(&self) -> (i64, usize) {
        let db = crate::common::rusqlite_open(self.dir.path());
        let cases = db
            .query_row("SELECT COUNT(*) FROM cases", [], |r| r.get(0))
            .expect("count");
        let mails = std::fs::read_dir(self.system.outbox())
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .count()
            })
            .unwrap_or(0);
        (cases, mails)
    }

    /// Signs `reviewer` in through an admin link; returns the session cookie (`name=value`).
    pub fn login(&self, reviewer: &str) -> String {
        let desk = &self.system.desk;
        let name = ReviewerName::parse(reviewer).expect("reviewer name");
        let (link, _) = admin::link(
            &desk.keys,
            PUBLIC_URL,
            &name,
            chrono::Duration::hours(1),
            desk.ports.clock.now(),
        );
        let r = self.get(link.strip_prefix(PUBLIC_URL).unwrap_or(&link), &[]);
        assert_eq!(r.status, 303, "{}", r.text());
        r.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| {
                c.split(';')
                    .next()
                    .filter(|p| p.starts_with("optout_admin="))
            })
            .expect("a session cookie")
            .to_owned()
    }

    /// A direct-upload form (`POST /v1/uploads`).
    fn upload_form(&self) -> Value {
        let r = self.post("/v1/uploads", &[], Vec::new());
        assert_eq!(r.status, 201, "{}", r.text());
        serde_json::from_slice(&r.body).expect("upload form")
    }
}

/// Checks a response of the JSON API: not a 5xx, one of `statuses`, and a refusal in the
/// documented shape with a documented code.
fn api_answer(a: &Answer, statuses: &[u16]) -> Result<(), TestCaseError> {
    prop_assert!(a.status < 500, "server error {}: {}", a.status, a.text());
    prop_assert!(
        statuses.contains(&a.status),
        "undocumented status {}: {}",
        a.status,
        a.text()
    );
    if a.status >= 400 {
        prop_assert!(
            a.content_type().starts_with("application/json"),
            "{} answered as {:?}: {}",
            a.status,
            a.content_type(),
            a.text()
        );
        let doc = a.json()?;
        let code = doc["error"]["code"].as_str().unwrap_or("");
        prop_assert!(API_CODES.contains(&code), "undocumented code {:?}", code);
        prop_assert!(
            !doc["error"]["message"].as_str().unwrap_or("").is_empty(),
            "{}",
            doc
        );
        if code == "validation_failed" {
            let fields = doc["error"]["fields"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            prop_assert!(!fields.is_empty(), "{}", doc);
            for f in fields {
                for k in ["field", "code", "message"] {
                    prop_assert!(!f[k].as_str().unwrap_or("").is_empty(), "{}", doc);
                }
            }
        }
    }
    Ok(())
}

/// A header value from arbitrary visible text (what a client can put in a header).
fn header_value(s: &str) -> HeaderValue {
    let clean: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("x"))
}

fn tricky_string(max: usize) -> impl Strategy<Value = String> {
    let c = prop_oneof![
        3 => any::<char>(),
        3 => prop::sample::select(vec![
            '@', '.', ' ', '\r', '\n', '\0', '\u{202E}', '\u{FEFF}', '+', '/', ':', '%', '#', '?',
            '&', '=', ';', '"', '\\', '{', '}', '[', ']', ',', 'İ', 'ก', 'é',
        ]),
        2 => prop::char::range('a', 'z'),
        1 => prop::char::range('0', '9'),
    ];
    prop::collection::vec(c, 0..max).prop_map(|v| v.into_iter().collect())
}

/// Any JSON value, nested a little.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        tricky_string(40).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(tricky_string(8), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid DSA notice, with some of its fields replaced, removed or added.
fn case_document() -> impl Strategy<Value = Value> {
    let field = prop::sample::select(CASE_FIELDS);
    let value = prop_oneof![
        3 => tricky_string(60).prop_map(Value::String),
        1 => prop::collection::vec(tricky_string(60).prop_map(Value::String), 0..22).prop_map(Value::Array),
        1 => any_json(),
    ];
    let change = prop_oneof![
        3 => (field.clone(), value).prop_map(|(f, v)| (f.to_owned(), Some(v))),
        1 => field.prop_map(|f| (f.to_owned(), None)),
        1 => (tricky_string(10), any_json()).prop_map(|(f, v)| (f, Some(v))),
    ];
    prop::collection::vec(change, 0..4).prop_map(|changes| {
        let mut doc = json!({
            "kind": "dsa_notice",
            "lang": "en",
            "country": "TH",
            "first_name": "Somchai",
            "last_name": "Jaidee",
            "email": "somchai@example.org",
            "phone": "+66 81 234 5678",
            "reason": "These photos of me were published without my consent.",
            "good_faith": true,
            "source_urls": ["https://images.example.com/a.jpg"],
        });
        if let Some(obj) = doc.as_object_mut() {
            for (f, v) in changes {
                match v {
                    Some(v) => obj.insert(f, v),
                    None => obj.remove(&f),
                };
            }
        }
        doc
    })
}

/// The content types a client may send with a body.
fn content_type() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        4 => Just("application/json".to_owned()),
        1 => Just("application/json; charset=utf-8".to_owned()),
        1 => Just("APPLICATION/JSON".to_owned()),
        1 => Just("text/plain".to_owned()),
        1 => Just("application/x-www-form-urlencoded".to_owned()),
        1 => tricky_string(30),
    ])
}

/// Checks the answer to a submission: refused and nothing written, or created, readable through
/// its status link, with exactly one receipt.
fn submission(
    h: &Harness,
    a: &Answer,
    before: (i64, usize),
    statuses: &[u16],
) -> Result<(), TestCaseError> {
    api_answer(a, statuses)?;
    let after = h.written();
    match a.status {
        201 => {
            let doc = a.json()?;
            let id = doc["id"].as_str().unwrap_or("");
            prop_assert!(CaseId::parse(id).is_some(), "{}", doc);
            let url = doc["status_url"].as_str().unwrap_or("");
            let token = url
                .strip_prefix(&format!("{PUBLIC_URL}/status/"))
                .ok_or_else(|| TestCaseError::fail(format!("status URL {url}")))?;
            let status = h.get(&format!("/v1/status/{token}"), &[]);
            prop_assert_eq!(
                status.status,
                200,
                "the new case cannot be read: {}",
                status.text()
            );
            prop_assert_eq!(&status.json()?["id"], &doc["id"]);
            prop_assert_eq!(after, (before.0 + 1, before.1 + 1), "one case, one receipt");
        }
        200 => prop_assert_eq!(after, before, "a replay writes nothing"),
        _ => prop_assert_eq!(after, before, "a refused request wrote something"),
    }
    Ok(())
}

const CASE_STATUSES: &[u16] = &[200, 201, 400, 413, 415, 422];

#[test]
fn case_bodies_of_arbitrary_bytes_are_refused_cleanly() {
    let h = Harness::new();
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024),
        tricky_string(200).prop_map(String::into_bytes),
        any_json().prop_map(|v| v.to_string().into_bytes()),
    ];
    h.check((content_type(), body), |(ct, body)| {
        let headers: Vec<(&str, HeaderValue)> = ct
            .iter()
            .map(|c| ("content-type", header_value(c)))
            .collect();
        let before = h.written();
        let a = h.post("/v1/cases", &headers, body);
        submission(&h, &a, before, CASE_STATUSES)
    });
}

#[test]
fn case_documents_make_a_readable_case_or_name_the_fields() {
    let h = Harness::new();
    let key = prop::option::of(prop_oneof![
        "[!-~]{8,40}",
        tricky_string(20),
        "[!-~]{129,140}",
    ]);
    h.check((case_document(), key), |(doc, key)| {
        let mut headers = vec![("content-type", HeaderValue::from_static("application/json"))];
        if let Some(k) = &key {
            headers.push(("idempotency-key", header_value(k)));
        }
        let before = h.written();
        let a = h.post("/v1/cases", &headers, doc.to_string().into_bytes());
        submission(&h, &a, before, CASE_STATUSES)
    });
}

#[test]
fn status_tokens_of_anything_find_nothing() {
    let h = Harness::new();
    let token = prop_oneof![
        tricky_string(80),
        "k1\\.[0-9]{10}\\.[A-Za-z0-9_-]{34}\\.[A-Za-z0-9_-]{43}",
    ];
    let body = prop::collection::vec(any::<u8>(), 0..300);
    h.check((token, body, content_type()), |(token, body, ct)| {
        let seg: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        let seg = if seg.is_empty() { "x".to_owned() } else { seg };
        let a = h.get(&format!("/v1/status/{seg}"), &[]);
        api_answer(&a, &[400, 404])?;
        let headers: Vec<(&str, HeaderValue)> = ct
            .iter()
            .map(|c| ("content-type", header_value(c)))
            .collect();
        for path in [
            format!("/v1/status/{seg}/withdraw"),
            format!("/v1/status/{seg}/photo"),
        ] {
            let a = h.post(&path, &headers, body.clone());
            api_answer(&a, &[400, 404, 413, 415, 422])?;
        }
        for path in [format!("/status/{seg}"), format!("/status/{seg}/complaint")] {
            let a = h.get(&path, &[]);
            prop_assert!(matches!(a.status, 400 | 404), "{} {}", path, a.status);
            prop_assert!(a.content_type().starts_with("text/html"), "{}", path);
        }
        Ok(())
    });
}

#[test]
fn indexer_check_bodies_are_answered_or_refused_cleanly() {
    let h = Harness::new();
    let (_, key) =
        h.rt.block_on(h.system.indexer_keys.create("properties", 1_000_000))
            .expect("an indexer key");
    let candidate = prop_oneof![
        tricky_string(40).prop_map(|u| json!({"url": u})),
        "[0-9a-fA-Fg]{0,70}".prop_map(|s| json!({"sha256": s})),
        "[0-9a-f]{0,70}".prop_map(|s| json!({"pdq": s})),
        prop::collection::vec(-2.0f64..2.0, 0..130).prop_map(|v| json!({"face": v})),
        any_json(),
    ];
    let body = prop_oneof![
        prop::collection::vec(candidate, 0..6)
            .prop_map(|c| json!({ "candidates": c }).to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..300),
        any_json().prop_map(|v| v.to_string().into_bytes()),
    ];
    let auth = prop_oneof![
        3 => Just(None),
        1 => tricky_string(80).prop_map(Some),
        1 => "Bearer optk_[a-z0-9]{12}_[0-9a-f]{64}".prop_map(Some),
    ];
    h.check((body, content_type(), auth), |(body, ct, auth)| {
        let mut headers: Vec<(&str, HeaderValue)> = ct
            .iter()
            .map(|c| ("content-type", header_value(c)))
            .collect();
        // Without the key, or with any other: 401 whatever the body.
        if let Some(a) = &auth {
            headers.push(("authorization", header_value(a)));
        }
        let a = h.post("/v1/exclusions/check", &headers, body.clone());
        api_answer(&a, &[401])?;
        headers.retain(|(k, _)| *k != "authorization");
        headers.push(("authorization", header_value(&format!("Bearer {key}"))));
        let a = h.post("/v1/exclusions/check", &headers, body);
        api_answer(&a, &[200, 400, 413, 415])?;
        if a.status == 200 {
            prop_assert!(a.json()?["results"].is_array());
        }
        Ok(())
    });
}

/// One part of a multipart body: its name, its file name and type if it is a file, its bytes.
type Part = (String, Option<(String, String)>, Vec<u8>);

/// A multipart body of `parts` around `boundary`.
fn multipart(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, bytes) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some((file_name, ct)) => out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: {ct}\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[test]
fn upload_bodies_of_arbitrary_bytes_are_refused_cleanly() {
    let h = Harness::new();
    let part = (
        prop_oneof![
            Just("file".to_owned()),
            Just("key".to_owned()),
            Just("policy".to_owned()),
            "[a-z-]{1,10}"
        ],
        prop::option::of((
            "[a-z.]{0,10}",
            prop_oneof![Just("image/png".to_owned()), "[a-z/]{0,12}"],
        )),
        prop::collection::vec(any::<u8>(), 0..300),
    );
    let body = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024).prop_map(|b| (None, b)),
        prop::collection::vec(part, 0..5).prop_map(|parts| (Some(parts), Vec::new())),
    ];
    let ct = prop_oneof![
        3 => Just("multipart/form-data; boundary=XyZ".to_owned()),
        1 => Just("multipart/form-data".to_owned()),
        1 => tricky_string(40),
    ];
    h.check((body, ct, any::<bool>()), |((parts, raw), ct, json)| {
        let bytes = match parts {
            Some(p) => multipart("XyZ", &p),
            None => raw,
        };
        let mut headers = vec![("content-type", header_value(&ct))];
        if json {
            headers.push(("accept", HeaderValue::from_static("application/json")));
        }
        let before = h.written();
        let a = h.post("/uploads", &headers, bytes);
        prop_assert!(a.status < 500, "server error {}: {}", a.status, a.text());
        prop_assert!(
            matches!(a.status, 400 | 403 | 413 | 415),
            "{}: {}",
            a.status,
            a.text()
        );
        if json {
            api_answer(&a, &[400, 403, 413, 415])?;
        }
        prop_assert_eq!(h.written(), before);
        Ok(())
    });
}

/// A small real photo, maybe damaged.
fn photo_bytes() -> impl Strategy<Value = (Vec<u8>, String)> {
    let base = prop_oneof![
        Just((crate::common::jpeg(96, 96), "image/jpeg")),
        Just((crate::common::png(80, 80), "image/png")),
        Just((crate::common::png(20, 20), "image/png")),
    ];
    let damage = prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3);
    let declared = prop_oneof![
        3 => Just(None),
        1 => Just(Some("image/webp".to_owned())),
        1 => "[a-z/+]{0,16}".prop_map(Some),
    ];
    (
        base,
        damage,
        declared,
        prop::collection::vec(any::<u8>(), 0..200),
        0..6u8,
    )
        .prop_map(|((mut bytes, ct), damage, declared, junk, shape)| {
            match shape {
                0 => bytes = junk,
                1 => bytes.truncate(bytes.len() / 2),
                _ => {
                    for (at, b) in damage {
                        let i = at.index(bytes.len());
                        bytes[i] = b;
                    }
                }
            }
            (bytes, declared.unwrap_or_else(|| ct.to_owned()))
        })
}

/// The signed upload form, followed or tampered with, and any photo: a refused upload stores
/// nothing; a photo the form took either makes a face opt-out or is refused on the `photo` field.
#[test]
fn signed_upload_forms_take_any_photo_and_nothing_forged() {
    let h = Harness::new();
    let tamper = prop::option::of((any::<prop::sample::Index>(), any::<u8>()));
    h.check(
        (photo_bytes(), tamper, any::<bool>()),
        |((photo, ct), tamper, extra)| {
            let form = h.upload_form();
            let fields: BTreeMap<String, String> = form["fields"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let mut parts: Vec<Part> = fields
                .iter()
                .map(|(k, v)| (k.clone(), None, v.clone().into_bytes()))
                .collect();
            let mut tampered = false;
            if let Some((at, b)) = tamper {
                let i = at.index(parts.len());
                let value = &mut parts[i].2;
                if !value.is_empty() {
                    let j = at.index(value.len());
                    tampered = value[j] != b;
                    value[j] = b;
                }
            }
            if extra {
                parts.push(("note".into(), None, b"hello".to_vec()));
            }
            let file_field = form["file_field"].as_str().unwrap_or("file").to_owned();
            parts.push((file_field, Some(("photo".into(), ct)), photo));
            let url = form["url"].as_str().unwrap_or("");
            let path = url.strip_prefix(PUBLIC_URL).unwrap_or(url);
            let before = h.written();
            let a = h.post(
                path,
                &[(
                    "content-type",
                    HeaderValue::from_static("multipart/form-data; boundary=XyZ"),
                )],
                multipart("XyZ", &parts),
            );
            prop_assert!(a.status < 500, "server error {}: {}", a.status, a.text());
            prop_assert!(
                matches!(a.status, 204 | 303 | 400 | 403 | 413),
                "{}: {}",
                a.status,
                a.text()
            );
            if tampered {
                prop_assert!(
                    a.status >= 400,
                    "a tampered upload form was taken: {}",
                    a.status
                );
            }
            if a.status >= 400 {
                return Ok(());
            }
            let key = form["key"].as_str().unwrap_or("");
            let doc = json!({
                "kind": "face_opt_out", "lang": "en", "country": "TH", "first_name": "Somchai",
                "last_name": "Jaidee", "email": "somchai@example.org", "phone": "+66812345678",
                "reason": "I never agreed to photos of my face being searchable.",
                "consent": true, "upload_key": key,
            });
            let a = h.post_json("/v1/cases", &doc);
            submission(&h, &a, before, &[201, 422])?;
            if a.status == 422 {
                let doc = a.json()?;
                let fields = doc["error"]["fields"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                prop_assert!(
                    fields.iter().all(|f| f["field"] == "photo"),
                    "only the photo can be wrong: {}",
                    doc
                );
            }
            Ok(())
        },
    );
}

#[test]
fn html_forms_of_anything_get_a_page_never_a_failure() {
    let h = Harness::new();
    // The fields of the forms: a case's (its kind is the form's path) and the others.
    let fields = CASE_FIELDS.iter().filter(|f| **f != "kind");
    let fields = fields.chain(&["form_token", "complaint", "csrf"]);
    let name = prop::sample::select(fields.copied().collect::<Vec<_>>());
    let field = prop_oneof![
        4 => (name.prop_map(str::to_owned), tricky_string(60)),
        1 => (tricky_string(10), tricky_string(20)),
    ];
    let ct = prop_oneof![
        4 => Just("application/x-www-form-urlencoded".to_owned()),
        1 => Just("multipart/form-data; boundary=x".to_owned()),
        1 => tricky_string(20),
    ];
    let path = prop::sample::select(vec!["/opt-out", "/dsa", "/opt-out?lang=th", "/dsa?lang=zz"]);
    h.check(
        (path, prop::collection::vec(field, 0..14), ct),
        |(path, fields, ct)| {
            let body: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields.iter())
                .finish();
            let a = h.post(
                path,
                &[("content-type", header_value(&ct))],
                body.into_bytes(),
            );
            prop_assert!(
                a.status < 500,
                "{} server error {}: {}",
                path,
                a.status,
                a.text()
            );
            prop_assert!(
                matches!(a.status, 200 | 303 | 400 | 413 | 415 | 422),
                "{} answered {}",
                path,
                a.status
            );
            if a.status != 303 {
                prop_assert!(
                    a.content_type().starts_with("text/html"),
                    "{}",
                    a.content_type()
                );
            }
            Ok(())
        },
    );
}

/// One cookie of a `Cookie` header: a name (the app's, or another) and a value without `;`.
fn cookie_pair() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        3 => Just("lang".to_owned()),
        2 => Just("optout_admin".to_owned()),
        1 => Just("LANG".to_owned()),
        2 => "[a-z_]{1,10}",
    ];
    let value = prop_oneof![
        2 => prop::sample::select(vec!["th", "en", "TH", " th", "th ", "fr", "", "th=en"]).prop_map(str::to_owned),
        3 => "[!-:<-~ ]{0,30}",
    ];
    (name, value)
}

fn cookie_header(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The language a page must be in: `?lang=` if given and known, else the first `lang` cookie
/// whose value is a known language, else English (no `Accept-Language` is sent).
fn expected_lang(query: Option<&str>, pairs: &[(String, String)]) -> &'static str {
    let known = |v: &str| match v.trim().to_ascii_lowercase().as_str() {
        "en" => Some("en"),
        "th" => Some("th"),
        _ => None,
    };
    query
        .and_then(known)
        .or_else(|| {
            pairs
                .iter()
                .filter(|(k, _)| k == "lang")
                .find_map(|(_, v)| known(v))
        })
        .unwrap_or("en")
}

#[test]
fn language_cookies_choose_the_page_language() {
    let h = Harness::new();
    let query = prop::option::of(
        prop::sample::select(vec!["th", "en", "TH", "xx", ""]).prop_map(str::to_owned),
    );
    h.check(
        (prop::collection::vec(cookie_pair(), 0..6), query),
        |(pairs, query)| {
            let path = match &query {
                Some(q) => format!("/?lang={q}"),
                None => "/".to_owned(),
            };
            let a = h.get(&path, &[("cookie", header_value(&cookie_header(&pairs)))]);
            prop_assert_eq!(a.status, 200, "{}", a.text());
            let want = expected_lang(query.as_deref(), &pairs);
            prop_assert!(
                a.text().contains(&format!("<html lang=\"{want}\"")),
                "expected {} for {:?} {:?}",
                want,
                query,
                pairs
            );
            Ok(())
        },
    );
}

#[test]
fn admin_cookies_open_the_desk_only_with_a_valid_session() {
    let h = Harness::new();
    let session = h.login("alice");
    let session = session
        .strip_prefix("optout_admin=")
        .expect("the session cookie")
        .to_owned();
    h.check(
        (
            prop::collection::vec(cookie_pair(), 0..6),
            any::<prop::sample::Index>(),
        ),
        |(pairs, at)| {
            // Forged or foreign cookies alone: refused, never a failure.
            let a = h.get(
                "/admin",
                &[("cookie", header_value(&cookie_header(&pairs)))],
            );
            prop_assert_eq!(a.status, 403, "{}", a.text());
            // The reviewer's session anywhere among them, forged sessions before it included
            // (issue 17: a forged cookie placed first must not lock the reviewer out): in.
            let mut others = pairs;
            let i = at.index(others.len() + 1);
            others.insert(i, ("optout_admin".to_owned(), session.clone()));
            let a = h.get(
                "/admin",
                &[("cookie", header_value(&cookie_header(&others)))],
            );
            prop_assert_eq!(a.status, 200, "{:?}: {}", others, a.text());
            Ok(())
        },
    );
}

/// A case the API accepted must be readable through its status link. A link or an address whose
/// stored form is longer than its parser's bound (percent-encoding, lower-casing) is accepted,
/// then refused each time the case is read back.
#[test]
fn cases_with_long_non_ascii_values_can_be_read_back() {
    let h = Harness::new();
    let long_path = prop::collection::vec(prop::sample::select(vec!["é", "ก", "a"]), 600..1000)
        .prop_map(|v| format!("https://images.example.com/{}", v.concat()));
    let label = prop::collection::vec(prop::sample::select(vec!['İ', 'İ', 'a']), 15..=21)
        .prop_map(|v| v.into_iter().collect::<String>());
    let long_domain =
        prop::collection::vec(label, 4..=6).prop_map(|l| format!("somchai@{}.com", l.join(".")));
    let field = prop_oneof![
        long_path.prop_map(|u| ("source_urls".to_owned(), json!([u]))),
        long_domain.prop_map(|e| ("email".to_owned(), json!(e))),
    ];
    h.check(field, |(name, value)| {
        let mut doc = json!({
            "kind": "dsa_notice", "lang": "en", "country": "TH", "first_name": "Somchai",
            "last_name": "Jaidee", "email": "somchai@example.org", "phone": "+66812345678",
            "reason": "These photos of me were published without my consent.",
            "good_faith": true, "source_urls": ["https://images.example.com/a.jpg"],
        });
        doc[name.as_str()] = value;
        let before = h.written();
        let a = h.post_json("/v1/cases", &doc);
        submission(&h, &a, before, CASE_STATUSES)
    });
}
