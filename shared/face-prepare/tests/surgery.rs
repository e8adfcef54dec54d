//! The prepared embedder computes what the shipped model computes: the engine's SFace (body after
//! surgery, run by tract, + the dense head run in Rust) embeds real aligned faces as the whole
//! folded float model, parsed from ONNX and run by tract, does.

// The fixtures and models of the face pipeline's own tests.
#[path = "../../face/tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use optout_face::{FaceEngine, align, decode};
use optout_face_prepare::onnx::{SFACE_ONNX, load_folded};
use optout_matcher::{FaceEmbedding, Similarity};
use tract_onnx::prelude::*;

/// The whole folded float SFace (no surgery), run by tract, on an aligned 112x112 face.
fn reference_embedding(model: &Arc<TypedSimplePlan>, face: &[u8]) -> FaceEmbedding {
    let plane = 112 * 112;
    let mut data = vec![0f32; 3 * plane];
    for (i, p) in face.chunks_exact(3).enumerate() {
        for c in 0..3 {
            data[c * plane + i] = f32::from(p[c]);
        }
    }
    let input = Tensor::from_shape(&[1, 3, 112, 112], &data).unwrap();
    let out = model.run(tvec!(input.into())).unwrap();
    let v = out[0].try_as_plain_ram().unwrap();
    FaceEmbedding::normalized(v.as_slice::<f32>().unwrap()).unwrap()
}

#[test]
fn embedder_matches_the_whole_float_model_on_real_faces() {
    let dir = common::model_dir();
    let engine =
        FaceEngine::load(&dir).unwrap_or_else(|e| panic!("cannot load the face models: {e}"));
    let reference = load_folded(&dir.join(SFACE_ONNX), &[1, 3, 112, 112])
        .unwrap_or_else(|e| panic!("cannot load {SFACE_ONNX} (run scripts/setup-models): {e:#}"));
    for name in ["person_a_1.jpg", "impostor_2.jpg"] {
        let bytes = common::photo(name);
        let analysis = engine.analyze(&bytes).unwrap();
        let face = &analysis.faces[analysis.chosen_face.unwrap()];
        let image = decode::decode_full(&bytes).unwrap().image;
        let crop = align::align(&image, &face.landmarks).unwrap();
        let ours = engine.bench_embedder(&crop).unwrap();
        let want = reference_embedding(&reference, &crop);
        let c = ours.similarity(&want);
        assert!(
            c > Similarity(0.9999),
            "{name}: cosine {c} to the float model"
        );
    }
}
