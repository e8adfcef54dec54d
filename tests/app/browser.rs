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

/// The public pages at 390×844 and 1280×900 (none wider than its viewport), and forms sent with
/// mistakes that say where each one is, in headless Chromium: see `tests/browser/phone.mjs`. The
/// status pages are of cases in each state a requester can see, decided on the review desk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_pages_fit_a_phone_and_say_where_each_mistake_is_in_headless_chromium() {
    use crate::desk::*;
    let browser = Browser::find(Path::new(env!("CARGO_MANIFEST_DIR")));
    let app = start(std::sync::Arc::new(optout_core::ports::SystemClock)).await;
    let alice = login(&app, "alice").await;
    let status = |s: &Submitted| format!("/status/{}", s.token);

    let waiting = submit_face_case(&app, "en", jpeg(640, 480)).await;
    let approved = submit_face_case(&app, "en", jpeg(660, 480)).await;
    assert_eq!(approve(&app, &alice, approved.id).await.status(), 303);
    // A rejection with a long note (and a long link in it): the longest statement of reasons.
    let rejected = submit_face_case(&app, "en", jpeg(680, 480)).await;
    let note = format!(
        "We checked the photo against the search results. {} See https://news.example.com/{}/article.html for the reporting.",
        "The photos were published as part of news reporting on a public event, and the public interest in that reporting outweighs the request here. ".repeat(5),
        "a-very-long-path-segment".repeat(6),
    );
    let reject = [
        ("decision", "reject"),
        ("reason", "other"),
        ("note", note.as_str()),
    ];
    assert_eq!(
        decide_on_page(&app, &alice, rejected.id, &reject)
            .await
            .status(),
        303
    );
    let better = submit_face_case(&app, "th", jpeg(700, 480)).await;
    let ask = [("decision", "better_photo"), ("quality", "too_blurred")];
    assert_eq!(
        decide_on_page(&app, &alice, better.id, &ask).await.status(),
        303
    );
    let withdrawn = submit_face_case(&app, "en", jpeg(720, 480)).await;
    withdraw(&app, &withdrawn.token).await;
    let notice = submit_dsa(&app, "DE").await;
    assert_eq!(approve(&app, &alice, notice.id).await.status(), 303);
    // A decision under complaint.
    let contested = submit_face_case(&app, "en", jpeg(740, 480)).await;
    assert_eq!(approve(&app, &alice, contested.id).await.status(), 303);
    let r = app
        .post_form(
            &format!("/status/{}/complaint", contested.token),
            &[
                ("lang", "en"),
                ("complaint", "This photo is not of me: please look again."),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);

    let pages = serde_json::json!([
        ["status-awaiting-review", status(&waiting)],
        ["status-approved", status(&approved)],
        ["status-rejected", status(&rejected)],
        ["complaint", format!("{}/complaint", status(&rejected))],
        ["status-needs-better-photo", status(&better)],
        ["better-photo", format!("{}/photo", status(&better))],
        ["status-withdrawn", status(&withdrawn)],
        ["status-notice-approved", status(&notice)],
        ["status-complaint-open", status(&contested)],
        ["opt-out", "/opt-out"],
        ["image-opt-out", "/image-opt-out"],
        ["dsa", "/dsa"],
    ])
    .to_string();
    let photo = app.dir.join("me.jpg");
    std::fs::write(&photo, jpeg(800, 600)).unwrap();
    let args = [app.url.as_str(), photo.to_str().unwrap(), pages.as_str()];
    browser
        .run("phone.mjs", "phone journey", &args, "phone")
        .await;
}
