//! The test harness of the embedded mode: starts exactly what `optout serve` starts, on a free
//! port and a fresh data directory, and offers helpers to drive it over HTTP.

use crate::serve::{Serving, eml_files, serve};
pub use crate::serve::{Setup, desk_args, serve_files};
use optout::embedded::System;
use optout_core::model::{AuditEvent, Case, CaseId};
use optout_core::ports::{BiometricStore, Biometrics, Clock, ExclusionEntry};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::watch;

pub struct TestApp {
    pub url: String,
    pub system: System,
    pub dir: PathBuf,
    shutdown: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _tmp: Option<tempfile::TempDir>,
}

impl TestApp {
    pub async fn start() -> TestApp {
        Self::start_with(Setup::default()).await
    }

    /// Starts on a fresh data directory that lives as long as the app.
    pub async fn start_with(setup: Setup) -> TestApp {
        let tmp = tempfile::tempdir().unwrap();
        let mut app = Self::start_in(tmp.path(), setup).await;
        app._tmp = Some(tmp);
        app
    }

    /// Starts on `dir` (a restart test starts it again on the same data).
    pub async fn start_in(dir: &Path, setup: Setup) -> TestApp {
        let Serving {
            url,
            system,
            shutdown,
            task,
        } = serve(dir, setup).await;
        TestApp {
            url,
            system,
            dir: dir.to_owned(),
            shutdown,
            task: Some(task),
            _tmp: None,
        }
    }

    /// Stops the server and keeps the data directory (for restart tests).
    pub async fn stop(mut self) -> Option<tempfile::TempDir> {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
        self._tmp.take()
    }

    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// `path` on this app; a full URL (a link from a page or an email) stays as it is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.url)
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client().get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// A POST without a body.
    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.client().post(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        let r = self.client().post(self.url(path)).json(body);
        r.send().await.unwrap()
    }

    /// A POST of `body` as `content_type`.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let r = self.client().post(self.url(path));
        let r = r.header("content-type", content_type).body(body);
        r.send().await.unwrap()
    }

    /// A POST of an urlencoded form, as a browser sends it.
    pub fn form_request<K: AsRef<str>, V: AsRef<str>>(
        &self,
        path: &str,
        fields: &[(K, V)],
    ) -> reqwest::RequestBuilder {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .finish();
        let r = self.client().post(self.url(path));
        r.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }

    pub async fn post_form<K: AsRef<str>, V: AsRef<str>>(
        &self,
        path: &str,
        fields: &[(K, V)],
    ) -> reqwest::Response {
        self.form_request(path, fields).send().await.unwrap()
    }

    /// The stored case `id`.
    pub async fn case(&self, id: CaseId) -> Case {
        let cases = &self.system.desk.ports.cases;
        cases.get_case(id).await.unwrap().expect("the case")
    }

    pub async fn audit(&self, id: CaseId) -> Vec<AuditEvent> {
        self.system.desk.ports.cases.audit_trail(id).await.unwrap()
    }

    /// The exclusion entries of case `id`.
    pub async fn entries(&self, id: CaseId) -> Vec<ExclusionEntry> {
        let exclusions = &self.system.desk.ports.exclusions;
        exclusions.case_entries(id).await.unwrap()
    }

    pub async fn biometrics(&self, id: CaseId) -> Option<Biometrics> {
        self.system.biometrics().get_biometrics(id).await.unwrap()
    }

    /// The first message of the outbox whose subject contains `subject`, waiting up to 10 s for
    /// it: a case's state is written before its email goes out (the mail ledger's claim, then the
    /// send), so a test that saw the state may be a moment early for the message.
    pub async fn wait_for_mail(&self, subject: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(m) = self
                .outbox()
                .into_iter()
                .find(|m| eml_subject(m).contains(subject))
            {
                return m;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no email with {subject:?} in its subject"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The `.eml` files of the outbox, oldest first.
    pub fn outbox(&self) -> Vec<String> {
        eml_files(&self.dir.join("outbox"))
            .into_iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    pub fn count(&self, table: &str) -> i64 {
        self.query(&format!("SELECT COUNT(*) FROM {table}"), [])
    }

    /// The first column of the row `sql` selects in the app's database.
    pub fn query<T: rusqlite::types::FromSql>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> T {
        let db = rusqlite_open(&self.dir);
        db.query_row(sql, params, |r| r.get(0)).unwrap()
    }
}

pub fn rusqlite_open(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("optout.sqlite3")).unwrap()
}

/// A JPEG photo of `w`×`h` pixels with some texture.
pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    use image::ImageEncoder;
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 3 % 256) as u8,
            ((x ^ y) % 256) as u8,
        ])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// A PNG of `w`×`h` pixels of one colour.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    optout_core::testing::png_by_rows(w, h, |_, _| [10, 20, 30])
}

