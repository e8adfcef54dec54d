//! Synthetic workloads shared by the tests and the bench, built like
//! `shared/peers/faiss_baseline.py` (same distributions, not the same random numbers).

use crate::face::{DIM, FaceEmbedding};
use crate::pdq::PdqHash;
use crate::rng::SplitMix64;

/// A uniformly random unit vector.
pub fn random_unit(rng: &mut SplitMix64) -> FaceEmbedding {
    loop {
        let v: Vec<f32> = (0..DIM).map(|_| rng.gaussian() as f32).collect();
        if let Ok(e) = FaceEmbedding::normalized(&v) {
            return e;
        }
    }
}

/// A unit vector at cosine exactly `cos` (up to rounding) to `base`.
pub fn perturb(rng: &mut SplitMix64, base: &FaceEmbedding, cos: f32) -> FaceEmbedding {
    let b = base.as_array();
    loop {
        let mut g: Vec<f64> = (0..DIM).map(|_| rng.gaussian()).collect();
        let d: f64 = g.iter().zip(b).map(|(x, y)| x * f64::from(*y)).sum();
        for (x, y) in g.iter_mut().zip(b) {
            *x -= d * f64::from(*y);
        }
        let n = g.iter().map(|x| x * x).sum::<f64>().sqrt();
        if n < 1e-9 {
            continue;
        }
        let c = f64::from(cos);
        let s = (1.0 - c * c).max(0.0).sqrt();
        let v: Vec<f32> = g
            .iter()
            .zip(b)
            .map(|(x, y)| (c * f64::from(*y) + s * x / n) as f32)
            .collect();
        if let Ok(e) = FaceEmbedding::normalized(&v) {
            return e;
        }
    }
}

/// Face workload: `n` identities, genuine queries at cosine U(lo, hi) to a stored one,
/// impostors fresh random.
pub struct FaceWorkload {
    pub db: Vec<FaceEmbedding>,
    /// (index into `db`, query, cosine to it)
    pub genuine: Vec<(usize, FaceEmbedding, f32)>,
    pub impostors: Vec<FaceEmbedding>,
}

impl FaceWorkload {
    pub fn new(
        n: usize,
        n_genuine: usize,
        n_impostors: usize,
        lo: f32,
        hi: f32,
        seed: u64,
    ) -> Self {
        let mut rng = SplitMix64::new(seed);
        let db: Vec<FaceEmbedding> = (0..n).map(|_| random_unit(&mut rng)).collect();
        let mut qrng = SplitMix64::new(seed ^ 0x5151_5151);
        let genuine = (0..n_genuine.min(n))
            .map(|_| {
                let i = qrng.below(n as u64) as usize;
                let c = qrng.uniform(f64::from(lo), f64::from(hi)) as f32;
                let q = perturb(&mut qrng, &db[i], c);
                let cos = q.similarity(&db[i]).get();
                (i, q, cos)
            })
            .collect();
        let impostors = (0..n_impostors).map(|_| random_unit(&mut qrng)).collect();
        Self {
            db,
            genuine,
            impostors,
        }
    }
}

/// `hash` with `flips` distinct random bits inverted.
pub fn flip_bits(rng: &mut SplitMix64, hash: &PdqHash, flips: u32) -> PdqHash {
    let mut out = *hash;
    let mut chosen = [false; 256];
    let mut done = 0;
    while done < flips.min(256) {
        let b = rng.below(256) as usize;
        if !chosen[b] {
            chosen[b] = true;
            out.0[b / 8] ^= 1 << (b % 8);
            done += 1;
        }
    }
    out
}

/// PDQ workload: `n` random hashes, matching queries (a stored hash with 0..=max_flips
/// flipped bits) and random queries.
pub struct PdqWorkload {
    pub db: Vec<PdqHash>,
    /// (index into `db`, query, flips)
    pub matching: Vec<(usize, PdqHash, u32)>,
    pub random: Vec<PdqHash>,
}

impl PdqWorkload {
    pub fn new(n: usize, nq: usize, max_flips: u32, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let db: Vec<PdqHash> = (0..n).map(|_| PdqHash(rng.bytes32())).collect();
        let matching = (0..nq.min(n))
            .map(|_| {
                let i = rng.below(n as u64) as usize;
                let f = rng.below(u64::from(max_flips) + 1) as u32;
                (i, flip_bits(&mut rng, &db[i], f), f)
            })
            .collect();
        let random = (0..nq).map(|_| PdqHash(rng.bytes32())).collect();
        Self {
            db,
            matching,
            random,
        }
    }
}
