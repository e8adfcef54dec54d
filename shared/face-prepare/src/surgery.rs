//! Model surgery at preparation time: cut SFace's dense head (fully connected layer + batch
//! normalisation, see [`optout_face::head`]) off the ONNX graph.
//!
//! The head's int8 weights are taken from the shipped (unfolded) model, so nothing is lost; its
//! bias and normalisation parameters from the folded one, where they are plain floats. What is
//! left is the convolutional body, whose output (the flattened 1024×7×7 feature map) is the
//! head's input.

use std::collections::HashSet;

use anyhow::{Context, Result, ensure};
use optout_face::head::HeadParts;
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto};

use crate::fold::{attr_i, float_values, int_values};

fn graph(model: &ModelProto) -> Result<&GraphProto> {
    model.graph.as_ref().context("model has no graph")
}

fn producer<'a>(g: &'a GraphProto, output: &str) -> Result<&'a NodeProto> {
    g.node
        .iter()
        .find(|n| n.output.iter().any(|o| o == output))
        .with_context(|| format!("no node produces {output}"))
}

fn initializer<'a>(g: &'a GraphProto, name: &str) -> Result<&'a TensorProto> {
    g.initializer
        .iter()
        .find(|t| t.name == name)
        .with_context(|| format!("{name} is not a constant"))
}

fn floats(g: &GraphProto, name: &str) -> Result<Vec<f32>> {
    float_values(initializer(g, name)?)
}

fn attr_f(n: &NodeProto, name: &str, default: f32) -> f32 {
    n.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.f)
        .unwrap_or(default)
}

/// A batch normalisation as `y = x · slope + inter` per channel, computed as tract folds one:
/// `slope = γ / √(σ² + ε)`, `inter = β − μ · slope`.
fn affine_of_norm(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    let slope: Vec<f32> = gamma
        .iter()
        .zip(var)
        .map(|(g, v)| g / (v + eps).sqrt())
        .collect();
    let inter = beta
        .iter()
        .zip(mean)
        .zip(&slope)
        .map(|((b, m), s)| b - m * s)
        .collect();
    (slope, inter)
}

/// The graph's tail: `Gemm(A, B, C)` then `BatchNormalization` producing the only output.
struct Tail<'a> {
    gemm: &'a NodeProto,
    norm: &'a NodeProto,
}

fn tail(g: &GraphProto) -> Result<Tail<'_>> {
    ensure!(g.output.len() == 1, "expected one graph output");
    let norm = producer(g, &g.output[0].name)?;
    ensure!(
        norm.op_type == "BatchNormalization" && norm.input.len() == 5,
        "the output is not a batch normalisation"
    );
    let gemm = producer(g, &norm.input[0])?;
    ensure!(
        gemm.op_type == "Gemm" && gemm.input.len() == 3,
        "the batch normalisation does not follow a Gemm"
    );
    for (attr, want) in [("transA", 0), ("transB", 1)] {
        ensure!(attr_i(gemm, attr, 0) == want, "Gemm {attr} is not {want}");
    }
    ensure!(
        attr_f(gemm, "alpha", 1.0) == 1.0 && attr_f(gemm, "beta", 1.0) == 1.0,
        "Gemm alpha/beta are not 1"
    );
    let used_elsewhere = g
        .node
        .iter()
        .filter(|n| !std::ptr::eq(*n, gemm) && !std::ptr::eq(*n, norm))
        .any(|n| n.input.contains(&gemm.output[0]) || n.input.contains(&norm.output[0]));
    ensure!(!used_elsewhere, "the head's values are used elsewhere");
    Ok(Tail { gemm, norm })
}

/// The head's quantized weights, from the shipped model (before folding).
pub struct QuantizedWeights {
    outputs: usize,
    inputs: usize,
    block: usize,
    q: Vec<i8>,
    zero_point: Vec<i8>,
    scale: Vec<f32>,
}

/// Read the head's block-quantized weights from the shipped SFace model.
pub fn quantized_head_weights(shipped: &ModelProto) -> Result<QuantizedWeights> {
    let g = graph(shipped)?;
    let t = tail(g)?;
    let deq = producer(g, &t.gemm.input[1])?;
    ensure!(
        deq.op_type == "DequantizeLinear" && deq.input.len() == 3,
        "the Gemm weights are not dequantized int8"
    );
    let x = initializer(g, &deq.input[0])?;
    ensure!(x.dims.len() == 2, "weights are not a matrix");
    let (outputs, inputs) = (usize::try_from(x.dims[0])?, usize::try_from(x.dims[1])?);
    let block = usize::try_from(attr_i(deq, "block_size", 0))?;
    ensure!(
        attr_i(deq, "axis", 1) == 1 && block > 0 && inputs % block == 0,
        "weights are not blocked along the inputs"
    );
    let to_i8 = |v: Vec<i32>| -> Result<Vec<i8>> {
        v.into_iter()
            .map(|x| i8::try_from(x).context("value outside int8"))
            .collect()
    };
    let q = to_i8(int_values(x)?)?;
    let zero_point = to_i8(int_values(initializer(g, &deq.input[2])?)?)?;
    let scale = float_values(initializer(g, &deq.input[1])?)?;
    let blocks = outputs * (inputs / block);
    ensure!(
        zero_point.len() == blocks && scale.len() == blocks,
        "block parameters have the wrong size"
    );
    Ok(QuantizedWeights {
        outputs,
        inputs,
        block,
        q,
        zero_point,
        scale,
    })
}