/// A small PNG whose header declares `w`×`h` pixels (a decompression bomb).
pub fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut p = png(64, 64);
    // IHDR: its width and height, then the CRC of the chunk's type and data.
    p[16..20].copy_from_slice(&w.to_be_bytes());
    p[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32fast::hash(&p[12..29]);
    p[29..33].copy_from_slice(&crc.to_be_bytes());
    p
}

/// The `name="..." value="..."` pairs of the hidden inputs of an HTML page.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in html.split("<input").skip(1) {
        let tag = &part[..part.find('>').unwrap_or(part.len())];
        if !tag.contains("type=\"hidden\"") {
            continue;
        }
        let attr = |name: &str| {
            let key = format!("{name}=\"");
            tag.find(&key).map(|i| {
                let rest = &tag[i + key.len()..];
                unescape(&rest[..rest.find('"').unwrap_or(rest.len())])
            })
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            out.push((n, v));
        }
    }
    out
}

/// The `action` of the first form of a page.
pub fn form_action(html: &str) -> String {
    let i = html.find("action=\"").expect("a form") + 8;
    unescape(&html[i..i + html[i..].find('"').unwrap()])
}

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Uploads `bytes` through the upload form of the photo step; returns the upload's response.
pub async fn upload(
    app: &TestApp,
    photo_page: &str,
    bytes: Vec<u8>,
    content_type: &str,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in hidden_inputs(photo_page) {
        form = form.text(k, v);
    }
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("photo.jpg")
        .mime_str(content_type)
        .unwrap();
    form = form.part("file", part);
    app.client()
        .post(form_action(photo_page))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Goes through the photo step and returns the details page's hidden fields.
pub async fn upload_photo(app: &TestApp, lang: &str, bytes: Vec<u8>) -> Vec<(String, String)> {
    let page = app.get_text(&format!("/opt-out?lang={lang}")).await;
    let r = upload(app, &page, bytes, "image/jpeg").await;
    assert_eq!(r.status(), 303, "upload refused");
    let details = app.get(r.headers()["location"].to_str().unwrap()).await;
    assert_eq!(details.status(), 200);
    hidden_inputs(&details.text().await.unwrap())
}

/// Valid personal fields of a form.
pub fn person() -> Vec<(&'static str, &'static str)> {
    vec![
        ("country", "TH"),
        ("first_name", "Somchai"),
        ("last_name", "Jaidee"),
        ("email", "somchai@example.org"),
        ("phone", "+66 81 234 5678"),
        ("reason", "I never agreed to these photos being public."),
    ]
}

/// Reads the part of an `.eml` message whose content type is `ct`, decoding quoted-printable/base64.
pub fn eml_part(eml: &str, ct: &str) -> String {
    let boundary = eml
        .split("boundary=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("multipart");
    for part in eml.split(&format!("--{boundary}")) {
        if !part
            .to_ascii_lowercase()
            .contains(&format!("content-type: {ct}"))
        {
            continue;
        }
        let (headers, body) = part.split_once("\r\n\r\n").expect("part body");
        let h = headers.to_ascii_lowercase();
        if h.contains("base64") {
            use base64::Engine;
            let clean: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            return String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(clean)
                    .unwrap(),
            )
            .unwrap();
        }
        if h.contains("quoted-printable") {
            return quoted_printable(body);
        }
        return body.to_owned();
    }
    panic!("no {ct} part")
}

fn quoted_printable(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.replace("=\r\n", "");
    let bytes = b.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len() + 1
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(&b[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded `Subject:` of an `.eml` message.
pub fn eml_subject(eml: &str) -> String {
    let line = eml
        .lines()
        .skip_while(|l| !l.starts_with("Subject:"))
        .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
        .collect::<Vec<_>>()
        .join("");
    let raw = line.trim_start_matches("Subject:").trim();
    // RFC 2047 encoded words: =?utf-8?b?...?=
    let mut out = String::new();
    for word in raw.split_whitespace() {
        if let Some(inner) = word
            .strip_prefix("=?utf-8?b?")
            .or_else(|| word.strip_prefix("=?UTF-8?B?"))
            .and_then(|w| w.strip_suffix("?="))
        {
            use base64::Engine;
            out.push_str(&String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(inner)
                    .unwrap(),
            ));
        } else {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

/// A clock that tests move forward by hand.
#[derive(Clone)]
pub struct TestClock(pub Arc<std::sync::Mutex<chrono::DateTime<chrono::Utc>>>);

impl TestClock {
    pub fn new() -> Self {
        TestClock(Arc::new(std::sync::Mutex::new(chrono::Utc::now())))
    }
    pub fn advance(&self, d: chrono::Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

/// The schema `name` of the OpenAPI document the server serves, as a standalone JSON Schema.
async fn served_schema(app: &TestApp, name: &str) -> serde_json::Value {
    let doc = app.get_json("/openapi.json").await;
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    })
}

/// Checks `value` against the schema `name` of the OpenAPI document the server serves.
pub async fn assert_schema(app: &TestApp, name: &str, value: &serde_json::Value) {
    if let Err(e) = jsonschema::draft202012::validate(&served_schema(app, name).await, value) {
        panic!("{value} does not match the documented schema {name}: {e}");
    }
}

/// Whether `value` matches the schema `name` (for requests the server must refuse).
pub async fn matches_schema(app: &TestApp, name: &str, value: &serde_json::Value) -> bool {
    jsonschema::draft202012::is_valid(&served_schema(app, name).await, value)
}

/// Uploads a photo through `POST /v1/uploads` and the upload form it returns; returns its key.
pub async fn upload_api(app: &TestApp, photo: Vec<u8>) -> String {
    let form: Value = app.post("/v1/uploads").await.json().await.unwrap();
    let mut mp = reqwest::multipart::Form::new();
    for (k, v) in form["fields"].as_object().unwrap() {
        mp = mp.text(k.clone(), v.as_str().unwrap().to_owned());
    }
    mp = mp.part(
        "file",
        reqwest::multipart::Part::bytes(photo)
            .mime_str("image/jpeg")
            .unwrap(),
    );
    let r = app
        .client()
        .post(form["url"].as_str().unwrap())
        .header("accept", "application/json")
        .multipart(mp)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    form["key"].as_str().unwrap().to_owned()
}

/// The fields of a case request (`POST /v1/cases`, the `CaseRequest` schema).
pub const CASE_FIELDS: &[&str] = &[
    "kind",
    "lang",
    "country",
    "first_name",
    "last_name",
    "email",
    "phone",
    "reason",
    "consent",
    "good_faith",
    "source_urls",
    "upload_key",
];

/// A face opt-out of Somchai's whose photo was uploaded as `upload_key`.
pub fn face_case(upload_key: &str) -> Value {
    serde_json::json!({
        "kind": "face_opt_out", "country": "TH", "first_name": "Somchai", "last_name": "Jaidee",
        "email": "somchai@example.org", "phone": "+66812345678", "reason": "Please remove my face from your index.",
        "consent": true, "upload_key": upload_key
    })
}

/// Posts `body` to `POST /v1/cases`, which must create a case; returns the case JSON.
pub async fn create_case(app: &TestApp, body: &Value) -> Value {
    let r = app.post_json("/v1/cases", body).await;
    assert_eq!(r.status(), 201, "{body}");
    r.json().await.unwrap()
}

/// Uploads a photo through the API and submits a face opt-out; returns the case JSON.
pub async fn submit_face(app: &TestApp, photo: Vec<u8>) -> Value {
    let key = upload_api(app, photo).await;
    create_case(app, &face_case(&key)).await
}

/// The status token at the end of a case's `status_url`.
pub fn status_token(case: &Value) -> String {
    let url = case["status_url"].as_str().unwrap();
    url.rsplit('/').next().unwrap().to_owned()
}

/// The id of a case JSON.
pub fn case_id(case: &Value) -> CaseId {
    CaseId::parse(case["id"].as_str().unwrap()).unwrap()
}

/// A test photo fetched by `scripts/setup-models`.
pub fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".cache/fixtures")
        .join(name);
    std::fs::read(&p)
        .unwrap_or_else(|_| panic!("{} is missing: run scripts/setup-models", p.display()))
}

/// Runs `cmd` off the runtime's threads (the server under test runs on them); returns its exit
/// status, stdout and stderr.
pub async fn output_of(mut cmd: std::process::Command) -> (i32, String, String) {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}
