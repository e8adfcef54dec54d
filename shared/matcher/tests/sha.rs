use optout_matcher::rng::SplitMix64;
use optout_matcher::{HexError, Sha256, Sha256Index};

#[test]
fn finds_every_stored_digest_and_no_other() {
    let mut rng = SplitMix64::new(1);
    let stored: Vec<Sha256> = (0..5000).map(|_| Sha256(rng.bytes32())).collect();
    let mut idx = Sha256Index::new();
    for (i, d) in stored.iter().enumerate() {
        idx.insert(i as u64, *d);
    }
    assert_eq!(idx.len(), 5000);
    for (i, d) in stored.iter().enumerate() {
        assert_eq!(idx.get(d), Some(i as u64));
    }
    for _ in 0..5000 {
        assert!(!idx.contains(&Sha256(rng.bytes32())));
    }
    // Same first 8 bytes (same table hash), different digest: no match.
    let mut near = stored[0];
    near.0[31] ^= 1;
    assert!(!idx.contains(&near));
}

#[test]
fn remove_and_shared_digests() {
    let d = Sha256([7; 32]);
    let mut idx = Sha256Index::new();
    idx.insert(10, d);
    idx.insert(5, d);
    assert_eq!(idx.get(&d), Some(5));
    assert!(idx.remove(5));
    assert_eq!(
        idx.get(&d),
        Some(10),
        "the other entry still excludes the image"
    );
    assert!(!idx.remove(5));
    assert!(idx.remove(10));
    assert_eq!(idx.get(&d), None);
    assert!(idx.is_empty());
    // Re-inserting an id moves it.
    idx.insert(1, d);
    idx.insert(1, Sha256([8; 32]));
    assert_eq!(idx.get(&d), None);
    assert_eq!(idx.get(&Sha256([8; 32])), Some(1));
}

#[test]
fn hex_parsing() {
    let hex = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    let d = Sha256::from_hex(hex).unwrap();
    assert_eq!(d.to_hex(), hex.to_lowercase());
    assert_eq!(d, hex.to_lowercase().parse().unwrap());
    assert_eq!(
        Sha256::from_hex(&hex[1..]),
        Err(HexError::Length { found: 63 })
    );
    assert!(matches!(
        Sha256::from_hex(&hex.replace('E', "x")),
        Err(HexError::InvalidChar {
            position: 0,
            ch: 'x'
        })
    ));
    assert_eq!(
        serde_json::to_string(&d).unwrap(),
        format!("\"{}\"", hex.to_lowercase())
    );
}
