//! Error types of the face pipeline.

use std::path::PathBuf;

/// What the operator must run to (re)create the model files.
pub const SETUP_HINT: &str = "run `scripts/setup-models` (it fetches and prepares the face models)";

/// Loading the prepared models failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A model file is not there.
    #[error("face model file {path} is missing; {hint}", hint = SETUP_HINT)]
    Missing { path: PathBuf },
    /// A model file is there but tract cannot load it, or it has the wrong size or shape.
    #[error("face model file {path} is unusable ({reason}); {hint}", hint = SETUP_HINT)]
    Corrupt { path: PathBuf, reason: String },
}

/// Analysing one photo failed (the photo itself is unusable, or inference failed).
#[derive(Debug, thiserror::Error)]
pub enum AnalyzeError {
    /// The bytes are empty.
    #[error("the file is empty")]
    Empty,
    /// The bytes are not an image type we accept (JPEG, PNG, WebP).
    #[error("the file is not a JPEG, PNG or WebP image")]
    UnsupportedFormat,
    /// The image is larger than the limits allow.
    #[error(
        "the image is too large ({width}x{height}; at most {max_side} pixels a side and {max_pixels} pixels)"
    )]
    TooLarge {
        width: u32,
        height: u32,
        max_side: u32,
        max_pixels: u64,
    },
    /// The image is too small to hold a face.
    #[error("the image is too small ({width}x{height})")]
    TooSmall { width: u32, height: u32 },
    /// The image data is corrupt or truncated.
    #[error("the image could not be decoded: {0}")]
    Decode(String),
    /// The neural network failed (should not happen with valid models).
    #[error("face model inference failed: {0}")]
    Inference(String),
}
