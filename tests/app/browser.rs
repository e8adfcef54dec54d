//! The requester's journey in a real browser: headless Chromium (Debian's package) driven by
//! playwright-core (npm), both installed by `scripts/setup-browser`.

use crate::common::*;
use crate::journeys::Browser;
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requester_journey_in_headless_chromium() {
    let browser = Browser::find(Path::new(env!("CARGO_MANIFEST_DIR")));
    let app = TestApp::start().await;
    let photo = app.dir.join("me.jpg");
    std::fs::write(&photo, jpeg(800, 600)).unwrap();
    let outbox = app.dir.join("outbox");
    let args = [
        app.url.as_str(),
        outbox.to_str().unwrap(),
        photo.to_str().unwrap(),
    ];
    browser
        .run("journey.mjs", "browser journey", &args, "")
        .await;
    assert_eq!(app.count("cases"), 2);
}
