//! Validated face embeddings (128 finite floats of unit length) and the one cosine similarity
//! between two of them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Embedding dimension (SFace).
pub const DIM: usize = 128;
/// Accepted deviation of the L2 norm from 1.
pub const NORM_TOLERANCE: f32 = 1e-3;
/// A vector whose norm is this close to 1 is kept as it is: normalising it again would only move
/// its last bits (an f32 rounding is 6e-8 per component), so building an embedding from one is
/// exact and its floats survive every store and wire unchanged.
const UNIT_EXACT: f64 = 1e-6;

/// Why a vector is not a usable face embedding.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EmbeddingError {
    #[error("a face embedding has {expected} numbers, this one has {found}")]
    Length { expected: usize, found: usize },
    #[error("a face embedding must contain only finite numbers; element {index} is {value}")]
    NotFinite { index: usize, value: f32 },
    #[error("a face embedding must have unit length (L2-normalised); its length is {norm}")]
    NotUnit { norm: f32 },
}

/// The cosine similarity of two face embeddings: 1 for the same direction, 0 for unrelated faces,
/// -1 for opposite ones. A face matches an entry at or above the configured threshold
/// ([`crate::FACE_MATCH_THRESHOLD`] by default). JSON: a plain number.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Similarity(pub f32);

impl Similarity {
    pub fn get(self) -> f32 {
        self.0
    }

    /// A total order (`f32::total_cmp`), for sorting.
    pub fn total_cmp(&self, other: &Similarity) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl fmt::Display for Similarity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A 128-d L2-normalised face embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceEmbedding(Box<[f32; DIM]>);

impl FaceEmbedding {
    /// Checks length, finiteness and unit norm (within `NORM_TOLERANCE`), then renormalises
    /// exactly (a vector already of unit length, such as one this type produced, is kept
    /// bit for bit).
    pub fn new(v: &[f32]) -> Result<Self, EmbeddingError> {
        let norm = checked_norm(v)?;
        if !((1.0 - f64::from(NORM_TOLERANCE))..=(1.0 + f64::from(NORM_TOLERANCE))).contains(&norm)
        {
            return Err(EmbeddingError::NotUnit { norm: norm as f32 });
        }
        let mut out = Box::new([0f32; DIM]);
        if (norm - 1.0).abs() <= UNIT_EXACT {
            out.copy_from_slice(v);
        } else {
            for (o, &x) in out.iter_mut().zip(v) {
                *o = (f64::from(x) / norm) as f32;
            }
        }
        Ok(Self(out))
    }

    /// Normalises any non-zero finite 128-d vector to unit length (what a face model outputs).
    pub fn normalized(v: &[f32]) -> Result<Self, EmbeddingError> {
        let norm = checked_norm(v)?;
        if norm == 0.0 || !norm.is_finite() {
            return Err(EmbeddingError::NotUnit { norm: norm as f32 });
        }
        let scaled: Vec<f32> = v.iter().map(|&x| (f64::from(x) / norm) as f32).collect();
        Self::new(&scaled)
    }

    pub fn as_array(&self) -> &[f32; DIM] {
        &self.0
    }

    pub fn as_slice(&self) -> &[f32] {
        self.0.as_slice()
    }

    /// Cosine similarity (the dot product of two unit vectors).
    pub fn similarity(&self, other: &FaceEmbedding) -> Similarity {
        Similarity(dot(&self.0, &other.0))
    }
}

/// The L2 norm (in f64) of a vector of `DIM` finite numbers.
fn checked_norm(v: &[f32]) -> Result<f64, EmbeddingError> {
    if v.len() != DIM {
        return Err(EmbeddingError::Length {
            expected: DIM,
            found: v.len(),
        });
    }
    if let Some((index, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
        return Err(EmbeddingError::NotFinite { index, value });
    }
    Ok(v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt())
}

/// The dot product of two vectors (eight lanes, so that the compiler vectorises it).
#[inline(always)]
pub(crate) fn dot(q: &[f32; DIM], v: &[f32; DIM]) -> f32 {
    let mut acc = [0f32; 8];
    for (qc, vc) in q.chunks_exact(8).zip(v.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += qc[k] * vc[k];
        }
    }
    acc.iter().sum()
}

impl Serialize for FaceEmbedding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_slice().serialize(s)
    }
}

