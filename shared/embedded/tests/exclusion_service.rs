//! `optout_core::exclusions::ExclusionService` on the real SQLite exclusion table: checks see
//! additions and withdrawals at once, the feed pages, the snapshot and its replay agree with the
//! checks.

use chrono::Utc;
use optout_core::exclusions::{ChangesError, CheckError, ExclusionService, MatchSettings};
use optout_core::model::CaseId;
use optout_core::ports::{ExclusionStore, ExclusionValue, NewEntries};
use optout_embedded::{Db, SqliteExclusions};
use optout_matcher::rng::SplitMix64;
use optout_matcher::synth::{flip_bits, perturb, random_unit};
use optout_matcher::wire::{MAX_BATCH, WireState};
use optout_matcher::{
    Candidate, Entry, EntryValue, ExclusionConfig, ExclusionIndex, FaceConfig, FaceEmbedding, Kind,
    PdqHash, Sha256, normalize_url,
};
use std::sync::Arc;

fn setup() -> (Arc<SqliteExclusions>, ExclusionService) {
    let store = Arc::new(SqliteExclusions::new(Db::in_memory().unwrap()));
    let service = ExclusionService::new(store.clone(), MatchSettings::default());
    (store, service)
}

fn case() -> CaseId {
    CaseId::new(Utc::now())
}

struct Face {
    embedding: FaceEmbedding,
    pdq: PdqHash,
    sha: Sha256,
}

fn face(rng: &mut SplitMix64) -> Face {
    Face {
        embedding: random_unit(rng),
        pdq: PdqHash(rng.bytes32()),
        sha: Sha256(rng.bytes32()),
    }
}

fn values(f: &Face) -> Vec<ExclusionValue> {
    vec![
        ExclusionValue::Face(f.embedding.clone()),
        ExclusionValue::Sha256(f.sha),
        ExclusionValue::Pdq(f.pdq),
    ]
}

