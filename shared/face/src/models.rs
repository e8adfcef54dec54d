//! The prepared model files: names, loading, shape checks.
//!
//! `scripts/setup-models` (through `optout-prepare-models`, crate `optout-face-prepare`) writes,
//! into the model directory (default `.cache/models`, env `OPTOUT_MODEL_DIR`): the detector pinned
//! to 640x640 and 320x320 and the embedder's body, as tract NNEF tar files (decluttered float
//! models; loading them skips ONNX parsing and type analysis), the embedder's dense head, plus the
//! folded float ONNX files they were made from (used by the bench to compare load times; the
//! engine never reads ONNX).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_nnef::ast::{Identifier, ProtoModel};
use tract_nnef::framework::Nnef;
use tract_nnef::prelude::*;

use crate::error::ModelError;

/// Prepared embedder: its convolutional body (NNEF) and its dense head (see [`crate::head`]).
pub const SFACE_NNEF: &str = "sface.nnef.tar";
pub const SFACE_HEAD: &str = "sface-head.bin";
/// Detector input sizes that are prepared.
pub const DETECT_SIDES: [usize; 2] = [640, 320];
/// Written last by the preparation step: its presence means the directory is complete.
pub const MANIFEST: &str = "manifest.json";
/// Bumped when the prepared format changes, so `scripts/setup-models` re-prepares.
pub const PREPARED_FORMAT: u32 = 2;
/// Every file the engine loads, for the completeness checks of the scripts and the layer.
pub const PREPARED_FILES: [&str; 4] = [
    "yunet-640.nnef.tar",
    "yunet-320.nnef.tar",
    SFACE_NNEF,
    SFACE_HEAD,
];

/// YuNet output names in the order the prepared detector returns them.
pub const YUNET_OUTPUTS: [&str; 12] = [
    "cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32", "bbox_8", "bbox_16", "bbox_32",
    "kps_8", "kps_16", "kps_32",
];
/// SFace input side and embedding length.
pub const SFACE_SIDE: usize = 112;
pub const EMBEDDING_LEN: usize = 128;
/// Length of the body's output (the flattened 1024×7×7 feature map), the head's input.
pub const SFACE_FEATURES: usize = 1024 * 7 * 7;

/// File name of the prepared detector for one input side.
pub fn yunet_nnef(side: usize) -> String {
    format!("yunet-{side}.nnef.tar")
}

/// The model directory: `OPTOUT_MODEL_DIR` if set, else the nearest `.cache/models` found from the
/// current directory upwards, else `.cache/models`.
pub fn default_model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OPTOUT_MODEL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            let candidate = dir.join(".cache").join("models");
            if candidate.join(MANIFEST).is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from(".cache/models")
}

pub(crate) type Plan = Arc<TypedSimplePlan>;

/// The NNEF framework the engine loads with: the operator registries only. `Nnef::default()`
/// also parses tract's NNEF standard library for its `stdlib` field, which only writing uses
/// (~2.7 ms of the cold load). tract's ONNX operator registry is not among them: the preparation
/// step reloads every file it writes with this framework, so a prepared graph never needs it (one
/// that declares it is refused as corrupt: "Registry not found").
pub fn nnef_loader() -> Nnef {
    Nnef {
        stdlib: Vec::new(),
        registries: vec![tract_nnef::ops::tract_nnef(), tract_nnef::ops::tract_core()],
        resource_loaders: Vec::new(),
        allow_extended_identifier_syntax: false,
        extern_all_constants: false,
    }
}

