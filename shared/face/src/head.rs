//! SFace's last layer, run here from its shipped block-quantized weights.
//!
//! SFace ends with a fully connected layer from the 1024×7×7 feature map to the 128-float
//! embedding, followed by a batch normalisation. That layer holds 6.4M of the model's 9.6M
//! weights. Folded to float for tract it was 25.7 MB to read, copy and pack at every cold load,
//! and 25.7 MB to stream from memory at every embedding, for one matrix–vector product.
//!
//! The preparation step cuts it out of the graph (tract runs the convolutional body) and writes
//! it as shipped: int8 weights with one int8 zero point and one f32 scale per block of 64 inputs
//! (`DequantizeLinear` with `block_size` 64 on axis 1), so the result equals the float model's up
//! to summation order. The file is 6.9 MB.
//!
//! File layout (little-endian): magic `OPTFCH01`, `u32` outputs, inputs, block; then
//! `i8 q[outputs × inputs]`, `i8 zero_point[outputs × blocks]`, `f32 scale[outputs × blocks]`,
//! `f32 bias[outputs]`, and the batch normalisation folded to `f32 slope[outputs]`,
//! `f32 inter[outputs]` (`y = (Wx + bias) × slope + inter`).

use std::path::Path;

use crate::error::ModelError;

const MAGIC: &[u8; 8] = b"OPTFCH01";
const HEADER: usize = 8 + 3 * 4;

/// The dense head: `y = (W x + bias) × slope + inter` with block-quantized `W`.
#[derive(Debug, Clone)]
pub struct Head {
    outputs: usize,
    inputs: usize,
    block: usize,
    /// `outputs × inputs` int8 weights, row-major, as two's complement bytes from `q_offset` on
    /// (a head read from a file keeps the file's buffer: no second 6 MB copy).
    q: Vec<u8>,
    q_offset: usize,
    /// `outputs × blocks` zero points and scales.
    zero_point: Vec<i8>,
    scale: Vec<f32>,
    bias: Vec<f32>,
    slope: Vec<f32>,
    inter: Vec<f32>,
}

/// The parts of a head, as the preparation step extracts them from the ONNX model.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadParts {
    pub outputs: usize,
    pub inputs: usize,
    pub block: usize,
    pub q: Vec<i8>,
    pub zero_point: Vec<i8>,
    pub scale: Vec<f32>,
    pub bias: Vec<f32>,
    pub slope: Vec<f32>,
    pub inter: Vec<f32>,
}

impl PartialEq for Head {
    fn eq(&self, o: &Head) -> bool {
        (self.outputs, self.inputs, self.block) == (o.outputs, o.inputs, o.block)
            && self.weights() == o.weights()
            && self.zero_point == o.zero_point
            && self.scale == o.scale
            && self.bias == o.bias
            && self.slope == o.slope
            && self.inter == o.inter
    }
}

impl Head {
    /// Check the parts' sizes and values.
    pub fn new(p: HeadParts) -> Result<Head, String> {
        Head::checked(Head {
            outputs: p.outputs,
            inputs: p.inputs,
            block: p.block,
            q: p.q.iter().map(|v| *v as u8).collect(),
            q_offset: 0,
            zero_point: p.zero_point,
            scale: p.scale,
            bias: p.bias,
            slope: p.slope,
            inter: p.inter,
        })
    }

    fn checked(h: Head) -> Result<Head, String> {
        if h.outputs == 0 || h.inputs == 0 || h.block == 0 || !h.inputs.is_multiple_of(h.block) {
            return Err(format!(
                "bad dimensions {}x{} block {}",
                h.outputs, h.inputs, h.block
            ));
        }
        let blocks = h.outputs * (h.inputs / h.block);
        let sizes = [
            (
                "weights",
                h.q.len() - h.q_offset.min(h.q.len()),
                h.outputs * h.inputs,
            ),
            ("zero points", h.zero_point.len(), blocks),
            ("scales", h.scale.len(), blocks),
            ("bias", h.bias.len(), h.outputs),
            ("slope", h.slope.len(), h.outputs),
            ("inter", h.inter.len(), h.outputs),
        ];
        for (what, got, want) in sizes {
            if got != want {
                return Err(format!("{what}: {got} values, expected {want}"));
            }
        }
        let mut floats = h
            .scale
            .iter()
            .chain(&h.bias)
            .chain(&h.slope)
            .chain(&h.inter);
        if floats.any(|x| !x.is_finite()) {
            return Err("a scale or bias is not finite".into());
        }
        Ok(h)
    }

