//! Embedding jobs end to end in the embedded mode with the real face pipeline (YuNet + SFace on
//! tract) on real photos: awaiting review with biometrics stored apart, quality gates asking for a
//! better photo by email and taking a new one, idempotent redelivery, withdrawn cases, dead jobs.

use crate::common::*;
use optout_core::embedding::EmbedJobs;
use optout_core::model::{CaseId, EmbedJob};
use optout_core::ports::{BiometricStore, JobHandler, PhotoAnalyzer, SystemClock};
use optout_face::FaceAnalyzer;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::common::fixture;

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

async fn start_with_worker() -> (TestApp, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::start_in(
        tmp.path(),
        desk_args(),
        Some(analyzer()),
        Arc::new(SystemClock),
    )
    .await;
    (app, tmp)
}

fn token(case: &Value) -> String {
    case["status_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

async fn wait_for_state(app: &TestApp, token: &str, state: &str) -> Value {
    let c = app.client();
    let mut last = Value::Null;
    for _ in 0..600 {
        last = c
            .get(format!("{}/v1/status/{token}", app.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if last["state"] == state {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("state {state} not reached: {last}");
}

fn case_id(case: &Value) -> CaseId {
    CaseId::parse(case["id"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portrait_is_embedded_and_awaits_review() {
    let (app, _tmp) = start_with_worker().await;
    let case = submit_face(&app, fixture("person_a_1.jpg")).await;
    wait_for_state(&app, &token(&case), "awaiting_review").await;
    let b = app
        .system
        .biometrics()
        .get_biometrics(case_id(&case))
        .await
        .unwrap()
        .expect("biometrics stored");
    assert_eq!(b.findings.verdict, optout_core::Verdict::Ok);
    let e = b.findings.embedding.as_ref().unwrap();
    assert_eq!(e.as_slice().len(), 128);
    assert!(
        (e.as_slice().iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-3,
        "L2-normalised"
    );
    assert!(b.findings.pdq.is_some());
    // Biometrics are kept apart from the personal data.
    let db = rusqlite_open(&app.dir);
    let data: String = db
        .query_row("SELECT data FROM biometrics", [], |r| r.get(0))
        .unwrap();
    assert!(!data.contains("Somchai") && !data.contains("example.org"));
    let jobs: Vec<(String, String)> = {
        let mut st = db.prepare("SELECT id, state FROM jobs").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].1, "done");
    // A redelivered job changes nothing.
    let handler = EmbedJobs {
        desk: app.system.desk.clone(),
        analyzer: analyzer(),
    };
    let trail_before = app
        .system
        .desk
        .ports
        .cases
        .audit_trail(case_id(&case))
        .await
        .unwrap()
        .len();
    handler
        .handle(&EmbedJob {
            case_id: case_id(&case),
            generation: 1,
        })
        .await
        .unwrap();
    let trail_after = app
        .system
        .desk
        .ports
        .cases
        .audit_trail(case_id(&case))
        .await
        .unwrap()
        .len();
    assert_eq!(trail_before, trail_after);
    // Withdrawal deletes the biometrics.
    let r = app
        .client()
        .post(format!("{}/v1/status/{}/withdraw", app.url, token(&case)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        app.system
            .biometrics()
            .get_biometrics(case_id(&case))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_photo_asks_for_a_better_one_which_goes_through_the_same_pipeline() {
    let (app, _tmp) = start_with_worker().await;
    let case = submit_face(&app, jpeg(640, 480)).await;
    let t = token(&case);
    wait_for_state(&app, &t, "needs_better_photo").await;
    assert!(
        app.system
            .biometrics()
            .get_biometrics(case_id(&case))
            .await
            .unwrap()
            .is_none()
    );
    let mail = app.wait_for_mail("better photo").await;
    let text = eml_part(&mail, "text/plain");
    assert!(text.contains("could not find a face"), "{text}");
    let link = format!("{}/status/{t}/photo", app.url);
    assert!(text.contains(&link));
    // The status page says why and links to the upload.
    let c = app.client();
    let page = c
        .get(format!("{}/status/{t}", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-state=\"needs_better_photo\"") && page.contains("id=\"better-photo\"")
    );
    // Upload a good photo through the HTML flow.
    let page = c.get(&link).send().await.unwrap().text().await.unwrap();
    let r = upload(&app, &page, fixture("person_b_1.jpg"), "image/jpeg").await;
    assert_eq!(r.status(), 303);
    let confirm = c
        .get(r.headers()["location"].to_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fields = hidden_inputs(&confirm);
    let r = c.post(&link).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), 200);
    wait_for_state(&app, &t, "awaiting_review").await;
    let b = app
        .system
        .biometrics()
        .get_biometrics(case_id(&case))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.generation, 2);
    assert_eq!(app.count("uploads"), 1, "the unusable photo was deleted");
    // The API refuses a second replacement now.
    let key = upload_api(&app, fixture("person_b_2.jpg")).await;
    let r = c
        .post(format!("{}/v1/status/{t}/photo", app.url))
        .json(&json!({"upload_key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_photo_asks_for_a_photo_of_only_the_requester() {
    let (app, _tmp) = start_with_worker().await;
    let case = submit_face(&app, fixture("t1.jpg")).await;
    let s = wait_for_state(&app, &token(&case), "needs_better_photo").await;
    assert_eq!(s["state"], "needs_better_photo");
    let mail = app.wait_for_mail("better photo").await;
    assert!(eml_part(&mail, "text/plain").contains("several people"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_withdrawn_cases_do_nothing_and_bad_jobs_are_parked() {
    // No worker: jobs stay queued until run by hand.
    let app = TestApp::start().await;
    let case = submit_face(&app, fixture("person_a_2.jpg")).await;
    let r = app
        .client()
        .post(format!("{}/v1/status/{}/withdraw", app.url, token(&case)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let handler: Arc<dyn JobHandler> = Arc::new(EmbedJobs {
        desk: app.system.desk.clone(),
        analyzer: analyzer(),
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
    assert!(
        app.system
            .biometrics()
            .get_biometrics(case_id(&case))
            .await
            .unwrap()
            .is_none()
    );
    let s: Value = app
        .client()
        .get(format!("{}/v1/status/{}", app.url, token(&case)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