/// Read a prepared NNEF tar into tract's proto model: every tensor is read from the file straight
/// into its tensor, and `graph.nnef` is parsed by [`crate::nnef_text`] (tract's own parser is the
/// fallback). Only what the preparation step writes is accepted: `graph.nnef` and `.dat` tensors.
pub fn read_prepared(path: &Path) -> Result<ProtoModel, ModelError> {
    let file = std::fs::File::open(path).map_err(|e| corrupt(path, e))?;
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(1 << 16, file));
    let mut graph = None;
    let mut tensors = HashMap::new();
    let entries = archive.entries().map_err(|e| corrupt(path, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(path, e))?;
        let name = entry.path().map_err(|e| corrupt(path, e))?.into_owned();
        let name = name.strip_prefix("./").unwrap_or(&name).to_path_buf();
        let text = name.to_string_lossy().into_owned();
        if text == "graph.nnef" {
            let mut s = String::new();
            entry
                .read_to_string(&mut s)
                .map_err(|e| corrupt(path, format!("graph.nnef: {e}")))?;
            graph = Some(s);
        } else if let Some(id) = text.strip_suffix(".dat") {
            let t = tract_nnef::tensors::read_tensor(&mut entry)
                .map_err(|e| corrupt(path, format!("{text}: {e:#}")))?;
            tensors.insert(Identifier(id.to_string()), Arc::new(t));
        } else {
            return Err(corrupt(path, format!("unexpected entry {text}")));
        }
    }
    let graph = graph.ok_or_else(|| corrupt(path, "no graph.nnef"))?;
    let doc = match crate::nnef_text::parse_document(&graph) {
        Ok(doc) => doc,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "fast NNEF reader refused the graph, using tract's parser");
            tract_nnef::ast::parse::parse_document(&graph)
                .map_err(|e| corrupt(path, format!("{e:#}")))?
        }
    };
    let proto = ProtoModel {
        doc,
        tensors,
        quantization: None,
        resources: HashMap::new(),
    };
    proto
        .validate()
        .map_err(|e| corrupt(path, format!("{e:#}")))?;
    Ok(proto)
}

pub(crate) fn corrupt(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn check_exists(path: &Path) -> Result<(), ModelError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(ModelError::Missing {
            path: path.to_path_buf(),
        })
    }
}

/// Load one prepared NNEF model, optimise it for this CPU and check its input and output shapes.
pub(crate) fn load_nnef(
    nnef: &Nnef,
    path: &Path,
    input: &[usize],
    outputs: &[Vec<usize>],
) -> Result<Plan, ModelError> {
    check_exists(path)?;
    let proto = read_prepared(path)?;
    let mut model = nnef
        .model_for_proto_model(&proto)
        .map_err(|e| corrupt(path, format!("{e:#}")))?;
    check_shapes(&model, path, input, outputs)?;
    drop_noop_casts(&mut model).map_err(|e| corrupt(path, format!("{e:#}")))?;
    // the file holds a decluttered model already (see optout-face-prepare): only the CPU-specific
    // optimisation pass is left to do here
    model
        .optimize()
        .map_err(|e| corrupt(path, format!("{e:#}")))?;
    model
        .into_runnable()
        .map_err(|e| corrupt(path, format!("{e:#}")))
}

/// Remove, in one patch, every cast to the type its input already has. Reading NNEF wires one
/// per convolution bias and per binary operand (74 of YuNet's 435 nodes, 160 of SFace's 404);
/// tract's optimiser removes them too, but one patch at a time, and applying a patch walks the
/// whole graph. Returns how many were removed.
pub fn drop_noop_casts(model: &mut TypedModel) -> TractResult<usize> {
    let mut patch = TypedModelPatch::default();
    let mut removed = 0;
    for node in &model.nodes {
        let Some(cast) = node.op_as::<tract_core::ops::cast::Cast>() else {
            continue;
        };
        if node.inputs.len() != 1 || model.outlet_fact(node.inputs[0])?.datum_type != cast.to {
            continue;
        }
        let wire = patch.tap_model(model, node.inputs[0])?;
        patch.shunt_outside(model, node.id.into(), wire)?;
        removed += 1;
    }
    if removed > 0 {
        patch.apply(model)?;
        model.compact()?;
    }
    Ok(removed)
}

fn concrete_shape(fact: &TypedFact) -> Option<Vec<usize>> {
    fact.shape.as_concrete().map(|s| s.to_vec())
}

fn check_shapes(
    model: &TypedModel,
    path: &Path,
    input: &[usize],
    outputs: &[Vec<usize>],
) -> Result<(), ModelError> {
    let inputs = model.input_outlets().map_err(|e| corrupt(path, e))?;
    if inputs.len() != 1 {
        return Err(corrupt(
            path,
            format!("expected 1 input, found {}", inputs.len()),
        ));
    }
    let fact = model.outlet_fact(inputs[0]).map_err(|e| corrupt(path, e))?;
    if fact.datum_type != f32::datum_type() || concrete_shape(fact).as_deref() != Some(input) {
        return Err(corrupt(
            path,
            format!("unexpected input {fact:?}, expected f32 {input:?}"),
        ));
    }
    let outs = model.output_outlets().map_err(|e| corrupt(path, e))?;
    if outs.len() != outputs.len() {
        return Err(corrupt(
            path,
            format!("expected {} outputs, found {}", outputs.len(), outs.len()),
        ));
    }
    for (o, want) in outs.iter().zip(outputs) {
        let fact = model.outlet_fact(*o).map_err(|e| corrupt(path, e))?;
        if concrete_shape(fact).as_ref() != Some(want) {
            return Err(corrupt(
                path,
                format!("unexpected output {fact:?}, expected {want:?}"),
            ));
        }
    }
    Ok(())
}

