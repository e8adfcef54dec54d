//! Embedding jobs end to end in the embedded mode with the real face pipeline (YuNet + SFace on
//! tract) on real photos: awaiting review with biometrics stored apart, quality gates asking for a
//! better photo by email and taking a new one, idempotent redelivery, withdrawn cases, dead jobs.

use crate::common::*;
use crate::desk::wait_for_state;
use optout_core::EmbedJobs;
use optout_core::model::EmbedJob;
use optout_core::ports::{JobHandler, PhotoAnalyzer};
use optout_face::FaceAnalyzer;
use serde_json::json;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

fn analyzer() -> Arc<dyn PhotoAnalyzer> {
    static ENGINE: OnceLock<Arc<optout_face::FaceEngine>> = OnceLock::new();
    let engine = ENGINE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/models");
        Arc::new(
            optout_face::FaceEngine::load(&dir).expect("face models (run scripts/setup-models)"),
        )
    });
    Arc::new(FaceAnalyzer(engine.clone()))
}

async fn start_with_worker() -> TestApp {
    TestApp::start_with(Setup {
        analyzer: Some(analyzer()),
        ..Setup::default()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portrait_is_embedded_and_awaits_review() {
    let app = start_with_worker().await;
    let case = submit_face(&app, fixture("person_a_1.jpg")).await;
    let (id, token) = (case_id(&case), status_token(&case));
    wait_for_state(&app, &token, "awaiting_review").await;
    let b = app.biometrics(id).await.expect("biometrics stored");
    assert_eq!(b.findings.verdict, optout_core::Verdict::Ok);
    let e = b.findings.embedding.as_ref().unwrap();
    assert_eq!(e.as_slice().len(), 128);
    assert!(
        (e.as_slice().iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-3,
        "L2-normalised"
    );
    assert!(b.findings.pdq.is_some());
    // Biometrics are kept apart from the personal data.
    let data: String = app.query("SELECT data FROM biometrics", []);
    assert!(!data.contains("Somchai") && !data.contains("example.org"));
    assert_eq!(app.count("jobs"), 1);
    let job_state: String = app.query("SELECT state FROM jobs", []);
    assert_eq!(job_state, "done");
    // A redelivered job changes nothing.
    let handler = EmbedJobs {
        desk: app.system.desk.clone(),
        analyzer: analyzer(),
        fetcher: Arc::new(optout_core::testing::FakeLinkFetcher::default()),
    };
    let trail_before = app.audit(id).await.len();
    let job = EmbedJob {
        case_id: id,
        generation: 1,
    };
    handler.handle(&job).await.unwrap();
    assert_eq!(trail_before, app.audit(id).await.len());
    // Withdrawal deletes the biometrics.
    let r = app.post(&format!("/v1/status/{token}/withdraw")).await;
    assert_eq!(r.status(), 200);
    assert!(app.biometrics(id).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_photo_asks_for_a_better_one_which_goes_through_the_same_pipeline() {
    let app = start_with_worker().await;
    let case = submit_face(&app, jpeg(640, 480)).await;
    let (id, t) = (case_id(&case), status_token(&case));
    wait_for_state(&app, &t, "needs_better_photo").await;
    assert!(app.biometrics(id).await.is_none());
    let mail = app.wait_for_mail("better photo").await;
    let text = eml_part(&mail, "text/plain");
    assert!(text.contains("could not find a face"), "{text}");
    let link = format!("{}/status/{t}/photo", app.url);
    assert!(text.contains(&link));
    // The status page says why and links to the upload.
    let page = app.get_text(&format!("/status/{t}")).await;
    assert!(
        page.contains("data-state=\"needs_better_photo\"") && page.contains("id=\"better-photo\"")
    );
    // Upload a good photo through the HTML flow.
    let page = app.get_text(&link).await;
    let r = upload(&app, &page, fixture("person_b_1.jpg"), "image/jpeg").await;
    assert_eq!(r.status(), 303);
    let confirm = app
        .get_text(r.headers()["location"].to_str().unwrap())
        .await;
    let r = app.post_form(&link, &hidden_inputs(&confirm)).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("We received your new photo"), "{page}");
    wait_for_state(&app, &t, "awaiting_review").await;
    assert_eq!(app.biometrics(id).await.unwrap().generation, 2);
    assert_eq!(app.count("uploads"), 1, "the unusable photo was deleted");
    // The API refuses a second replacement now.
    let key = upload_api(&app, fixture("person_b_2.jpg")).await;
    let r = app
        .post_json(
            &format!("/v1/status/{t}/photo"),
            &json!({"upload_key": key}),
        )
        .await;
    assert_eq!(r.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_photo_asks_for_a_photo_of_only_the_requester() {
    let app = start_with_worker().await;
    let case = submit_face(&app, fixture("t1.jpg")).await;
    let s = wait_for_state(&app, &status_token(&case), "needs_better_photo").await;
    assert_eq!(s["state"], "needs_better_photo");
    let mail = app.wait_for_mail("better photo").await;
    assert!(eml_part(&mail, "text/plain").contains("several people"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_withdrawn_cases_do_nothing_and_bad_jobs_are_parked() {
    // No worker: jobs stay queued until run by hand.
    let app = TestApp::start().await;
    let case = submit_face(&app, fixture("person_a_2.jpg")).await;
    let (id, token) = (case_id(&case), status_token(&case));
    let r = app.post(&format!("/v1/status/{token}/withdraw")).await;
    assert_eq!(r.status(), 200);
    let handler: Arc<dyn JobHandler> = Arc::new(EmbedJobs {
        desk: app.system.desk.clone(),
        analyzer: analyzer(),
        fetcher: Arc::new(optout_core::testing::FakeLinkFetcher::default()),
    });
    let worker = optout_embedded::Worker {
        queue: app.system.queue.clone(),
        handler: handler.clone(),
        config: optout_embedded::WorkerConfig {
            max_attempts: 2,
            backoff: Duration::ZERO,
            ..Default::default()
        },
    };
    assert!(matches!(
        worker.step().await.unwrap(),
        optout_embedded::queue::Step::Done(_)
    ));
    assert!(app.biometrics(id).await.is_none());
    let s = app.get_json(&format!("/v1/status/{token}")).await;
    assert_eq!(s["state"], "withdrawn");
    // A malformed job body is parked at once with its reason.
    rusqlite_open(&app.dir)
        .execute("INSERT INTO jobs (id, body, state, attempts, available_at, updated_at) VALUES ('bad', '{\"nope\":1}', 'queued', 0, 0, 0)", [])
        .unwrap();
    assert!(matches!(
        worker.step().await.unwrap(),
        optout_embedded::queue::Step::Failed(_)
    ));
    // A job whose photo is gone is parked too (never loops forever).
    let case2 = submit_face(&app, fixture("person_b_2.jpg")).await;
    let photo = std::fs::read_dir(app.dir.join("photos/uploads"))
        .unwrap()
        .count();
    assert!(photo >= 1);
    for e in std::fs::read_dir(app.dir.join("photos/uploads")).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    assert!(matches!(
        worker.step().await.unwrap(),
        optout_embedded::queue::Step::Failed(_)
    ));
    let rows = app.system.queue.jobs().await.unwrap();
    let failed: Vec<_> = rows.iter().filter(|j| j.state == "failed").collect();
    assert_eq!(failed.len(), 2, "{rows:?}");
    assert!(
        failed
            .iter()
            .all(|j| j.last_error.as_deref().is_some_and(|e| !e.is_empty()))
    );
    assert!(
        failed
            .iter()
            .any(|j| j.id.contains(&case2["id"].as_str().unwrap().to_string()))
    );
    assert!(matches!(
        worker.step().await.unwrap(),
        optout_embedded::queue::Step::Idle
    ));
}

/// A picture with no face (sky, hills and a sun), `w`×`h`; `seed` varies it.
fn landscape(w: u32, h: u32, seed: u32) -> image::RgbImage {
    let s = seed as f32;
    image::RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let hill = 0.6 + 0.08 * (fx * (7.0 + s)).sin() + 0.05 * (fx * 23.0 + s).cos();
        if ((fx - 0.3 - 0.1 * s).powi(2) + (fy - 0.2).powi(2)).sqrt() < 0.08 {
            image::Rgb([250, 220, 90])
        } else if fy > hill {
            image::Rgb([
                40,
                (90.0 + 60.0 * (fx * 40.0 + fy * 13.0 + s).sin().abs()) as u8,
                35,
            ])
        } else {
            image::Rgb([
                (120.0 - 60.0 * fy) as u8,
                (170.0 - 40.0 * fy) as u8,
                (255.0 - 120.0 * fy) as u8,
            ])
        }
    })
}

fn jpeg_of(img: &image::RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .unwrap();
    out
}

/// An image opt-out of a picture without a face, approved, with the real pipeline: `optout check
/// --image` (as an indexer runs it) finds a resized, re-encoded copy excluded by its PDQ hash,
/// and an unrelated picture not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optout_check_finds_a_copy_of_an_excluded_image() {
    let app = TestApp::start_with(Setup {
        analyzer: Some(analyzer()),
        ..Setup::default()
    })
    .await;
    let picture = landscape(900, 600, 1);
    let key = upload_api(&app, jpeg_of(&picture, 92)).await;
    let mut body = face_case(&key);
    body["kind"] = json!("image_opt_out");
    let s = crate::desk::submit(&app, body).await;
    wait_for_state(&app, &s.token, "awaiting_review").await;
    let alice = crate::desk::login(&app, "alice").await;
    assert_eq!(crate::desk::approve(&app, &alice, s.id).await.status(), 303);

    let api_key = app
        .system
        .indexer_keys
        .create("check", 1000)
        .await
        .unwrap()
        .1;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.jpg");
    let small = image::imageops::resize(&picture, 540, 360, image::imageops::FilterType::Triangle);
    std::fs::write(&copy, jpeg_of(&small, 70)).unwrap();
    let other = dir.path().join("other.jpg");
    std::fs::write(&other, jpeg_of(&landscape(900, 600, 4), 92)).unwrap();
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/models");
    let check = |file: &std::path::Path| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_optout"));
        cmd.args(["check", "--image", file.to_str().unwrap()])
            .env("OPTOUT_API_URL", &app.url)
            .env("OPTOUT_API_KEY", &api_key)
            .env("OPTOUT_MODEL_DIR", &models)
            .env_remove("OPTOUT_PDQ_RADIUS")
            .env_remove("RUST_LOG");
        output_of(cmd)
    };
    let (code, out, err) = check(&copy).await;
    assert_eq!(code, 1, "the copy is excluded: {out}{err}");
    assert!(
        out.lines().any(|l| l.starts_with("pdq     excluded=yes")),
        "{out}"
    );
    let (code, out, err) = check(&other).await;
    assert_eq!(code, 0, "an unrelated picture is not: {out}{err}");
}
