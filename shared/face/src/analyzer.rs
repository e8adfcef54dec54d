//! The face pipeline behind the desk's [`PhotoAnalyzer`] port (used by the embedded worker and the embedder Lambda).

use crate::QualityVerdict;
use crate::{AnalyzeError, FaceEngine, decode};
use optout_core::Verdict;
use optout_core::ports::{AnalyzerError, PhotoAnalyzer, PhotoFindings};
use std::sync::Arc;

/// [`FaceEngine`] behind the [`PhotoAnalyzer`] port.
#[derive(Clone)]
pub struct FaceAnalyzer(pub Arc<FaceEngine>);

impl PhotoAnalyzer for FaceAnalyzer {
    fn decode_cost(&self, bytes: &[u8]) -> u64 {
        // A file whose headers do not read fails at once in `analyze`: nothing to reserve.
        decode::read_header(bytes).map_or(0, |h| {
            decode::analysis_cost(&h, crate::engine::REDUCED_LONG_SIDE)
        })
    }

    fn analyze(&self, bytes: &[u8]) -> Result<PhotoFindings, AnalyzerError> {
        match self.0.analyze(bytes) {
            Ok(a) => Ok(PhotoFindings {
                verdict: a.verdict.into(),
                embedding: if a.verdict.is_ok() {
                    a.embedding().cloned()
                } else {
                    None
                },
                // Every face large and sharp enough to be matched reliably (the desk keeps
                // them only for an image opt-out that asks for its faces to be excluded).
                face_embeddings: a
                    .faces
                    .iter()
                    .filter(|f| usable_face(f))
                    .map(|f| f.embedding.clone())
                    .collect(),
                sha256: a.sha256,
                pdq: Some(a.pdq),
                pdq_quality: a.pdq_quality,
                details: serde_json::json!({
                    "width": a.width,
                    "height": a.height,
                    "chosen_face": a.chosen_face,
                    "faces": a.faces.iter().map(|f| serde_json::json!({
                        "box": f.bbox, "score": f.score, "landmarks": f.landmarks, "sharpness": f.sharpness,
                    })).collect::<Vec<_>>(),
                }),
            }),
            Err(AnalyzeError::Inference(e)) => Err(AnalyzerError::Failed(e)),
            Err(e) => Err(AnalyzerError::Unreadable(e.to_string())),
        }
    }
}

/// Whether one face of a photo is large and sharp enough for its embedding to be matched (the
/// rules the quality gate applies to the chosen face).
fn usable_face(f: &crate::engine::FaceRecord) -> bool {
    f.bbox.width.min(f.bbox.height) >= crate::quality::MIN_FACE_SIDE
        && f.sharpness >= crate::quality::MIN_SHARPNESS
}

impl From<QualityVerdict> for Verdict {
    fn from(v: QualityVerdict) -> Verdict {
        match v {
            QualityVerdict::Ok => Verdict::Ok,
            QualityVerdict::NoFace => Verdict::NoFace,
            QualityVerdict::SeveralFaces => Verdict::SeveralFaces,
            QualityVerdict::FaceTooSmall => Verdict::FaceTooSmall,
            QualityVerdict::TooBlurred => Verdict::TooBlurred,
        }
    }
}