/// Output shapes of YuNet at one input side, in [`YUNET_OUTPUTS`] order.
pub fn yunet_output_shapes(side: usize) -> Vec<Vec<usize>> {
    let widths = [1, 1, 4, 10];
    let mut v = Vec::with_capacity(12);
    for w in widths {
        for stride in [8, 16, 32] {
            let n = (side / stride) * (side / stride);
            v.push(vec![1, n, w]);
        }
    }
    v
}

/// Load the prepared detector for one input side.
pub(crate) fn load_yunet(nnef: &Nnef, dir: &Path, side: usize) -> Result<Plan, ModelError> {
    load_nnef(
        nnef,
        &dir.join(yunet_nnef(side)),
        &[1, 3, side, side],
        &yunet_output_shapes(side),
    )
}

/// The f32 values of a tensor.
pub fn f32s(t: &Tensor) -> TractResult<&[f32]> {
    t.try_as_plain_ram()?.as_slice::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_core::ops::cast::cast;
    use tract_core::ops::math::add;

    fn write_graph(path: &Path, graph: &str) {
        let mut tar = tar::Builder::new(std::fs::File::create(path).unwrap());
        let mut header = tar::Header::new_gnu();
        header.set_size(graph.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, "graph.nnef", graph.as_bytes())
            .unwrap();
        tar.finish().unwrap();
    }

    /// The engine loads without tract's ONNX operators: a graph that declares them is refused as
    /// corrupt (the preparation reloads every file it writes with the same loader).
    #[test]
    fn a_graph_needing_the_onnx_operators_is_corrupt() {
        let dir = std::env::temp_dir().join(format!("optout-face-registry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.nnef.tar");
        let graph = |registry: &str| {
            format!(
                "version 1.0;\n\nextension tract_registry {registry};\n\n\
                 graph network(input) -> (output) {{\n  input = external(shape = [1, 2]);\n  \
                 output = add(input, input);\n}}\n"
            )
        };
        write_graph(&path, &graph("tract_core"));
        let loaded = load_nnef(&nnef_loader(), &path, &[1, 2], &[vec![1, 2]]);
        write_graph(&path, &graph("tract_onnx"));
        let refused = load_nnef(&nnef_loader(), &path, &[1, 2], &[vec![1, 2]]);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(loaded.is_ok(), "{:?}", loaded.err());
        let err = refused.err().unwrap();
        assert!(matches!(err, ModelError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("tract_onnx"), "{err}");
    }

    #[test]
    fn drop_noop_casts_keeps_real_casts_and_the_results() -> TractResult<()> {
        let mut m = TypedModel::default();
        let x = m.add_source("x", f32::fact([2, 3]))?;
        let c1 = m.wire_node("same1", cast(f32::datum_type()), &[x])?[0];
        let c2 = m.wire_node("same2", cast(f32::datum_type()), &[c1])?[0];
        let one = m.add_const("one", tensor2(&[[1f32, 2., 3.], [4., 5., 6.]]))?;
        let y = m.wire_node("add", add(), &[c2, one])?[0];
        let half = m.wire_node("to_f16", cast(f16::datum_type()), &[y])?[0];
        let back = m.wire_node("to_f32", cast(f32::datum_type()), &[half])?[0];
        let out = m.wire_node("same3", cast(f32::datum_type()), &[back])?[0];
        m.select_output_outlets(&[out])?;
        let input = tensor2(&[[0.5f32, -1., 2.], [3., 0.25, -7.]]);
        let before = m
            .clone()
            .into_runnable()?
            .run(tvec!(input.clone().into()))?;

        assert_eq!(drop_noop_casts(&mut m)?, 3);
        let casts: Vec<&str> = m
            .nodes
            .iter()
            .filter(|n| n.op_is::<tract_core::ops::cast::Cast>())
            .map(|n| n.name.as_str())
            .collect();
        // a chain of two no-op casts may leave one behind; the type changes must stay
        assert!(
            casts.contains(&"to_f16") && casts.contains(&"to_f32"),
            "{casts:?}"
        );
        assert!(casts.len() <= 3, "{casts:?}");
        let after = m.into_runnable()?.run(tvec!(input.into()))?;
        assert_eq!(before[0], after[0]);
        Ok(())
    }
}
