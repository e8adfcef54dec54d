//! No personal data in the logs: every log line the system writes while the scenarios run (both
//! modes, every crate, `tracing` events with their span fields and `log` records alike) is
//! captured in one process-wide buffer, every personal value the scenarios submit is recorded
//! on its way in ([`Watched`]), and [`assert_no_personal_data_logged`] looks for each of them.
//!
//! The capture is stricter than production: DEBUG for every crate and TRACE for the system's
//! own (production logs at INFO unless `RUST_LOG` says otherwise).

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Mutex, MutexGuard, OnceLock};

use async_trait::async_trait;
use optout_core::Desk;
use serde_json::Value;

use crate::{Mode, Reply, Req, SentMail};

/// The fields of a request that carry the requester's personal data (first name, last name,
/// email, phone, reason) and the text of a complaint.
const PERSONAL_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "phone",
    "reason",
    "complaint",
];

/// Values shorter than this are not looked for (they would match unrelated text).
const MIN_LEN: usize = 5;

fn buffer() -> &'static Mutex<Vec<u8>> {
    static BUFFER: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    BUFFER.get_or_init(|| Mutex::new(Vec::new()))
}

fn submitted() -> &'static Mutex<BTreeSet<String>> {
    static VALUES: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    VALUES.get_or_init(|| Mutex::new(BTreeSet::new()))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock leaves data that is still good to read.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes formatted log lines into the shared buffer.
struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(buffer()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber for the whole test binary (once; later calls do nothing).
/// Call it first in every test, before anything logs.
pub fn capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::new("debug,optout=trace");
        // `try_init` also routes `log` records (crates that do not use tracing) here.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| Sink)
            .try_init();
    });
}

/// Everything logged so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&lock(buffer())).into_owned()
}

/// The forms in which a submitted value could reach a log: as sent, trimmed, and as the system
/// stores it (an email with a lower-case domain, a phone number in E.164).
fn forms_of(field: &str, raw: &str) -> Vec<String> {
    let v = raw.trim();
    let mut out = vec![v.to_owned()];
    match field {
        "email" => out.push(v.to_lowercase()),
        "phone" => {
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            let digits = digits.strip_prefix("00").unwrap_or(&digits).to_owned();
            out.push(format!("+{digits}"));
            out.push(digits);
        }
        "reason" | "complaint" => {
            // A log may carry only the start of a long text.
            out.push(v.replace("\r\n", "\n"));
            out.push(v.chars().take(24).collect());
        }
        _ => {}
    }
    out.retain(|s| s.chars().count() >= MIN_LEN);
    out
}

/// Records the personal values of a request the scenarios send (the review desk's forms carry
/// none: a decision's `reason` is a code such as `not_illegal`).
pub fn note_request(req: &Req) {
    if req.path.starts_with("/admin") {
        return;
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    let ct = req
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_default();
    if ct.starts_with("application/json") {
        if let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(&req.body) {
            for (k, v) in doc {
                if let Value::String(s) = v {
                    pairs.push((k, s));
                }
            }
        }
    } else if ct.starts_with("application/x-www-form-urlencoded") {
        pairs.extend(
            url::form_urlencoded::parse(&req.body).map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
    }
    let mut values = lock(submitted());
    for (k, v) in pairs {
        if PERSONAL_FIELDS.contains(&k.as_str()) {
            values.extend(forms_of(&k, &v));
        }
    }
}

/// The recorded personal values found in `logs`, each with the first line it is in.
pub fn find_leaks(logs: &str, values: &BTreeSet<String>) -> Vec<(String, String)> {
    let lower = logs.to_lowercase();
    values
        .iter()
        .filter_map(|v| {
            let at = lower.find(&v.to_lowercase())?;
            let start = lower[..at].rfind('\n').map_or(0, |i| i + 1);
            let end = lower[at..].find('\n').map_or(lower.len(), |i| at + i);
            Some((
                v.clone(),
                logs.get(start..end).unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// Fails if any personal value submitted so far appears in any log line captured so far. Each
/// test calls it when its scenario is done: the last one to do so has seen every scenario's logs.
pub fn assert_no_personal_data_logged() {
    let logs = logs();
    assert!(
        logs.lines().any(|l| l.contains(" optout_")),
        "the capture saw no log line of the system: is it installed?"
    );
    let values = lock(submitted()).clone();
    assert!(!values.is_empty(), "no personal value was recorded");
    let leaks = find_leaks(&logs, &values);
    assert!(
        leaks.is_empty(),
        "personal data in the logs:\n{}",
        leaks
            .iter()
            .map(|(v, line)| format!("  {v:?} in: {line}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A mode whose requests are recorded on their way in (everything else is the mode's own).
pub struct Watched<'a>(pub &'a dyn Mode);

#[async_trait]
impl Mode for Watched<'_> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn desk(&self) -> &Desk {
        self.0.desk()
    }
    async fn send(&self, req: Req) -> Reply {
        note_request(&req);
        self.0.send(req).await
    }
    async fn run_jobs(&self) -> usize {
        self.0.run_jobs().await
    }
    async fn housekeep(&self) {
        self.0.housekeep().await
    }
    async fn mails_to(&self, to: &str) -> Vec<SentMail> {
        self.0.mails_to(to).await
    }
    fn email(&self, who: &str) -> String {
        self.0.email(who)
    }
    async fn indexer_key(&self) -> String {
        self.0.indexer_key().await
    }
    async fn upload(&self, form: &Value, photo: Vec<u8>, content_type: &str) -> u16 {
        self.0.upload(form, photo, content_type).await
    }
    fn admin_link(&self, reviewer: &str) -> String {
        self.0.admin_link(reviewer)
    }
}
