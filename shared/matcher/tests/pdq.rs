use std::collections::BTreeSet;

use optout_matcher::pdq::PdqHit;
use optout_matcher::rng::SplitMix64;
use optout_matcher::synth::flip_bits;
use optout_matcher::{PdqHash, PdqIndex};

fn brute(db: &[(u64, PdqHash)], q: &PdqHash, r: u32) -> BTreeSet<(u32, u64)> {
    db.iter()
        .filter(|(_, h)| h.distance(q) <= r)
        .map(|(id, h)| (h.distance(q), *id))
        .collect()
}

fn got(idx: &PdqIndex, q: &PdqHash, r: u32) -> BTreeSet<(u32, u64)> {
    let hits = idx.search_within(q, r);
    let set: BTreeSet<(u32, u64)> = hits.iter().map(|h| (h.distance, h.id)).collect();
    assert_eq!(set.len(), hits.len(), "no duplicates");
    set
}

/// Random hashes plus clusters of near copies, so many queries have several answers.
fn database(rng: &mut SplitMix64) -> Vec<(u64, PdqHash)> {
    let mut db = Vec::new();
    for i in 0..2000u64 {
        db.push((i, PdqHash(rng.bytes32())));
    }
    for c in 0..50u64 {
        let base = PdqHash(rng.bytes32());
        for k in 0..20u64 {
            let f = rng.below(40) as u32;
            db.push((10_000 + c * 100 + k, flip_bits(rng, &base, f)));
        }
    }
    db
}

#[test]
fn exact_against_brute_force_at_several_radii() {
    let mut rng = SplitMix64::new(42);
    let db = database(&mut rng);
    let mut idx = PdqIndex::default();
    for (id, h) in &db {
        idx.insert(*id, *h);
    }
    assert_eq!(idx.radius(), 31);
    for _ in 0..300 {
        let (_, base) = db[rng.below(db.len() as u64) as usize];
        let f = rng.below(45) as u32;
        let q = flip_bits(&mut rng, &base, f);
        for r in [0, 7, 15, 16, 31, 32, 40, 47, 48, 60] {
            assert_eq!(got(&idx, &q, r), brute(&db, &q, r), "radius {r}");
        }
    }
    for _ in 0..100 {
        let q = PdqHash(rng.bytes32());
        assert_eq!(got(&idx, &q, 31), brute(&db, &q, 31));
    }
}

#[test]
fn boundary_distances_31_and_32() {
    let mut rng = SplitMix64::new(7);
    let mut idx = PdqIndex::new(31);
    let stored: Vec<PdqHash> = (0..1000).map(|_| PdqHash(rng.bytes32())).collect();
    for (i, h) in stored.iter().enumerate() {
        idx.insert(i as u64, *h);
    }
    for (i, h) in stored.iter().enumerate().take(300) {
        let at = flip_bits(&mut rng, h, 31);
        assert_eq!(at.distance(h), 31);
        assert!(
            idx.search(&at).contains(&PdqHit {
                distance: 31,
                id: i as u64
            }),
            "distance 31 must match"
        );
        let past = flip_bits(&mut rng, h, 32);
        assert!(
            !idx.search(&past).iter().any(|x| x.id == i as u64),
            "distance 32 must not match"
        );
    }
    // Worst case for the pigeonhole: 31 flips spread 2 per chunk except one chunk with 1.
    let h = stored[0];
    let mut q = h;
    let mut flips = 0;
    for chunk in 0..16 {
        let n = if chunk == 5 { 1 } else { 2 };
        for b in 0..n {
            let bit = chunk * 16 + b * 7;
            q.0[bit / 8] ^= 1 << (bit % 8);
            flips += 1;
        }
    }
    assert_eq!(flips, 31);
    assert_eq!(q.distance(&h), 31);
    assert_eq!(
        idx.nearest(&q),
        Some(PdqHit {
            distance: 31,
            id: 0
        })
    );
}

#[test]
fn remove_stops_matching_at_once_and_slots_are_reused() {
    let mut rng = SplitMix64::new(3);
    let mut idx = PdqIndex::default();
    let a = PdqHash(rng.bytes32());
    let b = PdqHash(rng.bytes32());
    idx.insert(1, a);
    idx.insert(2, a);
    idx.insert(3, b);
    assert_eq!(idx.search(&a).len(), 2);
    assert!(idx.remove(1));
    assert_eq!(idx.search(&a), vec![PdqHit { distance: 0, id: 2 }]);
    assert!(idx.remove(2));
    assert!(idx.search(&a).is_empty());
    assert!(!idx.remove(2));
    // The freed slot is reused by a different hash; the old one must not come back.
    let c = PdqHash(rng.bytes32());
    idx.insert(4, c);
    assert!(idx.search(&a).is_empty());
    assert_eq!(idx.nearest(&c).map(|h| h.id), Some(4));
    // Re-inserting an id replaces its hash.
    idx.insert(3, c);
    assert!(idx.search(&b).is_empty());
    assert_eq!(idx.len(), 2);
}

#[test]
fn hex_round_trip() {
    let h = PdqHash::from_hex(&"f0".repeat(32)).unwrap();
    assert_eq!(h.to_hex(), "f0".repeat(32));
    assert!(PdqHash::from_hex("zz").is_err());
}
