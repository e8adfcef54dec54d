//! What the fuzz targets and the seed writer (`examples/seeds.rs`) share: the fixed signing keys
//! and clock of the `admin_tokens` target, and the checks of a stored link.

use chrono::{DateTime, Utc};

/// `k1` signs; `k0` still verifies (as after a rotation). Secrets: 32 bytes of 0x11 and of 0x22.
pub const SPEC_K1: &str = "k1:ERERERERERERERERERERERERERERERERERERERERERE";
pub const SPEC_K0: &str = "k0:IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI";

/// The fixed "now" of token checks, 2025-01-01T00:00:00Z.
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_735_689_600, 0).expect("a valid instant")
}

/// A link as the stores keep it and the indexer matches it: at most `max` bytes, http(s), no
/// fragment.
pub fn assert_stored_link(t: &str, max: usize) {
    assert!(t.len() <= max, "{} bytes: {t:?}", t.len());
    let http = t.starts_with("http://") || t.starts_with("https://");
    assert!(http && !t.contains('#'), "{t:?}");
}
