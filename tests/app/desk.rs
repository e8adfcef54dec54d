//! Driving the review desk over HTTP (shared by the review and indexer tests): a deterministic
//! stand-in for the face pipeline, submissions through the JSON API, admin links minted the way
//! `optout admin-url` mints them, the reviewer's session and decisions.

use crate::common::*;
use optout::admin_url::{AdminUrlArgs, mint};
use optout_core::model::CaseId;
use optout_core::ports::{AnalyzerError, Clock, PhotoAnalyzer, PhotoFindings};
use serde_json::{Value, json};
use std::sync::Arc;

/// A stand-in for the face pipeline: one face, an embedding and hashes derived from the bytes.
pub struct FakeAnalyzer;

fn seed(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

impl PhotoAnalyzer for FakeAnalyzer {
    fn analyze(&self, bytes: &[u8]) -> Result<PhotoFindings, AnalyzerError> {
        let mut s = seed(bytes);
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s
        };
        let mut emb: Vec<f32> = (0..128)
            .map(|_| ((next() >> 40) as f32 / (1u64 << 24) as f32) - 0.5)
            .collect();
        let n = emb.iter().map(|x| x * x).sum::<f32>().sqrt();
        emb.iter_mut().for_each(|x| *x /= n);
        let sha256 = format!(
            "{:016x}{:016x}{:016x}{:016x}",
            next(),
            next(),
            next(),
            next()
        );
        let pdq = format!(
            "{:016x}{:016x}{:016x}{:016x}",
            next(),
            next(),
            next(),
            next()
        );
        Ok(PhotoFindings {
            verdict: optout_core::Verdict::Ok,
            embedding: Some(optout_matcher::FaceEmbedding::new(&emb).unwrap()),
            face_embeddings: Vec::new(),
            sha256: sha256.parse().unwrap(),
            pdq: Some(pdq.parse().unwrap()),
            pdq_quality: 90,
            details: json!({
                "width": 800, "height": 600, "chosen_face": 0,
                "faces": [{"box": {"x": 300.0, "y": 150.0, "width": 200.0, "height": 250.0},
                           "score": 0.93, "sharpness": 120.5,
                           "landmarks": [[360.0, 240.0], [440.0, 240.0], [400.0, 290.0], [370.0, 340.0], [430.0, 340.0]]}]
            }),
        })
    }
}

pub async fn start(clock: Arc<dyn Clock>) -> TestApp {
    TestApp::start_with(Setup {
        analyzer: Some(Arc::new(FakeAnalyzer)),
        clock,
        ..Setup::default()
    })
    .await
}

/// A submitted case: its id and status token.
pub struct Submitted {
    pub id: CaseId,
    pub token: String,
}

pub async fn submit(app: &TestApp, body: Value) -> Submitted {
    let v = create_case(app, &body).await;
    Submitted {
        id: case_id(&v),
        token: status_token(&v),
    }
}

pub async fn submit_face_case(app: &TestApp, lang: &str, photo: Vec<u8>) -> Submitted {
    let key = upload_api(app, photo).await;
    let mut body = face_case(&key);
    body["lang"] = json!(lang);
    let s = submit(app, body).await;
    wait_for_state(app, &s.token, "awaiting_review").await;
    s
}

/// A DSA notice of Anna's from `country` with two links, waiting for review.
pub async fn submit_dsa(app: &TestApp, country: &str) -> Submitted {
    let links = ["https://Example.com/a.jpg#x", "https://example.org/b.png"];
    submit_notice(app, country, &links).await
}

/// A DSA notice of Anna's from `country` with these links, waiting for review.
pub async fn submit_notice(app: &TestApp, country: &str, links: &[&str]) -> Submitted {
    let s = submit(app, json!({
        "kind": "dsa_notice", "lang": "en", "country": country, "first_name": "Anna", "last_name": "Schmidt",
        "email": "anna@example.org", "phone": "+4930123456", "reason": "These images of me were published without my consent.",
        "good_faith": true, "source_urls": links
    }))
    .await;
    wait_for_state(app, &s.token, "awaiting_review").await;
    s
}

