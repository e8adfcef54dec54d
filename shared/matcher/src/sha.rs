//! SHA-256 digests and the exact-digest index.
//!
//! A digest is already uniformly random, so the index hashes it by its first 8 bytes instead
//! of running SipHash over 32 bytes (see `multimap::DigestKeys`).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hex::{HexError, parse_hex32, to_hex32};
use crate::multimap::{DigestKeys, MultiMap};

/// A SHA-256 digest (of a photo's bytes). Text, JSON and every store: 64 lower-case hex digits;
/// either case is accepted when parsed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(bytes).into())
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        parse_hex32(s).map(Self)
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        to_hex32(&self.0)
    }

    fn prefix(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_le_bytes(b)
    }
}

impl Hash for Sha256 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.prefix());
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({})", self.to_hex())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for Sha256 {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl Serialize for Sha256 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Exact SHA-256 index: digest → entry id.
#[derive(Clone, Debug, Default)]
pub struct Sha256Index {
    map: MultiMap<DigestKeys>,
}

impl Sha256Index {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Self {
            map: MultiMap::with_capacity(n),
        }
    }

    /// Makes room for `additional` more digests.
    pub fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    /// Adds entry `id` (replacing what `id` held before).
    pub fn insert(&mut self, id: u64, digest: Sha256) {
        self.map.insert(id, &digest.0);
    }

    /// Whether entry `id` is present.
    pub fn contains_id(&self, id: u64) -> bool {
        self.map.contains_id(id)
    }

    /// Removes entry `id`; returns whether it was present.
    pub fn remove(&mut self, id: u64) -> bool {
        self.map.remove(id)
    }

    /// The (lowest) entry id holding `digest`.
    #[inline]
    pub fn get(&self, digest: &Sha256) -> Option<u64> {
        self.map.get(&digest.0)
    }

    #[inline]
    pub fn contains(&self, digest: &Sha256) -> bool {
        self.get(digest).is_some()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes held, by capacity.
    pub fn heap_bytes(&self) -> usize {
        self.map.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SHA-256 of the empty string and of "abc" (FIPS 180-2 examples).
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn digests_and_round_trips() {
        assert_eq!(Sha256::of(b"").to_hex(), EMPTY);
        assert_eq!(Sha256::of(b"abc").to_string(), ABC);
        let d: Sha256 = ABC.to_uppercase().parse().unwrap();
        assert_eq!(d, Sha256::of(b"abc"));
        assert_eq!(d.to_hex(), ABC);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{ABC}\""));
        assert_eq!(serde_json::from_str::<Sha256>(&json).unwrap(), d);
        assert_eq!(format!("{d:?}"), format!("Sha256({ABC})"));
    }

    #[test]
    fn refuses_what_is_not_64_hex_digits() {
        for bad in [
            "",
            "00",
            &"0".repeat(63),
            &"0".repeat(65),
            &format!("{}g", &ABC[1..]),
        ] {
            assert!(Sha256::from_hex(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_str::<Sha256>(&format!("\"{bad}\"")).is_err());
        }
        assert!(serde_json::from_str::<Sha256>("12").is_err());
    }
}
