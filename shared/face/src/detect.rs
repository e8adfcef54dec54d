//! Face detection with YuNet: letterbox, decoding of the 12 outputs, non-maximum suppression.

use image::RgbImage;
use serde::{Deserialize, Serialize};

/// Minimum detection score (sqrt(cls * obj)).
pub const SCORE_THRESHOLD: f32 = 0.6;
/// Boxes overlapping a better one by more than this IoU are dropped.
pub const NMS_IOU: f32 = 0.3;
/// Strides of YuNet's three output levels.
pub const STRIDES: [usize; 3] = [8, 16, 32];

/// One detected face, in pixel coordinates of the image it was found in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// x1, y1, x2, y2
    pub bbox: [f32; 4],
    pub score: f32,
    /// right eye, left eye, nose tip, right mouth corner, left mouth corner (as YuNet orders them)
    pub landmarks: [[f32; 2]; 5],
}

impl Detection {
    pub fn width(&self) -> f32 {
        self.bbox[2] - self.bbox[0]
    }
    pub fn height(&self) -> f32 {
        self.bbox[3] - self.bbox[1]
    }
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }
    /// The same detection with every point moved by `f` (box corners included; the box is then
    /// the one spanned by the moved corners).
    pub fn mapped(&self, f: impl Fn([f32; 2]) -> [f32; 2]) -> Detection {
        let mut d = *self;
        let a = f([self.bbox[0], self.bbox[1]]);
        let b = f([self.bbox[2], self.bbox[3]]);
        d.bbox = [
            a[0].min(b[0]),
            a[1].min(b[1]),
            a[0].max(b[0]),
            a[1].max(b[1]),
        ];
        d.landmarks = self.landmarks.map(f);
        d
    }
    /// The same detection with every coordinate multiplied by `f`.
    pub fn scaled(&self, f: f32) -> Detection {
        let mut d = *self;
        d.bbox.iter_mut().for_each(|v| *v *= f);
        d.landmarks.iter_mut().flatten().for_each(|v| *v *= f);
        d
    }
}

/// The detector input: an NCHW BGR float image `side` x `side`, the picture resized to fit at the
/// top-left corner (aspect kept, antialiased triangle filter like Pillow's BILINEAR), the rest zero.
/// Returns the data and the scale applied.
pub fn letterbox(img: &RgbImage, side: usize) -> (Vec<f32>, f32) {
    let (w, h) = (img.width().max(1) as usize, img.height().max(1) as usize);
    let s = (side as f32 / w as f32).min(side as f32 / h as f32);
    let nw = ((w as f32 * s + 0.5).floor() as usize).clamp(1, side);
    let nh = ((h as f32 * s + 0.5).floor() as usize).clamp(1, side);
    let plane = side * side;
    let mut data = vec![0f32; 3 * plane];
    if img.width() == 0 || img.height() == 0 {
        return (data, s);
    }
    let xw = resample_weights(w, nw);
    let yw = resample_weights(h, nh);
    // The two passes commute (both are linear); the vertical one goes first because it runs over
    // whole rows (vectorised multiply-adds straight from the bytes) and leaves the horizontal one,
    // three interleaved channels with a few taps each, only the nh output rows instead of h.
    let raw = img.as_raw();
    let stride = w * 3;
    let mut row = vec![0f32; stride];
    for (y, (start, ws)) in yw.iter().enumerate() {
        row.iter_mut().for_each(|v| *v = 0.0);
        for (k, wt) in ws.iter().enumerate() {
            let src = &raw[(start + k) * stride..(start + k + 1) * stride];
            row.iter_mut()
                .zip(src)
                .for_each(|(a, &v)| *a += f32::from(v) * wt);
        }
        let base = y * side;
        for (x, (start, ws)) in xw.iter().enumerate() {
            let taps = &row[start * 3..(start + ws.len()) * 3];
            let (mut r, mut g, mut b) = (0f32, 0f32, 0f32);
            for (p, wt) in taps.chunks_exact(3).zip(ws) {
                r += p[0] * wt;
                g += p[1] * wt;
                b += p[2] * wt;
            }
            // round and clamp like an 8-bit resize would
            let px = |v: f32| (v + 0.5).floor().clamp(0.0, 255.0);
            data[base + x] = px(b);
            data[plane + base + x] = px(g);
            data[2 * plane + base + x] = px(r);
        }
    }
    (data, s)
}

