//! One scenario suite, two modes. Every scenario in [`scenarios`] drives the system only through
//! what its users touch (HTTP requests, the photo upload form, emails, the admin link) plus the
//! two background steps (embedding jobs, housekeeping), through the [`Mode`] trait:
//!
//! - [`embedded::Embedded`]: what `optout serve` runs (SQLite store, photo files, `.eml` outbox),
//!   over a real socket;
//! - [`aws::Aws`]: the Lambda functions' code on the AWS adapters against local emulators
//!   (DynamoDB Local, moto for S3/SQS/SESv2): each request is an API Gateway HTTP API (v2) event
//!   through `lambda_http` into the api function's router, each embedding job an SQS message
//!   received from the queue and handed to the embedder function's batch handler as an SQS event,
//!   and housekeeping is the housekeeper function's handler.
//!
//! The face pipeline is the real one (YuNet + SFace on tract) on real photos in both modes;
//! `scripts/setup-models` prepares the models and photos under `.cache/`.

pub mod aws;
pub mod embedded;
pub mod photo_view;
pub mod privacy;
pub mod scenarios;
pub mod serve;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::Duration;
use optout_core::Desk;
use optout_core::model::ReviewerName;
use optout_core::ports::PhotoAnalyzer;
use optout_core::signing::admin;
use serde_json::Value;

/// A request as a user agent sends it (the path includes the query string).
#[derive(Debug, Clone)]
pub struct Req {
    pub method: http::Method,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn get(path: &str) -> Self {
        Req {
            method: http::Method::GET,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn post_json(path: &str, body: &Value) -> Self {
        Req {
            method: http::Method::POST,
            path: path.to_owned(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn post_form(path: &str, fields: &[(&str, &str)]) -> Self {
        Req {
            method: http::Method::POST,
            path: path.to_owned(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: url_encode(fields).into_bytes(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }
}

fn url_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A response as the user agent receives it (header names in lower case).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `name=value` part of every `Set-Cookie`.
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| v.split(';').next().map(str::to_owned))
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: not JSON ({e}): {}",
                self.status,
                self.text().chars().take(500).collect::<String>()
            )
        })
    }
}

/// An email as the mail service took it (moto keeps only the HTML part of an SES message, so
/// scenarios read the HTML part in both modes).
#[derive(Debug, Clone)]
pub struct SentMail {
    pub to: Vec<String>,
    pub subject: String,
    pub html: String,
}

/// What differs between the two modes. Everything else is the same code.
#[async_trait]
pub trait Mode: Send + Sync {
    fn name(&self) -> &'static str;

    /// The desk behind the app (its keys mint admin links; tests never bypass the app otherwise).
    fn desk(&self) -> &Desk;

    /// Sends a request to the app.
    async fn send(&self, req: Req) -> Reply;

    /// Runs the embedding jobs queued so far; returns how many completed.
    async fn run_jobs(&self) -> usize;

    /// One round of housekeeping (relay of pending effects, retention).
    async fn housekeep(&self);

    /// Every email sent so far to `to`, oldest first.
    async fn mails_to(&self, to: &str) -> Vec<SentMail>;

    /// A unique email address for one requester of one scenario (the AWS mode shares one mail
    /// emulator between tests).
    fn email(&self, who: &str) -> String;

    /// A valid indexer API key (`Authorization: Bearer <key>`), made the way an operator makes
    /// one in this mode (embedded: the key table; AWS: a record in the SSM parameter).
    async fn indexer_key(&self) -> String;

    /// Posts `photo` with the direct-upload form a `POST /v1/uploads` answered (to the app itself
    /// in the embedded mode, to S3 through the presigned POST in AWS), as a browser form would.
    /// Returns the HTTP status of the upload.
    async fn upload(&self, form: &Value, photo: Vec<u8>, content_type: &str) -> u16 {
        let mut multipart = reqwest::multipart::Form::new();
        if let Some(fields) = form["fields"].as_object() {
            for (k, v) in fields {
                multipart = multipart.text(k.clone(), v.as_str().unwrap_or_default().to_owned());
            }
        }
        let part = reqwest::multipart::Part::bytes(photo)
            .file_name("photo")
            .mime_str(content_type)
            .expect("content type");
        multipart = multipart.part(
            form["file_field"].as_str().unwrap_or("file").to_owned(),
            part,
        );
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        client
            .post(form["url"].as_str().expect("upload url"))
            .multipart(multipart)
            .send()
            .await
            .expect("upload target reachable")
            .status()
            .as_u16()
    }

    /// The path and query of a fresh admin link for `reviewer`, minted with the desk's keys as
    /// `optout admin-url` does.
    fn admin_link(&self, reviewer: &str) -> String {
        let desk = self.desk();
        let name = ReviewerName::parse(reviewer).expect("reviewer name");
        let (url, _) = admin::link(
            &desk.keys,
            &desk.settings.public_url,
            &name,
            Duration::hours(8),
            desk.ports.clock.now(),
        );
        url.strip_prefix(&desk.settings.public_url)
            .expect("link on the public URL")
            .to_owned()
    }
}

/// The repository's root (where `.cache/` is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

// The fixtures and models of the face pipeline's own tests.
#[path = "../../../shared/face/tests/common/mod.rs"]
mod face_fixtures;

/// A fixture photo prepared by `scripts/setup-models`.
pub fn fixture(name: &str) -> Vec<u8> {
    face_fixtures::photo(name)
}

/// The real face pipeline, loaded once per test binary.
pub fn analyzer() -> Arc<dyn PhotoAnalyzer> {
    static ANALYZER: OnceLock<Arc<dyn PhotoAnalyzer>> = OnceLock::new();
    ANALYZER
        .get_or_init(|| {
            let dir = face_fixtures::model_dir();
            let engine = optout_face::FaceEngine::load(&dir).unwrap_or_else(|e| {
                panic!(
                    "face models in {}: {e}; run scripts/setup-models",
                    dir.display()
                )
            });
            Arc::new(optout_face::FaceAnalyzer(Arc::new(engine)))
        })
        .clone()
}
