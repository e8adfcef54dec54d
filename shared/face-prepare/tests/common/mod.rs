//! The models and test photos made by `scripts/setup-models` (the same as optout-face's tests use).
#![allow(dead_code)]

use std::path::PathBuf;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn model_dir() -> PathBuf {
    match std::env::var_os("OPTOUT_MODEL_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => root().join(".cache/models"),
    }
}

/// Bytes of a test photo; fails (never skips) when the photos have not been fetched.
pub fn photo(name: &str) -> Vec<u8> {
    let path = root().join(".cache/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "test photo {} is missing ({e}): run scripts/setup-models first",
            path.display()
        )
    })
}
