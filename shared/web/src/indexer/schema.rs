//! The OpenAPI schemas of the indexer API. The JSON itself is `optout_matcher::wire` (shared with
//! the client library); these types only describe it, and the end-to-end tests check every
//! response the server sends against them.

#![allow(dead_code)] // descriptions only: never built

use utoipa::ToSchema;

/// `POST /v1/exclusions/check` request body.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// 1 to 1000 candidates; each is checked against the active entries of its kind.
    #[schema(min_items = 1, max_items = 1000)]
    pub candidates: Vec<Candidate>,
}

/// Something the indexer wants checked: a link, a SHA-256 of the image bytes, a PDQ hash or a
/// face embedding (exactly one key).
#[derive(ToSchema)]
#[serde(untagged)]
pub enum Candidate {
    Url(UrlCandidate),
    Sha256(Sha256Candidate),
    Pdq(PdqCandidate),
    Face(FaceCandidate),
}

/// A link to an image (http or https); normalised before matching (scheme and host case,
/// default port, percent-encoding, trailing slash, fragment and tracking parameters).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UrlCandidate {
    #[schema(max_length = 2048)]
    pub url: String,
}

/// SHA-256 of an image's bytes.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sha256Candidate {
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: String,
}

/// PDQ perceptual hash of an image; matches within the configured Hamming radius (31 bits by
/// default).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PdqCandidate {
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub pdq: String,
}

/// An L2-normalised SFace embedding (128 finite numbers, unit length within 0.001); matches at
/// cosine similarity at or above the calibrated threshold (0.50).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FaceCandidate {
    #[schema(min_items = 128, max_items = 128)]
    pub face: Vec<f32>,
}

/// `POST /v1/exclusions/check` response body.
#[derive(ToSchema)]
pub struct CheckResponse {
    /// The change position of the exclusion data the answer was computed from.
    pub position: u64,
    /// One per candidate, in order.
    pub results: Vec<CheckResult>,
}

/// The verdict on one candidate.
#[derive(ToSchema)]
pub struct CheckResult {
    pub excluded: bool,
    /// The kind of entry that matched (absent when not excluded).
    pub kind: Option<EntryKind>,
    /// The id of the entry that matched.
    pub entry_id: Option<u64>,
    /// PDQ: Hamming distance in bits.
    pub distance: Option<u32>,
    /// Face: cosine similarity.
    pub similarity: Option<f32>,
}

/// What an entry matches.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Url,
    Sha256,
    Pdq,
    Face,
}

/// Active entries match; withdrawn ones never match again.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    Active,
    Withdrawn,
}

/// An entry's matching value: the normalised link or the hex hash (a string), or the embedding
/// (128 numbers), as `kind` says.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum EntryValue {
    Text(String),
    Vector(Vec<f32>),
}

/// One entry of the exclusion table (nothing about the request behind it).
#[derive(ToSchema)]
pub struct ExclusionEntry {
    pub id: u64,
    /// Its place in the change feed (a withdrawal moves the entry to a new, higher position).
    pub position: u64,
    pub state: EntryState,
    pub kind: EntryKind,
    pub value: EntryValue,
}

/// `GET /v1/exclusions/changes` response body.
#[derive(ToSchema)]
pub struct ChangesResponse {
    /// Entries with a position greater than `after`, by position, each in its current state.
    pub changes: Vec<ExclusionEntry>,
    /// Pass as `after` for the next page (the last position returned, or `after` when none).
    pub next_after: u64,
    /// The newest position when the page was read: caught up when `next_after == head`.
    pub head: u64,
}

/// `GET /v1/exclusions/snapshot` body: every active entry.
#[derive(ToSchema)]
pub struct Snapshot {
    /// Replay the change feed from here (`after = position`) to stay current.
    pub position: u64,
    pub entries: Vec<ExclusionEntry>,
}

/// The body of every indexer-API error.
#[derive(ToSchema)]
pub struct IndexerError {
    pub error: IndexerErrorBody,
}

#[derive(ToSchema)]
pub struct IndexerErrorBody {
    /// A stable code: `unauthorized`, `rate_limited`, `malformed_request`, `invalid_candidate`,
    /// `too_many_candidates`, `invalid_query`, `beyond_head`, `unsupported_media_type`, `payload_too_large`,
    /// `unavailable`.
    pub code: String,
    pub message: String,
    /// For `invalid_candidate`: the index of the bad item in `candidates`.
    pub index: Option<u64>,
}
