//! PDQ perceptual hash (Facebook/Meta ThreatExchange), written from the published algorithm:
//! luminance, two passes of a Jarosz (tent-like, box-of-box) filter, decimation to 64x64, a 16x16
//! DCT (without the DC row/column), median threshold. The quality score (0..=100) measures the
//! gradient of the 64x64 image: flat images hash unreliably.
//!
//! The hash is an [`optout_matcher::PdqHash`] (its hex form and Hamming distance are there): bit
//! `k = 16*row + col` of the 16x16 DCT, most significant bits first.

use image::RgbImage;
use optout_matcher::PdqHash;

const DOWNSAMPLE: usize = 64;
const DCT_SIDE: usize = 16;

/// Sets bit `k` of the hash, a big-endian 256-bit number.
fn set_bit(h: &mut PdqHash, k: usize) {
    h.0[31 - k / 8] |= 1 << (k % 8);
}

/// Hash and quality of an RGB image.
pub fn pdq_rgb(img: &RgbImage) -> (PdqHash, u8) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut luma: Vec<f32> = img
        .as_raw()
        .chunks_exact(3)
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    pdq_luma(&mut luma, h, w)
}

/// Hash and quality of a row-major luminance buffer (`rows * cols` values; it is overwritten).
pub fn pdq_luma(luma: &mut [f32], rows: usize, cols: usize) -> (PdqHash, u8) {
    if rows == 0 || cols == 0 || luma.len() != rows * cols {
        return (PdqHash([0; 32]), 0);
    }
    let small = jarosz_decimated(luma, rows, cols);
    let quality = quality(&small);
    let dct = dct_16(&small);
    (threshold(&dct), quality)
}

/// Jarosz filter window for reducing `old` samples to 64.
fn window_size(old: usize) -> usize {
    old.div_ceil(2 * DOWNSAMPLE)
}

/// Where the decimation samples an axis of `n` values: 64 indices, non-decreasing.
fn sample_positions(n: usize) -> [usize; DOWNSAMPLE] {
    std::array::from_fn(|i| {
        ((((i as f64 + 0.5) * n as f64) / DOWNSAMPLE as f64) as usize).min(n - 1)
    })
}

/// The two Jarosz passes (a box filter along the rows, then along the columns, twice) and the
/// decimation to 64x64. The first pass filters everything. The second pass is only computed where
/// the decimation reads it: its row filter emits the 64 sampled columns, its column filter the 64
/// sampled rows. Every emitted value is the same sum in the same order as when filtering
/// everything, so the result is the same to the bit (tested against the plain version).
fn jarosz_decimated(luma: &mut [f32], rows: usize, cols: usize) -> Vec<f32> {
    let win_rows = window_size(cols);
    let win_cols = window_size(rows);
    let (at_rows, at_cols) = (sample_positions(rows), sample_positions(cols));
    let mut tmp = vec![0f32; rows * cols];
    box_along_rows(luma, cols, win_rows, |r, oi, sums, count| {
        for (l, s) in sums.iter().enumerate() {
            tmp[(r + l) * cols + oi] = s / count;
        }
    });
    box_along_cols(&tmp, luma, rows, cols, win_cols);
    // second pass, rows: only the sampled columns, into a rows x 64 buffer
    let mut narrow = vec![0f32; rows * DOWNSAMPLE];
    let mut k = [0usize; LANES];
    box_along_rows(luma, cols, win_rows, |r, oi, sums, count| {
        if oi == 0 {
            k = [0; LANES]; // a new group of rows starts
        }
        for (l, s) in sums.iter().enumerate() {
            let k = &mut k[l];
            if *k < DOWNSAMPLE && at_cols[*k] == oi {
                let v = s / count;
                while *k < DOWNSAMPLE && at_cols[*k] == oi {
                    narrow[(r + l) * DOWNSAMPLE + *k] = v;
                    *k += 1;
                }
            }
        }
    });
    // second pass, columns: only the sampled rows
    let mut small = vec![0f32; DOWNSAMPLE * DOWNSAMPLE];
    let mut k = 0;
    box_along_cols_with(&narrow, rows, DOWNSAMPLE, win_cols, |oi, sum, count| {
        while k < DOWNSAMPLE && at_rows[k] == oi {
            small[k * DOWNSAMPLE..(k + 1) * DOWNSAMPLE]
                .iter_mut()
                .zip(sum)
                .for_each(|(o, s)| *o = s / count);
            k += 1;
        }
    });
    small
}

