//! The JSON of the indexer API (`/v1/exclusions/...`), shared by the server (optout-web) and the
//! client (optout-client) so the two cannot drift apart. No personal data appears in any of it:
//! entries carry only their id, position, kind, state and matching value.

use serde::{Deserialize, Serialize};

use crate::exclusion::{Candidate, EntryValue, Kind, Match, Score};
use crate::face::Similarity;

/// The most candidates one check request may carry.
pub const MAX_BATCH: usize = 1000;
/// The default and the largest `limit` of a change-feed page.
pub const DEFAULT_CHANGES_LIMIT: usize = 1000;
pub const MAX_CHANGES_LIMIT: usize = 10_000;

/// `POST /v1/exclusions/check` request body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckRequest {
    /// 1 to [`MAX_BATCH`] candidates, each `{"url": "..."}`, `{"sha256": "<64 hex>"}`,
    /// `{"pdq": "<64 hex>"}` or `{"face": [128 numbers]}`.
    pub candidates: Vec<Candidate>,
}

/// `POST /v1/exclusions/check` response body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResponse {
    /// The change position of the exclusion data the answer was computed from.
    pub position: u64,
    /// One per candidate, in order.
    pub results: Vec<CheckResult>,
}

/// The verdict on one candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub excluded: bool,
    /// The kind of rule that matched (absent when not excluded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<u64>,
    /// PDQ: Hamming distance in bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<u32>,
    /// Face: cosine similarity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<Similarity>,
}

impl CheckResult {
    pub fn not_excluded() -> Self {
        Self {
            excluded: false,
            kind: None,
            entry_id: None,
            distance: None,
            similarity: None,
        }
    }
}

impl From<Option<Match>> for CheckResult {
    fn from(m: Option<Match>) -> Self {
        match m {
            None => Self::not_excluded(),
            Some(m) => {
                let (distance, similarity) = match m.score {
                    Score::Exact => (None, None),
                    Score::Hamming(d) => (Some(d), None),
                    Score::Cosine(c) => (None, Some(c)),
                };
                Self {
                    excluded: true,
                    kind: Some(m.kind),
                    entry_id: Some(m.entry_id),
                    distance,
                    similarity,
                }
            }
        }
    }
}

/// Active or withdrawn (a withdrawn entry never matches again).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireState {
    Active,
    Withdrawn,
}

/// One entry as the feed and the snapshot carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireEntry {
    pub id: u64,
    /// Its place in the change feed (a withdrawal moves the entry to a new, higher position).
    pub position: u64,
    pub state: WireState,
    pub kind: Kind,
    /// The matching value: the normalised URL, the hex SHA-256 or PDQ hash, or the embedding.
    pub value: WireValue,
}

/// An entry's matching value (untagged: `kind` says which).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WireValue {
    Text(String),
    Vector(Vec<f32>),
}

/// The wire form of a typed value: a normalised URL, hashes in lower-case hex, a face's numbers.
impl From<&EntryValue> for WireValue {
    fn from(v: &EntryValue) -> Self {
        match v {
            EntryValue::Url(u) => WireValue::Text(u.as_str().to_owned()),
            EntryValue::Sha256(h) => WireValue::Text(h.to_hex()),
            EntryValue::Pdq(h) => WireValue::Text(h.to_hex()),
            EntryValue::Face(e) => WireValue::Vector(e.as_slice().to_vec()),
        }
    }
}

impl WireEntry {
    /// An active entry with a typed value.
    pub fn active(id: u64, position: u64, value: &EntryValue) -> Self {
        WireEntry {
            id,
            position,
            state: WireState::Active,
            kind: value.kind(),
            value: value.into(),
        }
    }

    /// The entry as a check candidate (how a local mirror indexes it).
    pub fn candidate(&self) -> Candidate {
        match (&self.kind, &self.value) {
            (Kind::Url, WireValue::Text(t)) => Candidate::Url(t.clone()),
            (Kind::Sha256, WireValue::Text(t)) => Candidate::Sha256(t.clone()),
            (Kind::Pdq, WireValue::Text(t)) => Candidate::Pdq(t.clone()),
            (Kind::Face, WireValue::Vector(v)) => Candidate::Face(v.clone()),
            // A value of the wrong shape for its kind: let validation of the candidate refuse it.
            (Kind::Face, WireValue::Text(t)) => Candidate::Url(t.clone()),
            (_, WireValue::Vector(v)) => Candidate::Face(v.clone()),
        }
    }
}

/// `GET /v1/exclusions/changes?after=P&limit=N` response body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangesResponse {
    /// Entries with a position greater than `after`, by position, each in its current state.
    pub changes: Vec<WireEntry>,
    /// Pass as `after` to get the next page (the last position returned, or `after` when none).
    pub next_after: u64,
    /// The highest position at the time of the request: caught up when `next_after == head`.
    pub head: u64,
}

/// `GET /v1/exclusions/snapshot` body (inline in the embedded mode; the presigned S3 object in AWS).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Replay the change feed from here (`after = position`) to stay current.
    pub position: u64,
    /// Every active entry.
    pub entries: Vec<WireEntry>,
}

/// The body of every indexer-API error (the same envelope as the rest of `/v1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireError {
    pub error: WireErrorBody,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireErrorBody {
    /// A stable code: `unauthorized`, `rate_limited`, `malformed_request`, `invalid_candidate`,
    /// `too_many_candidates`, `invalid_query`, `beyond_head`, `unavailable`.
    pub code: String,
    pub message: String,
    /// For `invalid_candidate`: the index of the bad item in `candidates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}
