//! Runtime CPU feature dispatch for the hot loops (popcount, AVX2/FMA).
//!
//! The crate is built for the baseline x86-64 target, where `count_ones` is a bit-twiddling
//! sequence and float loops use SSE2. `fast` runs a closure inside a function compiled with
//! `popcnt` (and AVX2/FMA/F16C when present) so that the closure's inlined body uses them.

use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Level {
    Base,
    #[cfg(target_arch = "x86_64")]
    Popcnt,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(detect)
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    if std::env::var_os("OPTOUT_MATCHER_NO_SIMD").is_some() {
        return Level::Base;
    }
    if is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("popcnt")
    {
        Level::Avx2
    } else if is_x86_feature_detected!("popcnt") {
        Level::Popcnt
    } else {
        Level::Base
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Base
}

/// Whether AVX2 and FMA are in use.
pub(crate) fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        level() == Level::Avx2
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether AVX2, FMA and F16C (half-precision conversion) are in use.
pub(crate) fn has_f16c() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static F16C: OnceLock<bool> = OnceLock::new();
        *F16C.get_or_init(|| level() == Level::Avx2 && is_x86_feature_detected!("f16c"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Name of the instruction set level in use (for bench output).
pub fn level_name() -> &'static str {
    match level() {
        Level::Base => "baseline",
        #[cfg(target_arch = "x86_64")]
        Level::Popcnt => "popcnt",
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => "avx2+fma+popcnt",
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn run_popcnt<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,popcnt")]
fn run_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` compiled for the best instruction set level this CPU has.
#[inline]
pub(crate) fn fast<R>(f: impl FnOnce() -> R) -> R {
    match level() {
        Level::Base => f(),
        // SAFETY: `detect` confirmed the CPU supports popcnt.
        #[cfg(target_arch = "x86_64")]
        Level::Popcnt => unsafe { run_popcnt(f) },
        // SAFETY: `detect` confirmed the CPU supports avx2, fma and popcnt.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { run_avx2(f) },
    }
}