/// Rows filtered at a time: their running sums are independent, so the CPU overlaps them.
const LANES: usize = 4;

/// The box filter along every row of `input` (`cols` wide), with a window that shrinks at the
/// edges (the reference's four phases). `emit(first_row, position, sums, count)` receives the
/// outputs of up to [`LANES`] consecutive rows at one position as their windows' sums and size (a
/// value is `sum / count`, so a caller that needs few outputs pays few divisions).
fn box_along_rows(
    input: &[f32],
    cols: usize,
    window: usize,
    mut emit: impl FnMut(usize, usize, &[f32], f32),
) {
    let rows = input.len() / cols;
    let mut r = 0;
    while r + LANES <= rows {
        let lanes: [&[f32]; LANES] =
            std::array::from_fn(|l| &input[(r + l) * cols..(r + l + 1) * cols]);
        box_lanes(lanes, window, |oi, sums, count| emit(r, oi, sums, count));
        r += LANES;
    }
    for row in r..rows {
        box_lanes(
            [&input[row * cols..(row + 1) * cols]],
            window,
            |oi, sums, count| emit(row, oi, sums, count),
        );
    }
}

/// The running box filter of `N` equally long sequences at once.
fn box_lanes<const N: usize>(
    input: [&[f32]; N],
    window: usize,
    mut emit: impl FnMut(usize, &[f32], f32),
) {
    let len = input[0].len();
    let window = window.clamp(1, len);
    let half = (window + 2) / 2;
    let (mut li, mut ri, mut oi) = (0usize, 0usize, 0usize);
    let mut sum = [0f32; N];
    let mut count = 0f32;
    let mut out = |sum: &[f32; N], count: f32, oi: usize| emit(oi, sum, count);
    for _ in 0..half - 1 {
        (0..N).for_each(|l| sum[l] += input[l][ri]);
        count += 1.0;
        ri += 1;
    }
    for _ in 0..window + 1 - half {
        (0..N).for_each(|l| sum[l] += input[l][ri]);
        count += 1.0;
        out(&sum, count, oi);
        ri += 1;
        oi += 1;
    }
    for _ in 0..len - window {
        (0..N).for_each(|l| {
            sum[l] += input[l][ri];
            sum[l] -= input[l][li];
        });
        out(&sum, count, oi);
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..half - 1 {
        (0..N).for_each(|l| sum[l] -= input[l][li]);
        count -= 1.0;
        out(&sum, count, oi);
        li += 1;
        oi += 1;
    }
}

fn box_along_cols(input: &[f32], output: &mut [f32], rows: usize, cols: usize, window: usize) {
    box_along_cols_with(input, rows, cols, window, |oi, sum, count| {
        output[oi * cols..(oi + 1) * cols]
            .iter_mut()
            .zip(sum)
            .for_each(|(o, s)| *o = s / count);
    });
}

/// The box filter down every column, processed a row at a time so memory is read sequentially:
/// `emit(row, sums, count)` receives each output row's column sums and window size.
fn box_along_cols_with(
    input: &[f32],
    rows: usize,
    cols: usize,
    window: usize,
    mut emit: impl FnMut(usize, &[f32], f32),
) {
    let window = window.clamp(1, rows);
    let half = (window + 2) / 2;
    let mut sum = vec![0f32; cols];
    let row = |r: usize| &input[r * cols..(r + 1) * cols];
    let mut count = 0f32;
    let mut ri = 0usize;
    let mut li = 0usize;
    let mut oi = 0usize;
    let add = |sum: &mut [f32], src: &[f32]| sum.iter_mut().zip(src).for_each(|(s, v)| *s += v);
    let sub = |sum: &mut [f32], src: &[f32]| sum.iter_mut().zip(src).for_each(|(s, v)| *s -= v);
    for _ in 0..half - 1 {
        add(&mut sum, row(ri));
        count += 1.0;
        ri += 1;
    }
    for _ in 0..window + 1 - half {
        add(&mut sum, row(ri));
        count += 1.0;
        emit(oi, &sum, count);
        ri += 1;
        oi += 1;
    }
    for _ in 0..rows - window {
        add(&mut sum, row(ri));
        sub(&mut sum, row(li));
        emit(oi, &sum, count);
        li += 1;
        ri += 1;
        oi += 1;
    }
    for _ in 0..half - 1 {
        sub(&mut sum, row(li));
        count -= 1.0;
        emit(oi, &sum, count);
        li += 1;
        oi += 1;
    }
}

fn quality(b: &[f32]) -> u8 {
    let mut sum: i64 = 0;
    for i in 0..DOWNSAMPLE - 1 {
        for j in 0..DOWNSAMPLE {
            let d = ((b[i * DOWNSAMPLE + j] - b[(i + 1) * DOWNSAMPLE + j]) * 100.0) / 255.0;
            sum += i64::from((d as i32).abs());
        }
    }
    for i in 0..DOWNSAMPLE {
        for j in 0..DOWNSAMPLE - 1 {
            let d = ((b[i * DOWNSAMPLE + j] - b[i * DOWNSAMPLE + j + 1]) * 100.0) / 255.0;
            sum += i64::from((d as i32).abs());
        }
    }
    (sum / 90).min(100) as u8
}

/// The 16x64 DCT-II basis without the DC term: D[i][j] = sqrt(2/64) cos(pi/128 (i+1)(2j+1)).
fn dct_matrix() -> [[f32; DOWNSAMPLE]; DCT_SIDE] {
    let mut d = [[0f32; DOWNSAMPLE]; DCT_SIDE];
    let scale = (2.0f64 / DOWNSAMPLE as f64).sqrt();
    for (i, row) in d.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            let arg = std::f64::consts::PI / 2.0 / DOWNSAMPLE as f64
                * (i as f64 + 1.0)
                * (2.0 * j as f64 + 1.0);
            *v = (scale * arg.cos()) as f32;
        }
    }
    d
}

