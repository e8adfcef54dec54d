//! The client library (`optout-client`) and the `optout check` / `optout sync` commands against
//! the real server in the embedded mode: batches larger than one request, a mirror that answers
//! like the API and follows a withdrawal, a refused key, and the commands' output and exit codes.

use crate::common::*;
use crate::desk::*;
use optout_client::{ApiKey, Client, ClientError, MAX_BATCH, Mirror};
use optout_core::ports::{PhotoAnalyzer, PhotoFindings, SystemClock};
use optout_matcher::wire::{CheckResponse, Snapshot};
use optout_matcher::{
    Candidate, ExclusionConfig, FACE_MATCH_THRESHOLD, FaceConfig, PDQ_MATCH_DISTANCE,
};
use std::sync::Arc;

const LINK: &str = "https://example.com/a.jpg";

async fn new_key(app: &TestApp) -> String {
    app.system
        .indexer_keys
        .create("client-e2e", 100_000)
        .await
        .unwrap()
        .1
}

fn client(app: &TestApp, key: &str) -> Client {
    Client::new(&app.url, ApiKey::new(key).unwrap()).unwrap()
}

/// The matching settings the server runs with (the defaults), for a mirror that answers alike.
fn server_config() -> ExclusionConfig {
    ExclusionConfig {
        pdq_radius: PDQ_MATCH_DISTANCE,
        face: FaceConfig {
            threshold: FACE_MATCH_THRESHOLD,
            ..FaceConfig::default()
        },
    }
}

/// The app with an approved face opt-out and an approved DSA notice (with `LINK`): five active
/// entries; and an indexer key.
struct Approved {
    app: TestApp,
    key: String,
    face: Submitted,
    found: PhotoFindings,
}

async fn approved_cases() -> Approved {
    let app = start(Arc::new(SystemClock)).await;
    let key = new_key(&app).await;
    let alice = login(&app, "alice").await;
    let photo = jpeg(640, 480);
    let found = FakeAnalyzer.analyze(&photo).unwrap();
    let face = submit_face_case(&app, "en", photo).await;
    assert_eq!(approve(&app, &alice, face.id).await.status(), 303);
    let dsa = submit_dsa(&app, "DE").await; // https://Example.com/a.jpg#x, https://example.org/b.png
    assert_eq!(approve(&app, &alice, dsa.id).await.status(), 303);
    Approved {
        app,
        key,
        face,
        found,
    }
}

fn probes(found: &PhotoFindings) -> Vec<Candidate> {
    vec![
        Candidate::from(found.sha256),
        Candidate::from(found.pdq.unwrap()),
        Candidate::from(found.embedding.as_ref().unwrap()),
        Candidate::Url(LINK.into()),
        Candidate::Url("https://example.net/other.jpg".into()),
        Candidate::Sha256("0".repeat(64)),
    ]
}

fn excluded(r: &CheckResponse) -> Vec<bool> {
    r.results.iter().map(|r| r.excluded).collect()
}

