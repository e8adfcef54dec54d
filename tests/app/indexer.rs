//! The indexer API end to end over HTTP in the embedded mode: keys (made by the code the
//! `optout indexer-key` command runs) and their rate limits, batch checks of links, hashes and
//! faces of cases approved through the review desk, withdrawal taking effect at once, the change
//! feed, snapshots and their replay, and that no personal data ever comes out.

use crate::common::*;
use crate::desk::*;
use optout::indexer_key::{IndexerKeyArgs, IndexerKeyCommand};
use optout_client::{ApiKey, Client, Mirror};
use optout_core::ports::{PhotoAnalyzer, PhotoFindings, SystemClock};
use optout_matcher::rng::SplitMix64;
use optout_matcher::synth::{flip_bits, perturb, random_unit};
use optout_matcher::wire::{ChangesResponse, CheckResponse, Snapshot, WireState};
use optout_matcher::{Candidate, ExclusionConfig, FaceConfig, FaceEmbedding, Sha256};
use serde_json::{Value, json};
use std::sync::Arc;

/// Everything personal the submissions in these tests carry (see `desk.rs` and `dsa_notice`).
const PERSONAL: &[&str] = &[
    "Somchai",
    "Jaidee",
    "somchai@example.org",
    "66812345678",
    "Anna",
    "Schmidt",
    "anna@example.org",
    "4930123456",
    "Please remove my face",
    "published without my consent",
];

/// An app, an indexer key without a practical rate limit, and alice's session.
async fn with_key_and_reviewer() -> (TestApp, String, String) {
    let app = start(Arc::new(SystemClock)).await;
    let key = new_key(&app, 10_000).await;
    let alice = login(&app, "alice").await;
    (app, key, alice)
}

/// A new key of `rate` requests per minute, made on the app's database.
async fn new_key(app: &TestApp, rate: u32) -> String {
    app.system
        .indexer_keys
        .create("test-indexer", rate)
        .await
        .unwrap()
        .1
}

async fn post_check(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    let r = app.client().post(app.url("/v1/exclusions/check"));
    r.bearer_auth(key).json(body).send().await.unwrap()
}

async fn get_with(app: &TestApp, key: &str, path: &str) -> reqwest::Response {
    let r = app.client().get(app.url(path));
    r.bearer_auth(key).send().await.unwrap()
}

/// The body of a response as JSON after checking it carries nothing personal and is not cached.
async fn body(r: reqwest::Response) -> Value {
    assert_eq!(r.headers()["cache-control"], "no-store");
    let text = r.text().await.unwrap();
    for p in PERSONAL {
        assert!(!text.contains(p), "{p:?} in an indexer response: {text}");
    }
    serde_json::from_str(&text).unwrap()
}

/// Checks `candidates`; the answer must be 200 and match the documented schema.
async fn check(app: &TestApp, key: &str, candidates: &[Value]) -> CheckResponse {
    let r = post_check(app, key, &json!({ "candidates": candidates })).await;
    assert_eq!(r.status(), 200);
    let v = body(r).await;
    assert_schema(app, "CheckResponse", &v).await;
    serde_json::from_value(v).unwrap()
}

fn excluded(r: &CheckResponse) -> Vec<bool> {
    r.results.iter().map(|r| r.excluded).collect()
}

async fn changes(app: &TestApp, key: &str, query: &str) -> ChangesResponse {
    let r = get_with(app, key, &format!("/v1/exclusions/changes{query}")).await;
    assert_eq!(r.status(), 200, "{query}");
    let v = body(r).await;
    assert_schema(app, "ChangesResponse", &v).await;
    serde_json::from_value(v).unwrap()
}

/// Asserts a 4xx indexer error with `code` (and `index`), documented schema included.
async fn assert_error(app: &TestApp, r: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status(), status);
    let v = body(r).await;
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    assert_schema(app, "IndexerError", &v).await;
    v
}

fn face_candidate(e: &FaceEmbedding) -> Value {
    json!({ "face": e.as_array().to_vec() })
}

/// A DSA notice with these links, submitted and waiting for review.
async fn dsa_notice(app: &TestApp, links: &[&str]) -> Submitted {
    submit_notice(app, "DE", links).await
}

