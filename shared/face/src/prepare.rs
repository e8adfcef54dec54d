//! One-time preparation of the shipped models for tract (run by `scripts/setup-models` through the
//! `optout-prepare-models` binary): check the sources' SHA-256, fold the block-quantized weights,
//! write the folded float ONNX, pin the input shapes, declutter, serialise to NNEF tar files, reload
//! those and check they compute what the ONNX models compute.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use prost::Message;
use sha2::{Digest, Sha256};
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use crate::fold::fold_model;
use crate::models::{self, EMBEDDING_LEN, SFACE_SIDE};

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

fn write_nnef(model: &TypedModel, path: &Path) -> Result<()> {
    let tmp = path.with_extension("tar.tmp");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    models::nnef_framework().write_to_tar(model, std::io::BufWriter::new(file))?;
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
    let yunet_src = read_checked(
        &src_dir.join(models::YUNET_SOURCE),
        models::YUNET_SOURCE_SHA256,
    )?;
    let sface_src = read_checked(
        &src_dir.join(models::SFACE_SOURCE),
        models::SFACE_SOURCE_SHA256,
    )?;

    let yunet = fold_file(&yunet_src, "YuNet")?;
    let sface = fold_file(&sface_src, "SFace")?;
    let mut files = serde_json::Map::new();
    for (proto, name) in [(&yunet, models::YUNET_ONNX), (&sface, models::SFACE_ONNX)] {
        let bytes = proto.encode_to_vec();
        std::fs::write(out_dir.join(name), &bytes)?;
        files.insert(
            name.into(),
            serde_json::json!({"bytes": bytes.len(), "sha256": sha256_hex(&bytes)}),
        );
    }

    let nnef = models::nnef_framework();
    let mut jobs: Vec<(TypedModel, String, Vec<usize>)> = Vec::new();
    for side in models::DETECT_SIDES {
        let input = vec![1, 3, side, side];
        let mut m = typed_from_proto(&yunet, &input)?;
        order_outputs(&mut m, &models::YUNET_OUTPUTS)?;
        jobs.push((m, models::yunet_nnef(side), input));
    }
    let input = vec![1, 3, SFACE_SIDE, SFACE_SIDE];
    jobs.push((
        typed_from_proto(&sface, &input)?,
        models::SFACE_NNEF.to_string(),
        input,
    ));

    for (i, (model, name, input)) in jobs.into_iter().enumerate() {
        let path = out_dir.join(&name);
        write_nnef(&model, &path)?;
        // reload and compare with the ONNX-built model on the same input
        let x = test_input(&input, i as u64 + 1)?;
        let want = model
            .clone()
            .into_optimized()?
            .into_runnable()?
            .run(tvec!(x.clone().into()))?;
        // reloaded the way the engine loads it (optimise only: the file is decluttered)
        let mut reloaded = nnef.model_for_path(&path)?;
        reloaded.optimize()?;
        let reloaded = reloaded.into_runnable()?;
        let got = reloaded.run(tvec!(x.into()))?;
        let diff = max_abs_diff(&want, &got)?;
        ensure!(
            diff < 1e-3,
            "{name}: reloaded NNEF differs from ONNX by {diff}"
        );
        if name == models::SFACE_NNEF {
            ensure!(
                got[0].shape() == [1, EMBEDDING_LEN],
                "SFace output shape {:?}",
                got[0].shape()
            );
        }
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
            models::YUNET_SOURCE: models::YUNET_SOURCE_SHA256,
            models::SFACE_SOURCE: models::SFACE_SOURCE_SHA256,
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
