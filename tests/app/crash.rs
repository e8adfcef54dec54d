//! `optout serve` killed with SIGKILL while it embeds photos, then started again on the same data:
//! every case finishes its embedding soon after the restart (the jobs the dead process held are
//! retried at once), with exactly one receipt; and one data directory takes one server.

use crate::common::{face_case, status_token};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `optout serve` on `data`, with the test's models and none of the test's own settings.
fn command(data: &Path) -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_optout"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OPTOUT_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("OPTOUT_MODEL_DIR", root.join(".cache/models"))
        .stdin(Stdio::null());
    cmd
}

/// Starts `optout serve` on `data`; returns the process and its URL.
fn serve(data: &Path) -> (Child, String) {
    let mut child = command(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("optout serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("optout serve did not say where it runs");
        };
        if let Some(rest) = line.strip_prefix("optout is running at ") {
            let url = rest.split_whitespace().next().expect("url");
            return (child, url.trim_end_matches('/').to_owned());
        }
    }
}

/// The JSON answer to `req`.
async fn json_of(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// Uploads `photo` and submits a face opt-out for `email`; returns the status token.
async fn submit(http: &reqwest::Client, url: &str, email: &str, photo: &[u8]) -> String {
    let form = json_of(http.post(format!("{url}/v1/uploads")).json(&json!({}))).await;
    let mut multipart = reqwest::multipart::Form::new();
    for (k, v) in form["fields"].as_object().expect("fields") {
        multipart = multipart.text(k.clone(), v.as_str().unwrap_or_default().to_owned());
    }
    let part = reqwest::multipart::Part::bytes(photo.to_vec())
        .file_name("photo.jpg")
        .mime_str("image/jpeg")
        .unwrap();
    multipart = multipart.part(form["file_field"].as_str().unwrap().to_owned(), part);
    let r = http
        .post(form["url"].as_str().unwrap())
        .multipart(multipart)
        .send()
        .await
        .unwrap();
    assert!(r.status().as_u16() < 400, "upload: {}", r.status());
    let mut body = face_case(form["key"].as_str().unwrap());
    body["lang"] = json!("en");
    body["email"] = json!(email);
    let r = http.post(format!("{url}/v1/cases")).json(&body);
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 201);
    status_token(&r.json().await.unwrap())
}

async fn state(http: &reqwest::Client, url: &str, token: &str) -> String {
    let doc = json_of(http.get(format!("{url}/v1/status/{token}"))).await;
    doc["state"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_embedding_loses_nothing_and_sends_each_receipt_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let photos: Vec<Vec<u8>> = ["person_a_1.jpg", "person_a_2.jpg", "person_b_1.jpg"]
        .iter()
        .map(|f| crate::common::fixture(f))
        .collect();
    let (mut first, url) = serve(&data);
    let mut tokens = Vec::new();
    for i in 0..6 {
        let email = format!("crash{i}@example.org");
        tokens.push(submit(&http, &url, &email, &photos[i % photos.len()]).await);
    }
    // Kill it while a job runs (a case is `embedding`), or at the latest when the last is in.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut caught = false;
    'wait: while Instant::now() < deadline {
        for t in &tokens {
            if state(&http, &url, t).await == "embedding" {
                caught = true;
                break 'wait;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        caught,
        "no job was seen running: the kill would test nothing"
    );
    first.kill().unwrap(); // SIGKILL: no shutdown, no cleanup
    first.wait().unwrap();

    let (mut second, url) = serve(&data);
    let restarted = Instant::now();
    let mut pending = tokens.clone();
    while !pending.is_empty() {
        assert!(
            restarted.elapsed() < Duration::from_secs(45),
            "cases still not embedded 45 s after the restart: {} left",
            pending.len()
        );
        let mut left = Vec::new();
        for t in pending {
            let s = state(&http, &url, &t).await;
            if !matches!(s.as_str(), "awaiting_review" | "needs_better_photo") {
                left.push(t);
            }
        }
        pending = left;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A second server on the same data would run a second worker and relay: it is refused.
    let out = command(&data).stdout(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another optout serve"), "{err}");
    // The relay of the restarted server had its chance at anything left unrecorded.
    tokio::time::sleep(Duration::from_secs(2)).await;
    second.kill().unwrap();
    second.wait().unwrap();
    let receipts: Vec<String> = std::fs::read_dir(data.join("outbox"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with("-receipt.eml"))
        .collect();
    for i in 0..6 {
        let to = format!("crash{i}@example.org");
        let n = receipts
            .iter()
            .filter(|name| {
                let raw = std::fs::read_to_string(data.join("outbox").join(name)).unwrap();
                raw.contains(&format!("To: {to}"))
            })
            .count();
        assert_eq!(n, 1, "{to}: {n} receipts in {receipts:?}");
    }
}
