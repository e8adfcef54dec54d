//! optout-face: the face pipeline of the opt-out desk.
//!
//! [`FaceEngine::analyze`] decodes a photo under explicit limits, applies its EXIF orientation,
//! detects faces (YuNet), picks the face, aligns it with its 5 landmarks, embeds it (SFace,
//! L2-normalised), and hashes the photo (SHA-256 of the bytes, PDQ of the pixels). Models are
//! prepared once by `scripts/setup-models` (the `optout-prepare-models` binary of the
//! `optout-face-prepare` crate, which holds everything that only runs at build time) and loaded by
//! [`FaceEngine::load`]. This crate only reads the prepared files: it has no ONNX parser.

pub mod align;
pub mod analyzer;
pub mod decode;
pub mod detect;
pub mod embed;
pub mod engine;
pub mod error;
pub mod head;
pub mod models;
pub mod nnef_text;
pub mod pdq;
pub mod quality;

pub use analyzer::FaceAnalyzer;
pub use engine::{EngineOptions, FaceBox, FaceEngine, FaceRecord, PhotoAnalysis, StageTimings};
pub use error::{AnalyzeError, ModelError};
pub use models::default_model_dir;
pub use quality::QualityVerdict;

/// The thresholds the pipeline's output is matched with, defined once in
/// `optout_matcher::thresholds`. [`FACE_MATCH_THRESHOLD`] is calibrated on real photos (see this
/// crate's README): the same person years apart measured 0.617 and 0.777, different people at
/// most 0.348 (two people of the insightface group photo; 64 different-person pairs). 0.50 leaves
/// 0.15 above the worst stranger pair and 0.12 below the weakest same-person pair; it is stricter
/// than OpenCV's SFace default (0.363), which that stranger pair nearly reaches.
pub use optout_matcher::{FACE_MATCH_THRESHOLD, PDQ_MATCH_DISTANCE};
