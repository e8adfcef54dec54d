//! PDQ (256-bit perceptual hash) index answering "every stored hash within Hamming
//! distance R" exactly.
//!
//! Multi-index hashing: the hash is cut into 16 chunks of 16 bits, and table `c` files every
//! stored hash under the value of its chunk `c`. If two hashes are within distance R, by the
//! pigeonhole principle some chunk differs in at most `R / 16` bits (1 for R ≤ 31), so
//! probing, in every table, the query's chunk value and all values within `R / 16` bit flips
//! finds every match. Each bucket slot carries 96 more bits of the stored hash (the next six
//! chunks), a cheap lower bound on the distance that discards almost every false candidate
//! before the full 256-bit popcount. A match is reported only from the first chunk that is
//! within `R / 16` bits, so no result appears twice. Radii above 47 fall back to a scan.
//! Each table keeps its buckets in one flat array (`buckets::Buckets`), which a bulk load
//! ([`PdqIndex::file_pending`]) lays out in one go.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::buckets::Buckets;
use crate::cpu;
use crate::hex::{HexError, parse_hex32, to_hex32};
use crate::ids::{SlotsById, id_at};

const CHUNKS: usize = 16;
/// Radii above this are answered by a full scan (3 flips per chunk would cost more).
const MAX_PROBED_RADIUS: u32 = 47;

/// How many buckets ahead the probe asks memory for a bucket's header, and for its slots.
const HEADER_AHEAD: usize = 16;
const DATA_AHEAD: usize = 8;

/// A 256-bit PDQ perceptual hash: bit `k` of the hash (`k = 16*row + col` of the 16x16 DCT) is
/// bit `k % 8` of byte `31 - k / 8`, so the bytes read most significant first. Text, JSON and
/// every store: 64 lower-case hex digits (the string ThreatExchange prints); either case is
/// accepted when parsed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PdqHash(pub [u8; 32]);

impl PdqHash {
    /// Parses 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        parse_hex32(s).map(Self)
    }

    /// 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        to_hex32(&self.0)
    }

    /// The Hamming distance: the number of differing bits (two hashes at most
    /// [`crate::PDQ_MATCH_DISTANCE`] apart are taken as the same image).
    pub fn distance(&self, other: &PdqHash) -> u32 {
        hamming(&self.words(), &other.words())
    }

    fn words(&self) -> [u64; 4] {
        let mut w = [0u64; 4];
        for (i, word) in w.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.0[8 * i..8 * i + 8]);
            *word = u64::from_be_bytes(b);
        }
        w
    }
}

impl fmt::Debug for PdqHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PdqHash({})", self.to_hex())
    }
}

impl fmt::Display for PdqHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for PdqHash {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl Serialize for PdqHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PdqHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[inline(always)]
fn hamming(a: &[u64; 4], b: &[u64; 4]) -> u32 {
    (a[0] ^ b[0]).count_ones()
        + (a[1] ^ b[1]).count_ones()
        + (a[2] ^ b[2]).count_ones()
        + (a[3] ^ b[3]).count_ones()
}

#[inline(always)]
fn chunk(w: &[u64; 4], c: usize) -> u16 {
    (w[c / 4] >> (48 - 16 * (c % 4))) as u16
}

/// The 96 filter bits that table `c` keeps with each slot: chunks c+1 .. c+6.
#[inline(always)]
fn filter_bits(w: &[u64; 4], c: usize) -> [u32; 3] {
    let ch = |k: usize| u32::from(chunk(w, (c + k) % CHUNKS));
    [
        (ch(1) << 16) | ch(2),
        (ch(3) << 16) | ch(4),
        (ch(5) << 16) | ch(6),
    ]
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    filter: [u32; 3],
    slot: u32,
}

/// Exact radius search over PDQ hashes, with add and remove.
#[derive(Clone)]
pub struct PdqIndex {
    radius: u32,
    words: Vec<[u64; 4]>,
    ids: Vec<u64>,
    free: Vec<u32>,
    /// Live slots by the id in `ids`.
    by_id: SlotsById,
    /// Table `c` files each slot under the value of its chunk `c`.
    tables: Vec<Buckets<Slot>>,
    /// Slots from here on are not yet in their buckets (see [`PdqIndex::push_unfiled`]).
    unfiled_from: Option<usize>,
    /// Flip masks of 16-bit values with at most 0, 1, 2 bits set, in that order.
    masks: Vec<u16>,
}

impl fmt::Debug for PdqIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PdqIndex")
            .field("radius", &self.radius)
            .field("len", &self.len())
            .finish()
    }
}

impl Default for PdqIndex {
    fn default() -> Self {
        Self::new(crate::PDQ_MATCH_DISTANCE)
    }
}

/// One hash within the radius of a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PdqHit {
    pub distance: u32,
    pub id: u64,
}

