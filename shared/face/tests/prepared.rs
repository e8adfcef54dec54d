//! The fast NNEF reader reads the same prepared graphs as tract's parser. (That the prepared
//! embedder gives the embedding of the whole folded float model is checked in
//! `shared/face-prepare/tests/surgery.rs`: it needs tract's ONNX parser, which this crate has not.)

mod common;

use std::io::Read;

use optout_face::models;

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
