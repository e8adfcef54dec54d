//! How close two faces or two images must be to be taken as the same: defined here once, for
//! the server (its configuration's defaults), the indexer's client and the operator binary.

use crate::face::Similarity;

/// Face embeddings at or above this cosine similarity are the same person: the value calibrated
/// on real photos for the bundled face models (see "Calibration of `FACE_MATCH_THRESHOLD`" in
/// `shared/face/README.md`).
pub const FACE_MATCH_THRESHOLD: Similarity = Similarity(0.5);

/// PDQ hashes within this Hamming distance (bits) are the same image (ThreatExchange's customary
/// value).
pub const PDQ_MATCH_DISTANCE: u32 = 31;
