//! One-time preparation of the shipped models for tract (run by `scripts/setup-models` through the
//! `optout-prepare-models` binary): check the sources' SHA-256, fold the block-quantized weights,
//! write the folded float ONNX, pin the input shapes, declutter, serialise to NNEF tar files, reload
//! those and check they compute what the ONNX models compute.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use optout_face::head::Head;
use optout_face::models::{self, EMBEDDING_LEN, SFACE_SIDE};
use prost::Message;
use sha2::{Digest, Sha256};
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use crate::fold::fold_model;
use crate::onnx::{self, SFACE_ONNX, YUNET_ONNX};
use crate::surgery;

/// The NNEF framework the preparation writes with (standard library, tract core and the ONNX
/// extension operators). Every file written is then reloaded with the engine's
/// [`models::nnef_loader`], which has no ONNX operators: a graph that needed them would fail here.
pub fn nnef_writer() -> tract_nnef::framework::Nnef {
    tract_nnef::nnef().with_onnx()
}

/// SHA-256 of a byte slice as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn read_checked(path: &Path, want_sha256: &str) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let got = sha256_hex(&bytes);
    ensure!(
        got == want_sha256,
        "{}: sha256 {got} differs from the pinned {want_sha256}",
        path.display()
    );
    Ok(bytes)
}

fn fold_file(src: &[u8], what: &str) -> Result<ModelProto> {
    let mut proto = ModelProto::decode(src).with_context(|| format!("decoding {what}"))?;
    let stats = fold_model(&mut proto).with_context(|| format!("folding {what}"))?;
    println!(
        "folded {what}: {} DequantizeLinear and {} Reshape folded, initializers {} -> {}, {} graph inputs dropped",
        stats.dequantize_folded,
        stats.reshape_folded,
        stats.initializers_before,
        stats.initializers_after,
        stats.graph_inputs_dropped
    );
    ensure!(
        stats.dequantize_folded > 0,
        "{what}: nothing to fold (unexpected model)"
    );
    Ok(proto)
}

fn typed_from_proto(proto: &ModelProto, input: &[usize]) -> Result<TypedModel> {
    let model = tract_onnx::onnx()
        .model_for_proto_model(proto)?
        .with_input_fact(0, f32::fact(input).into())?
        .into_typed()?
        .into_decluttered()?;
    Ok(model)
}

/// Put the outputs in the order of `names` (matched on outlet labels or node names).
fn order_outputs(model: &mut TypedModel, names: &[&str]) -> Result<()> {
    let outs = model.output_outlets()?.to_vec();
    let mut ordered = Vec::with_capacity(names.len());
    for name in names {
        let found = outs
            .iter()
            .find(|o| model.outlet_label(**o) == Some(*name) || model.node(o.node).name == *name);
        match found {
            Some(o) => ordered.push(*o),
            None => bail!("output {name} not found in the detector"),
        }
    }
    model.select_output_outlets(&ordered)?;
    Ok(())
}

/// A model to write: (model, file name, input shape, reference model it must compute, head
/// applied after it).
type Job<'h> = (TypedModel, String, Vec<usize>, TypedModel, Option<&'h Head>);

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn write_nnef(model: &TypedModel, path: &Path) -> Result<()> {
    let tmp = path.with_extension("tar.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    nnef_writer().write_to_tar(model, std::io::BufWriter::new(file))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Deterministic pseudo-random input in 0..255 (no RNG dependency needed).
fn test_input(shape: &[usize], seed: u64) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % 256) as f32
        })
        .collect();
    Tensor::from_shape(shape, &v)
}

fn max_abs_diff(a: &TVec<TValue>, b: &TVec<TValue>) -> Result<f32> {
    ensure!(a.len() == b.len(), "output counts differ");
    let mut worst = 0f32;
    for (x, y) in a.iter().zip(b) {
        let x = models::f32s(x)?;
        let y = models::f32s(y)?;
        ensure!(x.len() == y.len(), "output sizes differ");
        for (p, q) in x.iter().zip(y) {
            worst = worst.max((p - q).abs());
        }
    }
    Ok(worst)
}

