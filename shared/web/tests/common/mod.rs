//! The app on the real embedded store (SQLite, files, `.eml` outbox) in a fresh directory, with a
//! clock the tests move, called in process through the router.

#![allow(dead_code)] // each test binary uses part of it

use axum::body::Body;
use chrono::{DateTime, Duration, Utc};
use http::{HeaderMap, Method, Request, StatusCode};
use optout_core::exclusions::{ExclusionService, IndexerPorts, MatchSettings};
use optout_core::ports::{Clock, ReviewerSessions};
use optout_core::settings::Settings;
use optout_core::signing::KeyRing;
use optout_core::{Desk, Ports};
use optout_embedded::{
    Db, FilePhotoStore, OutboxMailer, SqliteBiometrics, SqliteCaseStore, SqliteExclusions,
    SqliteIndexerKeys, SqliteMailLedger, SqliteQueue, SqliteReviewerSessions,
};
use optout_web::{AppState, IndexerApi};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

pub const PUBLIC_URL: &str = "http://desk.test";

/// A clock that tests move forward by hand.
#[derive(Clone)]
pub struct TestClock(Arc<Mutex<DateTime<Utc>>>);

impl TestClock {
    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub struct App {
    pub router: axum::Router,
    pub desk: Desk,
    pub clock: TestClock,
    pub indexer_keys: SqliteIndexerKeys,
    pub db: Db,
    _dir: tempfile::TempDir,
}

/// A response read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl App {
    pub fn new() -> App {
        Self::with_sessions(|db| Arc::new(SqliteReviewerSessions::new(db)))
    }

    /// The app with the sign-outs kept by `sessions` (given the database).
    pub fn with_sessions(sessions: impl FnOnce(Db) -> Arc<dyn ReviewerSessions>) -> App {
        let dir = tempfile::tempdir().unwrap();
        let clock = TestClock(Arc::new(Mutex::new(Utc::now())));
        let c: Arc<dyn Clock> = Arc::new(clock.clone());
        let keys = KeyRing::generate("k1");
        let db = Db::open(&dir.path().join("optout.sqlite3")).unwrap();
        let photos = FilePhotoStore::new(
            &dir.path().join("photos"),
            db.clone(),
            keys.clone(),
            c.clone(),
            PUBLIC_URL,
        )
        .unwrap();
        let exclusions = Arc::new(SqliteExclusions::new(db.clone()));
        let ports = Ports {
            cases: Arc::new(SqliteCaseStore::new(db.clone())),
            photos: Arc::new(photos.clone()),
            queue: Arc::new(SqliteQueue::new(db.clone(), c.clone())),
            mailer: Arc::new(
                OutboxMailer::new(&dir.path().join("outbox"), "desk@example.org", c.clone())
                    .unwrap(),
            ),
            mail_ledger: Arc::new(SqliteMailLedger::new(db.clone())),
            biometrics: Arc::new(SqliteBiometrics::new(db.clone())),
            exclusions: exclusions.clone(),
            matcher_snapshots: None,
            clock: c.clone(),
        };
        let desk = Desk::new(ports, keys, Settings::local(PUBLIC_URL));
        let indexer_keys = SqliteIndexerKeys::new(db.clone(), c);
        let indexer = IndexerApi::new(IndexerPorts {
            exclusions: Arc::new(ExclusionService::new(exclusions, MatchSettings::default())),
            keys: Arc::new(indexer_keys.clone()),
            snapshots: None,
        });
        let router = optout_web::router(AppState {
            desk: desk.clone(),
            uploads: Some(Arc::new(photos)),
            indexer: Arc::new(indexer),
            sessions: sessions(db.clone()),
        });
        App {
            router,
            desk,
            clock,
            indexer_keys,
            db,
            _dir: dir,
        }
    }

    /// Sends one request through the router.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self
            .router
            .clone()
            .oneshot(req.body(body.into()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::GET, path, headers, Body::empty()).await
    }

    /// The served OpenAPI document.
    pub async fn openapi(&self) -> serde_json::Value {
        let r = self.get("/openapi.json", &[]).await;
        assert_eq!(r.status, 200);
        r.json()
    }

    /// A new indexer API key (`optk_...`).
    pub async fn indexer_key(&self) -> String {
        self.indexer_keys.create("tests", 10_000).await.unwrap().1
    }
}

/// A `multipart/form-data` body as a browser posts an upload form: `fields` first, then `file`
/// (as `content_type`). Returns the body and its content type.
pub fn upload_body(
    fields: &serde_json::Map<String, serde_json::Value>,
    file: &[u8],
    content_type: &str,
) -> (Vec<u8>, String) {
    let boundary = "----web-tests";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\ncontent-disposition: form-data; name=\"{k}\"\r\n\r\n{}\r\n",
                v.as_str().unwrap_or_default()
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"photo\"\r\n\
             content-type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

impl App {
    /// A new upload form (`POST /v1/uploads`), as JSON.
    pub async fn upload_form(&self) -> serde_json::Value {
        let form = self
            .send(Method::POST, "/v1/uploads", &[], Body::empty())
            .await;
        assert_eq!(form.status, 201, "{}", form.body);
        form.json()
    }

    /// Uploads `bytes` (a PNG) through a new upload form, as a browser posts it; returns the
    /// upload key.
    pub async fn upload_png(&self, bytes: &[u8]) -> String {
        let form = self.upload_form().await;
        let (body, ct) = upload_body(form["fields"].as_object().unwrap(), bytes, "image/png");
        let r = self
            .send(
                Method::POST,
                "/uploads",
                &[("content-type", &ct), ("accept", "application/json")],
                body,
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.body);
        form["key"].as_str().unwrap().to_owned()
    }
}
