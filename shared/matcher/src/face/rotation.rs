//! Pseudo-random rotations of R^128: `H D3 H D2 H D1` with `H` the normalised
//! Walsh-Hadamard transform and `Dk` random ±1 diagonals (as used for cross-polytope LSH).
//! Each costs ~1.7k additions instead of the 16k multiply-adds of a dense rotation, and is
//! exactly orthogonal, so norms and angles are preserved.

use super::embedding::DIM;
use crate::rng::SplitMix64;

const ROUNDS: usize = 3;

/// A stack of pseudo-random rotations applied together.
#[derive(Clone, Debug)]
pub(crate) struct Rotations {
    count: usize,
    /// `count * ROUNDS * DIM` signs (±1.0); the last round also carries the scale.
    signs: Vec<f32>,
}

impl Rotations {
    pub(crate) fn new(count: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let scale = (DIM as f32).powf(-1.5);
        let mut signs = Vec::with_capacity(count * ROUNDS * DIM);
        for _ in 0..count {
            for round in 0..ROUNDS {
                for _ in 0..DIM {
                    let s = if rng.next_u64() >> 63 == 1 { 1.0 } else { -1.0 };
                    signs.push(if round == ROUNDS - 1 { s * scale } else { s });
                }
            }
        }
        Self { count, signs }
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Writes the `count * DIM` rotated coordinates of `x` into `out`.
    pub(crate) fn project(&self, x: &[f32; DIM], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_avx2_fma() {
            // SAFETY: the CPU supports avx2 and fma (checked above).
            unsafe { self.project_avx2(x, out) };
            return;
        }
        self.project_generic(x, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn project_avx2(&self, x: &[f32; DIM], out: &mut [f32]) {
        self.project_generic(x, out);
    }

    #[inline(always)]
    fn project_generic(&self, x: &[f32; DIM], out: &mut [f32]) {
        for (signs, o) in self
            .signs
            .chunks_exact(ROUNDS * DIM)
            .zip(out.chunks_exact_mut(DIM))
        {
            let mut v = *x;
            // The last round's signs carry the scale, applied after its transform.
            for (round, d) in signs.chunks_exact(DIM).enumerate() {
                if round + 1 < ROUNDS {
                    for (vi, &s) in v.iter_mut().zip(d) {
                        *vi *= s;
                    }
                    hadamard(&mut v);
                } else {
                    hadamard(&mut v);
                    for (vi, &s) in v.iter_mut().zip(d) {
                        *vi *= s;
                    }
                }
            }
            o.copy_from_slice(&v);
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.signs.capacity() * 4
    }
}

/// In-place unnormalised fast Walsh-Hadamard transform of length 128.
#[inline(always)]
fn hadamard(v: &mut [f32; DIM]) {
    let mut h = 1;
    while h < DIM {
        for block in v.chunks_exact_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (p, q) = (*x, *y);
                *x = p + q;
                *y = p - q;
            }
        }
        h *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_preserves_norm_and_angle() {
        let rot = Rotations::new(2, 5);
        let mut rng = SplitMix64::new(1);
        let mut a = [0f32; DIM];
        let mut b = [0f32; DIM];
        for i in 0..DIM {
            a[i] = rng.gaussian() as f32;
            b[i] = rng.gaussian() as f32;
        }
        let mut pa = vec![0f32; 2 * DIM];
        let mut pb = vec![0f32; 2 * DIM];
        rot.project(&a, &mut pa);
        rot.project(&b, &mut pb);
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        for r in 0..2 {
            let s = r * DIM..(r + 1) * DIM;
            assert!((dot(&pa[s.clone()], &pa[s.clone()]) - dot(&a, &a)).abs() < 1e-2);
            assert!((dot(&pa[s.clone()], &pb[s.clone()]) - dot(&a, &b)).abs() < 1e-2);
        }
        // Two rotations differ.
        assert!(pa[..DIM] != pa[DIM..]);
    }
}
