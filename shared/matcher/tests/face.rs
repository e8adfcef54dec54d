use optout_matcher::rng::SplitMix64;
use optout_matcher::synth::{FaceWorkload, perturb, random_unit};
use optout_matcher::{EmbeddingError, FaceConfig, FaceEmbedding, FaceIndex, Similarity};

fn build(w: &FaceWorkload, cfg: FaceConfig) -> FaceIndex {
    let mut idx = FaceIndex::new(cfg);
    for (i, e) in w.db.iter().enumerate() {
        idx.insert(i as u64, e);
    }
    idx
}

#[test]
fn agrees_with_brute_force_on_genuine_and_impostor_queries() {
    let w = FaceWorkload::new(2500, 300, 200, 0.6, 0.8, 11);
    let cfg = FaceConfig {
        threshold: Similarity(0.55),
        probes: 2000,
        ..FaceConfig::default()
    };
    let idx = build(&w, cfg);
    let mut agree = 0;
    for (i, q, cos) in &w.genuine {
        let exact = idx
            .search_exact(q, Similarity(0.55))
            .expect("genuine is above the threshold");
        assert_eq!(exact.id, *i as u64);
        assert!(
            (exact.similarity.get() - cos).abs() < 1e-3,
            "f16 error is small"
        );
        if idx.search(q) == Some(exact) {
            agree += 1;
        }
    }
    let recall = f64::from(agree) / w.genuine.len() as f64;
    assert!(recall >= 0.99, "recall {recall}");
    for q in &w.impostors {
        assert_eq!(idx.search_exact(q, Similarity(0.55)), None);
        assert_eq!(idx.search(q), None);
    }
}

#[test]
fn more_probes_never_lose_matches() {
    let w = FaceWorkload::new(3000, 200, 0, 0.6, 0.8, 5);
    let idx = build(&w, FaceConfig::default());
    let count = |probes: usize| {
        w.genuine
            .iter()
            .filter(|(i, q, _)| {
                idx.search_with(q, Similarity(0.55), probes)
                    .is_some_and(|h| h.id == *i as u64)
            })
            .count()
    };
    let (few, many) = (count(20), count(2000));
    assert!(few <= many);
    assert!(
        few < w.genuine.len(),
        "20 probes should miss some: the knob does something"
    );
}

#[test]
fn threshold_is_respected() {
    let mut rng = SplitMix64::new(2);
    let base = random_unit(&mut rng);
    let mut idx = FaceIndex::default();
    idx.insert(9, &base);
    let q = perturb(&mut rng, &base, 0.7);
    let hit = idx
        .search_with(&q, Similarity(0.6), 500)
        .expect("0.7 >= 0.6");
    assert_eq!(hit.id, 9);
    assert!((hit.similarity.get() - 0.7).abs() < 1e-3);
    assert_eq!(idx.search_with(&q, Similarity(0.75), 500), None);
    let far = perturb(&mut rng, &base, 0.3);
    assert_eq!(idx.search(&far), None);
}

#[test]
fn remove_stops_matching_at_once() {
    let w = FaceWorkload::new(2000, 50, 0, 0.7, 0.8, 8);
    let mut idx = build(&w, FaceConfig::default());
    for (i, q, _) in &w.genuine {
        let id = *i as u64;
        if idx.search(q).map(|h| h.id) != Some(id) {
            continue;
        }
        assert!(idx.remove(id));
        assert_eq!(idx.search(q), None, "withdrawn entry {id} still matches");
        assert_eq!(idx.search_exact(q, Similarity(0.55)), None);
        assert!(!idx.remove(id));
        idx.insert(id, &w.db[*i]);
        assert_eq!(idx.search(q).map(|h| h.id), Some(id));
    }
    // Slot reuse: remove all, insert new vectors, old queries find nothing.
    for i in 0..w.db.len() {
        idx.remove(i as u64);
    }
    assert!(idx.is_empty());
    let mut rng = SplitMix64::new(99);
    for k in 0..500u64 {
        idx.insert(100_000 + k, &random_unit(&mut rng));
    }
    for (_, q, _) in &w.genuine {
        assert_eq!(idx.search(q), None);
    }
}

#[test]
fn embedding_validation() {
    let mut v = vec![0.0f32; 128];
    v[0] = 1.0;
    assert!(FaceEmbedding::new(&v).is_ok());
    assert_eq!(
        FaceEmbedding::new(&v[..127]),
        Err(EmbeddingError::Length {
            expected: 128,
            found: 127
        })
    );
    let mut nan = v.clone();
    nan[3] = f32::NAN;
    assert!(matches!(
        FaceEmbedding::new(&nan),
        Err(EmbeddingError::NotFinite { index: 3, .. })
    ));
    let mut inf = v.clone();
    inf[1] = f32::INFINITY;
    assert!(matches!(
        FaceEmbedding::new(&inf),
        Err(EmbeddingError::NotFinite { index: 1, .. })
    ));
    let double: Vec<f32> = v.iter().map(|x| x * 2.0).collect();
    assert!(matches!(
        FaceEmbedding::new(&double),
        Err(EmbeddingError::NotUnit { .. })
    ));
    assert!(FaceEmbedding::new(&[0.0; 128]).is_err());
    assert!(FaceEmbedding::normalized(&double).is_ok());
    assert!(FaceEmbedding::normalized(&[0.0; 128]).is_err());
}

#[test]
fn batch_search_gives_the_same_answers() {
    let w = FaceWorkload::new(3000, 150, 150, 0.6, 0.8, 21);
    let idx = build(&w, FaceConfig::default());
    let queries: Vec<FaceEmbedding> = w
        .genuine
        .iter()
        .map(|(_, q, _)| q.clone())
        .chain(w.impostors.iter().cloned())
        .collect();
    let one_by_one: Vec<_> = queries.iter().map(|q| idx.search(q)).collect();
    assert_eq!(idx.search_batch(&queries), one_by_one);
    assert!(one_by_one.iter().filter(|h| h.is_some()).count() >= 140);
    assert_eq!(
        FaceIndex::default().search_batch(&queries[..3]),
        vec![None; 3]
    );
    assert!(idx.search_batch(&[]).is_empty());
}

#[test]
fn odd_parameters_do_not_panic() {
    let w = FaceWorkload::new(500, 20, 20, 0.6, 0.8, 31);
    let mut idx = build(
        &w,
        FaceConfig {
            tables: 0,
            probes: 0,
            ..FaceConfig::default()
        },
    );
    let (_, q, _) = &w.genuine[0];
    assert_eq!(
        idx.search_with(q, Similarity(f32::NAN), usize::MAX),
        None,
        "NaN threshold matches nothing"
    );
    assert!(idx.search_with(q, Similarity(-2.0), usize::MAX).is_some());
    assert!(
        idx.search_with(q, Similarity(0.5), 0).is_none()
            || idx.search_with(q, Similarity(0.5), 0).is_some()
    );
    assert_eq!(
        idx.search_batch_with(&w.impostors, Similarity(f32::NAN), usize::MAX),
        vec![None; 20]
    );
    idx.set_probes(usize::MAX);
    assert_eq!(idx.search(q).map(|h| h.id), Some(w.genuine[0].0 as u64));
}
