//! Face-embedding index: "is any stored embedding at cosine ≥ threshold of this one?".
//!
//! Candidates come from `tables` cross-polytope LSH tables probed cheapest bucket first
//! (see `probe`); `probes` (buckets visited per query, over all tables) trades speed for
//! recall. Each candidate is first screened with a 512-bit sign sketch (signs of four more
//! random rotations): a pair at cosine `t` differs in a Binomial-like number of sketch bits
//! with mean 512·acos(t)/π, and candidates more than `sketch_sigma` standard deviations
//! above that mean for the threshold are skipped (probability below 1e-6 for a true match
//! at sigma 5). Survivors are scored exactly against the f16 copy of the stored vector
//! (within 0.0005 of the f32 cosine, see `f16`).
//!
//! Add and remove are incremental: an entry goes into one bucket per table, and removal
//! takes it out of them at once (its slot is reused later, unless a bulk load filed it: see
//! `ids::SlotsById`). Each table keeps its buckets in one flat array (`buckets::Buckets`), which a bulk
//! load ([`FaceIndex::file_pending`]) lays out in one go.
//!
//! What an insert derives from an embedding (the f16 copy, the sketch and one bucket key per
//! table: [`FaceRecord`]) costs 36 rotations, ~55 µs; a snapshot carries the records so that a
//! cold start rebuilds the index from them without recomputing ([`FaceIndex::insert_record`]).

mod embedding;
mod f16;
mod probe;
mod rotation;

use std::fmt;

pub use embedding::{DIM, EmbeddingError, FaceEmbedding, NORM_TOLERANCE, Similarity};

use crate::buckets::{BUCKETS, Buckets};
use crate::cpu;
use crate::ids::{SlotsById, id_at};
use crate::prefetch::prefetch;
use embedding::dot;
use probe::{Ranked, bucket_key, rank, select};
use rotation::Rotations;

const SKETCH_ROTATIONS: usize = 4;
/// 64-bit words of a sketch.
pub const SKETCH_WORDS: usize = SKETCH_ROTATIONS * DIM / 64;
/// The most LSH tables an index may have.
pub const MAX_TABLES: usize = 64;
const SKETCH_BITS: f64 = (SKETCH_ROTATIONS * DIM) as f64;

/// Tuning of a [`FaceIndex`].
#[derive(Clone, Debug, PartialEq)]
pub struct FaceConfig {
    /// Number of LSH tables (memory: 6 bytes per entry per table).
    pub tables: usize,
    /// Buckets probed per query, over all tables.
    pub probes: usize,
    /// Cosine similarity at or above which a stored embedding matches (default:
    /// [`crate::FACE_MATCH_THRESHOLD`]).
    pub threshold: Similarity,
    /// Sketch screening margin in standard deviations (larger = safer, slower).
    pub sketch_sigma: f32,
    /// Seed of the random rotations (fixed, so an index is reproducible).
    pub seed: u64,
}

impl Default for FaceConfig {
    fn default() -> Self {
        Self {
            tables: 16,
            probes: 1000,
            threshold: crate::FACE_MATCH_THRESHOLD,
            sketch_sigma: 5.0,
            seed: 0x6f70_746f_7574_6661,
        }
    }
}

/// A stored embedding at or above the threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceHit {
    pub id: u64,
    pub similarity: Similarity,
}

/// Which derivation an index uses: records derived with other parameters land in other
/// buckets, so they cannot be inserted as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaceParams {
    pub tables: usize,
    pub seed: u64,
}

/// What an index derives from one embedding: the f16 copy it scores against, the sign sketch it
/// screens with and the bucket key of each table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaceRecord {
    pub half: [u16; DIM],
    pub sketch: [u64; SKETCH_WORDS],
    /// One key per table.
    pub keys: Vec<u16>,
}

impl FaceRecord {
    /// The embedding back from its f16 copy (within 2^-11 of the original per component).
    pub fn embedding(&self) -> Result<FaceEmbedding, EmbeddingError> {
        FaceEmbedding::normalized(&f16::to_f32s(&self.half))
    }
}