impl<'de> Deserialize<'de> for FaceEmbedding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<f32>::deserialize(d)?;
        FaceEmbedding::new(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn axis(i: usize, x: f32) -> Vec<f32> {
        let mut v = vec![0f32; DIM];
        v[i] = x;
        v
    }

    fn random(seed: u64, scale: f64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        (0..DIM).map(|_| (rng.gaussian() * scale) as f32).collect()
    }

    #[test]
    fn normalises_and_refuses() {
        let e = FaceEmbedding::normalized(&axis(3, 2.0)).unwrap();
        assert_eq!(e.as_array()[3], 1.0);
        assert_eq!(
            FaceEmbedding::new(&axis(3, 2.0)),
            Err(EmbeddingError::NotUnit { norm: 2.0 })
        );
        assert_eq!(
            FaceEmbedding::new(&[1.0, 0.0]),
            Err(EmbeddingError::Length {
                expected: DIM,
                found: 2
            })
        );
        assert_eq!(
            FaceEmbedding::normalized(&vec![0.0; DIM]),
            Err(EmbeddingError::NotUnit { norm: 0.0 })
        );
        let mut nan = axis(0, 1.0);
        nan[5] = f32::NAN;
        assert!(matches!(
            FaceEmbedding::new(&nan),
            Err(EmbeddingError::NotFinite { index: 5, .. })
        ));
        let mut inf = axis(0, 1.0);
        inf[7] = f32::INFINITY;
        assert!(matches!(
            FaceEmbedding::normalized(&inf),
            Err(EmbeddingError::NotFinite { index: 7, .. })
        ));
    }

    #[test]
    fn a_unit_vector_is_kept_bit_for_bit() {
        for seed in 0..50 {
            let e = FaceEmbedding::normalized(&random(seed, 3.0)).unwrap();
            let again = FaceEmbedding::new(e.as_slice()).unwrap();
            assert_eq!(again.as_array(), e.as_array(), "seed {seed}");
            // Through JSON, as stores and the wire carry it.
            let json = serde_json::to_string(&e).unwrap();
            let back: FaceEmbedding = serde_json::from_str(&json).unwrap();
            assert_eq!(back.as_array(), e.as_array());
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
        }
        // Within the tolerance but not exactly unit: renormalised.
        let v: Vec<f32> = FaceEmbedding::normalized(&random(7, 1.0))
            .unwrap()
            .as_slice()
            .iter()
            .map(|x| x * 1.0005)
            .collect();
        let e = FaceEmbedding::new(&v).unwrap();
        assert!((e.similarity(&e).get() - 1.0).abs() < 1e-6);
        assert!(serde_json::from_str::<FaceEmbedding>("[0.5, 0.5]").is_err());
    }

    #[test]
    fn similarity_of_known_vectors() {
        let x = FaceEmbedding::new(&axis(0, 1.0)).unwrap();
        let y = FaceEmbedding::new(&axis(1, 1.0)).unwrap();
        let minus_x = FaceEmbedding::new(&axis(0, -1.0)).unwrap();
        assert_eq!(x.similarity(&x), Similarity(1.0));
        assert_eq!(x.similarity(&y), Similarity(0.0));
        assert_eq!(x.similarity(&minus_x), Similarity(-1.0));
        let mut diag = vec![0f32; DIM];
        diag[0] = 1.0;
        diag[1] = 1.0;
        let d = FaceEmbedding::normalized(&diag).unwrap();
        assert!((x.similarity(&d).get() - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert_eq!(x.similarity(&d), d.similarity(&x));
        // The same as the plain f64 dot product.
        let (a, b) = (
            FaceEmbedding::normalized(&random(1, 1.0)).unwrap(),
            FaceEmbedding::normalized(&random(2, 1.0)).unwrap(),
        );
        let plain: f64 = a
            .as_slice()
            .iter()
            .zip(b.as_slice())
            .map(|(p, q)| f64::from(*p) * f64::from(*q))
            .sum();
        assert!((f64::from(a.similarity(&b).get()) - plain).abs() < 1e-6);
    }

    #[test]
    fn similarity_is_a_plain_number() {
        assert_eq!(serde_json::to_string(&Similarity(0.75)).unwrap(), "0.75");
        assert_eq!(
            serde_json::from_str::<Similarity>("0.5").unwrap(),
            Similarity(0.5)
        );
        assert_eq!(format!("{:.2}", Similarity(0.5)), "0.50");
        assert!(Similarity(0.6) > Similarity(0.5));
        assert_eq!(
            Similarity(0.6).total_cmp(&Similarity(0.5)),
            std::cmp::Ordering::Greater
        );
    }
}
