//! Face alignment: least-squares similarity transform from the 5 landmarks to the SFace template,
//! and the 112x112 warp (bilinear, zero outside the image; output pixel (u, v) samples the source
//! at M^-1 (u, v), as OpenCV's `warpAffine` does).

use image::RgbImage;

/// Where SFace (ArcFace convention) expects the 5 landmarks in its 112x112 input.
pub const TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// A similarity transform: u = a x - b y + tx, v = b x + a y + ty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f64,
    pub b: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Similarity {
    pub fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    /// The inverse map (None if the transform is degenerate).
    pub fn inverse(&self) -> Option<Similarity> {
        let n = self.a * self.a + self.b * self.b;
        if n.is_nan() || n <= 1e-12 || !n.is_finite() {
            return None;
        }
        let (a, b) = (self.a / n, -self.b / n);
        let tx = -(a * self.tx - b * self.ty);
        let ty = -(b * self.tx + a * self.ty);
        Some(Similarity { a, b, tx, ty })
    }

    /// Scale factor (output pixels per source pixel).
    pub fn scale(&self) -> f64 {
        self.a.hypot(self.b)
    }
}

/// Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping `src` onto
/// `dst`. In 2-D this equals Umeyama's solution. None if the source points coincide or are not finite.
pub fn estimate(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Option<Similarity> {
    if src.len() != dst.len() || src.is_empty() {
        return None;
    }
    let n = src.len() as f64;
    let mean = |p: &[[f32; 2]]| {
        let (sx, sy) = p.iter().fold((0.0, 0.0), |(x, y), q| {
            (x + f64::from(q[0]), y + f64::from(q[1]))
        });
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
    for (s, d) in src.iter().zip(dst) {
        let (x, y) = (f64::from(s[0]) - msx, f64::from(s[1]) - msy);
        let (u, v) = (f64::from(d[0]) - mdx, f64::from(d[1]) - mdy);
        num_a += x * u + y * v;
        num_b += x * v - y * u;
        den += x * x + y * y;
    }
    if den.is_nan() || den <= 1e-9 || !den.is_finite() {
        return None;
    }
    let (a, b) = (num_a / den, num_b / den);
    let m = Similarity {
        a,
        b,
        tx: mdx - (a * msx - b * msy),
        ty: mdy - (b * msx + a * msy),
    };
    [m.a, m.b, m.tx, m.ty]
        .iter()
        .all(|v| v.is_finite())
        .then_some(m)
}

/// Warp `img` by `m` into a `size` x `size` RGB buffer (row-major, 3 bytes a pixel).
pub fn warp(img: &RgbImage, m: &Similarity, size: usize) -> Option<Vec<u8>> {
    let inv = m.inverse()?;
    let (w, h) = (img.width() as i64, img.height() as i64);
    let raw = img.as_raw();
    let mut out = vec![0u8; size * size * 3];
    for v in 0..size {
        for u in 0..size {
            let [sx, sy] = inv.apply([u as f64, v as f64]);
            if !(sx.is_finite() && sy.is_finite()) || sx.abs() > 1e9 || sy.abs() > 1e9 {
                continue;
            }
            let (fx, fy) = (sx.floor(), sy.floor());
            let (ax, ay) = (sx - fx, sy - fy);
            let (ix, iy) = (fx as i64, fy as i64);
            let mut acc = [0f64; 3];
            for (dx, dy, wt) in [
                (0, 0, (1.0 - ax) * (1.0 - ay)),
                (1, 0, ax * (1.0 - ay)),
                (0, 1, (1.0 - ax) * ay),
                (1, 1, ax * ay),
            ] {
                let (x, y) = (ix + dx, iy + dy);
                if x < 0 || y < 0 || x >= w || y >= h {
                    continue;
                }
                let o = ((y * w + x) * 3) as usize;
                for c in 0..3 {
                    acc[c] += f64::from(raw[o + c]) * wt;
                }
            }
            let o = (v * size + u) * 3;
            for c in 0..3 {
                out[o + c] = (acc[c] + 0.5).floor().clamp(0.0, 255.0) as u8;
            }
        }
    }
    Some(out)
}

/// Align a face: estimate the transform from `landmarks` to [`TEMPLATE`] and warp to 112x112.
pub fn align(img: &RgbImage, landmarks: &[[f32; 2]; 5]) -> Option<Vec<u8>> {
    let m = estimate(landmarks, &TEMPLATE)?;
    warp(img, &m, 112)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_similarity() {
        let truth = Similarity {
            a: 0.8 * 0.3f64.cos(),
            b: 0.8 * 0.3f64.sin(),
            tx: 12.0,
            ty: -7.5,
        };
        let src: Vec<[f32; 2]> = TEMPLATE.to_vec();
        let dst: Vec<[f32; 2]> = src
            .iter()
            .map(|p| {
                let q = truth.apply([f64::from(p[0]), f64::from(p[1])]);
                [q[0] as f32, q[1] as f32]
            })
            .collect();
        let m = estimate(&src, &dst).unwrap();
        for (got, want) in [m.a, m.b, m.tx, m.ty]
            .iter()
            .zip([truth.a, truth.b, truth.tx, truth.ty])
        {
            assert!((got - want).abs() < 1e-4, "{m:?} vs {truth:?}");
        }
        assert!((m.scale() - 0.8).abs() < 1e-5);
    }

    #[test]
    fn identity_on_the_template_and_inverse_round_trip() {
        let m = estimate(&TEMPLATE, &TEMPLATE).unwrap();
        assert!(
            (m.a - 1.0).abs() < 1e-9 && m.b.abs() < 1e-9 && m.tx.abs() < 1e-6 && m.ty.abs() < 1e-6
        );
        let t = Similarity {
            a: 2.0,
            b: -1.0,
            tx: 3.0,
            ty: 4.0,
        };
        let p = t.inverse().unwrap().apply(t.apply([5.0, -6.0]));
        assert!((p[0] - 5.0).abs() < 1e-9 && (p[1] + 6.0).abs() < 1e-9);
    }

    #[test]
    fn least_squares_with_noise_and_no_reflection() {
        // mirrored points: the best similarity without reflection cannot map them exactly
        let src = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let dst = [[0.0, 0.0], [-10.0, 0.0], [0.0, 10.0]];
        let m = estimate(&src, &dst).unwrap();
        assert!(m.scale() < 1.0);
    }

    #[test]
    fn degenerate_input_is_rejected() {
        let same = [[3.0, 3.0]; 5];
        assert!(estimate(&same, &TEMPLATE).is_none());
        assert!(estimate(&[[f32::NAN, 0.0]; 5], &TEMPLATE).is_none());
        assert!(estimate(&[], &[]).is_none());
        assert!(
            Similarity {
                a: 0.0,
                b: 0.0,
                tx: 1.0,
                ty: 1.0
            }
            .inverse()
            .is_none()
        );
    }

    #[test]
    fn warp_translates_and_zero_fills() {
        let img = RgbImage::from_fn(8, 8, |x, y| image::Rgb([(x * 10) as u8, (y * 10) as u8, 7]));
        // u = x - 2, v = y - 1: output (0,0) samples source (2,1)
        let m = Similarity {
            a: 1.0,
            b: 0.0,
            tx: -2.0,
            ty: -1.0,
        };
        let out = warp(&img, &m, 8).unwrap();
        assert_eq!(&out[0..3], &[20, 10, 7]);
        // output (7,7) samples (9,8): outside -> zero
        assert_eq!(&out[(7 * 8 + 7) * 3..(7 * 8 + 7) * 3 + 3], &[0, 0, 0]);
        // half-pixel shift blends two pixels
        let m = Similarity {
            a: 1.0,
            b: 0.0,
            tx: -0.5,
            ty: 0.0,
        };
        let out = warp(&img, &m, 8).unwrap();
        assert_eq!(out[0], 5);
    }
}