/// Prepare both models from the shipped files in `src_dir` into `out_dir`.
pub fn prepare(src_dir: &Path, out_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(out_dir)?;
    let _ = std::fs::remove_file(out_dir.join(models::MANIFEST));
    let yunet_src = read_checked(&src_dir.join(onnx::YUNET_SOURCE), onnx::YUNET_SOURCE_SHA256)?;
    let sface_src = read_checked(&src_dir.join(onnx::SFACE_SOURCE), onnx::SFACE_SOURCE_SHA256)?;

    let yunet = fold_file(&yunet_src, "YuNet")?;
    // SFace's dense head keeps its shipped int8 weights (see optout_face::head): read them before folding
    let head_weights = surgery::quantized_head_weights(&ModelProto::decode(&sface_src[..])?)
        .context("reading SFace's dense head")?;
    let sface = fold_file(&sface_src, "SFace")?;
    let mut files = serde_json::Map::new();
    for (proto, name) in [(&yunet, YUNET_ONNX), (&sface, SFACE_ONNX)] {
        let bytes = proto.encode_to_vec();
        std::fs::write(out_dir.join(name), &bytes)?;
        files.insert(
            name.into(),
            serde_json::json!({"bytes": bytes.len(), "sha256": sha256_hex(&bytes)}),
        );
    }
    let mut sface_body = sface.clone();
    let bn = surgery::fold_batch_norms(&mut sface_body)?;
    let prelu = surgery::rewrite_prelu(&mut sface_body)?;
    println!(
        "SFace: {bn} batch normalisations folded into their convolutions, {prelu} PReLU as max/min(x, a·x)"
    );
    let head = Head::new(surgery::split_head(&mut sface_body, head_weights)?)
        .map_err(|e| anyhow::anyhow!("SFace head: {e}"))?;
    ensure!(
        head.inputs() == models::SFACE_FEATURES && head.outputs() == EMBEDDING_LEN,
        "SFace head is {}x{}",
        head.outputs(),
        head.inputs()
    );
    let head_path = out_dir.join(models::SFACE_HEAD);
    let head_bytes = head.to_bytes();
    write_atomic(&head_path, &head_bytes)?;
    files.insert(
        models::SFACE_HEAD.into(),
        serde_json::json!({"bytes": head_bytes.len()}),
    );

    let nnef = nnef_writer();
    let mut jobs: Vec<Job> = Vec::new();
    for side in models::DETECT_SIDES {
        let input = vec![1, 3, side, side];
        let mut m = typed_from_proto(&yunet, &input)?;
        order_outputs(&mut m, &models::YUNET_OUTPUTS)?;
        jobs.push((m.clone(), models::yunet_nnef(side), input, m, None));
    }
    let input = vec![1, 3, SFACE_SIDE, SFACE_SIDE];
    jobs.push((
        typed_from_proto(&sface_body, &input)?,
        models::SFACE_NNEF.to_string(),
        input.clone(),
        typed_from_proto(&sface, &input)?,
        Some(&head),
    ));

    for (i, (model, name, input, reference, head)) in jobs.into_iter().enumerate() {
        let path = out_dir.join(&name);
        write_nnef(&model, &path)?;
        // reload and compare with the whole ONNX model on the same input
        let x = test_input(&input, i as u64 + 1)?;
        let want = reference
            .into_optimized()?
            .into_runnable()?
            .run(tvec!(x.clone().into()))?;
        // the engine's reader must see exactly the document tract's own parser sees
        let proto = models::read_prepared(&path)?;
        let tract_doc = nnef.proto_model_for_path(&path)?.doc;
        ensure!(
            proto.doc == tract_doc,
            "{name}: the fast NNEF reader and tract's parser disagree on graph.nnef"
        );
        // reloaded the way the engine loads it (optimise only: the file is decluttered)
        let mut reloaded = models::nnef_loader().model_for_proto_model(&proto)?;
        models::drop_noop_casts(&mut reloaded)?;
        reloaded.optimize()?;
        let reloaded = reloaded.into_runnable()?;
        let mut got = reloaded.run(tvec!(x.into()))?;
        if let Some(head) = head {
            let features = models::f32s(&got[0])?;
            let y = head
                .apply(features)
                .context("body output does not fit the head")?;
            got = tvec!(Tensor::from_shape(&[1, y.len()], &y)?.into());
            ensure!(
                got[0].shape() == [1, EMBEDDING_LEN],
                "SFace output shape {:?}",
                got[0].shape()
            );
        }
        let diff = max_abs_diff(&want, &got)?;
        ensure!(
            diff < 1e-3,
            "{name}: reloaded NNEF differs from ONNX by {diff}"
        );
        let size = std::fs::metadata(&path)?.len();
        println!(
            "wrote {} ({size} B); reloaded output max |diff| vs ONNX {diff:.2e}",
            path.display()
        );
        files.insert(name, serde_json::json!({"bytes": size}));
    }

    let manifest = serde_json::json!({
        "prepared_format": models::PREPARED_FORMAT,
        "sources": {
            onnx::YUNET_SOURCE: onnx::YUNET_SOURCE_SHA256,
            onnx::SFACE_SOURCE: onnx::SFACE_SOURCE_SHA256,
        },
        "files": files,
        "tract": "0.23",
    });
    std::fs::write(
        out_dir.join(models::MANIFEST),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(())
}