/// Triangle-filter weights for resampling `n_in` samples to `n_out` (antialiased when shrinking,
/// as Pillow does): for each output sample, the first input index and the normalised weights.
fn resample_weights(n_in: usize, n_out: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = n_in as f64 / n_out as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // triangle support 1.0, widened when shrinking
    (0..n_out)
        .map(|i| {
            let center = (i as f64 + 0.5) * scale;
            let lo = ((center - support).floor().max(0.0)) as usize;
            let hi = ((center + support).ceil() as usize).min(n_in);
            let lo = lo.min(hi.saturating_sub(1));
            let mut ws: Vec<f64> = (lo..hi)
                .map(|j| {
                    let d = (j as f64 + 0.5 - center) / filter_scale;
                    (1.0 - d.abs()).max(0.0)
                })
                .collect();
            let total: f64 = ws.iter().sum();
            if total > 0.0 {
                ws.iter_mut().for_each(|v| *v /= total);
            } else {
                ws = vec![0.0; hi - lo];
                if let Some(first) = ws.first_mut() {
                    *first = 1.0;
                }
            }
            (lo, ws.into_iter().map(|v| v as f32).collect())
        })
        .collect()
}

/// Raw outputs of one stride level: cls [n], obj [n], bbox [n*4], kps [n*10].
pub struct Level<'a> {
    pub stride: usize,
    pub cls: &'a [f32],
    pub obj: &'a [f32],
    pub bbox: &'a [f32],
    pub kps: &'a [f32],
}