impl PdqIndex {
    /// An empty index whose default query radius is `radius` bits.
    pub fn new(radius: u32) -> Self {
        let mut masks: Vec<u16> = (0..=u16::MAX).filter(|m| m.count_ones() <= 2).collect();
        masks.sort_by_key(|m| m.count_ones());
        Self {
            radius,
            words: Vec::new(),
            ids: Vec::new(),
            free: Vec::new(),
            by_id: SlotsById::default(),
            tables: vec![Buckets::default(); CHUNKS],
            unfiled_from: None,
            masks,
        }
    }

    pub fn radius(&self) -> u32 {
        self.radius
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Makes room for `additional` more hashes (a load of known size allocates once).
    pub fn reserve(&mut self, additional: usize) {
        self.words.reserve_exact(additional);
        self.ids.reserve_exact(additional);
    }

    /// Whether entry `id` is present.
    pub fn contains(&self, id: u64) -> bool {
        self.by_id.get(id, |s| id_at(&self.ids, s)).is_some()
    }

    /// Adds entry `id` without filing it in its buckets until
    /// [`file_pending`](Self::file_pending) (a bulk load; searches do not see it until then).
    pub fn push_unfiled(&mut self, id: u64, hash: PdqHash) {
        let slot = self.words.len();
        let ids = &self.ids;
        if self
            .by_id
            .insert(id, slot as u32, |s| id_at(ids, s))
            .is_err()
        {
            self.insert(id, hash);
            return;
        }
        self.unfiled_from.get_or_insert(slot);
        self.words.push(hash.words());
        self.ids.push(id);
    }

    /// Files every entry added by [`push_unfiled`](Self::push_unfiled): each table is laid
    /// out anew, tightly, in one allocation (see `buckets::Buckets::extend_bulk`).
    pub fn file_pending(&mut self) {
        let Some(from) = self.unfiled_from.take() else {
            return;
        };
        let words = self.words.get(from..).unwrap_or(&[]);
        for (c, table) in self.tables.iter_mut().enumerate() {
            table.extend_bulk(
                words.len(),
                |i| chunk(&words[i], c),
                |i| Slot {
                    filter: filter_bits(&words[i], c),
                    slot: (from + i) as u32,
                },
            );
        }
    }

    /// Adds entry `id` (replacing what `id` held before).
    pub fn insert(&mut self, id: u64, hash: PdqHash) {
        self.remove(id);
        let w = hash.words();
        let slot = match self.free.pop() {
            Some(s) => {
                self.words[s as usize] = w;
                self.ids[s as usize] = id;
                s
            }
            None => {
                self.words.push(w);
                self.ids.push(id);
                (self.words.len() - 1) as u32
            }
        };
        for (c, table) in self.tables.iter_mut().enumerate() {
            table.push(
                chunk(&w, c),
                Slot {
                    filter: filter_bits(&w, c),
                    slot,
                },
            );
        }
        let ids = &self.ids;
        // `remove` above took `id` out, so this files it.
        let _ = self.by_id.insert(id, slot, |s| id_at(ids, s));
    }

    /// Removes entry `id`; returns whether it was present. It stops matching at once.
    pub fn remove(&mut self, id: u64) -> bool {
        self.file_pending();
        let ids = &self.ids;
        let Some(slot) = self.by_id.remove(id, |s| id_at(ids, s)) else {
            return false;
        };
        let w = self.words[slot as usize];
        for (c, table) in self.tables.iter_mut().enumerate() {
            table.remove(chunk(&w, c), |s| s.slot == slot);
        }
        if self.by_id.reusable(slot) {
            self.free.push(slot);
        }
        true
    }

    /// All entries within the index radius, closest first.
    pub fn search(&self, query: &PdqHash) -> Vec<PdqHit> {
        self.search_within(query, self.radius)
    }

    /// All entries within `radius` bits, closest first (ties by id).
    pub fn search_within(&self, query: &PdqHash, radius: u32) -> Vec<PdqHit> {
        let q = query.words();
        let mut hits = Vec::new();
        if radius > MAX_PROBED_RADIUS {
            cpu::fast(|| self.scan(&q, radius, &mut hits));
        } else {
            cpu::fast(|| self.probe(&q, radius, &mut hits));
        }
        hits.sort_unstable();
        hits
    }

    /// The closest entry within the index radius (ties by lowest id).
    pub fn nearest(&self, query: &PdqHash) -> Option<PdqHit> {
        self.search(query).into_iter().next()
    }

    #[inline(always)]
    fn scan(&self, q: &[u64; 4], radius: u32, hits: &mut Vec<PdqHit>) {
        for slot in self.by_id.slots() {
            let d = hamming(q, &self.words[slot as usize]);
            if d <= radius {
                hits.push(PdqHit {
                    distance: d,
                    id: self.ids[slot as usize],
                });
            }
        }
    }

    #[inline(always)]
    fn probe(&self, q: &[u64; 4], radius: u32, hits: &mut Vec<PdqHit>) {
        let per_chunk = radius / CHUNKS as u32;
        let n_masks = match per_chunk {
            0 => 1,
            1 => 1 + 16,
            _ => 1 + 16 + 120,
        };
        let masks = &self.masks[..n_masks];
        let filters: [[u32; 3]; CHUNKS] = std::array::from_fn(|c| filter_bits(q, c));
        // Bucket k is chunk k / n_masks probed with mask k % n_masks. Bucket headers and
        // contents are requested from memory ahead of use: the probe is bound by random reads.
        let bucket_of = |k: usize| {
            let (c, m) = (k / n_masks, masks[k % n_masks]);
            (&self.tables[c], chunk(q, c) ^ m)
        };
        let total = CHUNKS * n_masks;
        for k in 0..total.min(HEADER_AHEAD) {
            let (table, key) = bucket_of(k);
            table.prefetch_span(key);
        }
        for k in 0..total {
            if k + HEADER_AHEAD < total {
                let (table, key) = bucket_of(k + HEADER_AHEAD);
                table.prefetch_span(key);
            }
            if k + DATA_AHEAD < total {
                let (table, key) = bucket_of(k + DATA_AHEAD);
                table.prefetch_items(key);
            }
            let c = k / n_masks;
            let m = masks[k % n_masks];
            let qf = &filters[c];
            let budget = radius.saturating_sub(m.count_ones());
            let (table, key) = bucket_of(k);
            for s in table.get(key) {
                let lower = (s.filter[0] ^ qf[0]).count_ones()
                    + (s.filter[1] ^ qf[1]).count_ones()
                    + (s.filter[2] ^ qf[2]).count_ones();
                if lower > budget {
                    continue;
                }
                let w = &self.words[s.slot as usize];
                let d = hamming(q, w);
                if d > radius {
                    continue;
                }
                // Report from the first chunk within `per_chunk` bits only.
                let first = (0..c).all(|e| (chunk(q, e) ^ chunk(w, e)).count_ones() > per_chunk);
                if first {
                    hits.push(PdqHit {
                        distance: d,
                        id: self.ids[s.slot as usize],
                    });
                }
            }
        }
    }

    /// Heap bytes held (slot tables, stored hashes, id table), by capacity.
    pub fn heap_bytes(&self) -> usize {
        let tables: usize = self.tables.iter().map(Buckets::heap_bytes).sum();
        tables
            + self.tables.capacity() * std::mem::size_of::<Buckets<Slot>>()
            + self.words.capacity() * 32
            + self.ids.capacity() * 8
            + self.free.capacity() * 4
            + self.by_id.heap_bytes()
            + self.masks.capacity() * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::synth::flip_bits;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn hex_round_trips_and_refusals() {
        let text = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        let h: PdqHash = text.to_uppercase().parse().unwrap();
        assert_eq!(h.0[0], 0xf8);
        assert_eq!(h.0[31], 0x22);
        assert_eq!(h.to_hex(), text);
        assert_eq!(h.to_string(), text);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<PdqHash>(&json).unwrap(), h);
        for bad in [
            "",
            "00",
            &text[1..],
            &format!("{text}0"),
            &format!("x{}", &text[1..]),
        ] {
            assert!(PdqHash::from_hex(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_str::<PdqHash>(&format!("\"{bad}\"")).is_err());
        }
    }

    #[test]
    fn hamming_distance_of_known_hashes() {
        let zero = PdqHash([0; 32]);
        let ones = PdqHash([0xff; 32]);
        assert_eq!(zero.distance(&zero), 0);
        assert_eq!(zero.distance(&ones), 256);
        let mut one_bit = [0u8; 32];
        one_bit[31] = 0b1000_0001;
        one_bit[0] = 0b0100_0000;
        let h = PdqHash(one_bit);
        assert_eq!(zero.distance(&h), 3);
        assert_eq!(h.distance(&zero), 3);
        assert_eq!(ones.distance(&h), 253);
        let a = PdqHash::from_hex(&"0f".repeat(32)).unwrap();
        let b = PdqHash::from_hex(&"ff".repeat(32)).unwrap();
        assert_eq!(a.distance(&b), 128);
        // The same as counting bits byte by byte.
        let mut rng = SplitMix64::new(3);
        for _ in 0..100 {
            let (x, y) = (PdqHash(rng.bytes32()), PdqHash(rng.bytes32()));
            let plain: u32 =
                x.0.iter()
                    .zip(&y.0)
                    .map(|(p, q)| (p ^ q).count_ones())
                    .sum();
            assert_eq!(x.distance(&y), plain);
        }
    }

    /// Every query's hits against a brute-force scan of `model`, at radius 31.
    fn agree(idx: &PdqIndex, model: &BTreeMap<u64, PdqHash>, queries: &[PdqHash]) {
        assert_eq!(idx.len(), model.len());
        for q in queries {
            let want: BTreeSet<(u32, u64)> = model
                .iter()
                .map(|(&id, h)| (h.distance(q), id))
                .filter(|&(d, _)| d <= 31)
                .collect();
            let hits = idx.search(q);
            let got: BTreeSet<(u32, u64)> = hits.iter().map(|h| (h.distance, h.id)).collect();
            assert_eq!(got.len(), hits.len(), "no duplicates");
            assert_eq!(got, want);
        }
    }

    /// Queries near the stored hashes (and some far from all).
    fn queries(rng: &mut SplitMix64, model: &BTreeMap<u64, PdqHash>) -> Vec<PdqHash> {
        let stored: Vec<PdqHash> = model.values().copied().collect();
        (0..400)
            .map(|k| {
                if k % 4 == 3 {
                    PdqHash(rng.bytes32())
                } else {
                    let h = stored[rng.below(stored.len() as u64) as usize];
                    let flips = rng.below(36) as u32;
                    flip_bits(rng, &h, flips)
                }
            })
            .collect()
    }

    #[test]
    fn changes_after_a_bulk_load_are_seen_at_once() {
        let mut rng = SplitMix64::new(8);
        let mut idx = PdqIndex::default();
        let mut model = BTreeMap::new();
        // Clusters of near copies share buckets, so changes land in filled buckets too.
        let bases: Vec<PdqHash> = (0..100).map(|_| PdqHash(rng.bytes32())).collect();
        let near = |rng: &mut SplitMix64| {
            let base = bases[rng.below(bases.len() as u64) as usize];
            let flips = rng.below(30) as u32;
            flip_bits(rng, &base, flips)
        };
        for id in 0..3000u64 {
            let h = if id % 2 == 0 {
                near(&mut rng)
            } else {
                PdqHash(rng.bytes32())
            };
            idx.push_unfiled(id, h);
            model.insert(id, h);
        }
        idx.file_pending();
        let q = queries(&mut rng, &model);
        agree(&idx, &model, &q);

        // Inserts after the load are found beside the loaded entries.
        for id in 10_000..11_000u64 {
            let h = near(&mut rng);
            idx.insert(id, h);
            model.insert(id, h);
        }
        agree(&idx, &model, &queries(&mut rng, &model));

        // Removals of loaded entries stop matching at once; a removed id comes back with
        // another hash, and a present one is replaced.
        let mut removed = Vec::new();
        for id in (0..3000u64).step_by(5) {
            assert!(idx.remove(id));
            assert!(!idx.contains(id));
            let old = model.remove(&id).unwrap_or(PdqHash([0; 32]));
            assert!(
                idx.search(&old).iter().all(|h| h.id != id),
                "{id} still matches"
            );
            removed.push((id, old));
        }
        agree(&idx, &model, &q);
        for &(id, old) in removed.iter().step_by(3) {
            let h = near(&mut rng);
            idx.insert(id, h);
            model.insert(id, h);
            assert!(idx.search(&h).iter().any(|x| x.id == id && x.distance == 0));
            if old.distance(&h) > 31 {
                assert!(idx.search(&old).iter().all(|x| x.id != id));
            }
        }
        for id in (1..3000u64).step_by(7) {
            let h = PdqHash(rng.bytes32());
            idx.insert(id, h);
            model.insert(id, h);
        }
        agree(&idx, &model, &queries(&mut rng, &model));

        // Growth (runs moved, leaving holes), then removal of most of it: every table
        // compacts its buckets, and nothing is lost.
        let before: Vec<usize> = idx.tables.iter().map(|t| t.compactions).collect();
        for k in 0..4000u64 {
            let h = near(&mut rng);
            idx.insert(20_000 + k, h);
            model.insert(20_000 + k, h);
        }
        agree(&idx, &model, &q);
        for k in (0..4000u64).filter(|k| k % 4 != 0) {
            assert!(idx.remove(20_000 + k));
            model.remove(&(20_000 + k));
        }
        for (t, b) in idx.tables.iter().zip(before) {
            assert!(t.compactions > b, "a table did not compact");
        }
        agree(&idx, &model, &queries(&mut rng, &model));
        // The scan (radius above 47) sees the same entries.
        let mut all: Vec<u64> = idx
            .search_within(&PdqHash([0; 32]), 256)
            .iter()
            .map(|h| h.id)
            .collect();
        all.sort_unstable();
        assert_eq!(all, model.keys().copied().collect::<Vec<_>>());
    }
}
