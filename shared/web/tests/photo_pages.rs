//! Photos under load (issue #17): the page behind `GET /opt-out?key=…` never decodes the upload
//! (anyone with a key may load it at will), the submission does; and the submission checks and the
//! embedding worker wait for the same decode slots.

mod common;

use common::App;
use http::Method;
use image::ImageEncoder;
use optout_core::EmbedJobs;
use optout_core::decode_gate::HEAVY_DECODE_BYTES;
use optout_core::model::{CaseId, EmbedJob};
use optout_core::ports::{AnalyzerError, JobHandler, PhotoAnalyzer, PhotoFindings};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A valid 320x240 PNG.
fn png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 251) as u8])
    });
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(img.as_raw(), 320, 240, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// The same PNG with its header intact and its pixel data damaged.
fn png_with_damaged_pixels() -> Vec<u8> {
    let mut p = png();
    let at = p.windows(4).position(|w| w == b"IDAT").unwrap() + 4;
    let len = u32::from_be_bytes(p[at - 8..at - 4].try_into().unwrap()) as usize;
    for b in &mut p[at + len / 2..at + len / 2 + 32] {
        *b ^= 0x5A;
    }
    p
}

/// Uploads `bytes` as a browser does; returns the upload key.
async fn upload(app: &App, bytes: &[u8]) -> String {
    app.upload_png(bytes).await
}

async fn view(app: &App, key: &str) -> common::Reply {
    let q: String = url::form_urlencoded::byte_serialize(key.as_bytes()).collect();
    app.get(&format!("/opt-out?key={q}"), &[]).await
}

async fn submit(app: &App, key: &str) -> common::Reply {
    let body = serde_json::json!({
        "kind": "face_opt_out", "country": "TH", "first_name": "Somchai", "last_name": "Jaidee",
        "email": "somchai@example.org", "phone": "+66812345678",
        "reason": "Please remove my face from your index.", "consent": true, "upload_key": key
    });
    app.send(
        Method::POST,
        "/v1/cases",
        &[("content-type", "application/json")],
        serde_json::to_vec(&body).unwrap(),
    )
    .await
}

#[tokio::test]
async fn the_page_view_reads_headers_and_the_submission_decodes() {
    let app = App::new();
    // Damaged pixel data behind a valid header: the page shows the details step...
    let key = upload(&app, &png_with_damaged_pixels()).await;
    let page = view(&app, &key).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&key),
        "the details step carries the upload key"
    );
    // ...and the submission refuses the photo, on its field.
    let r = submit(&app, &key).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let fields = &r.json()["error"]["fields"];
    assert_eq!(fields[0]["field"], "photo", "{fields}");
    assert_eq!(fields[0]["code"], "corrupt_image", "{fields}");

    // A good photo goes through both.
    let key = upload(&app, &png()).await;
    assert_eq!(view(&app, &key).await.status, 200);
    assert_eq!(submit(&app, &key).await.status, 201);

    // What the headers give away is still refused on the page: not an image.
    let key = upload(&app, b"%PDF-1.7 definitely not a photo").await;
    let page = view(&app, &key).await;
    assert_eq!(page.status, 422, "{}", page.body);
}

/// Records analyses; finds no face.
#[derive(Default)]
struct Counting(AtomicUsize);

impl PhotoAnalyzer for Counting {
    fn analyze(&self, bytes: &[u8]) -> Result<PhotoFindings, AnalyzerError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(PhotoFindings {
            verdict: optout_core::Verdict::NoFace,
            embedding: None,
            face_embeddings: Vec::new(),
            sha256: optout_matcher::Sha256::of(bytes),
            pdq: None,
            pdq_quality: 0,
            details: serde_json::json!({}),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submissions_and_the_worker_wait_for_the_same_decode_slots() {
    let app = App::new();
    let first = upload(&app, &png()).await;
    let r = submit(&app, &first).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let case_id = CaseId::parse(r.json()["id"].as_str().unwrap()).unwrap();
    let analyzer = Arc::new(Counting::default());
    let jobs = EmbedJobs {
        desk: app.desk.clone(),
        analyzer: analyzer.clone(),
        fetcher: Arc::new(optout_core::testing::FakeLinkFetcher::default()),
    };
    let second = upload(&app, &png_with_damaged_pixels()).await;

    // Someone holds every slot (a heavy decode).
    let gate = app.desk.settings.decodes.clone();
    let held = gate.enter(HEAVY_DECODE_BYTES + 1).await.unwrap();
    assert_eq!(gate.free(), 0);
    let app = Arc::new(app);
    let worker = tokio::spawn(async move {
        jobs.handle(&EmbedJob {
            case_id,
            generation: 1,
        })
        .await
    });
    let a = app.clone();
    let check = tokio::spawn(async move { submit(&a, &second).await });
    // The page view needs no slot.
    let a = app.clone();
    let page = tokio::time::timeout(
        Duration::from_secs(10),
        async move { view(&a, &first).await },
    )
    .await
    .expect("the page view waited for a decode slot");
    assert_eq!(page.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!worker.is_finished() && !check.is_finished());
    assert_eq!(
        analyzer.0.load(Ordering::SeqCst),
        0,
        "analysed without a slot"
    );

    drop(held);
    worker.await.unwrap().unwrap();
    assert_eq!(analyzer.0.load(Ordering::SeqCst), 1);
    assert_eq!(check.await.unwrap().status, 422);
    assert_eq!(gate.free(), gate.slots() as usize);
}
