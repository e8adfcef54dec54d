//! A stand-in for the face pipeline that answers what it is told.

use optout_matcher::{FaceEmbedding, PdqHash, Sha256};
use sha2::Digest;
use std::sync::{Condvar, Mutex, PoisonError};

use super::failures::lock;
use crate::ports::{AnalyzerError, PhotoAnalyzer, PhotoFindings};
use crate::verdict::Verdict;

/// The length of the embeddings [`FakeAnalyzer`] derives (the matcher's face dimension).
pub const EMBEDDING_DIM: usize = optout_matcher::face::DIM;

/// What [`FakeAnalyzer`] answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Analysis {
    /// One usable face (verdict `ok`): an embedding, SHA-256 and PDQ derived from the bytes, so
    /// that different photos give different (near-orthogonal) embeddings and the same bytes the
    /// same ones.
    Face,
    /// No usable face: this verdict (`no_face`, `several_faces`, ...), no embedding, hashes
    /// derived from the bytes.
    Verdict(Verdict),
    /// Exactly these findings.
    Findings(PhotoFindings),
    /// [`AnalyzerError::Unreadable`] with this reason.
    Unreadable(String),
    /// [`AnalyzerError::Failed`] with this reason (the pipeline itself failed).
    Failed(String),
}

/// A [`PhotoAnalyzer`] that answers the configured [`Analysis`] ([`Analysis::Face`] until told
/// otherwise) and counts its calls. It can be paused ([`FakeAnalyzer::pause`]): analyses then
/// wait until [`FakeAnalyzer::resume`], so that a test acts while a job is in the middle of one.
#[derive(Debug)]
pub struct FakeAnalyzer {
    answer: Mutex<Analysis>,
    calls: Mutex<usize>,
    /// Whether analyses wait, and how many are waiting.
    gate: Mutex<(bool, usize)>,
    opened: Condvar,
}

impl Default for FakeAnalyzer {
    fn default() -> Self {
        FakeAnalyzer::answering(Analysis::Face)
    }
}

impl FakeAnalyzer {
    /// An analyzer that answers `a` to every photo.
    pub fn answering(a: Analysis) -> Self {
        FakeAnalyzer {
            answer: Mutex::new(a),
            calls: Mutex::new(0),
            gate: Mutex::new((false, 0)),
            opened: Condvar::new(),
        }
    }

    /// Makes analyses wait (on their blocking thread) until [`FakeAnalyzer::resume`].
    pub fn pause(&self) {
        lock(&self.gate).0 = true;
    }

    /// Lets waiting and later analyses run.
    pub fn resume(&self) {
        lock(&self.gate).0 = false;
        self.opened.notify_all();
    }

    /// How many analyses are waiting at the pause.
    pub fn waiting(&self) -> usize {
        lock(&self.gate).1
    }

    fn wait_while_paused(&self) {
        let mut gate = lock(&self.gate);
        if !gate.0 {
            return;
        }
        gate.1 += 1;
        while gate.0 {
            gate = self
                .opened
                .wait(gate)
                .unwrap_or_else(PoisonError::into_inner);
        }
        gate.1 -= 1;
    }

    /// Answers `a` from now on.
    pub fn answer(&self, a: Analysis) {
        *lock(&self.answer) = a;
    }

    /// How many photos were analysed.
    pub fn calls(&self) -> usize {
        *lock(&self.calls)
    }

    /// The findings [`Analysis::Face`] gives for `bytes`.
    pub fn face_findings(bytes: &[u8]) -> PhotoFindings {
        let embedding = FaceEmbedding::new(&embedding_of(bytes)).ok();
        PhotoFindings {
            verdict: Verdict::Ok,
            face_embeddings: embedding.iter().cloned().collect(),
            embedding,
            ..Self::verdict_findings(bytes, Verdict::Ok)
        }
    }

    /// The findings [`Analysis::Verdict`] gives for `bytes`.
    pub fn verdict_findings(bytes: &[u8], verdict: Verdict) -> PhotoFindings {
        let pdq = sha2::Sha256::new()
            .chain_update(b"pdq")
            .chain_update(bytes)
            .finalize();
        PhotoFindings {
            verdict,
            embedding: None,
            face_embeddings: Vec::new(),
            sha256: Sha256::of(bytes),
            pdq: Some(PdqHash(pdq.into())),
            pdq_quality: 90,
            details: serde_json::json!({ "faces": [], "fake": true }),
        }
    }
}

/// A unit vector of [`EMBEDDING_DIM`] numbers derived from the bytes (centred, so that two
/// photos' embeddings are far apart).
pub fn embedding_of(bytes: &[u8]) -> Vec<f32> {
    let mut v = Vec::with_capacity(EMBEDDING_DIM);
    let mut block = 0u32;
    while v.len() < EMBEDDING_DIM {
        let h = sha2::Sha256::new()
            .chain_update(block.to_be_bytes())
            .chain_update(bytes)
            .finalize();
        v.extend(h.iter().map(|b| f32::from(*b) - 127.5));
        block += 1;
    }
    v.truncate(EMBEDDING_DIM);
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

impl PhotoAnalyzer for FakeAnalyzer {
    fn analyze(&self, bytes: &[u8]) -> Result<PhotoFindings, AnalyzerError> {
        *lock(&self.calls) += 1;
        self.wait_while_paused();
        match lock(&self.answer).clone() {
            Analysis::Face => Ok(Self::face_findings(bytes)),
            Analysis::Verdict(v) => Ok(Self::verdict_findings(bytes, v)),
            Analysis::Findings(f) => Ok(f),
            Analysis::Unreadable(why) => Err(AnalyzerError::Unreadable(why)),
            Analysis::Failed(why) => Err(AnalyzerError::Failed(why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_unit_vectors_that_tell_photos_apart() {
        let a = embedding_of(b"one photo");
        let b = embedding_of(b"another photo");
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert_eq!(a.len(), EMBEDDING_DIM);
        assert!((norm(&a) - 1.0).abs() < 1e-4);
        let cos: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!(cos.abs() < 0.4, "cosine {cos}");
        assert_eq!(embedding_of(b"one photo"), a);
    }
}
