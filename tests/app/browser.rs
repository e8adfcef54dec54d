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

/// The image opt-out (in Thai) and a DSA notice whose links are fetched (in English), then their
/// review, in headless Chromium: see `tests/browser/kinds.mjs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_kinds_journey_in_headless_chromium() {
    let browser = Browser::find(Path::new(env!("CARGO_MANIFEST_DIR")));
    let app = crate::desk::start(std::sync::Arc::new(optout_core::ports::SystemClock)).await;
    let site = crate::common::serve_files(vec![
        ("/photos/beach.jpg", "image/jpeg", jpeg(640, 480)),
        (
            "/article.html",
            "text/html",
            b"<html><body>an article</body></html>".to_vec(),
        ),
    ])
    .await;
    let picture = app.dir.join("landscape.jpg");
    std::fs::write(&picture, jpeg(800, 600)).unwrap();
    let link = crate::desk::admin_link(&app, "dora");
    let (image, page) = (
        format!("{site}/photos/beach.jpg"),
        format!("{site}/article.html"),
    );
    let args = [
        app.url.as_str(),
        link.as_str(),
        picture.to_str().unwrap(),
        image.as_str(),
        page.as_str(),
    ];
    browser
        .run("kinds.mjs", "kinds journey", &args, "kinds")
        .await;
    assert_eq!(app.count("cases"), 2);
}