/// Cut the head off the folded model: it then outputs the head's input. Returns the head, with
/// `weights` from [`quantized_head_weights`] and the rest read from the folded model.
pub fn split_head(folded: &mut ModelProto, weights: QuantizedWeights) -> Result<HeadParts> {
    let g = graph(folded)?;
    let t = tail(g)?;
    let n = weights.outputs;
    let bias = floats(g, &t.gemm.input[2])?;
    let [gamma, beta, mean, var] = [1, 2, 3, 4].map(|i| floats(g, &t.norm.input[i]));
    let (gamma, beta, mean, var) = (gamma?, beta?, mean?, var?);
    for v in [&bias, &gamma, &beta, &mean, &var] {
        ensure!(
            v.len() == n,
            "head parameter of {} values, expected {n}",
            v.len()
        );
    }
    let (slope, inter) =
        affine_of_norm(&gamma, &beta, &mean, &var, attr_f(t.norm, "epsilon", 1e-5));
    let input = t.gemm.input[0].clone();
    let cut: HashSet<usize> = g
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| std::ptr::eq(*n, t.gemm) || std::ptr::eq(*n, t.norm))
        .map(|(i, _)| i)
        .collect();

    let g = folded.graph.as_mut().context("model has no graph")?;
    let mut index = 0;
    g.node.retain(|_| {
        index += 1;
        !cut.contains(&(index - 1))
    });
    let used: HashSet<&str> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .collect();
    g.initializer.retain(|t| used.contains(t.name.as_str()));
    let mut output = g.output[0].clone();
    output.name = input;
    output.r#type = None;
    g.output = vec![output];
    Ok(HeadParts {
        outputs: n,
        inputs: weights.inputs,
        block: weights.block,
        q: weights.q,
        zero_point: weights.zero_point,
        scale: weights.scale,
        bias,
        slope,
        inter,
    })
}

fn initializer_index(g: &GraphProto, name: &str) -> Option<usize> {
    g.initializer.iter().position(|t| t.name == name)
}

fn consumers(g: &GraphProto, value: &str) -> usize {
    g.node
        .iter()
        .map(|n| n.input.iter().filter(|i| *i == value).count())
        .sum::<usize>()
        + g.output.iter().filter(|o| o.name == value).count()
}

/// Fold every `BatchNormalization` that directly follows a `Conv` (whose output nothing else
/// reads) into that convolution's weights and bias: `W' = W · s`, `b' = (b − μ) · s + β` per
/// output channel, with `s = γ / √(σ² + ε)`. This is what inference runtimes do when they load
/// such a model; done once here, tract's graph has two element-wise passes fewer per
/// convolution. Returns how many were folded.
pub fn fold_batch_norms(model: &mut ModelProto) -> Result<usize> {
    let g = model.graph.as_mut().context("model has no graph")?;
    let mut folded = 0;
    loop {
        let found = g.node.iter().enumerate().find_map(|(ni, n)| {
            if n.op_type != "BatchNormalization" || n.input.len() != 5 || n.output.len() != 1 {
                return None;
            }
            let ci = g.node.iter().position(|c| {
                c.op_type == "Conv" && c.output.len() == 1 && c.output[0] == n.input[0]
            })?;
            let c = &g.node[ci];
            let params_const = n.input[1..]
                .iter()
                .chain(c.input.get(1..).unwrap_or(&[]))
                .filter(|i| !i.is_empty())
                .all(|i| initializer_index(g, i).is_some());
            (params_const && consumers(g, &n.input[0]) == 1).then_some((ni, ci))
        });
        let Some((ni, ci)) = found else { break };
        let norm = g.node[ni].clone();
        let conv = g.node[ci].clone();
        let [gamma, beta, mean, var] = [1, 2, 3, 4].map(|i| floats(g, &norm.input[i]));
        let (gamma, beta, mean, var) = (gamma?, beta?, mean?, var?);

        let w = initializer(g, &conv.input[1])?.clone();
        let wv = float_values(&w)?;
        let outs = usize::try_from(*w.dims.first().context("weights without dims")?)?;
        ensure!(
            outs > 0 && wv.len() % outs == 0,
            "{}: weights do not split by output channel",
            conv.name
        );
        for v in [&gamma, &beta, &mean, &var] {
            ensure!(v.len() == outs, "{}: normalisation size differs", norm.name);
        }
        let bias = match conv.input.get(2).filter(|b| !b.is_empty()) {
            Some(b) => floats(g, b)?,
            None => vec![0.0; outs],
        };
        ensure!(bias.len() == outs, "{}: bias size differs", conv.name);
        let (slope, _) = affine_of_norm(&gamma, &beta, &mean, &var, attr_f(&norm, "epsilon", 1e-5));
        let per = wv.len() / outs;
        let w2: Vec<f32> = wv
            .iter()
            .enumerate()
            .map(|(i, x)| x * slope[i / per])
            .collect();
        let b2: Vec<f32> = (0..outs)
            .map(|o| (bias[o] - mean[o]) * slope[o] + beta[o])
            .collect();
        let w_name = format!("{}.bn_folded.weight", conv.name);
        let b_name = format!("{}.bn_folded.bias", conv.name);
        g.initializer
            .push(crate::fold::float_tensor(&w_name, w.dims.clone(), &w2));
        g.initializer
            .push(crate::fold::float_tensor(&b_name, vec![outs as i64], &b2));
        let c = &mut g.node[ci];
        c.input.truncate(1);
        c.input.push(w_name);
        c.input.push(b_name);
        c.output[0] = norm.output[0].clone();
        g.node.remove(ni);
        folded += 1;
    }
    let g = model.graph.as_mut().context("model has no graph")?;
    let used: HashSet<String> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().cloned())
        .collect();
    g.initializer.retain(|t| used.contains(&t.name));
    Ok(folded)
}

