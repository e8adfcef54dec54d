//! optout-matcher: pure, in-memory exclusion matching (no I/O).
//!
//! - [`url`]: validate and normalise source links (intake and matching).
//! - [`sha`]: exact SHA-256 digest index.
//! - [`pdq`]: exact PDQ Hamming-radius index (multi-index hashing).
//! - [`face`]: face-embedding threshold index (cross-polytope LSH + sketch screening).
//! - [`thresholds`]: the face and PDQ match thresholds, defined once for the workspace.
//! - [`exclusion`]: [`ExclusionIndex`], the four behind one id space, with batch checks.
//! - [`wire`]: the JSON of the indexer API, shared by server and client.
//! - [`state`]: the compact binary state file (a client's mirror, the server's snapshot).
//! - [`synth`]: synthetic workloads for tests and the bench.

mod buckets;
mod cpu;
pub mod exclusion;
pub mod face;
pub mod hex;
mod ids;
mod multimap;
pub mod pdq;
mod prefetch;
pub mod rng;
pub mod sha;
pub mod state;
pub mod synth;
pub mod thresholds;
pub mod url;
pub mod url_index;
pub mod wire;

pub use cpu::level_name as simd_level;
pub use exclusion::{
    Candidate, CandidateError, Entry, EntryValue, ExclusionConfig, ExclusionIndex, Kind, Match,
    Score,
};
pub use face::{
    EmbeddingError, FaceConfig, FaceDeriver, FaceEmbedding, FaceHit, FaceIndex, FaceParams,
    FaceRecord, RecordMismatch, Similarity,
};
pub use hex::HexError;
pub use pdq::{PdqHash, PdqHit, PdqIndex};
pub use sha::{Sha256, Sha256Index};
pub use thresholds::{FACE_MATCH_THRESHOLD, PDQ_MATCH_DISTANCE};
pub use url::{NormalizedUrl, UrlError, normalize_url};
pub use url_index::UrlIndex;
