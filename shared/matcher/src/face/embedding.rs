//! Validated face embeddings: 128 finite floats of unit length.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Embedding dimension (SFace).
pub const DIM: usize = 128;
/// Accepted deviation of the L2 norm from 1.
pub const NORM_TOLERANCE: f32 = 1e-3;

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

/// A 128-d L2-normalised face embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding(Box<[f32; DIM]>);

impl Embedding {
    /// Checks length, finiteness and unit norm (within `NORM_TOLERANCE`), then renormalises
    /// exactly.
    pub fn new(v: &[f32]) -> Result<Self, EmbeddingError> {
        if v.len() != DIM {
            return Err(EmbeddingError::Length {
                expected: DIM,
                found: v.len(),
            });
        }
        if let Some((index, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(EmbeddingError::NotFinite { index, value });
        }
        let norm = v
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if !((1.0 - f64::from(NORM_TOLERANCE))..=(1.0 + f64::from(NORM_TOLERANCE))).contains(&norm)
        {
            return Err(EmbeddingError::NotUnit { norm: norm as f32 });
        }
        let mut out = Box::new([0f32; DIM]);
        for (o, &x) in out.iter_mut().zip(v) {
            *o = (f64::from(x) / norm) as f32;
        }
        Ok(Self(out))
    }

    /// Normalises any non-zero finite 128-d vector to unit length.
    pub fn normalized(v: &[f32]) -> Result<Self, EmbeddingError> {
        if v.len() != DIM {
            return Err(EmbeddingError::Length {
                expected: DIM,
                found: v.len(),
            });
        }
        if let Some((index, &value)) = v.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(EmbeddingError::NotFinite { index, value });
        }
        let norm = v
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return Err(EmbeddingError::NotUnit { norm: norm as f32 });
        }
        let scaled: Vec<f32> = v.iter().map(|&x| (f64::from(x) / norm) as f32).collect();
        Self::new(&scaled)
    }

    pub fn as_array(&self) -> &[f32; DIM] {
        &self.0
    }

    /// Cosine similarity (dot product of unit vectors).
    pub fn cosine(&self, other: &Embedding) -> f32 {
        self.0.iter().zip(other.0.iter()).map(|(a, b)| a * b).sum()
    }
}

impl Serialize for Embedding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_slice().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Embedding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<f32>::deserialize(d)?;
        Embedding::new(&v).map_err(serde::de::Error::custom)
    }
}