/// The random rotations of one [`FaceParams`]: computes [`FaceRecord`]s without an index, e.g.
/// to write a snapshot.
#[derive(Clone, Debug)]
pub struct FaceDeriver {
    params: FaceParams,
    rotations: Rotations,
}

impl FaceDeriver {
    /// `tables` is clamped to 1..=[`MAX_TABLES`], as [`FaceIndex::new`] does.
    pub fn new(tables: usize, seed: u64) -> Self {
        let tables = tables.clamp(1, MAX_TABLES);
        Self {
            params: FaceParams { tables, seed },
            rotations: Rotations::new(2 * tables + SKETCH_ROTATIONS, seed),
        }
    }

    pub fn params(&self) -> FaceParams {
        self.params
    }

    fn project(&self, e: &FaceEmbedding) -> Vec<f32> {
        let mut proj = vec![0f32; self.rotations.count() * DIM];
        self.rotations.project(e.as_array(), &mut proj);
        proj
    }

    fn sketch_of(&self, proj: &[f32]) -> [u64; SKETCH_WORDS] {
        let base = 2 * self.params.tables * DIM;
        let mut s = [0u64; SKETCH_WORDS];
        for (k, &v) in proj[base..].iter().enumerate().take(SKETCH_WORDS * 64) {
            if v < 0.0 {
                s[k / 64] |= 1 << (k % 64);
            }
        }
        s
    }

    /// The record of `e`: what [`FaceIndex::insert`] stores for it.
    pub fn derive(&self, e: &FaceEmbedding) -> FaceRecord {
        let proj = self.project(e);
        let half = f16::from_f32s(e.as_array());
        let keys = (0..self.params.tables)
            .map(|t| {
                bucket_key(
                    &proj[2 * t * DIM..(2 * t + 1) * DIM],
                    &proj[(2 * t + 1) * DIM..(2 * t + 2) * DIM],
                )
            })
            .collect();
        FaceRecord {
            half,
            sketch: self.sketch_of(&proj),
            keys,
        }
    }
}

/// Why a [`FaceRecord`] cannot be inserted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a face record with {found} bucket keys for an index of {expected} tables")]
pub struct RecordMismatch {
    pub expected: usize,
    pub found: usize,
}

/// Incremental threshold index over face embeddings.
#[derive(Clone)]
pub struct FaceIndex {
    cfg: FaceConfig,
    deriver: FaceDeriver,
    vecs: Vec<[u16; DIM]>,
    sketches: Vec<[u64; SKETCH_WORDS]>,
    ids: Vec<u64>,
    /// `tables` bucket keys per slot (needed to remove the slot again).
    keys: Vec<u16>,
    free: Vec<u32>,
    /// Live slots by the id in `ids`.
    by_id: SlotsById,
    /// One table of slots per LSH table, keyed by that table's bucket key.
    buckets: Vec<Buckets<u32>>,
    /// Slots from here on are stored but not yet in their buckets (a bulk load: see
    /// [`FaceIndex::push_unfiled`]).
    unfiled_from: Option<usize>,
}

impl fmt::Debug for FaceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaceIndex")
            .field("cfg", &self.cfg)
            .field("len", &self.len())
            .finish()
    }
}

impl Default for FaceIndex {
    fn default() -> Self {
        Self::new(FaceConfig::default())
    }
}

/// Work space of one query.
struct Query {
    sketch: [u64; SKETCH_WORDS],
    ranked: Vec<(Ranked, Ranked)>,
}

impl FaceIndex {
    /// An empty index. `tables` is clamped to 1..=64 and `probes` to at least 1.
    pub fn new(mut cfg: FaceConfig) -> Self {
        cfg.tables = cfg.tables.clamp(1, MAX_TABLES);
        cfg.probes = cfg
            .probes
            .clamp(1, cfg.tables * probe::DEPTH * probe::DEPTH);
        Self {
            deriver: FaceDeriver::new(cfg.tables, cfg.seed),
            vecs: Vec::new(),
            sketches: Vec::new(),
            ids: Vec::new(),
            keys: Vec::new(),
            free: Vec::new(),
            by_id: SlotsById::default(),
            buckets: vec![Buckets::default(); cfg.tables],
            unfiled_from: None,
            cfg,
        }
    }

