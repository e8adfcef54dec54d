use optout_matcher::rng::SplitMix64;
use optout_matcher::synth::{flip_bits, perturb, random_unit};
use optout_matcher::{
    Candidate, CandidateError, Entry, EntryValue, ExclusionIndex, Kind, Match, PdqHash, Score,
    Sha256, normalize_url,
};

struct Fixture {
    idx: ExclusionIndex,
    face: Vec<f32>,
    pdq: PdqHash,
    sha: Sha256,
}

fn fixture() -> Fixture {
    let mut rng = SplitMix64::new(4);
    let mut idx = ExclusionIndex::default();
    let face = random_unit(&mut rng);
    let pdq = PdqHash(rng.bytes32());
    let sha = Sha256(rng.bytes32());
    let url = normalize_url("https://example.com/photos/me.jpg?utm_source=feed").unwrap();
    idx.insert(Entry::new(1, EntryValue::Url(url)));
    idx.insert(Entry::new(2, EntryValue::Sha256(sha)));
    idx.insert(Entry::new(3, EntryValue::Pdq(pdq)));
    idx.insert(Entry::new(4, EntryValue::Face(face.clone())));
    // Unrelated entries around them.
    for k in 0..500u64 {
        idx.insert(Entry::new(
            1000 + k,
            EntryValue::Face(random_unit(&mut rng)),
        ));
        idx.insert(Entry::new(
            2000 + k,
            EntryValue::Pdq(PdqHash(rng.bytes32())),
        ));
        idx.insert(Entry::new(
            3000 + k,
            EntryValue::Sha256(Sha256(rng.bytes32())),
        ));
    }
    Fixture {
        idx,
        face: face.as_array().to_vec(),
        pdq,
        sha,
    }
}

fn near_face(f: &Fixture, cos: f32) -> Vec<f32> {
    let mut rng = SplitMix64::new(77);
    let base = optout_matcher::FaceEmbedding::new(&f.face).unwrap();
    perturb(&mut rng, &base, cos).as_array().to_vec()
}

#[test]
fn each_kind_matches_its_entry() {
    let f = fixture();
    let m = |c: Candidate| f.idx.check(&c).unwrap();
    assert_eq!(
        m(Candidate::Url(
            "HTTP://EXAMPLE.com/photos/./me.jpg#x".into()
        )),
        Some(Match {
            entry_id: 1,
            kind: Kind::Url,
            score: Score::Exact
        })
    );
    assert_eq!(
        m(Candidate::Url("https://example.com/photos/you.jpg".into())),
        None
    );
    assert_eq!(
        m(Candidate::Sha256(f.sha.to_hex().to_uppercase())),
        Some(Match {
            entry_id: 2,
            kind: Kind::Sha256,
            score: Score::Exact
        })
    );
    let mut rng = SplitMix64::new(5);
    let q = flip_bits(&mut rng, &f.pdq, 20);
    assert_eq!(
        m(Candidate::Pdq(q.to_hex())),
        Some(Match {
            entry_id: 3,
            kind: Kind::Pdq,
            score: Score::Hamming(20)
        })
    );
    assert_eq!(
        m(Candidate::Pdq(flip_bits(&mut rng, &f.pdq, 40).to_hex())),
        None
    );
    let hit = m(Candidate::Face(near_face(&f, 0.65))).expect("same person");
    assert_eq!((hit.entry_id, hit.kind), (4, Kind::Face));
    assert!(matches!(hit.score, Score::Cosine(c) if (c.get() - 0.65).abs() < 1e-3));
    assert_eq!(m(Candidate::Face(near_face(&f, 0.3))), None);
}

#[test]
fn withdrawn_entries_never_match_again() {
    let mut f = fixture();
    let candidates = vec![
        Candidate::Url("https://example.com/photos/me.jpg".into()),
        Candidate::Sha256(f.sha.to_hex()),
        Candidate::Pdq(f.pdq.to_hex()),
        Candidate::Face(f.face.clone()),
    ];
    for (k, c) in candidates.iter().enumerate() {
        let id = k as u64 + 1;
        assert_eq!(f.idx.check(c).unwrap().map(|m| m.entry_id), Some(id));
        assert!(f.idx.remove(id));
        assert_eq!(f.idx.check(c).unwrap(), None, "entry {id} withdrawn");
        assert_eq!(f.idx.kind_of(id), None);
        assert!(!f.idx.remove(id));
    }
    let batch = f.idx.check_batch(&candidates);
    assert!(batch.iter().all(|r| matches!(r, Ok(None))));
}

#[test]
fn replacing_an_id_moves_it_to_the_new_value_and_kind() {
    let mut f = fixture();
    let url = normalize_url("https://example.org/other.png").unwrap();
    assert_eq!(
        f.idx.insert(Entry::new(2, EntryValue::Url(url))),
        Some(Kind::Sha256)
    );
    assert_eq!(
        f.idx.check(&Candidate::Sha256(f.sha.to_hex())).unwrap(),
        None
    );
    assert_eq!(
        f.idx
            .check(&Candidate::Url("https://example.org/other.png".into()))
            .unwrap()
            .map(|m| m.entry_id),
        Some(2)
    );
    assert_eq!(f.idx.kind_of(2), Some(Kind::Url));
}

