//! Uploaded bytes: `optout_core::photo::inspect` (type sniffing, header dimensions, the JPEG
//! marker walk) under the crate's default limits, then, for pictures small enough to keep the
//! fuzzer fast, `photo::verify_inspected` (every pixel decoded) and the reduced decoders of
//! `optout_core::pixels` (`decode_grid`, as the face pipeline calls them). Invariants:
//!
//! - nothing panics (nor overflows: cargo fuzz builds with overflow checks);
//! - what `inspect` accepts is of the sniffed type, within the limits, and the declared type
//!   (when it names another accepted type) is refused as a mismatch;
//! - what verification accepts has the inspected size and a SHA-256;
//! - a decoded grid has the size asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optout_core::error::FieldCode;
use optout_core::photo::{self, PhotoLimits, PhotoType};
use optout_core::pixels::{self, Rect};

/// The largest picture decoded here, in pixels (the limits allow 50 million; decoding those
/// takes seconds). A 1920×64 picture already takes the reducing decoders' path.
const DECODE_BUDGET: u64 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let limits = PhotoLimits::default();
    let seen = photo::inspect(data, None, &limits);

    let Ok(seen) = seen else {
        return;
    };
    assert_eq!(PhotoType::sniff(data), Some(seen.kind));
    assert_eq!(seen.bytes, data.len() as u64);
    assert!(seen.width >= limits.min_side && seen.height >= limits.min_side);
    assert!(seen.width <= limits.max_side && seen.height <= limits.max_side);
    assert!(u64::from(seen.width) * u64::from(seen.height) <= limits.max_pixels);
    let _ = seen.verify_cost();

    // The declared type: the right one changes nothing, another accepted one is a mismatch.
    assert_eq!(
        photo::inspect(data, Some(seen.kind.mime()), &limits),
        Ok(seen)
    );
    for other in [PhotoType::Jpeg, PhotoType::Png, PhotoType::Webp] {
        if other != seen.kind {
            let e = photo::inspect(data, Some(other.mime()), &limits).unwrap_err();
            assert_eq!(e.0, FieldCode::TypeMismatch);
        }
    }

    if u64::from(seen.width) * u64::from(seen.height) > DECODE_BUDGET {
        return;
    }
    if let Ok(v) = photo::verify_inspected(data, &seen, &limits) {
        assert_eq!(
            (v.kind, v.width, v.height),
            (seen.kind, seen.width, seen.height)
        );
        assert_eq!(v.bytes, data.len() as u64);
        assert_eq!(v.sha256, optout_matcher::Sha256::of(data));
    }

    // The face pipeline's decodes (it reads verified photos; damaged ones must fail cleanly too).
    let max_alloc = limits.image_limits().max_alloc.unwrap_or(u64::MAX);
    let size = (seen.width, seen.height);
    let f = pixels::supported_factor(seen.kind, 8);
    let (gw, gh) = pixels::grid_size(seen.width, seen.height, f);
    if let Ok(img) = pixels::decode_grid(data, seen.kind, size, f, None, max_alloc) {
        assert_eq!(img.dimensions(), (gw, gh));
    }
    let corner = Rect {
        x0: gw - 1,
        y0: gh / 2,
        x1: gw,
        y1: gh,
    };
    if let Ok(img) =
        pixels::decode_grid(data, seen.kind, size, 1.max(f / 2), Some(corner), max_alloc)
    {
        assert_eq!(img.dimensions(), (corner.width(), corner.height()));
    }
    let _ = pixels::check(data, seen.kind, size, max_alloc);
});