#[tokio::test]
async fn the_client_splits_large_batches_and_keeps_their_order() {
    let Approved {
        app, key, found, ..
    } = approved_cases().await;
    let c = client(&app, &key);

    let n = 2 * MAX_BATCH + 500;
    let mut candidates: Vec<Candidate> = (0..n)
        .map(|i| Candidate::Sha256(format!("{:064x}", i + 1)))
        .collect();
    candidates[0] = Candidate::from(found.sha256);
    candidates[MAX_BATCH + 200] = Candidate::from(found.embedding.as_ref().unwrap());
    candidates[n - 1] = Candidate::Url(LINK.into());
    let r = c.check(&candidates).await.unwrap();
    assert_eq!(r.results.len(), n);
    let hits: Vec<usize> = (0..n).filter(|&i| r.results[i].excluded).collect();
    assert_eq!(hits, [0, MAX_BATCH + 200, n - 1]);
    let head = c.changes(0, 1).await.unwrap().head;
    assert_eq!(
        r.position, head,
        "nothing changed between the three requests"
    );

    // a bad candidate in the third request is named by its index in the whole input
    candidates[2 * MAX_BATCH + 7] = Candidate::Face(vec![0.5; 3]);
    match c.check(&candidates).await.unwrap_err() {
        ClientError::BadRequest { code, index, .. } => {
            assert_eq!(code, "invalid_candidate");
            assert_eq!(index, Some(2 * MAX_BATCH + 7));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_mirror_answers_like_the_api_and_follows_a_withdrawal() {
    let Approved {
        app,
        key,
        face,
        found,
    } = approved_cases().await;
    let c = client(&app, &key);
    let dir = tempfile::tempdir().unwrap();

    let snap: Snapshot = c.snapshot().await.unwrap();
    assert_eq!(snap.entries.len(), 5, "3 for the face case, 2 links");

    let mut mirror = Mirror::open_with(dir.path(), server_config()).unwrap();
    mirror.set_page_limit(2);
    let report = mirror.sync(&c).await.unwrap();
    assert!(report.snapshot_loaded);
    assert_eq!(report.active, 5);
    let api = c.check(&probes(&found)).await.unwrap();
    assert_eq!(excluded(&api), [true, true, true, true, false, false]);
    assert_eq!(mirror.check(&probes(&found)).unwrap(), api);

    withdraw(&app, &face.token).await;
    let api = c.check(&probes(&found)).await.unwrap();
    assert_eq!(excluded(&api), [false, false, false, true, false, false]);
    let report = mirror.sync(&c).await.unwrap();
    assert!(!report.snapshot_loaded);
    assert_eq!((report.applied, report.active), (3, 2));
    assert_eq!(report.position, api.position);
    assert_eq!(mirror.check(&probes(&found)).unwrap(), api);

    // from disk, and idempotent
    let mut reopened = Mirror::open_with(dir.path(), server_config()).unwrap();
    assert_eq!(reopened.check(&probes(&found)).unwrap(), api);
    let again = reopened.sync(&c).await.unwrap();
    assert_eq!((again.applied, again.position), (0, api.position));
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_never_echoed() {
    let app = start(Arc::new(SystemClock)).await;
    let key = format!("optk_000000000000_{}", "5ec7e7".repeat(10) + "abcd");
    let err = client(&app, &key).snapshot().await.unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("5ec7e7"), "{err:?}");
}

/// Runs the `optout` binary with a clean environment (plus `env`); returns status, stdout, stderr.
async fn optout(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_optout"));
    cmd.args(args);
    for var in [
        "OPTOUT_API_URL",
        "OPTOUT_API_KEY",
        "OPTOUT_PDQ_RADIUS",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    output_of(cmd).await
}

#[tokio::test]
async fn the_commands_check_links_and_keep_a_mirror() {
    let Approved { app, key, .. } = approved_cases().await;
    let dir = tempfile::tempdir().unwrap();
    let mirror = dir.path().join("mirror");
    let mirror = mirror.to_str().unwrap();
    let env = [
        ("OPTOUT_API_KEY", key.as_str()),
        ("OPTOUT_API_URL", app.url.as_str()),
    ];

    let (code, out, err) = optout(&["sync", "--into", mirror], &env).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(", 5 active entries ("), "{out}");
    assert!(
        !format!("{out}{err}").contains(&key[18..]),
        "the secret never appears"
    );

    let ask = [
        "check",
        "--url",
        "HTTPS://EXAMPLE.com/a.jpg",
        "--url",
        "https://example.net/x.jpg",
    ];
    let (code, api_out, err) = optout(&ask, &env).await;
    assert_eq!(code, 1, "{err}");
    let lines: Vec<&str> = api_out.lines().collect();
    assert_eq!(lines.len(), 2, "{api_out}");
    assert!(
        lines[0].starts_with("url     excluded=yes  entry="),
        "{api_out}"
    );
    assert!(lines[1].starts_with("url     excluded=no   -"), "{api_out}");

    let offline: Vec<&str> = ask.iter().copied().chain(["--mirror", mirror]).collect();
    let (code, mirror_out, err) = optout(&offline, &[]).await;
    assert_eq!(code, 1, "{err}");
    assert_eq!(mirror_out, api_out, "the mirror answers like the API");

    let (code, json, err) = optout(
        &[
            "check",
            "--url",
            "https://example.net/x.jpg",
            "--mirror",
            mirror,
            "--json",
        ],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let r: CheckResponse = serde_json::from_str(&json).unwrap();
    assert_eq!(excluded(&r), [false]);

    // errors exit with 2 and say what to do
    let (code, _, err) = optout(&ask, &[("OPTOUT_API_URL", app.url.as_str())]).await;
    assert_eq!(code, 2);
    assert!(err.contains("OPTOUT_API_KEY"), "{err}");
    let wrong = format!("optk_000000000000_{}", "f".repeat(64));
    let (code, _, err) = optout(
        &ask,
        &[
            ("OPTOUT_API_URL", app.url.as_str()),
            ("OPTOUT_API_KEY", wrong.as_str()),
        ],
    )
    .await;
    assert_eq!(code, 2);
    assert!(
        err.contains("unauthorized") && !err.contains(&wrong[18..]),
        "{err}"
    );
}