/// A face opt-out of `photo`, approved by a reviewer; returns it and what the stand-in pipeline
/// found in the photo.
async fn approved_face(app: &TestApp, cookie: &str, photo: Vec<u8>) -> (Submitted, PhotoFindings) {
    let findings = FakeAnalyzer.analyze(&photo).unwrap();
    let case = submit_face_case(app, "en", photo).await;
    assert_eq!(approve(app, cookie, case.id).await.status(), 303);
    (case, findings)
}

#[test]
fn the_default_face_threshold_is_the_calibrated_one() {
    assert_eq!(
        optout_core::exclusions::MatchSettings::default().face_threshold,
        optout_face::FACE_MATCH_THRESHOLD
    );
    // A mirror opened without settings (`Mirror::open`) matches as the server does.
    assert_eq!(
        optout_matcher::FaceConfig::default().threshold,
        optout_face::FACE_MATCH_THRESHOLD
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexer_requests_need_a_known_unrevoked_key() {
    let app = start(Arc::new(SystemClock)).await;
    let (stored, key) = app
        .system
        .indexer_keys
        .create("crawler", 600)
        .await
        .unwrap();
    let ok_body = json!({ "candidates": [{ "url": "https://example.com/a.jpg" }] });
    assert_eq!(post_check(&app, &key, &ok_body).await.status(), 200);

    let wrong_secret = format!(
        "{}{}",
        &key[..key.len() - 1],
        if key.ends_with('0') { '1' } else { '0' }
    );
    let unknown = format!("optk_000000000000_{}", &key[18..]);
    let c = app.client();
    for path in [
        "/v1/exclusions/check",
        "/v1/exclusions/changes",
        "/v1/exclusions/snapshot",
    ] {
        let send = |auth: Option<String>| {
            let mut req = if path.ends_with("check") {
                c.post(app.url(path)).json(&ok_body)
            } else {
                c.get(app.url(path))
            };
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            req.send()
        };
        let r = send(None).await.unwrap();
        assert_eq!(
            r.headers()["www-authenticate"],
            "Bearer realm=\"optout-indexer\""
        );
        assert_error(&app, r, 401, "unauthorized").await;
        for auth in [
            "Bearer".to_owned(),
            "Bearer nope".to_owned(),
            format!("Basic {key}"),
            format!("Bearer {}", key.to_uppercase()),
            format!("Bearer {wrong_secret}"),
            format!("Bearer {unknown}"),
        ] {
            let r = send(Some(auth.clone())).await.unwrap();
            let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
            assert!(
                challenge.starts_with("Bearer ") && challenge.contains("invalid_token"),
                "{auth}"
            );
            let v = assert_error(&app, r, 401, "unauthorized").await;
            assert!(!v.to_string().contains(&key[18..]), "the secret is echoed");
        }
        let r = send(Some(format!("bearer {key}"))).await.unwrap();
        assert_eq!(r.status(), 200, "{path}: the scheme is case-insensitive");
    }

    // Revoked keys are refused from the next request on.
    app.system.indexer_keys.revoke(&stored.id).await.unwrap();
    let r = post_check(&app, &key, &ok_body).await;
    assert!(r.headers().contains_key("www-authenticate"));
    assert_error(&app, r, 401, "unauthorized").await;
    let r = get_with(&app, &key, "/v1/exclusions/snapshot").await;
    assert_error(&app, r, 401, "unauthorized").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_has_its_own_rate_limit() {
    let app = start(Arc::new(SystemClock)).await;
    let slow = new_key(&app, 3).await;
    let other = new_key(&app, 3).await;
    let status = |key: &str, path: &'static str| {
        let (app, key) = (&app, key.to_owned());
        async move { get_with(app, &key, path).await.status() }
    };
    for _ in 0..3 {
        assert_eq!(status(&slow, "/v1/exclusions/changes").await, 200);
    }
    let r = post_check(&app, &slow, &json!({ "candidates": [{ "sha256": "00" }] })).await;
    // 3 per minute: the next token comes in 20 seconds.
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    assert_error(&app, r, 429, "rate_limited").await;
    assert_eq!(status(&slow, "/v1/exclusions/snapshot").await, 429);
    assert_eq!(status(&other, "/v1/exclusions/snapshot").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_batches_get_400_with_the_index_of_the_bad_candidate() {
    let app = start(Arc::new(SystemClock)).await;
    let key = new_key(&app, 10_000).await;
    let good = json!({ "url": "https://example.com/a.jpg" });
    let mut unit = vec![0.0f32; 128];
    unit[0] = 1.0;
    let face_with = |i: usize, v: Value| {
        let mut face: Vec<Value> = unit.iter().map(|x| json!(x)).collect();
        face[i] = v;
        json!({ "face": face })
    };
    let bad_items = [
        json!({ "sha256": "zz".repeat(32) }),
        json!({ "pdq": "abc" }),
        json!({ "face": vec![0.1; 127] }),
        json!({ "face": vec![0.5; 128] }),
        face_with(5, json!(1e39)),
        face_with(5, json!("x")),
        json!({ "url": "javascript:alert(1)" }),
        json!({ "url": "https://exa mple.com/a.jpg" }),
        json!({ "url": 5 }),
        json!({ "photo": "https://example.com/a.jpg" }),
        json!({ "url": "https://example.com/a.jpg", "sha256": "00".repeat(32) }),
        json!("https://example.com/a.jpg"),
    ];
    for bad in &bad_items {
        let candidates = vec![good.clone(), good.clone(), bad.clone(), good.clone()];
        let r = post_check(&app, &key, &json!({ "candidates": candidates })).await;
        let v = assert_error(&app, r, 400, "invalid_candidate").await;
        assert_eq!(v["error"]["index"], 2, "{bad}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("candidates[2]"),
            "{v}"
        );
    }
    assert!(matches_schema(&app, "CheckRequest", &json!({ "candidates": [good.clone(), face_candidate(&FaceEmbedding::new(&unit).unwrap()), { "sha256": "00".repeat(32) }, { "pdq": "AB".repeat(32) }] })).await);
    assert!(
        !matches_schema(
            &app,
            "CheckRequest",
            &json!({ "candidates": [bad_items[2].clone()] })
        )
        .await
    );

    // The envelope.
    let r = post_check(
        &app,
        &key,
        &json!({ "candidates": vec![good.clone(); 1001] }),
    )
    .await;
    let v = assert_error(&app, r, 400, "too_many_candidates").await;
    assert!(v["error"].get("index").is_none());
    let r = post_check(&app, &key, &json!({ "candidates": [] })).await;
    assert_error(&app, r, 400, "malformed_request").await;
    for b in [
        json!({}),
        json!([good.clone()]),
        json!({ "candidates": [good.clone()], "more": 1 }),
    ] {
        let r = post_check(&app, &key, &b).await;
        assert_error(&app, r, 400, "malformed_request").await;
    }
    let c = app.client();
    let send_raw = |ct: &'static str, bytes: Vec<u8>| {
        c.post(app.url("/v1/exclusions/check"))
            .bearer_auth(&key)
            .header("content-type", ct)
            .body(bytes)
            .send()
    };
    let r = send_raw("application/json", b"{\"candidates\": [".to_vec())
        .await
        .unwrap();
    assert_error(&app, r, 400, "malformed_request").await;
    let r = send_raw(
        "text/plain",
        serde_json::to_vec(&json!({ "candidates": [good.clone()] })).unwrap(),
    )
    .await
    .unwrap();
    assert_error(&app, r, 415, "unsupported_media_type").await;
    let r = send_raw("application/json", vec![b' '; 4 * 1024 * 1024 + 1])
        .await
        .unwrap();
    assert_error(&app, r, 413, "payload_too_large").await;

    // A full batch of faces (about 2.5 MB of JSON) fits.
    let mut rng = SplitMix64::new(1);
    let faces: Vec<Value> = (0..1000)
        .map(|_| face_candidate(&random_unit(&mut rng)))
        .collect();
    let r = check(&app, &key, &faces).await;
    assert_eq!(r.results.len(), 1000);
    assert!(r.results.iter().all(|r| !r.excluded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_links_match_their_variants_and_nothing_else() {
    let (app, key, alice) = with_key_and_reviewer().await;
    let notice = dsa_notice(
        &app,
        &[
            "https://Photos.Example.com/albums/me.jpg?id=7&utm_source=mail",
            "http://example.org/x/y.png",
        ],
    )
    .await;
    let variants = [
        "https://photos.example.com/albums/me.jpg?id=7",
        "HTTPS://PHOTOS.EXAMPLE.COM/albums/me.jpg?id=7",
        "https://photos.example.com:443/albums/me.jpg?id=7",
        "https://photos.example.com/albums/me.jpg/?id=7",
        "https://photos.example.com/albums/me.jpg?id=7#comments",
        "https://photos.example.com/albums/me.jpg?utm_medium=social&id=7&utm_campaign=x&fbclid=abc",
        "https://photos.example.com/albums/%6De.jpg?id=7",
        "http://photos.example.com/albums/me.jpg?id=7",
        "http://EXAMPLE.org:80/x/y.png",
        "https://example.org/x/./y.png/",
    ];
    let others = [
        "https://photos.example.com/albums/you.jpg?id=7",
        "https://photos.example.com/albums/me.jpg?id=8",
        "https://photos.example.com/Albums/me.jpg?id=7",
        "https://photos.example.com/albums/me.jpg",
        "https://example.org/x/y.png.jpg",
    ];
    let candidates: Vec<Value> = variants
        .iter()
        .chain(&others)
        .map(|u| json!({ "url": u }))
        .collect();
    let before = check(&app, &key, &candidates).await;
    assert!(before.results.iter().all(|r| !r.excluded));

    assert_eq!(approve(&app, &alice, notice.id).await.status(), 303);
    let after = check(&app, &key, &candidates).await;
    let mut want = vec![true; variants.len()];
    want.extend(vec![false; others.len()]);
    assert_eq!(excluded(&after), want);
    let entries = app.system.desk.ports.exclusions.active().await.unwrap();
    let ids: Vec<u64> = entries.iter().map(|e| e.id).collect();
    for r in after.results.iter().filter(|r| r.excluded) {
        assert_eq!(r.kind, Some(optout_matcher::Kind::Url));
        assert!(ids.contains(&r.entry_id.unwrap()));
    }
    assert_eq!(after.position, changes(&app, &key, "").await.head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_face_matches_until_the_request_is_withdrawn() {
    let (app, key, alice) = with_key_and_reviewer().await;
    let (case, found) = approved_face(&app, &alice, jpeg(640, 480)).await;
    let stored = found.embedding.clone().unwrap();
    let pdq = found.pdq.unwrap();
    let mut rng = SplitMix64::new(42);
    let near = perturb(&mut rng, &stored, 0.7);
    let below = perturb(&mut rng, &stored, 0.4);
    let candidates = vec![
        json!({ "sha256": found.sha256 }),
        json!({ "sha256": found.sha256.to_hex().to_uppercase() }),
        json!({ "pdq": found.pdq }),
        json!({ "pdq": flip_bits(&mut rng, &pdq, 31).to_hex() }),
        json!({ "pdq": flip_bits(&mut rng, &pdq, 32).to_hex() }),
        json!({ "pdq": flip_bits(&mut rng, &pdq, 60).to_hex() }),
        face_candidate(&stored),
        face_candidate(&near),
        face_candidate(&below),
        face_candidate(&random_unit(&mut rng)),
        json!({ "sha256": Sha256(rng.bytes32()).to_hex() }),
    ];
    let r = check(&app, &key, &candidates).await;
    assert_eq!(
        excluded(&r),
        vec![
            true, true, true, true, false, false, true, true, false, false, false
        ]
    );
    assert_eq!(r.results[3].distance, Some(31));
    assert_eq!(r.results[2].distance, Some(0));
    let sim = r.results[7].similarity.unwrap();
    assert!((sim.get() - 0.7).abs() < 0.01, "{sim}");
    assert!(r.results[6].similarity.unwrap().get() > 0.999);
    let feed = changes(&app, &key, "").await;
    assert_eq!(r.position, feed.head);
    assert_eq!(feed.changes.len(), 3);
    assert!(feed.changes.iter().all(|e| e.state == WireState::Active));

    // The requester withdraws: nothing matches from the very next request on.
    withdraw(&app, &case.token).await;
    let r2 = check(&app, &key, &candidates).await;
    assert_eq!(excluded(&r2), vec![false; candidates.len()]);
    let feed2 = changes(&app, &key, &format!("?after={}", r.position)).await;
    assert_eq!(r2.position, feed2.head);
    assert_eq!(feed2.changes.len(), 3);
    assert!(
        feed2
            .changes
            .iter()
            .all(|e| e.state == WireState::Withdrawn)
    );
    assert!(feed2.changes.iter().all(|e| e.position > r.position));
    let mut ids: Vec<u64> = feed2.changes.iter().map(|e| e.id).collect();
    let mut before: Vec<u64> = feed.changes.iter().map(|e| e.id).collect();
    ids.sort();
    before.sort();
    assert_eq!(ids, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_pages_and_a_snapshot_replayed_with_it_answers_like_the_api() {
    let (app, key, alice) = with_key_and_reviewer().await;
    let (face_a, found_a) = approved_face(&app, &alice, jpeg(640, 480)).await;
    let notice = dsa_notice(
        &app,
        &["https://example.com/a.jpg", "https://example.net/b.jpg"],
    )
    .await;
    assert_eq!(approve(&app, &alice, notice.id).await.status(), 303);
    let (face_b, found_b) = approved_face(&app, &alice, jpeg(600, 400)).await;
    withdraw(&app, &face_a.token).await;
    // 3 + 2 + 3 entries, then 3 withdrawn: positions 1..=11.

    // Paging.
    let all = changes(&app, &key, "?limit=10000").await;
    assert_eq!((all.head, all.next_after, all.changes.len()), (11, 11, 8));
    let positions: Vec<u64> = all.changes.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![4, 5, 6, 7, 8, 9, 10, 11]);
    let mut after = 0;
    let mut paged = Vec::new();
    loop {
        let page = changes(&app, &key, &format!("?after={after}&limit=3")).await;
        assert!(page.changes.len() <= 3);
        paged.extend(page.changes.iter().map(|e| e.position));
        assert!(page.next_after <= page.head);
        after = page.next_after;
        if after == page.head {
            break;
        }
    }
    assert_eq!(paged, positions);
    let first = changes(&app, &key, "?limit=2").await;
    assert_eq!(first.next_after, 5);
    let tail = changes(&app, &key, "?after=11").await;
    assert!(tail.changes.is_empty());
    assert_eq!((tail.next_after, tail.head), (11, 11));
    for q in [
        "?after=-1",
        "?after=abc",
        "?after=1.5",
        "?after=",
        "?after=99999999999999999999999",
        "?limit=0",
        "?limit=10001",
        "?limit=x",
        "?after=1&after=2",
        "?since=3",
    ] {
        let r = get_with(&app, &key, &format!("/v1/exclusions/changes{q}")).await;
        assert_error(&app, r, 400, "invalid_query").await;
    }
    // A position this feed never reached: another deployment's (409, start from a snapshot).
    let r = get_with(&app, &key, "/v1/exclusions/changes?after=12").await;
    assert_error(&app, r, 409, "beyond_head").await;

    // The snapshot is the active set, labelled with the head.
    let r = get_with(&app, &key, "/v1/exclusions/snapshot").await;
    assert_eq!(r.status(), 200);
    let v = body(r).await;
    assert_schema(&app, "Snapshot", &v).await;
    for case in [face_a.id, face_b.id, notice.id] {
        assert!(
            !v.to_string().contains(&case.to_string()),
            "a case id in the snapshot"
        );
    }
    let snap: Snapshot = serde_json::from_value(v).unwrap();
    assert_eq!(snap.position, 11);
    let active = app.system.desk.ports.exclusions.active().await.unwrap();
    let mut snap_ids: Vec<u64> = snap.entries.iter().map(|e| e.id).collect();
    let mut active_ids: Vec<u64> = active.iter().map(|e| e.id).collect();
    snap_ids.sort();
    active_ids.sort();
    assert_eq!(snap_ids, active_ids);
    assert_eq!(snap.entries.len(), 5);
    assert!(snap.entries.iter().all(|e| e.state == WireState::Active));

    // Changes after it: the second face is withdrawn, a third face and another notice approved.
    withdraw(&app, &face_b.token).await;
    let (_, found_c) = approved_face(&app, &alice, jpeg(500, 500)).await;
    let notice2 = dsa_notice(&app, &["https://example.com/c.jpg"]).await;
    assert_eq!(approve(&app, &alice, notice2.id).await.status(), 303);

    // Replay: the snapshot, then the feed after its position (in pages of two), into a mirror
    // of the client's.
    let settings = app.system.indexer.ports.exclusions.settings();
    let config = ExclusionConfig {
        pdq_radius: settings.pdq_radius,
        face: FaceConfig {
            threshold: settings.face_threshold,
            ..FaceConfig::default()
        },
    };
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = Mirror::open_with(dir.path(), config).unwrap();
    mirror.load_snapshot(snap).unwrap();
    mirror.set_page_limit(2);
    let client = Client::new(&app.url, ApiKey::new(&key).unwrap()).unwrap();
    let replayed = mirror.sync(&client).await.unwrap();
    assert!(!replayed.snapshot_loaded);

    let mut rng = SplitMix64::new(7);
    let mut candidates: Vec<Candidate> = Vec::new();
    for f in [&found_a, &found_b, &found_c] {
        let e = f.embedding.clone().unwrap();
        let pdq = f.pdq.unwrap();
        candidates.push(Candidate::from(f.sha256));
        candidates.push(Candidate::Pdq(flip_bits(&mut rng, &pdq, 25).to_hex()));
        candidates.push(Candidate::Face(
            perturb(&mut rng, &e, 0.75).as_array().to_vec(),
        ));
    }
    for u in [
        "https://example.com/a.jpg",
        "https://EXAMPLE.net/b.jpg#x",
        "https://example.com/c.jpg/",
        "https://example.com/d.jpg",
    ] {
        candidates.push(Candidate::Url(u.to_owned()));
    }
    let wire: Vec<Value> = candidates
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    let served = check(&app, &key, &wire).await;
    assert_eq!(served.position, replayed.position);
    assert_eq!(served, mirror.check(&candidates).unwrap());
    assert_eq!(
        excluded(&served),
        vec![
            false, false, false, false, false, false, true, true, true, true, true, true, false
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_made_with_the_cli_work_until_revoked_and_are_never_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let app = TestApp::start_in(tmp.path(), Setup::default()).await;
    let run = |command: IndexerKeyCommand| async move {
        let mut out = Vec::new();
        let args = IndexerKeyArgs {
            command,
            aws: Default::default(),
        };
        let r = optout::indexer_key::run(&args, &mut out).await;
        (r, String::from_utf8(out).unwrap())
    };
    let data = tmp.path().to_owned();
    let (r, out) = run(IndexerKeyCommand::Create {
        data: data.clone(),
        name: "crawler-eu".into(),
        rate_per_minute: 120,
    })
    .await;
    r.unwrap();
    let key = out.trim().to_owned();
    assert!(key.starts_with("optk_") && key.len() == 82, "{out}");
    let id = key[5..17].to_owned();
    let changes = |key: &str| {
        let (app, key) = (&app, key.to_owned());
        async move { get_with(app, &key, "/v1/exclusions/changes").await.status() }
    };
    assert_eq!(changes(&key).await, 200);

    let (r, listed) = run(IndexerKeyCommand::List { data: data.clone() }).await;
    r.unwrap();
    assert!(listed.contains(&id) && listed.contains("crawler-eu") && listed.contains("120"));
    assert!(!listed.contains(&key[18..]), "a secret was listed");
    let hash = optout_core::indexer_keys::secret_sha256(&key[18..]);
    assert!(!listed.contains(&hash));

    let (r, _) = run(IndexerKeyCommand::Create {
        data: data.clone(),
        name: "".into(),
        rate_per_minute: 120,
    })
    .await;
    assert!(r.is_err());
    let (r, out) = run(IndexerKeyCommand::Revoke {
        data: data.clone(),
        id: id.clone(),
    })
    .await;
    r.unwrap();
    assert!(out.starts_with("revoked "));
    assert_eq!(changes(&key).await, 401);
    let (r, _) = run(IndexerKeyCommand::Revoke {
        data: data.clone(),
        id: "000000000000".into(),
    })
    .await;
    assert!(r.is_err());
    let (r, _) = run(IndexerKeyCommand::List {
        data: tmp.path().join("nowhere"),
    })
    .await;
    assert!(r.is_err());
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_describes_the_indexer_api() {
    let app = start(Arc::new(SystemClock)).await;
    let doc = app.get_json("/openapi.json").await;
    for (path, method) in [
        ("/v1/exclusions/check", "post"),
        ("/v1/exclusions/changes", "get"),
        ("/v1/exclusions/snapshot", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["security"][0]["indexer_key"], json!([]), "{path}");
        assert!(op["responses"]["401"].is_object() && op["responses"]["429"].is_object());
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["indexer_key"]["scheme"],
        "bearer"
    );
}
