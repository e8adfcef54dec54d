//! The requester's journey in a real browser: headless Chromium (Debian's package) driven by
//! playwright-core (npm), both installed by `scripts/setup-browser`.

use crate::common::*;
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requester_journey_in_headless_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join(".cache/npm/node_modules");
    assert!(
        modules.join("playwright-core").exists() && Path::new("/usr/bin/chromium").exists(),
        "Chromium or playwright-core is missing: run scripts/setup-browser"
    );
    let app = TestApp::start().await;
    let photo = app.dir.join("me.jpg");
    std::fs::write(&photo, jpeg(800, 600)).unwrap();
    let shots = root.join("target/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let (url, outbox) = (app.url.clone(), app.dir.join("outbox"));
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(root.join("tests/browser/journey.mjs"))
            .args([
                url.as_str(),
                outbox.to_str().unwrap(),
                photo.to_str().unwrap(),
                shots.to_str().unwrap(),
            ])
            .env("NODE_PATH", &modules)
            .output()
            .expect("node")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser journey failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("browser journey ok"));
    assert_eq!(app.count("cases"), 2);
}
