//! IEEE 754 half precision, through the `half` crate: round to nearest, ties to even, with the
//! F16C (x86-64) or FP16 (AArch64) instructions when the CPU has them.
//!
//! Stored embeddings are kept as f16: for unit vectors the dot product with an f32 query is
//! then within 2^-11 (< 0.0005) of the f32 dot product (each component's relative rounding
//! error is at most 2^-11 and the sum of |q_i x_i| is at most 1).
//!
//! Snapshots hold these bits (`state`), so they must never change: the tests check every
//! conversion against round-to-nearest-even. Embeddings are finite, so no NaN is ever stored.

use half::f16;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};

use super::DIM;

/// The f16 bits of each component.
pub fn from_f32s(v: &[f32; DIM]) -> [u16; DIM] {
    let mut h = [0u16; DIM];
    h.reinterpret_cast_mut::<f16>().convert_from_f32_slice(v);
    h
}

/// The value of each f16 component (exact: every f16 is an f32).
#[inline(always)]
pub fn to_f32s(h: &[u16; DIM]) -> [f32; DIM] {
    let mut v = [0f32; DIM];
    h.reinterpret_cast::<f16>().convert_to_f32_slice(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact value of the finite f16 with bits `h` (sign ignored), computed from the
    /// definition of the format rather than by any conversion under test.
    fn value(h: u16) -> f64 {
        let (exp, man) = (i32::from((h >> 10) & 0x1f), f64::from(h & 0x3ff));
        if exp == 0 {
            man * 2f64.powi(-24)
        } else {
            (1024.0 + man) * 2f64.powi(exp - 25)
        }
    }

    /// IEEE 754 round to nearest, ties to even, by search over the finite f16 values (bit
    /// order is value order for non-negative f16). Past the largest finite value, the next
    /// step up would be 2^16 (the bits of infinity), so from 65520 on the result is infinity.
    fn nearest_even(x: f32) -> u16 {
        let sign = if x.is_sign_negative() { 0x8000 } else { 0 };
        let a = f64::from(x.abs());
        if a >= 65536.0 {
            return sign | 0x7c00;
        }
        let step = |h: u16| if h == 0x7c00 { 65536.0 } else { value(h) };
        // The largest f16 not above `a` (0 when `a` is below the smallest subnormal).
        let (mut lo, mut hi) = (0u16, 0x7c00u16);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if step(mid) <= a { lo = mid } else { hi = mid }
        }
        let (below, above) = (a - step(lo), step(hi) - a);
        let h = if below < above || (below == above && lo % 2 == 0) {
            lo
        } else {
            hi
        };
        sign | h
    }

    fn is_nan(h: u16) -> bool {
        h & 0x7c00 == 0x7c00 && h & 0x3ff != 0
    }

    /// The f32s to convert: a stride through every bit pattern, and around every f16 the
    /// midpoints to both neighbours and one f32 ulp either side of them (exactly where
    /// rounding decides), plus the infinities, NaNs and the smallest subnormals.
    fn inputs() -> Vec<f32> {
        let mut xs: Vec<f32> = (0..=u32::MAX).step_by(4093).map(f32::from_bits).collect();
        for h in 0..0x7c00u16 {
            let v = value(h);
            for mid in [v - (v - step_below(h)) / 2.0, v + (value(h + 1) - v) / 2.0] {
                let m = mid as f32;
                assert_eq!(f64::from(m), mid, "midpoints are f32 values");
                for x in [m.next_down(), m, m.next_up(), v as f32] {
                    xs.extend([x, -x]);
                }
            }
        }
        xs.extend([
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            f32::from_bits(0x7f80_0001),
            f32::from_bits(0xffc0_1234),
            f32::MIN_POSITIVE,
            f32::from_bits(1),
            -f32::from_bits(1),
            65504.0,
            65519.996,
            65520.0,
            f32::MAX,
        ]);
        xs
    }

    fn step_below(h: u16) -> f64 {
        if h == 0 { 0.0 } else { value(h - 1) }
    }

    #[test]
    fn encoding_rounds_to_nearest_even_on_every_path() {
        let xs = inputs();
        // The slice conversion (SIMD when the CPU has it) in blocks of DIM.
        let mut sliced = vec![f16::ZERO; xs.len()];
        sliced.convert_from_f32_slice(&xs);
        for (i, &x) in xs.iter().enumerate() {
            // The instruction path when the CPU has one, and the software one.
            let got = [
                sliced[i].to_bits(),
                f16::from_f32(x).to_bits(),
                f16::from_f32_const(x).to_bits(),
            ];
            if x.is_nan() {
                let sign = if x.is_sign_negative() { 0x8000 } else { 0 };
                assert!(
                    got.iter().all(|&h| is_nan(h) && h & 0x8000 == sign),
                    "{x:?}: {got:x?}"
                );
            } else {
                let want = nearest_even(x);
                assert!(
                    got.iter().all(|&h| h == want),
                    "{x:e} ({:#010x}): {got:#06x?}, want {want:#06x}",
                    x.to_bits()
                );
            }
        }
    }

    #[test]
    fn decoding_is_exact_for_every_f16() {
        let all: Vec<u16> = (0..=u16::MAX).collect();
        let mut sliced = vec![0f32; all.len()];
        all.reinterpret_cast::<f16>()
            .convert_to_f32_slice(&mut sliced);
        for h in all {
            let got = [
                sliced[usize::from(h)],
                f16::from_bits(h).to_f32(),
                f16::from_bits(h).to_f32_const(),
            ];
            let negative = h & 0x8000 != 0;
            for y in got {
                assert_eq!(y.is_sign_negative(), negative, "{h:#06x}");
                if is_nan(h) {
                    assert!(y.is_nan(), "{h:#06x}");
                } else if h & 0x7fff == 0x7c00 {
                    assert!(y.is_infinite(), "{h:#06x}");
                } else {
                    assert_eq!(f64::from(y.abs()), value(h), "{h:#06x}");
                }
            }
        }
    }

    #[test]
    fn known_values_and_arrays() {
        let mut v = [0f32; DIM];
        v[..8].copy_from_slice(&[1.0, -2.0, 0.0, 65504.0, 1e6, 5.960_464_5e-8, -0.0, 0.1]);
        let h = from_f32s(&v);
        assert_eq!(
            h[..8],
            [0x3c00, 0xc000, 0, 0x7bff, 0x7c00, 0x0001, 0x8000, 0x2e66]
        );
        let back = to_f32s(&h);
        assert_eq!(back[5], 5.960_464_5e-8);
        assert_eq!(to_f32s(&[0x3555; DIM])[DIM - 1], 0.333_251_95);
        for (x, y) in v.iter().zip(back) {
            if x.abs() <= 65504.0 {
                assert!((x - y).abs() <= x.abs() / 2048.0, "{x} -> {y}");
            }
        }
    }
}
