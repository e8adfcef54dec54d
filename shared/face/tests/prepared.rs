//! The prepared models compute what the shipped models compute: the fast NNEF reader reads the
//! same graphs as tract's parser, and the embedder (body surgery + dense head run in Rust) gives
//! the embedding of the whole folded float model.

mod common;

use std::io::Read;

use optout_face::{align, cosine, decode, embed, models};
use tract_onnx::prelude::*;

fn graph_text(tar_path: &std::path::Path) -> String {
    let file = std::fs::File::open(tar_path).unwrap();
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().ends_with("graph.nnef") {
            let mut s = String::new();
            entry.read_to_string(&mut s).unwrap();
            return s;
        }
    }
    panic!("no graph.nnef in {}", tar_path.display());
}

#[test]
fn fast_reader_agrees_with_tract_on_the_prepared_graphs() {
    let dir = common::model_dir();
    for file in models::PREPARED_FILES
        .iter()
        .filter(|f| f.ends_with(".nnef.tar"))
    {
        let text = graph_text(&dir.join(file));
        let ours = optout_face::nnef_text::parse_document(&text).unwrap();
        let theirs = tract_nnef::ast::parse::parse_document(&text).unwrap();
        assert!(ours.graph_def.body.len() > 100, "{file}");
        assert!(ours == theirs, "{file}: the readers disagree");
    }
}

/// The whole folded float SFace (no surgery), run by tract, on an aligned 112x112 face.
fn reference_embedding(face: &[u8]) -> Vec<f32> {
    let model = tract_onnx::onnx()
        .model_for_path(common::model_dir().join(models::SFACE_ONNX))
        .unwrap()
        .with_input_fact(0, f32::fact([1, 3, 112, 112]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
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
    embed::l2_normalize(v.as_slice::<f32>().unwrap()).unwrap()
}

#[test]
fn embedder_matches_the_whole_float_model_on_real_faces() {
    let engine = common::engine();
    for name in ["person_a_1.jpg", "impostor_2.jpg"] {
        let bytes = common::photo(name);
        let analysis = engine.analyze(&bytes).unwrap();
        let face = &analysis.faces[analysis.chosen_face.unwrap()];
        let image = decode::decode_full(&bytes).unwrap().image;
        let crop = align::align(&image, &face.landmarks).unwrap();
        let ours = engine.bench_embedder(&crop).unwrap();
        let reference = reference_embedding(&crop);
        let c = cosine(&ours, &reference);
        assert!(c > 0.9999, "{name}: cosine {c} to the float model");
    }
}