    /// The weights, row-major.
    fn weights(&self) -> &[u8] {
        &self.q[self.q_offset..]
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.q.len() * 2);
        out.extend_from_slice(MAGIC);
        for d in [self.outputs, self.inputs, self.block] {
            out.extend_from_slice(&(d as u32).to_le_bytes());
        }
        out.extend_from_slice(self.weights());
        out.extend(self.zero_point.iter().map(|v| *v as u8));
        for f in self
            .scale
            .iter()
            .chain(&self.bias)
            .chain(&self.slope)
            .chain(&self.inter)
        {
            out.extend_from_slice(&f.to_le_bytes());
        }
        out
    }

    /// Parse the file's bytes (every size is checked against the header).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Head, String> {
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err("not an optout SFace head file".into());
        }
        let dim = |i: usize| -> usize {
            let b = [
                bytes[8 + 4 * i],
                bytes[9 + 4 * i],
                bytes[10 + 4 * i],
                bytes[11 + 4 * i],
            ];
            u32::from_le_bytes(b) as usize
        };
        let (outputs, inputs, block) = (dim(0), dim(1), dim(2));
        if block == 0 || !inputs.is_multiple_of(block) {
            return Err(format!("bad block size {block} for {inputs} inputs"));
        }
        let sizes = (|| {
            let blocks = outputs.checked_mul(inputs / block)?;
            let weights = outputs.checked_mul(inputs)?;
            let floats = outputs.checked_mul(3)?.checked_add(blocks)?;
            let want = HEADER
                .checked_add(weights)?
                .checked_add(blocks)?
                .checked_add(floats.checked_mul(4)?)?;
            Some((blocks, weights, want))
        })();
        let (blocks, weights, want) = sizes.ok_or("dimensions overflow")?;
        if bytes.len() != want {
            return Err(format!("{} bytes, expected {want}", bytes.len()));
        }
        let zero_point = bytes[HEADER + weights..HEADER + weights + blocks]
            .iter()
            .map(|b| *b as i8)
            .collect();
        let mut at = HEADER + weights + blocks;
        let mut take_f32 = |n: usize| -> Vec<f32> {
            let v = bytes[at..at + 4 * n]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            at += 4 * n;
            v
        };
        let scale = take_f32(blocks);
        let bias = take_f32(outputs);
        let slope = take_f32(outputs);
        let inter = take_f32(outputs);
        let mut q = bytes;
        q.truncate(HEADER + weights);
        Head::checked(Head {
            outputs,
            inputs,
            block,
            q,
            q_offset: HEADER,
            zero_point,
            scale,
            bias,
            slope,
            inter,
        })
    }

    /// Read a head file.
    pub fn load(path: &Path) -> Result<Head, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ModelError::Missing {
                path: path.to_path_buf(),
            },
            _ => ModelError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            },
        })?;
        Head::from_bytes(bytes).map_err(|reason| ModelError::Corrupt {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// `y = (W x + bias) × slope + inter`; `x` must have [`Head::inputs`] values.
    pub fn apply(&self, x: &[f32]) -> Option<Vec<f32>> {
        if x.len() != self.inputs {
            return None;
        }
        let mut y = vec![0f32; self.outputs];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { self.apply_avx2(x, &mut y) };
            return Some(y);
        }
        self.apply_portable(x, &mut y);
        Some(y)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn apply_avx2(&self, x: &[f32], y: &mut [f32]) {
        self.apply_portable(x, y)
    }

    #[inline(always)]
    fn apply_portable(&self, x: &[f32], y: &mut [f32]) {
        if !self.block.is_multiple_of(LANES) {
            return self.apply_rows_one_by_one(x, y);
        }
        // Σ (q − zp)·x = Σ q·x − zp·Σ x over a block, lane by lane: the sums of x are the same
        // for every row, so they are taken once.
        let xsum: Vec<[f32; LANES]> = x
            .chunks_exact(self.block)
            .map(|xb| {
                let mut s = [0f32; LANES];
                for x8 in xb.chunks_exact(LANES) {
                    s.iter_mut().zip(x8).for_each(|(s, v)| *s += v);
                }
                s
            })
            .collect();
        let mut o = 0;
        while o + ROWS <= self.outputs {
            self.rows::<ROWS>(o, x, &xsum, &mut y[o..o + ROWS]);
            o += ROWS;
        }
        for r in o..self.outputs {
            self.rows::<1>(r, x, &xsum, &mut y[r..r + 1]);
        }
    }

    /// Outputs `first..first + R` at once: each chunk of `x` is loaded once for `R` rows, whose
    /// sums are independent, and lanes are only added up at the end of a row.
    #[inline(always)]
    fn rows<const R: usize>(&self, first: usize, x: &[f32], xsum: &[[f32; LANES]], y: &mut [f32]) {
        let blocks = self.inputs / self.block;
        let w = self.weights();
        let rows: [&[u8]; R] =
            std::array::from_fn(|r| &w[(first + r) * self.inputs..(first + r + 1) * self.inputs]);
        let mut acc = [[0f32; LANES]; R];
        for (b, (xb, xs)) in x.chunks_exact(self.block).zip(xsum).enumerate() {
            let span = b * self.block..(b + 1) * self.block;
            let mut dot = [[0f32; LANES]; R];
            for r in 0..R {
                for (q8, x8) in rows[r][span.clone()]
                    .chunks_exact(LANES)
                    .zip(xb.chunks_exact(LANES))
                {
                    for l in 0..LANES {
                        dot[r][l] += f32::from(q8[l] as i8) * x8[l];
                    }
                }
            }
            for r in 0..R {
                let at = (first + r) * blocks + b;
                let (scale, zp) = (self.scale[at], f32::from(self.zero_point[at]));
                for l in 0..LANES {
                    acc[r][l] += scale * (dot[r][l] - zp * xs[l]);
                }
            }
        }
        for (r, out) in y.iter_mut().enumerate() {
            let o = first + r;
            *out = (acc[r].iter().sum::<f32>() + self.bias[o]) * self.slope[o] + self.inter[o];
        }
    }

    /// Any block size: one row at a time.
    fn apply_rows_one_by_one(&self, x: &[f32], y: &mut [f32]) {
        let blocks = self.inputs / self.block;
        for (o, out) in y.iter_mut().enumerate() {
            let row = &self.weights()[o * self.inputs..(o + 1) * self.inputs];
            let mut acc = 0f32;
            for b in 0..blocks {
                let zp = f32::from(self.zero_point[o * blocks + b]);
                let q = &row[b * self.block..(b + 1) * self.block];
                let xs = &x[b * self.block..(b + 1) * self.block];
                acc += self.scale[o * blocks + b] * block_dot(q, zp, xs);
            }
            *out = (acc + self.bias[o]) * self.slope[o] + self.inter[o];
        }
    }
}

/// Vector width the kernels are written for (8 f32 = one AVX2 register).
const LANES: usize = 8;
/// Output rows computed together.
const ROWS: usize = 4;

/// `Σ (q[k] − zp) · x[k]` over one block (`q` as two's complement bytes), in 8 lanes so that it
/// vectorises.
#[inline(always)]
fn block_dot(q: &[u8], zp: f32, x: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut qc = q.chunks_exact(8);
    let mut xc = x.chunks_exact(8);
    for (q8, x8) in (&mut qc).zip(&mut xc) {
        for l in 0..8 {
            lanes[l] += (f32::from(q8[l] as i8) - zp) * x8[l];
        }
    }
    let mut sum = lanes.iter().sum::<f32>();
    for (q, x) in qc.remainder().iter().zip(xc.remainder()) {
        sum += (f32::from(*q as i8) - zp) * x;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(outputs: usize, inputs: usize, block: usize, seed: u32) -> HeadParts {
        let mut s = seed;
        let mut next = move || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            s >> 8
        };
        let blocks = outputs * inputs / block;
        HeadParts {
            outputs,
            inputs,
            block,
            q: (0..outputs * inputs).map(|_| next() as u8 as i8).collect(),
            zero_point: (0..blocks).map(|_| next() as u8 as i8).collect(),
            scale: (0..blocks).map(|_| (next() % 1000) as f32 * 1e-5).collect(),
            bias: (0..outputs)
                .map(|_| (next() % 200) as f32 * 0.01 - 1.0)
                .collect(),
            slope: (0..outputs).map(|_| (next() % 200) as f32 * 0.01).collect(),
            inter: (0..outputs)
                .map(|_| (next() % 200) as f32 * 0.01 - 1.0)
                .collect(),
        }
    }

    /// The float model's computation: dequantise every weight, then a plain dot product in f64.
    fn reference(p: &HeadParts, x: &[f32]) -> Vec<f64> {
        let blocks = p.inputs / p.block;
        (0..p.outputs)
            .map(|o| {
                let mut acc = 0f64;
                for (k, xk) in x.iter().enumerate() {
                    let b = o * blocks + k / p.block;
                    let w = (f64::from(p.q[o * p.inputs + k]) - f64::from(p.zero_point[b]))
                        * f64::from(p.scale[b]);
                    acc += w * f64::from(*xk);
                }
                (acc + f64::from(p.bias[o])) * f64::from(p.slope[o]) + f64::from(p.inter[o])
            })
            .collect()
    }

    #[test]
    fn computes_the_dequantized_product() {
        for (outputs, inputs, block) in [
            (3, 128, 64),
            (16, 1024, 64),
            (7, 256, 64),
            (5, 96, 32),
            (2, 12, 4),
            (6, 60, 12),
        ] {
            let p = parts(outputs, inputs, block, 7 + inputs as u32);
            let x: Vec<f32> = (0..inputs)
                .map(|k| ((k * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let want = reference(&p, &x);
            let head = Head::new(p.clone()).unwrap();
            let got = head.apply(&x).unwrap();
            let mut portable = vec![0f32; outputs];
            head.apply_portable(&x, &mut portable);
            for ((g, w), q) in got.iter().zip(&want).zip(&portable) {
                assert!(
                    (f64::from(*g) - w).abs() < 1e-4 * w.abs().max(1.0),
                    "{g} vs {w}"
                );
                assert!(
                    (g - q).abs() <= 1e-5 * q.abs().max(1.0),
                    "{g} vs portable {q}"
                );
            }
            assert!(head.apply(&x[1..]).is_none());
        }
    }

    #[test]
    fn file_round_trip_and_corruption() {
        let head = Head::new(parts(4, 256, 64, 3)).unwrap();
        let bytes = head.to_bytes();
        assert_eq!(Head::from_bytes(bytes.clone()).unwrap(), head);
        // truncated, extended, wrong magic, bad block, non-finite scale
        assert!(Head::from_bytes(bytes[..bytes.len() - 1].to_vec()).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Head::from_bytes(longer).is_err());
        let mut magic = bytes.clone();
        magic[0] = b'X';
        assert!(Head::from_bytes(magic).is_err());
        let mut block = bytes.clone();
        block[16..20].copy_from_slice(&7u32.to_le_bytes());
        assert!(Head::from_bytes(block).is_err());
        let mut nan = bytes.clone();
        let scale_at = HEADER + 4 * 256 + 4 * 4;
        nan[scale_at..scale_at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        assert!(Head::from_bytes(nan).unwrap_err().contains("finite"));
        assert!(Head::from_bytes(b"OPTFCH01".to_vec()).is_err());
        let huge = [&MAGIC[..], &[255; 12]].concat();
        assert!(Head::from_bytes(huge).is_err());
        let mut bad = parts(4, 256, 64, 3);
        bad.bias.pop();
        assert!(Head::new(bad).unwrap_err().contains("bias"));
    }
}
