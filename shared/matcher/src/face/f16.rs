//! IEEE 754 half precision conversion (round to nearest, ties to even).
//!
//! Stored embeddings are kept as f16: for unit vectors the dot product with an f32 query is
//! then within 2^-11 (< 0.0005) of the f32 dot product (each component's relative rounding
//! error is at most 2^-11 and the sum of |q_i x_i| is at most 1).

pub fn from_f32(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rem = m & ((1u32 << shift) - 1);
        let mut k = m >> shift;
        if rem > half || (rem == half && k & 1 == 1) {
            k += 1;
        }
        return sign | k as u16;
    }
    let mut h = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    if rem > 0x1000 || (rem == 0x1000 && h & 1 == 1) {
        h += 1;
    }
    sign | h as u16
}

/// `to_f32` through a 256 KiB table built on first use.
#[inline(always)]
pub fn to_f32_fast(h: u16) -> f32 {
    static TABLE: std::sync::OnceLock<Box<[f32]>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| (0..=u16::MAX).map(to_f32).collect());
    t.get(usize::from(h)).copied().unwrap_or(f32::NAN)
}

pub fn to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    if exp == 0 {
        let v = man as f32 * (1.0 / 16_777_216.0);
        return if sign != 0 { -v } else { v };
    }
    if exp == 0x1f {
        return f32::from_bits(sign | 0x7f80_0000 | (man << 13));
    }
    f32::from_bits(sign | ((exp + 112) << 23) | (man << 13))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(from_f32(1.0), 0x3c00);
        assert_eq!(from_f32(-2.0), 0xc000);
        assert_eq!(from_f32(0.0), 0);
        assert_eq!(from_f32(65504.0), 0x7bff);
        assert_eq!(from_f32(1e6), 0x7c00);
        assert_eq!(from_f32(5.960_464_5e-8), 0x0001);
        assert_eq!(to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(to_f32(0x3555), 0.333_251_95);
    }

    #[test]
    fn round_trip_error_is_bounded() {
        let mut rng = crate::rng::SplitMix64::new(7);
        for _ in 0..100_000 {
            let x = (rng.gaussian() * 0.1) as f32;
            let y = to_f32(from_f32(x));
            let tol = (x.abs() * (1.0 / 2048.0)).max(3e-8);
            assert!((x - y).abs() <= tol, "{x} -> {y}");
        }
        for h in 0..=0x7bffu16 {
            assert_eq!(from_f32(to_f32(h)), h);
            assert_eq!(to_f32_fast(h).to_bits(), to_f32(h).to_bits());
        }
    }
}