/// Decode YuNet outputs for an input of `side` x `side` into detections in the coordinates of the
/// image before letterboxing (divided by `scale`). Malformed levels (wrong sizes) are skipped;
/// non-finite values never produce a detection.
pub fn decode(
    levels: &[Level<'_>],
    side: usize,
    scale: f32,
    score_threshold: f32,
) -> Vec<Detection> {
    let mut out = Vec::new();
    if scale <= 0.0 || !scale.is_finite() {
        return out;
    }
    for l in levels {
        if l.stride == 0 {
            continue;
        }
        let cols = side / l.stride;
        let n = cols * cols;
        if l.cls.len() != n || l.obj.len() != n || l.bbox.len() != 4 * n || l.kps.len() != 10 * n {
            continue;
        }
        let k = l.stride as f32;
        for i in 0..n {
            let score = (l.cls[i].clamp(0.0, 1.0) * l.obj[i].clamp(0.0, 1.0)).sqrt();
            if score.is_nan() || score < score_threshold {
                continue;
            }
            let (r, c) = ((i / cols) as f32, (i % cols) as f32);
            let b = &l.bbox[4 * i..4 * i + 4];
            let p = &l.kps[10 * i..10 * i + 10];
            let cx = (c + b[0]) * k;
            let cy = (r + b[1]) * k;
            let w = b[2].min(20.0).exp() * k;
            let h = b[3].min(20.0).exp() * k;
            let mut d = Detection {
                bbox: [
                    (cx - w / 2.0) / scale,
                    (cy - h / 2.0) / scale,
                    (cx + w / 2.0) / scale,
                    (cy + h / 2.0) / scale,
                ],
                score,
                landmarks: [[0.0; 2]; 5],
            };
            for (j, lm) in d.landmarks.iter_mut().enumerate() {
                *lm = [(c + p[2 * j]) * k / scale, (r + p[2 * j + 1]) * k / scale];
            }
            if d.bbox
                .iter()
                .chain(d.landmarks.iter().flatten())
                .all(|v| v.is_finite())
            {
                out.push(d);
            }
        }
    }
    out
}

/// Intersection over union of two boxes (0 when the union is empty).
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Greedy non-maximum suppression: by descending score (stable), keep a detection unless it
/// overlaps a kept one by more than `iou_threshold`.
pub fn nms(mut dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::with_capacity(dets.len().min(64));
    for d in dets {
        if keep.iter().all(|k| iou(&k.bbox, &d.bbox) <= iou_threshold) {
            keep.push(d);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(bbox: [f32; 4], score: f32) -> Detection {
        Detection {
            bbox,
            score,
            landmarks: [[0.0; 2]; 5],
        }
    }

    /// The outputs of one level of stride 32 (2x2 anchors for a side of 64).
    fn one_level<'a>(
        cls: &'a [f32],
        obj: &'a [f32],
        bbox: &'a [f32],
        kps: &'a [f32],
    ) -> [Level<'a>; 1] {
        [Level {
            stride: 32,
            cls,
            obj,
            bbox,
            kps,
        }]
    }

    #[test]
    fn decodes_one_anchor() {
        // side 64, stride 32: 2x2 anchors; anchor 3 = row 1, col 1
        let side = 64;
        let mut cls = vec![0.0; 4];
        let mut obj = vec![0.0; 4];
        let mut bbox = vec![0.0; 16];
        let mut kps = vec![0.0; 40];
        cls[3] = 0.81;
        obj[3] = 1.0;
        bbox[12..16].copy_from_slice(&[0.5, 0.25, 0.0, (2.0f32).ln()]);
        for j in 0..5 {
            kps[30 + 2 * j] = 0.1 * j as f32;
            kps[30 + 2 * j + 1] = -0.1 * j as f32;
        }
        let levels = one_level(&cls, &obj, &bbox, &kps);
        let d = decode(&levels, side, 0.5, 0.6);
        assert_eq!(d.len(), 1);
        let d = d[0];
        assert!((d.score - 0.9).abs() < 1e-6);
        // cx = (1 + .5) * 32 = 48, cy = (1 + .25) * 32 = 40, w = 32, h = 64; then / 0.5
        let want = [
            (48.0 - 16.0) * 2.0,
            (40.0 - 32.0) * 2.0,
            (48.0 + 16.0) * 2.0,
            (40.0 + 32.0) * 2.0,
        ];
        for (a, b) in d.bbox.iter().zip(want) {
            assert!((a - b).abs() < 1e-3, "{:?} vs {want:?}", d.bbox);
        }
        assert!((d.landmarks[2][0] - (1.0 + 0.2) * 32.0 * 2.0).abs() < 1e-3);
        assert!((d.landmarks[2][1] - (1.0 - 0.2) * 32.0 * 2.0).abs() < 1e-3);
    }

    #[test]
    fn low_scores_nan_and_malformed_levels_give_nothing() {
        let cls = vec![0.5, f32::NAN, 1.0, 2.0];
        let obj = vec![0.5, 1.0, f32::NAN, 0.3];
        let bbox = vec![0.0; 16];
        let kps = vec![0.0; 40];
        let levels = one_level(&cls, &obj, &bbox, &kps);
        // sqrt(.25)=.5, NaN, NaN, sqrt(1*.3)=.548: all below .6
        assert!(decode(&levels, 64, 1.0, 0.6).is_empty());
        let short = one_level(&cls[..2], &obj, &bbox, &kps);
        assert!(decode(&short, 64, 1.0, 0.0).is_empty());
        assert!(decode(&levels, 64, 0.0, 0.0).is_empty());
    }

    #[test]
    fn iou_values() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert!((iou(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(iou(&a, &[20.0, 20.0, 30.0, 30.0]), 0.0);
        assert!((iou(&a, &[5.0, 0.0, 15.0, 10.0]) - 50.0 / 150.0).abs() < 1e-6);
        assert_eq!(iou(&[0.0; 4], &[0.0; 4]), 0.0);
    }

    #[test]
    fn nms_keeps_best_of_overlapping_and_all_separate() {
        let dets = vec![
            det([0.0, 0.0, 10.0, 10.0], 0.7),
            det([1.0, 1.0, 11.0, 11.0], 0.9),
            det([50.0, 50.0, 60.0, 60.0], 0.8),
            det([8.0, 0.0, 18.0, 10.0], 0.65), // IoU 0.16 with the best one -> kept
            det([5.0, 0.0, 15.0, 10.0], 0.6),  // IoU 0.37 with the best one -> dropped
        ];
        let kept = nms(dets, 0.3);
        let scores: Vec<f32> = kept.iter().map(|d| d.score).collect();
        assert_eq!(scores, vec![0.9, 0.8, 0.65]);
    }

    #[test]
    fn letterbox_places_bgr_top_left() {
        let img = RgbImage::from_pixel(64, 32, image::Rgb([10, 20, 30]));
        let (x, s) = letterbox(&img, 64);
        assert_eq!(s, 1.0);
        assert_eq!(x.len(), 3 * 64 * 64);
        assert_eq!((x[0], x[64 * 64], x[2 * 64 * 64]), (30.0, 20.0, 10.0));
        assert_eq!(x[40 * 64], 0.0); // below the picture: padding
        let (x, s) = letterbox(
            &RgbImage::from_pixel(128, 32, image::Rgb([200, 100, 50])),
            64,
        );
        assert_eq!(s, 0.5);
        // a flat picture stays flat after resampling
        assert_eq!((x[0], x[15 * 64 + 63], x[64 * 64 + 5]), (50.0, 50.0, 100.0));
        assert_eq!(x[16 * 64], 0.0);
    }

    #[test]
    fn resample_weights_sum_to_one_and_stay_in_range() {
        for (a, b) in [
            (1000, 640),
            (640, 640),
            (10, 640),
            (4000, 320),
            (1, 1),
            (3, 1),
        ] {
            for (start, ws) in resample_weights(a, b) {
                assert!(start + ws.len() <= a);
                assert!((ws.iter().sum::<f32>() - 1.0).abs() < 1e-4);
            }
        }
    }
}