/// B = D A D^T (16x16) for the 64x64 A.
fn dct_16(a: &[f32]) -> [f32; DCT_SIDE * DCT_SIDE] {
    let d = dct_matrix();
    // T = D A: 16x64
    let mut t = [[0f32; DOWNSAMPLE]; DCT_SIDE];
    for i in 0..DCT_SIDE {
        for k in 0..DOWNSAMPLE {
            let dik = d[i][k];
            let arow = &a[k * DOWNSAMPLE..(k + 1) * DOWNSAMPLE];
            for (tj, av) in t[i].iter_mut().zip(arow) {
                *tj += dik * av;
            }
        }
    }
    let mut b = [0f32; DCT_SIDE * DCT_SIDE];
    for i in 0..DCT_SIDE {
        for j in 0..DCT_SIDE {
            b[i * DCT_SIDE + j] = t[i].iter().zip(&d[j]).map(|(x, y)| x * y).sum();
        }
    }
    b
}

fn threshold(dct: &[f32; DCT_SIDE * DCT_SIDE]) -> PdqHash {
    let mut sorted = *dct;
    sorted.sort_by(f32::total_cmp);
    // the reference's Torben median of an even count returns the lower middle value
    let median = sorted[DCT_SIDE * DCT_SIDE / 2 - 1];
    let mut h = PdqHash([0; 32]);
    for (k, v) in dct.iter().enumerate() {
        if *v > median {
            set_bit(&mut h, k);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sizes_follow_the_reference() {
        assert_eq!(window_size(64), 1);
        assert_eq!(window_size(128), 1);
        assert_eq!(window_size(129), 2);
        assert_eq!(window_size(1024), 8);
        assert_eq!(window_size(4000), 32);
    }

    #[test]
    fn box_filter_shrinks_at_the_edges() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let mut y = [0.0; 5];
        box_along_rows(&x, 5, 3, |_, oi, sums, count| y[oi] = sums[0] / count);
        assert_eq!(y, [1.5, 2.0, 3.0, 4.0, 4.5]);
        // the column version equals the row version on a transposed buffer
        let mut yc = [0.0; 5];
        box_along_cols(&x, &mut yc, 5, 1, 3);
        assert_eq!(y, yc);
    }

    /// The plain filter: one sequence, every output, as the reference writes it.
    fn plain_box(input: &[f32], output: &mut [f32], len: usize, stride: usize, window: usize) {
        let window = window.clamp(1, len);
        let half = (window + 2) / 2;
        let (mut li, mut ri, mut oi) = (0usize, 0usize, 0usize);
        let (mut sum, mut count) = (0f32, 0f32);
        for _ in 0..half - 1 {
            sum += input[ri];
            count += 1.0;
            ri += stride;
        }
        for _ in 0..window + 1 - half {
            sum += input[ri];
            count += 1.0;
            output[oi] = sum / count;
            ri += stride;
            oi += stride;
        }
        for _ in 0..len - window {
            sum += input[ri];
            sum -= input[li];
            output[oi] = sum / count;
            li += stride;
            ri += stride;
            oi += stride;
        }
        for _ in 0..half - 1 {
            sum -= input[li];
            count -= 1.0;
            output[oi] = sum / count;
            li += stride;
            oi += stride;
        }
    }

    /// Both passes over everything, then the decimation.
    fn plain_jarosz_decimated(luma: &mut [f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut tmp = vec![0f32; luma.len()];
        for _ in 0..2 {
            for r in 0..rows {
                let s = r * cols..(r + 1) * cols;
                plain_box(&luma[s.clone()], &mut tmp[s], cols, 1, window_size(cols));
            }
            for c in 0..cols {
                plain_box(&tmp[c..], &mut luma[c..], rows, cols, window_size(rows));
            }
        }
        let mut out = vec![0f32; DOWNSAMPLE * DOWNSAMPLE];
        for (i, r) in sample_positions(rows).into_iter().enumerate() {
            for (j, c) in sample_positions(cols).into_iter().enumerate() {
                out[i * DOWNSAMPLE + j] = luma[r * cols + c];
            }
        }
        out
    }

    #[test]
    fn filtering_only_the_sampled_outputs_changes_no_bit() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for (rows, cols) in [
            (1, 1),
            (2, 3),
            (1, 300),
            (300, 1),
            (5, 7),
            (64, 64),
            (65, 129),
            (130, 257),
            (377, 500),
            (768, 1024),
        ] {
            let luma: Vec<f32> = (0..rows * cols)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed % 25_600) as f32 / 100.0
                })
                .collect();
            let fast = jarosz_decimated(&mut luma.clone(), rows, cols);
            let plain = plain_jarosz_decimated(&mut luma.clone(), rows, cols);
            let same = fast
                .iter()
                .zip(&plain)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "{rows}x{cols}");
        }
    }

    #[test]
    fn bits_are_most_significant_first() {
        let mut h = PdqHash([0; 32]);
        set_bit(&mut h, 0);
        set_bit(&mut h, 255);
        let s = h.to_hex();
        assert_eq!(&s[..2], "80");
        assert_eq!(&s[62..], "01");
        assert_eq!(h.distance(&PdqHash([0; 32])), 2);
    }

    #[test]
    fn flat_image_has_zero_quality_and_half_bits_at_most() {
        let img = RgbImage::from_pixel(200, 100, image::Rgb([128, 128, 128]));
        let (h, q) = pdq_rgb(&img);
        assert_eq!(q, 0);
        assert!(h.distance(&PdqHash([0; 32])) <= 128);
    }

    #[test]
    fn tiny_and_empty_images_do_not_panic() {
        for (w, h) in [(1, 1), (1, 300), (300, 1), (3, 2)] {
            let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 3) as u8, 9]));
            let _ = pdq_rgb(&img);
        }
        assert_eq!(pdq_luma(&mut [], 0, 0).1, 0);
    }

    #[test]
    fn gradient_image_has_high_quality_and_is_stable_under_scaling() {
        let make = |w: u32, h: u32| {
            RgbImage::from_fn(w, h, |x, y| {
                let (u, v) = (x as f32 / w as f32 * 64.0, y as f32 / h as f32 * 48.0);
                let v = (128.0 + 100.0 * (u / 2.0).sin() * (v / 1.5).cos()) as u8;
                image::Rgb([v, v / 2, 255 - v])
            })
        };
        let (a, qa) = pdq_rgb(&make(640, 480));
        let (b, _) = pdq_rgb(&make(320, 240));
        assert!(qa > 20, "quality {qa}");
        assert!(a.distance(&b) <= 16, "distance {}", a.distance(&b));
    }
}