/// Rewrite every `PRelu(x, slope)` as `Max(x, Mul(x, slope))` when all its slopes are at most
/// 1, or as `Min(x, Mul(x, slope))` when all are at least 1.
///
/// For a slope `a ≤ 1` the first equals PReLU for every `x` (`x ≥ 0`: `a·x ≤ x`; `x < 0`:
/// `a·x ≥ x`), for `a ≥ 1` the second does, and the product is the same product the original
/// computes. tract imports `PRelu` as a comparison, a multiplication and a select run through
/// generic broadcasting, which took a third of SFace's time; a per-channel multiplication and an
/// element-wise maximum run on its vectorised kernels. A PReLU with slopes on both sides of 1
/// becomes `relu(x) + a · (x − relu(x))`, also exact. Returns how many were rewritten.
pub fn rewrite_prelu(model: &mut ModelProto) -> Result<usize> {
    let g = model.graph.as_mut().context("model has no graph")?;
    let mut rewritten = 0;
    let mut nodes = Vec::with_capacity(g.node.len());
    for n in std::mem::take(&mut g.node) {
        let slopes = (n.op_type == "PRelu" && n.input.len() == 2 && n.output.len() == 1)
            .then(|| initializer(g, &n.input[1]).and_then(float_values).ok())
            .flatten()
            .filter(|s| !s.is_empty() && s.iter().all(|a| a.is_finite()));
        let pick = slopes.as_ref().and_then(|s| {
            if s.iter().all(|a| *a <= 1.0) {
                Some("Max")
            } else if s.iter().all(|a| *a >= 1.0) {
                Some("Min")
            } else {
                None
            }
        });
        let Some(pick) = pick else {
            if slopes.is_some() {
                // slopes on both sides of 1: relu(x) + a · (x − relu(x)), exact as well
                let [pos, neg, sn] =
                    ["pos", "neg", "scaled"].map(|s| format!("{}.prelu_{s}", n.output[0]));
                let node = |op: &str, input: Vec<String>, output: String| NodeProto {
                    name: format!("{output}.node"),
                    op_type: op.into(),
                    input,
                    output: vec![output],
                    ..NodeProto::default()
                };
                nodes.push(node("Relu", vec![n.input[0].clone()], pos.clone()));
                nodes.push(node(
                    "Sub",
                    vec![n.input[0].clone(), pos.clone()],
                    neg.clone(),
                ));
                nodes.push(node("Mul", vec![neg, n.input[1].clone()], sn.clone()));
                nodes.push(node("Add", vec![pos, sn], n.output[0].clone()));
                rewritten += 1;
            } else {
                nodes.push(n);
            }
            continue;
        };
        let scaled = format!("{}.prelu_scaled", n.output[0]);
        nodes.push(NodeProto {
            name: format!("{}.prelu_mul", n.name),
            op_type: "Mul".into(),
            input: vec![n.input[0].clone(), n.input[1].clone()],
            output: vec![scaled.clone()],
            ..NodeProto::default()
        });
        nodes.push(NodeProto {
            name: format!("{}.prelu_{}", n.name, pick.to_lowercase()),
            op_type: pick.into(),
            input: vec![n.input[0].clone(), scaled],
            output: n.output.clone(),
            ..NodeProto::default()
        });
        rewritten += 1;
    }
    g.node = nodes;
    Ok(rewritten)
}