    pub fn config(&self) -> &FaceConfig {
        &self.cfg
    }

    /// Changes the default probe budget of later queries.
    pub fn set_probes(&mut self, probes: usize) {
        self.cfg.probes = self.clamp_probes(probes);
    }

    /// Changes the default threshold of later queries.
    pub fn set_threshold(&mut self, threshold: Similarity) {
        self.cfg.threshold = threshold;
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The derivation this index uses.
    pub fn params(&self) -> FaceParams {
        self.deriver.params()
    }

    /// The derivation itself (what [`insert`](Self::insert) computes).
    pub fn deriver(&self) -> &FaceDeriver {
        &self.deriver
    }

    /// Makes room for `additional` more entries, so that a load of known size allocates once
    /// (growing by doubling would leave up to half of the vectors' memory unused).
    pub fn reserve(&mut self, additional: usize) {
        self.vecs.reserve_exact(additional);
        self.sketches.reserve_exact(additional);
        self.ids.reserve_exact(additional);
        self.keys.reserve_exact(additional * self.cfg.tables);
    }

    /// Adds entry `id` (replacing what `id` held before).
    pub fn insert(&mut self, id: u64, e: &FaceEmbedding) {
        let record = self.deriver.derive(e);
        self.put(id, &record.half, &record.sketch, &record.keys);
    }

    /// Adds entry `id` from its record as [`FaceDeriver::derive`] computed it with this index's
    /// [`params`](Self::params) (the caller checks they are the same: keys of other parameters
    /// would put the entry in the wrong buckets and it would rarely be found).
    pub fn insert_record(&mut self, id: u64, record: &FaceRecord) -> Result<(), RecordMismatch> {
        if record.keys.len() != self.cfg.tables {
            return Err(RecordMismatch {
                expected: self.cfg.tables,
                found: record.keys.len(),
            });
        }
        self.put(id, &record.half, &record.sketch, &record.keys);
        Ok(())
    }

    /// Whether entry `id` is present.
    pub fn contains(&self, id: u64) -> bool {
        self.slot_of(id).is_some()
    }

    fn slot_of(&self, id: u64) -> Option<u32> {
        self.by_id.get(id, |s| id_at(&self.ids, s))
    }

    /// Adds entry `id` (which must not be present) from its record, leaving it out of its
    /// buckets until [`file_pending`](Self::file_pending): filing a whole load at once, bucket
    /// by bucket, is several times faster than one insert at a time (each insert touches 16
    /// buckets at random, a cache miss each). Until then searches do not see it.
    pub fn push_unfiled(&mut self, id: u64, record: &FaceRecord) -> Result<(), RecordMismatch> {
        if record.keys.len() != self.cfg.tables {
            return Err(RecordMismatch {
                expected: self.cfg.tables,
                found: record.keys.len(),
            });
        }
        let slot = self.vecs.len();
        let ids = &self.ids;
        if self
            .by_id
            .insert(id, slot as u32, |s| id_at(ids, s))
            .is_err()
        {
            return self.insert_record(id, record);
        }
        self.unfiled_from.get_or_insert(slot);
        self.vecs.push(record.half);
        self.sketches.push(record.sketch);
        self.ids.push(id);
        self.keys.extend_from_slice(&record.keys);
        Ok(())
    }

    /// Files every entry added by [`push_unfiled`](Self::push_unfiled) in its buckets: each
    /// table is laid out anew, tightly, in one allocation (see `buckets::Buckets::extend_bulk`).
    pub fn file_pending(&mut self) {
        let Some(from) = self.unfiled_from.take() else {
            return;
        };
        let l = self.cfg.tables;
        let n = self.vecs.len();
        let keys = &self.keys;
        for (t, table) in self.buckets.iter_mut().enumerate() {
            table.extend_bulk(
                n - from,
                |i| keys.get((from + i) * l + t).copied().unwrap_or(0),
                |i| (from + i) as u32,
            );
        }
    }

    /// The record of entry `id` (what a snapshot stores), if present.
    pub fn record(&self, id: u64) -> Option<FaceRecord> {
        let slot = self.slot_of(id)? as usize;
        let l = self.cfg.tables;
        Some(FaceRecord {
            half: self.vecs[slot],
            sketch: self.sketches[slot],
            keys: self.keys[slot * l..(slot + 1) * l].to_vec(),
        })
    }

    fn put(&mut self, id: u64, v: &[u16; DIM], sketch: &[u64; SKETCH_WORDS], keys: &[u16]) {
        self.file_pending();
        self.remove(id);
        let slot = match self.free.pop() {
            Some(s) => {
                let i = s as usize;
                self.vecs[i] = *v;
                self.sketches[i] = *sketch;
                self.ids[i] = id;
                s
            }
            None => {
                self.vecs.push(*v);
                self.sketches.push(*sketch);
                self.ids.push(id);
                self.keys.extend(std::iter::repeat_n(0, self.cfg.tables));
                (self.vecs.len() - 1) as u32
            }
        };
        let l = self.cfg.tables;
        for ((t, &key), table) in keys.iter().enumerate().zip(&mut self.buckets) {
            self.keys[slot as usize * l + t] = key;
            table.push(key, slot);
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
        let l = self.cfg.tables;
        let keys = &self.keys[slot as usize * l..(slot as usize + 1) * l];
        for (table, &key) in self.buckets.iter_mut().zip(keys) {
            table.remove(key, |&s| s == slot);
        }
        if self.by_id.reusable(slot) {
            self.free.push(slot);
        }
        true
    }

    /// The most similar stored embedding at or above the configured threshold, if any.
    pub fn search(&self, q: &FaceEmbedding) -> Option<FaceHit> {
        self.search_with(q, self.cfg.threshold, self.cfg.probes)
    }

    /// As [`search`](Self::search) with an explicit threshold and probe budget.
    pub fn search_with(
        &self,
        q: &FaceEmbedding,
        threshold: Similarity,
        probes: usize,
    ) -> Option<FaceHit> {
        let threshold = threshold.get();
        if self.is_empty() {
            return None;
        }
        let query = self.prepare(q);
        let max_sketch = max_sketch_distance(threshold, self.cfg.sketch_sigma);
        let probes = self.clamp_probes(probes);
        cpu::fast(|| self.probe(q, &query, threshold, probes, max_sketch))
    }

    /// [`search`](Self::search) for many queries at once, with the same results. The
    /// candidates of a group of queries are first sorted into slot ranges small enough for
    /// the CPU cache, so screening reads memory in order instead of at random.
    pub fn search_batch(&self, queries: &[FaceEmbedding]) -> Vec<Option<FaceHit>> {
        self.search_batch_with(queries, self.cfg.threshold, self.cfg.probes)
    }

    /// [`search_batch`](Self::search_batch) with an explicit threshold and probe budget.
    pub fn search_batch_with(
        &self,
        queries: &[FaceEmbedding],
        threshold: Similarity,
        probes: usize,
    ) -> Vec<Option<FaceHit>> {
        let threshold = threshold.get();
        if self.is_empty() {
            return vec![None; queries.len()];
        }
        let max_sketch = max_sketch_distance(threshold, self.cfg.sketch_sigma);
        let probes = self.clamp_probes(probes);
        let mut out = Vec::with_capacity(queries.len());
        for group in queries.chunks(BATCH_GROUP) {
            let prepared: Vec<Query> = group.iter().map(|q| self.prepare(q)).collect();
            cpu::fast(|| {
                self.batch_group(
                    group,
                    &prepared,
                    threshold,
                    probes.max(1),
                    max_sketch,
                    &mut out,
                )
            });
        }
        out
    }

    #[inline(always)]
    fn batch_group(
        &self,
        group: &[FaceEmbedding],
        prepared: &[Query],
        threshold: f32,
        probes: usize,
        max_sketch: u32,
        out: &mut Vec<Option<FaceHit>>,
    ) {
        let n_parts = self.vecs.len().div_ceil(PART_SLOTS).max(1);
        let expected = group.len() * probes * (self.len() / BUCKETS + 1) / n_parts;
        let per_part = expected.min(1 << 16) + 16;
        let mut parts: Vec<Vec<u64>> = (0..n_parts).map(|_| Vec::with_capacity(per_part)).collect();
        let mut sel = Vec::with_capacity(probes);
        for (qi, query) in prepared.iter().enumerate() {
            select(&query.ranked, probes, &mut sel);
            for (k, &(t, key)) in sel.iter().enumerate() {
                if let Some(&(ta, ka)) = sel.get(k + 16) {
                    self.buckets[ta].prefetch_span(ka);
                }
                if let Some(&(ta, ka)) = sel.get(k + 6) {
                    self.buckets[ta].prefetch_items(ka);
                }
                for &slot in self.buckets[t].get(key) {
                    let p = slot as usize / PART_SLOTS;
                    if let Some(part) = parts.get_mut(p) {
                        part.push((u64::from(slot) << 16) | qi as u64);
                    }
                }
            }
        }
        let mut best: Vec<Option<FaceHit>> = vec![None; group.len()];
        let mut survivors: Vec<u64> = Vec::new();
        for part in &parts {
            survivors.clear();
            for &c in part {
                let slot = (c >> 16) as u32;
                let qi = (c & 0xffff) as usize;
                let Some(query) = prepared.get(qi) else {
                    continue;
                };
                let d: u32 = self.sketches[slot as usize]
                    .iter()
                    .zip(query.sketch.iter())
                    .map(|(a, b)| (a ^ b).count_ones())
                    .sum();
                if d <= max_sketch {
                    survivors.push(c);
                }
            }
            for (k, &c) in survivors.iter().enumerate() {
                if let Some(&ahead) = survivors.get(k + SCORE_AHEAD) {
                    self.prefetch_vector((ahead >> 16) as u32);
                }
                let slot = (c >> 16) as u32;
                let qi = (c & 0xffff) as usize;
                if let (Some(q), Some(b)) = (group.get(qi), best.get_mut(qi)) {
                    self.consider_slot(b, q, slot, threshold);
                }
            }
        }
        out.extend(best);
    }

    /// Exhaustive search (every stored embedding is scored); the reference for tests.
    pub fn search_exact(&self, q: &FaceEmbedding, threshold: Similarity) -> Option<FaceHit> {
        let threshold = threshold.get();
        let mut best: Option<FaceHit> = None;
        for slot in self.by_id.slots() {
            self.consider_slot(&mut best, q, slot, threshold);
        }
        best
    }

    /// Between 1 and the number of distinct buckets a query can reach.
    fn clamp_probes(&self, probes: usize) -> usize {
        probes.clamp(1, self.cfg.tables * probe::DEPTH * probe::DEPTH)
    }

    fn prepare(&self, q: &FaceEmbedding) -> Query {
        let proj = self.deriver.project(q);
        let sketch = self.deriver.sketch_of(&proj);
        let ranked = (0..self.cfg.tables)
            .map(|t| {
                (
                    rank(&proj[2 * t * DIM..(2 * t + 1) * DIM]),
                    rank(&proj[(2 * t + 1) * DIM..(2 * t + 2) * DIM]),
                )
            })
            .collect();
        Query { sketch, ranked }
    }

    #[inline(always)]
    fn probe(
        &self,
        q: &FaceEmbedding,
        query: &Query,
        threshold: f32,
        probes: usize,
        max_sketch: u32,
    ) -> Option<FaceHit> {
        // Choose the buckets, then gather their slots and screen them, each time asking
        // memory for what comes a few steps later: the work is bound by random reads.
        let mut heads = Vec::with_capacity(probes);
        select(&query.ranked, probes, &mut heads);
        for &(t, key) in heads.iter().take(16) {
            self.buckets[t].prefetch_span(key);
        }
        let mut lists: Vec<&[u32]> = Vec::with_capacity(heads.len());
        for (k, &(t, key)) in heads.iter().enumerate() {
            if let Some(&(ta, ka)) = heads.get(k + 16) {
                self.buckets[ta].prefetch_span(ka);
            }
            lists.push(self.buckets[t].get(key));
        }
        let mut cands: Vec<u32> = Vec::with_capacity(probes * (self.len() / BUCKETS + 2));
        for (k, list) in lists.iter().enumerate() {
            if let Some(ahead) = lists.get(k + 4) {
                prefetch(ahead.as_ptr());
            }
            cands.extend_from_slice(list);
        }
        let mut best: Option<FaceHit> = None;
        let mut survivors: Vec<u32> = Vec::with_capacity(cands.len() / 16 + 16);
        for (k, &slot) in cands.iter().enumerate() {
            if let Some(&ahead) = cands.get(k + PREFETCH_AHEAD) {
                prefetch(self.sketches[ahead as usize].as_ptr());
            }
            let s = &self.sketches[slot as usize];
            let d: u32 = s
                .iter()
                .zip(query.sketch.iter())
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            if d <= max_sketch {
                survivors.push(slot);
            }
        }
        // Exact scores of the survivors, their vectors asked for a few steps ahead (each is
        // four cache lines far apart in memory: scoring them as they were found left every
        // one a cache miss).
        for &slot in survivors.iter().take(SCORE_AHEAD) {
            self.prefetch_vector(slot);
        }
        for (k, &slot) in survivors.iter().enumerate() {
            if let Some(&ahead) = survivors.get(k + SCORE_AHEAD) {
                self.prefetch_vector(ahead);
            }
            self.consider_slot(&mut best, q, slot, threshold);
        }
        best
    }

    /// Scores the embedding in `slot` against `q` and keeps it in `best` if it matches and is
    /// better (see [`consider`]).
    #[inline]
    fn consider_slot(
        &self,
        best: &mut Option<FaceHit>,
        q: &FaceEmbedding,
        slot: u32,
        threshold: f32,
    ) {
        consider(
            best,
            self.ids[slot as usize],
            self.similarity(q, slot),
            threshold,
        );
    }

    #[inline(always)]
    fn prefetch_vector(&self, slot: u32) {
        if let Some(v) = self.vecs.get(slot as usize) {
            let p = v.as_ptr();
            for line in 0..(2 * DIM).div_ceil(64) {
                prefetch(p.wrapping_add(line * 32));
            }
        }
    }

    #[inline(always)]
    fn similarity(&self, q: &FaceEmbedding, slot: u32) -> f32 {
        let v = &self.vecs[slot as usize];
        #[cfg(target_arch = "x86_64")]
        if cpu::has_f16c() {
            // SAFETY: `has_f16c` confirmed the CPU supports avx2, fma and f16c.
            return unsafe { dot_f16c(q.as_array(), v) };
        }
        dot_half(q.as_array(), v)
    }

    /// Heap bytes held (vectors, sketches, ids, keys, buckets, id table), by capacity.
    pub fn heap_bytes(&self) -> usize {
        let buckets: usize = self.buckets.iter().map(Buckets::heap_bytes).sum();
        self.vecs.capacity() * 2 * DIM
            + self.sketches.capacity() * 8 * SKETCH_WORDS
            + self.ids.capacity() * 8
            + self.keys.capacity() * 2
            + self.free.capacity() * 4
            + self.by_id.heap_bytes()
            + buckets
            + self.buckets.capacity() * std::mem::size_of::<Buckets<u32>>()
            + self.deriver.rotations.heap_bytes()
    }
}

/// Queries whose candidates are sorted together by `search_batch` (at most 65,536).
const BATCH_GROUP: usize = 256;
/// Slots per cache-sized range in `search_batch` (their sketches take 512 KiB).
const PART_SLOTS: usize = 8192;

/// How many candidates ahead the sketch screening asks memory for.
const PREFETCH_AHEAD: usize = 24;
/// Survivors of the sketch screen whose vectors are fetched ahead of their exact score.
const SCORE_AHEAD: usize = 6;

/// The dot product of a query with a stored f16 vector, converted by `half` (with the F16C or
/// FP16 instructions when the CPU has them). Never inlined: its 512-byte buffer slowed the search
/// loops that take the F16C path by ~10 %.
#[inline(never)]
fn dot_half(q: &[f32; DIM], v: &[u16; DIM]) -> f32 {
    dot(q, &f16::to_f32s(v))
}

/// The dot product of a query with a stored f16 vector, converted by the F16C instructions in
/// registers, eight lanes at a time (~18 % more queries per second than [`dot_half`], which
/// converts the whole vector into a buffer first).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_f16c(q: &[f32; DIM], v: &[u16; DIM]) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); 2];
    for (qc, vc) in q.chunks_exact(16).zip(v.chunks_exact(16)) {
        for (h, a) in acc.iter_mut().enumerate() {
            // SAFETY: each chunk holds 16 values, so both 8-value loads are in bounds.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_ps(qc.as_ptr().add(8 * h)),
                    _mm256_cvtph_ps(_mm_loadu_si128(vc.as_ptr().add(8 * h).cast::<__m128i>())),
                )
            };
            *a = _mm256_fmadd_ps(x, y, *a);
        }
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds exactly 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(acc[0], acc[1])) };
    lanes.iter().sum()
}