#[test]
fn malformed_candidates_are_errors_at_their_index() {
    let f = fixture();
    let mut not_unit = f.face.clone();
    not_unit[0] += 0.5;
    let mut nan = f.face.clone();
    nan[7] = f32::NAN;
    let batch = vec![
        Candidate::Sha256(f.sha.to_hex()),              // 0 ok, match
        Candidate::Sha256("abc".into()),                // 1 bad length
        Candidate::Pdq("zz".repeat(32)),                // 2 bad hex
        Candidate::Face(vec![0.1; 127]),                // 3 wrong length
        Candidate::Face(nan),                           // 4 NaN
        Candidate::Face(not_unit),                      // 5 not unit
        Candidate::Url("javascript:alert(1)".into()),   // 6 bad scheme
        Candidate::Url("https://example.com/x".into()), // 7 ok, no match
        Candidate::Face(vec![]),                        // 8 empty
        Candidate::Pdq(f.pdq.to_hex()),                 // 9 ok, match
        Candidate::Face(f.face.clone()),                // 10 ok, match
    ];
    let r = f.idx.check_batch(&batch);
    assert_eq!(r.len(), batch.len());
    assert!(matches!(r[0], Ok(Some(Match { entry_id: 2, .. }))));
    assert!(matches!(r[1], Err(CandidateError::Sha256(_))));
    assert!(matches!(r[2], Err(CandidateError::Pdq(_))));
    assert!(matches!(r[3], Err(CandidateError::Face(_))));
    assert!(matches!(r[4], Err(CandidateError::Face(_))));
    assert!(matches!(r[5], Err(CandidateError::Face(_))));
    assert!(matches!(r[6], Err(CandidateError::Url(_))));
    assert!(matches!(r[7], Ok(None)));
    assert!(matches!(r[8], Err(CandidateError::Face(_))));
    assert!(matches!(r[9], Ok(Some(Match { entry_id: 3, .. }))));
    assert!(matches!(
        r[10],
        Ok(Some(Match {
            entry_id: 4,
            kind: Kind::Face,
            ..
        }))
    ));
    for (c, got) in batch.iter().zip(&r) {
        // Compared as text: a NaN in an error is never equal to itself.
        assert_eq!(
            format!("{:?}", f.idx.check(c)),
            format!("{got:?}"),
            "batch and single checks agree"
        );
    }
    let errors: Vec<usize> = r
        .iter()
        .enumerate()
        .filter(|(_, x)| x.is_err())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(errors, vec![1, 2, 3, 4, 5, 6, 8]);
    for e in r.iter().filter_map(|x| x.as_ref().err()) {
        assert!(e.to_string().len() > 10, "{e}");
    }
}

#[test]
fn json_shapes() {
    let c: Vec<Candidate> = serde_json::from_str(
        r#"[{"url":"https://a.example/x.jpg"},{"sha256":"00"},{"pdq":"ff"},{"face":[0.5,0.5]}]"#,
    )
    .unwrap();
    assert_eq!(c[0], Candidate::Url("https://a.example/x.jpg".into()));
    assert_eq!(c[1].kind(), Kind::Sha256);
    assert_eq!(c[3], Candidate::Face(vec![0.5, 0.5]));
    let m = Match {
        entry_id: 9,
        kind: Kind::Pdq,
        score: Score::Hamming(12),
    };
    assert_eq!(
        serde_json::to_string(&m).unwrap(),
        r#"{"entry_id":9,"kind":"pdq","score":{"hamming":12}}"#
    );
    let e: Entry = serde_json::from_str(r#"{"id":5,"url":"HTTPS://A.example/x.jpg#f"}"#).unwrap();
    assert_eq!(e.kind(), Kind::Url);
    assert!(matches!(&e.value, EntryValue::Url(u) if u.as_str() == "https://a.example/x.jpg"));
    assert!(serde_json::from_str::<Entry>(r#"{"id":5,"face":[1.0,2.0]}"#).is_err());
    assert!(serde_json::from_str::<Entry>(r#"{"id":5,"sha256":"xyz"}"#).is_err());
}

#[test]
fn typed_values_make_the_candidates_a_client_sends_and_parse_back() {
    let f = fixture();
    let face = optout_matcher::FaceEmbedding::new(&f.face).unwrap();
    let url = normalize_url("HTTPS://Example.com/photos/me.jpg").unwrap();
    let candidates = [
        Candidate::from(f.sha),
        Candidate::from(f.pdq),
        Candidate::from(&face),
        Candidate::from(&url),
    ];
    assert_eq!(candidates[0], Candidate::Sha256(f.sha.to_hex()));
    assert_eq!(candidates[1], Candidate::Pdq(f.pdq.to_hex()));
    assert_eq!(
        candidates[3],
        Candidate::Url("https://example.com/photos/me.jpg".into())
    );
    let values: Vec<EntryValue> = candidates.iter().map(|c| c.parse().unwrap()).collect();
    assert_eq!(
        values,
        [
            EntryValue::Sha256(f.sha),
            EntryValue::Pdq(f.pdq),
            EntryValue::Face(face),
            EntryValue::Url(url),
        ]
    );
    // Typed values check as their candidates do, one by one and in a batch.
    let by_value = f.idx.check_values(&values);
    let by_candidate: Vec<Option<Match>> = f
        .idx
        .check_batch(&candidates)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(by_value, by_candidate);
    let one_by_one: Vec<Option<Match>> = values.iter().map(|v| f.idx.check_value(v)).collect();
    assert_eq!(by_value, one_by_one);
    let ids: Vec<Option<u64>> = by_value.iter().map(|m| m.map(|m| m.entry_id)).collect();
    assert_eq!(ids, [Some(2), Some(3), Some(4), Some(1)]);
    // A bad candidate is an error in its own place only.
    let mixed = [Candidate::Pdq("00".into()), Candidate::from(f.sha)];
    let r = f.idx.check_batch(&mixed);
    assert!(matches!(r[0], Err(CandidateError::Pdq(_))));
    assert_eq!(r[1].as_ref().unwrap().map(|m| m.entry_id), Some(2));
}
