//! Embedding with SFace: 112x112 RGB face in, 128 floats out, L2-normalised.
//!
//! Uses [`crate::models`] (file names, the NNEF loader) and [`crate::head`]; neither uses this
//! module.

use std::path::Path;

use tract_nnef::framework::Nnef;
use tract_nnef::prelude::*;

use optout_matcher::FaceEmbedding;

use crate::error::{AnalyzeError, ModelError};
use crate::head::Head;
use crate::models::{
    self, EMBEDDING_LEN, Plan, SFACE_FEATURES, SFACE_HEAD, SFACE_NNEF, SFACE_SIDE,
};

/// SFace: the convolutional body run by tract, the dense head run by [`Head`].
pub(crate) struct Embedder {
    body: Plan,
    head: Head,
}

impl Embedder {
    /// Load the prepared embedder from `dir`: the body (tract) and the head.
    pub(crate) fn load(nnef: &Nnef, dir: &Path) -> Result<Embedder, ModelError> {
        let body = models::load_nnef(
            nnef,
            &dir.join(SFACE_NNEF),
            &[1, 3, SFACE_SIDE, SFACE_SIDE],
            &[vec![1, SFACE_FEATURES]],
        )?;
        let path = dir.join(SFACE_HEAD);
        let head = Head::load(&path)?;
        if head.inputs() != SFACE_FEATURES || head.outputs() != EMBEDDING_LEN {
            return Err(models::corrupt(
                &path,
                format!(
                    "head is {}x{}, expected {EMBEDDING_LEN}x{SFACE_FEATURES}",
                    head.outputs(),
                    head.inputs()
                ),
            ));
        }
        Ok(Embedder { body, head })
    }
}

/// Run SFace on an aligned 112x112 RGB face (row-major, 3 bytes a pixel).
pub(crate) fn embed(embedder: &Embedder, face: &[u8]) -> Result<FaceEmbedding, AnalyzeError> {
    let plane = SFACE_SIDE * SFACE_SIDE;
    if face.len() != 3 * plane {
        return Err(AnalyzeError::Inference(
            "aligned face has the wrong size".into(),
        ));
    }
    let mut data = vec![0f32; 3 * plane];
    for (i, p) in face.chunks_exact(3).enumerate() {
        data[i] = f32::from(p[0]);
        data[plane + i] = f32::from(p[1]);
        data[2 * plane + i] = f32::from(p[2]);
    }
    let input = Tensor::from_shape(&[1, 3, SFACE_SIDE, SFACE_SIDE], &data)
        .map_err(|e| AnalyzeError::Inference(e.to_string()))?;
    let out = embedder
        .body
        .run(tvec!(input.into()))
        .map_err(|e| AnalyzeError::Inference(e.to_string()))?;
    let v = out
        .first()
        .and_then(|t| models::f32s(t).ok())
        .and_then(|features| embedder.head.apply(features))
        .filter(|s| s.len() == EMBEDDING_LEN)
        .ok_or_else(|| AnalyzeError::Inference("embedder returned an unexpected output".into()))?;
    FaceEmbedding::normalized(&v)
        .map_err(|e| AnalyzeError::Inference(format!("embedding unusable: {e}")))
}