#[inline(always)]
fn consider(best: &mut Option<FaceHit>, id: u64, similarity: f32, threshold: f32) {
    // Written so that a NaN threshold matches nothing.
    if similarity.partial_cmp(&threshold).is_none_or(|o| o.is_lt()) {
        return;
    }
    let better = match best {
        None => true,
        Some(b) => similarity > b.similarity.0 || (similarity == b.similarity.0 && id < b.id),
    };
    if better {
        *best = Some(FaceHit {
            id,
            similarity: Similarity(similarity),
        });
    }
}

/// Largest sketch distance a pair at cosine `threshold` reaches, `sigma` deviations out.
fn max_sketch_distance(threshold: f32, sigma: f32) -> u32 {
    if !threshold.is_finite() || threshold <= -1.0 {
        return SKETCH_BITS as u32;
    }
    let p = f64::from(threshold.min(1.0)).acos() / std::f64::consts::PI;
    let mean = SKETCH_BITS * p;
    let sd = (SKETCH_BITS * p * (1.0 - p)).sqrt();
    let bound = (mean + f64::from(sigma.max(0.0)) * sd + 1.0).ceil();
    bound.clamp(0.0, SKETCH_BITS) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use crate::synth::random_unit;
    use std::collections::BTreeMap;

    /// Each pool vector is found under the lowest id holding it (its own buckets are always
    /// probed and it matches itself at ~1), and under no id when none does (random unit
    /// vectors are far below the threshold of each other); a batch agrees.
    fn agree(idx: &FaceIndex, pool: &[(FaceEmbedding, FaceRecord)], model: &BTreeMap<u64, usize>) {
        assert_eq!(idx.len(), model.len());
        let mut holder: BTreeMap<usize, u64> = BTreeMap::new();
        for (&id, &p) in model.iter().rev() {
            holder.insert(p, id);
        }
        let queries: Vec<FaceEmbedding> = pool.iter().map(|(e, _)| e.clone()).collect();
        let batch = idx.search_batch(&queries);
        for (p, hit) in batch.iter().enumerate() {
            assert_eq!(hit.map(|h| h.id), holder.get(&p).copied(), "pool {p}");
            assert!(hit.is_none_or(|h| h.similarity > Similarity(0.99)));
        }
        for p in (0..pool.len()).step_by(7) {
            assert_eq!(idx.search(&queries[p]), batch[p], "one by one, pool {p}");
        }
    }

    #[test]
    fn changes_after_a_bulk_load_are_seen_at_once() {
        let mut rng = SplitMix64::new(21);
        // Four tables: the rotations of sixteen make a debug build slow, and each table is
        // the same structure.
        let mut idx = FaceIndex::new(FaceConfig {
            tables: 4,
            ..FaceConfig::default()
        });
        let pool: Vec<(FaceEmbedding, FaceRecord)> = (0..300)
            .map(|_| {
                let e = random_unit(&mut rng);
                let r = idx.deriver().derive(&e);
                (e, r)
            })
            .collect();
        let mut model = BTreeMap::new();
        for id in 0..200u64 {
            idx.push_unfiled(id, &pool[id as usize].1).unwrap();
            model.insert(id, id as usize);
        }
        idx.file_pending();
        agree(&idx, &pool, &model);

        // Inserts after the load are found beside the loaded entries.
        for (p, (e, r)) in pool.iter().enumerate().skip(200) {
            let id = 1000 + p as u64;
            if p % 10 == 0 {
                idx.insert(id, e);
            } else {
                idx.insert_record(id, r).unwrap();
            }
            model.insert(id, p);
        }
        agree(&idx, &pool, &model);

        // Removing loaded entries stops their matches at once; removed ids come back with
        // other vectors, and present ones are moved to other vectors.
        for id in (0..200u64).step_by(4) {
            assert!(idx.remove(id));
            assert!(!idx.remove(id));
            assert!(!idx.contains(id));
            model.remove(&id);
        }
        agree(&idx, &pool, &model);
        for id in (0..200u64).step_by(12) {
            let p = 200 + (id as usize % 100);
            idx.insert_record(id, &pool[p].1).unwrap();
            model.insert(id, p);
        }
        for id in (1..200u64).step_by(9) {
            let p = (id as usize * 7) % 300;
            idx.insert_record(id, &pool[p].1).unwrap();
            model.insert(id, p);
        }
        agree(&idx, &pool, &model);
        assert_eq!(idx.record(1).as_ref(), Some(&pool[7].1));

        // Enough churn for every table to compact its buckets; nothing is lost.
        for k in 0..800u64 {
            let p = rng.below(300) as usize;
            idx.insert_record(10_000 + k, &pool[p].1).unwrap();
            model.insert(10_000 + k, p);
            let gone = 10_000 + rng.below(k + 1);
            assert_eq!(idx.remove(gone), model.remove(&gone).is_some());
        }
        assert!(idx.buckets.iter().all(|t| t.compactions > 0));
        agree(&idx, &pool, &model);
    }

    #[test]
    fn f16c_dot_product_agrees_with_the_portable_one() {
        let mut rng = crate::rng::SplitMix64::new(11);
        for _ in 0..100 {
            let q: Vec<f32> = (0..DIM).map(|_| rng.gaussian() as f32).collect();
            let q = FaceEmbedding::normalized(&q).unwrap();
            let v: Vec<f32> = (0..DIM).map(|_| rng.gaussian() as f32 * 0.1).collect();
            let h = f16::from_f32s(&std::array::from_fn(|i| v[i]));
            let portable = dot_half(q.as_array(), &h);
            #[cfg(target_arch = "x86_64")]
            if cpu::has_f16c() {
                // SAFETY: the CPU has avx2, fma and f16c.
                let fast = unsafe { dot_f16c(q.as_array(), &h) };
                assert!((fast - portable).abs() < 1e-5, "{fast} vs {portable}");
            }
            assert!(portable.is_finite());
        }
    }

    #[test]
    fn sketch_bound_is_monotone() {
        assert!(max_sketch_distance(0.5, 5.0) < max_sketch_distance(0.3, 5.0));
        assert!(max_sketch_distance(0.5, 5.0) < max_sketch_distance(0.5, 6.0));
        assert_eq!(max_sketch_distance(f32::NAN, 5.0), 512);
        assert_eq!(max_sketch_distance(-1.0, 5.0), 512);
        assert!(max_sketch_distance(0.5, 5.0) < 256);
    }
}