/// Waits (up to a minute: the real face pipeline is slow on a small machine) until the status
/// API reports `state` for the case of `token`; returns the status JSON.
pub async fn wait_for_state(app: &TestApp, token: &str, state: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let last = app.get_json(&format!("/v1/status/{token}")).await;
        if last["state"] == state {
            return last;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "case never reached {state}: {last}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

pub fn admin_args(app: &TestApp, reviewer: &str, ttl: &str) -> AdminUrlArgs {
    AdminUrlArgs {
        reviewer: reviewer.into(),
        ttl: ttl.into(),
        serve: optout::config::ServeArgs {
            data: Some(app.dir.clone()),
            desk: optout::config::DeskArgs {
                public_url: Some(app.url.clone()),
                ..desk_args()
            },
            ..Default::default()
        },
        aws: Default::default(),
    }
}

/// Mints an admin link the way `optout admin-url` does.
pub fn admin_link(app: &TestApp, reviewer: &str) -> String {
    mint(
        &admin_args(app, reviewer, "8h"),
        app.system.desk.ports.clock.now(),
    )
    .unwrap()
    .0
}

/// Opens an admin link; returns the session cookie (`optout_admin=...`).
pub async fn login(app: &TestApp, reviewer: &str) -> String {
    let r = app.get(&admin_link(app, reviewer)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/admin");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

/// Sends `req` with a reviewer's session cookie.
pub async fn as_reviewer(req: reqwest::RequestBuilder, cookie: &str) -> reqwest::Response {
    req.header("cookie", cookie).send().await.unwrap()
}

pub async fn get(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    as_reviewer(app.client().get(app.url(path)), cookie).await
}

/// The text of the admin page at `path`.
pub async fn admin_page(app: &TestApp, cookie: &str, path: &str) -> String {
    get(app, cookie, path).await.text().await.unwrap()
}

/// The case page's HTML and the hidden fields of its decision forms (csrf, version).
pub async fn case_page(app: &TestApp, cookie: &str, id: CaseId) -> (String, String, String) {
    let r = get(app, cookie, &format!("/admin/cases/{id}")).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let hidden = hidden_inputs(&html);
    let find = |n: &str| {
        hidden
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (csrf, version) = (find("csrf"), find("version"));
    (html, csrf, version)
}

/// Posts the decision form of case `id` (any text: the route must refuse what is not an id).
pub async fn decide<K: AsRef<str>, V: AsRef<str>>(
    app: &TestApp,
    cookie: &str,
    id: impl std::fmt::Display,
    fields: &[(K, V)],
) -> reqwest::Response {
    let path = format!("/admin/cases/{id}/decide");
    as_reviewer(app.form_request(&path, fields), cookie).await
}

/// The decision form of the case page as the reviewer's browser has it: the page's csrf and
/// version, then `fields`.
pub async fn decision_form(
    app: &TestApp,
    cookie: &str,
    id: CaseId,
    fields: &[(&str, &str)],
) -> Vec<(String, String)> {
    let (_, csrf, version) = case_page(app, cookie, id).await;
    let mut form = vec![("csrf".to_owned(), csrf), ("version".to_owned(), version)];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    form
}

/// Opens the case page and posts its decision form with `fields`.
pub async fn decide_on_page(
    app: &TestApp,
    cookie: &str,
    id: CaseId,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let form = decision_form(app, cookie, id, fields).await;
    decide(app, cookie, id, &form).await
}

pub async fn approve(app: &TestApp, cookie: &str, id: CaseId) -> reqwest::Response {
    decide_on_page(app, cookie, id, &[("decision", "approve")]).await
}

/// Withdraws a request from its status page, as the requester does.
pub async fn withdraw(app: &TestApp, token: &str) {
    let form = [("lang", "en"), ("confirm", "yes")];
    let r = app
        .post_form(&format!("/status/{token}/withdraw"), &form)
        .await;
    assert_eq!(r.status(), 200);
}