/// Adds the values of each face as the exclusions of a case of its own; returns the cases.
async fn exclude_each(store: &SqliteExclusions, faces: &[Face]) -> Vec<CaseId> {
    let mut ids = Vec::new();
    for f in faces {
        let id = case();
        store
            .add_entries(NewEntries::new(id, &values(f), Utc::now()))
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

fn url(s: &str) -> ExclusionValue {
    ExclusionValue::Url(normalize_url(s).unwrap())
}

fn excluded(r: &optout_matcher::wire::CheckResponse) -> Vec<bool> {
    r.results.iter().map(|r| r.excluded).collect()
}

#[tokio::test]
async fn checks_see_additions_and_withdrawals_at_once() {
    let (store, service) = setup();
    let mut rng = SplitMix64::new(7);
    let f = face(&mut rng);
    let candidates = vec![
        Candidate::Sha256(f.sha.to_hex().to_ascii_uppercase()),
        Candidate::Pdq(flip_bits(&mut rng, &f.pdq, 31).to_hex()),
        Candidate::Pdq(flip_bits(&mut rng, &f.pdq, 40).to_hex()),
        Candidate::Face(perturb(&mut rng, &f.embedding, 0.7).as_array().to_vec()),
        Candidate::Face(random_unit(&mut rng).as_array().to_vec()),
        Candidate::Url("https://example.com/a.jpg".into()),
    ];
    let r = service.check(candidates.clone()).await.unwrap();
    assert_eq!(r.position, 0);
    assert_eq!(excluded(&r), vec![false; 6]);

    let id = case();
    let mut vals = values(&f);
    vals.push(url("https://example.com/a.jpg"));
    store
        .add_entries(NewEntries::new(id, &vals, Utc::now()))
        .await
        .unwrap();
    let r = service.check(candidates.clone()).await.unwrap();
    assert_eq!(r.position, store.head().await.unwrap());
    assert_eq!(r.position, 4);
    assert_eq!(excluded(&r), vec![true, true, false, true, false, true]);
    assert_eq!(r.results[0].kind, Some(Kind::Sha256));
    assert_eq!(r.results[1].distance, Some(31));
    let sim = r.results[3].similarity.unwrap();
    assert!((sim.get() - 0.7).abs() < 0.01, "{sim}");
    assert_eq!(service.indexed().unwrap(), 4);

    store.withdraw_case(id, Utc::now()).await.unwrap();
    let r = service.check(candidates).await.unwrap();
    assert_eq!(r.position, 8);
    assert_eq!(excluded(&r), vec![false; 6]);
    assert_eq!(service.indexed().unwrap(), 0);
}

#[tokio::test]
async fn a_service_started_on_a_full_table_loads_the_active_set() {
    let store = Arc::new(SqliteExclusions::new(Db::in_memory().unwrap()));
    let mut rng = SplitMix64::new(11);
    let faces: Vec<Face> = (0..50).map(|_| face(&mut rng)).collect();
    let ids = exclude_each(&store, &faces).await;
    for id in ids.iter().step_by(2) {
        store.withdraw_case(*id, Utc::now()).await.unwrap();
    }
    let service = ExclusionService::new(store.clone(), MatchSettings::default());
    let candidates: Vec<Candidate> = faces.iter().map(|f| Candidate::from(f.sha)).collect();
    let r = service.check(candidates).await.unwrap();
    assert_eq!(r.position, store.head().await.unwrap());
    let want: Vec<bool> = (0..50).map(|i| i % 2 == 1).collect();
    assert_eq!(excluded(&r), want);
    assert_eq!(service.indexed().unwrap(), 75);
}

/// A stored value that does not parse is corrupt data, reported as such: never skipped in
/// silence, never matched.
#[tokio::test]
async fn a_stored_value_that_does_not_parse_is_corrupt() {
    let db = Db::in_memory().unwrap();
    let store = Arc::new(SqliteExclusions::new(db.clone()));
    store
        .add_entries(NewEntries::new(
            case(),
            &[url("https://example.com/a.jpg")],
            Utc::now(),
        ))
        .await
        .unwrap();
    let service = ExclusionService::new(store.clone(), MatchSettings::default());
    let check = vec![Candidate::Url("https://example.com/a.jpg".into())];
    assert!(service.check(check.clone()).await.unwrap().results[0].excluded);
    for (kind, value) in [
        ("url", "mailto:x@example.com"),
        ("sha256", "xyz"),
        ("pdq", ""),
        ("face", "[1.0, 0.0]"),
    ] {
        let at = Utc::now().to_rfc3339();
        let row = (case().to_string(), kind, value.to_owned(), at);
        db.call(move |conn| {
            conn.execute(
                "INSERT INTO exclusions (position, case_id, kind, value, state, created_at, updated_at)
                 VALUES ((SELECT MAX(position) + 1 FROM exclusions), ?1, ?2, ?3, 'active', ?4, ?4)",
                rusqlite::params![row.0, row.1, row.2, row.3],
            )
            .map_err(|e| optout_core::ports::StoreError::Unavailable(e.to_string()))
        })
        .await
        .unwrap();
        let err = store.active().await.unwrap_err();
        assert!(
            matches!(err, optout_core::ports::StoreError::Corrupt(_)),
            "{kind} {value:?}: {err:?}"
        );
        assert!(matches!(
            service.check(check.clone()).await,
            Err(CheckError::Store(optout_core::ports::StoreError::Corrupt(
                _
            )))
        ));
        db.call(|conn| {
            conn.execute("DELETE FROM exclusions WHERE position > 1", [])
                .map_err(|e| optout_core::ports::StoreError::Unavailable(e.to_string()))
        })
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn url_variants_match_and_other_paths_do_not() {
    let (store, service) = setup();
    store
        .add_entries(NewEntries::new(
            case(),
            &[url("https://example.com/photos/me.jpg?id=3")],
            Utc::now(),
        ))
        .await
        .unwrap();
    let same = [
        "https://example.com/photos/me.jpg?id=3",
        "HTTPS://EXAMPLE.COM/photos/me.jpg?id=3",
        "https://example.com:443/photos/me.jpg?id=3",
        "https://example.com/photos/me.jpg/?id=3",
        "https://example.com/photos/me.jpg?id=3#top",
        "https://example.com/photos/me.jpg?utm_source=x&id=3&fbclid=y",
        "https://example.com/photos/%6De.jpg?id=3",
        "http://example.com/photos/me.jpg?id=3",
    ];
    let different = [
        "https://example.com/photos/you.jpg?id=3",
        "https://example.com/photos/me.jpg?id=4",
        "https://example.com/Photos/me.jpg?id=3",
        "https://example.org/photos/me.jpg?id=3",
    ];
    let candidates = same
        .iter()
        .chain(&different)
        .map(|u| Candidate::Url((*u).to_owned()))
        .collect();
    let r = service.check(candidates).await.unwrap();
    let mut want = vec![true; same.len()];
    want.extend(vec![false; different.len()]);
    assert_eq!(excluded(&r), want);
}

#[tokio::test]
async fn bad_batches_are_refused_with_the_index_of_the_bad_candidate() {
    let (_, service) = setup();
    let ok = Candidate::Url("https://example.com/a".into());
    assert!(matches!(
        service.check(vec![]).await,
        Err(CheckError::Empty)
    ));
    assert!(matches!(
        service.check(vec![ok.clone(); MAX_BATCH + 1]).await,
        Err(CheckError::TooMany { count }) if count == MAX_BATCH + 1
    ));
    assert_eq!(
        service
            .check(vec![ok.clone(); MAX_BATCH])
            .await
            .unwrap()
            .results
            .len(),
        MAX_BATCH
    );
    for bad in [
        Candidate::Sha256("zz".repeat(32)),
        Candidate::Pdq("00".into()),
        Candidate::Face(vec![0.1; 12]),
        Candidate::Face(vec![0.5; 128]),
        Candidate::Url("javascript:alert(1)".into()),
    ] {
        let batch = vec![ok.clone(), ok.clone(), bad.clone(), ok.clone()];
        match service.check(batch).await {
            Err(CheckError::InvalidCandidate { index, message }) => {
                assert_eq!(index, 2, "{bad:?}");
                assert!(!message.is_empty());
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_feed_pages_by_position_and_refuses_positions_beyond_its_head() {
    let (store, service) = setup();
    let mut rng = SplitMix64::new(3);
    let (a, b) = (case(), case());
    store
        .add_entries(NewEntries::new(a, &values(&face(&mut rng)), Utc::now()))
        .await
        .unwrap();
    store
        .add_entries(NewEntries::new(b, &values(&face(&mut rng)), Utc::now()))
        .await
        .unwrap();
    store.withdraw_case(a, Utc::now()).await.unwrap();

    let all = service.changes(0, 1000).await.unwrap();
    assert_eq!(all.head, 9);
    assert_eq!(all.next_after, 9);
    let positions: Vec<u64> = all.changes.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![4, 5, 6, 7, 8, 9]);
    assert!(
        all.changes[..3]
            .iter()
            .all(|e| e.state == WireState::Active)
    );
    assert!(
        all.changes[3..]
            .iter()
            .all(|e| e.state == WireState::Withdrawn)
    );

    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = service.changes(after, 4).await.unwrap();
        assert!(page.changes.len() <= 4);
        seen.extend(page.changes.iter().map(|e| e.position));
        after = page.next_after;
        if page.next_after == page.head {
            break;
        }
    }
    assert_eq!(seen, positions);
    let empty = service.changes(9, 10).await.unwrap();
    assert!(empty.changes.is_empty());
    assert_eq!((empty.next_after, empty.head), (9, 9));
    assert!(matches!(
        service.changes(10, 10).await,
        Err(ChangesError::BeyondHead { after: 10, head: 9 })
    ));
}

/// The snapshot plus the feed after it, replayed into a local index the way a client mirrors the
/// table, answers like the service.
#[tokio::test]
async fn a_snapshot_replayed_with_the_feed_answers_like_the_service() {
    let (store, service) = setup();
    let mut rng = SplitMix64::new(5);
    let faces: Vec<Face> = (0..20).map(|_| face(&mut rng)).collect();
    let ids = exclude_each(&store, &faces[..10]).await;
    store.withdraw_case(ids[0], Utc::now()).await.unwrap();
    let snap = service.snapshot().await.unwrap();
    assert_eq!(snap.position, store.head().await.unwrap());
    assert_eq!(snap.entries.len(), 27);
    assert!(snap.entries.iter().all(|e| e.state == WireState::Active));

    // Changes after the snapshot.
    store.withdraw_case(ids[1], Utc::now()).await.unwrap();
    exclude_each(&store, &faces[10..]).await;

    let settings = MatchSettings::default();
    let mut local = ExclusionIndex::new(ExclusionConfig {
        pdq_radius: settings.pdq_radius,
        face: FaceConfig {
            threshold: settings.face_threshold,
            ..FaceConfig::default()
        },
    });
    let mirror_entry = |e: &optout_matcher::wire::WireEntry| {
        let value = match e.candidate() {
            Candidate::Url(u) => EntryValue::Url(normalize_url(&u).unwrap()),
            Candidate::Sha256(h) => EntryValue::Sha256(Sha256::from_hex(&h).unwrap()),
            Candidate::Pdq(h) => EntryValue::Pdq(PdqHash::from_hex(&h).unwrap()),
            Candidate::Face(v) => EntryValue::Face(FaceEmbedding::new(&v).unwrap()),
        };
        Entry::new(e.id, value)
    };
    for e in &snap.entries {
        local.insert(mirror_entry(e));
    }
    let mut after = snap.position;
    loop {
        let page = service.changes(after, 7).await.unwrap();
        for e in &page.changes {
            match e.state {
                WireState::Active => {
                    local.insert(mirror_entry(e));
                }
                WireState::Withdrawn => {
                    local.remove(e.id);
                }
            }
        }
        after = page.next_after;
        if after == page.head {
            break;
        }
    }

    let mut candidates = Vec::new();
    for f in &faces {
        candidates.push(Candidate::from(f.sha));
        candidates.push(Candidate::Pdq(flip_bits(&mut rng, &f.pdq, 20).to_hex()));
        candidates.push(Candidate::Face(
            perturb(&mut rng, &f.embedding, 0.8).as_array().to_vec(),
        ));
    }
    let served = service.check(candidates.clone()).await.unwrap();
    assert_eq!(served.position, after);
    let mirrored: Vec<_> = local
        .check_batch(&candidates)
        .into_iter()
        .map(|r| optout_matcher::wire::CheckResult::from(r.unwrap()))
        .collect();
    assert_eq!(served.results, mirrored);
    let hits = excluded(&served).iter().filter(|x| **x).count();
    assert_eq!(hits, 18 * 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_never_see_an_entry_withdrawn_before_they_began() {
    let (store, service) = setup();
    let service = Arc::new(service);
    let mut rng = SplitMix64::new(9);
    let faces: Vec<Face> = (0..8).map(|_| face(&mut rng)).collect();
    let ids = exclude_each(&store, &faces).await;
    let candidates: Vec<Candidate> = faces.iter().map(|f| Candidate::from(f.sha)).collect();
    for (i, id) in ids.iter().enumerate() {
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (s, c) = (service.clone(), candidates.clone());
            tasks.push(tokio::spawn(async move { s.check(c).await }));
        }
        store.withdraw_case(*id, Utc::now()).await.unwrap();
        let r = service.check(candidates.clone()).await.unwrap();
        let want: Vec<bool> = (0..faces.len()).map(|j| j > i).collect();
        assert_eq!(excluded(&r), want);
        for t in tasks {
            let r = t.await.unwrap().unwrap();
            // Each concurrent check answered from a consistent position.
            let withdrawn = usize::try_from((r.position - 24) / 3).unwrap();
            let want: Vec<bool> = (0..faces.len()).map(|j| j >= withdrawn).collect();
            assert_eq!(excluded(&r), want, "position {}", r.position);
        }
    }
}
