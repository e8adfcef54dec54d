//! `ExclusionIndex`: the four indexes behind one id space, checked by candidate kind.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::face::{
    EmbeddingError, FaceConfig, FaceEmbedding, FaceIndex, FaceRecord, RecordMismatch, Similarity,
};
use crate::hex::HexError;
use crate::pdq::{PdqHash, PdqIndex};
use crate::sha::{Sha256, Sha256Index};
use crate::url::{NormalizedUrl, UrlError, normalize_url};
use crate::url_index::UrlIndex;

/// What an exclusion entry (and a match) is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Url,
    Sha256,
    Pdq,
    Face,
}

/// The matching key of an exclusion entry. JSON: `{"url": ...}`, `{"sha256": hex}`,
/// `{"pdq": hex}` or `{"face": [128 floats]}`; values are validated when deserialised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryValue {
    Url(NormalizedUrl),
    Sha256(Sha256),
    Pdq(PdqHash),
    Face(FaceEmbedding),
}

impl EntryValue {
    pub fn kind(&self) -> Kind {
        match self {
            EntryValue::Url(_) => Kind::Url,
            EntryValue::Sha256(_) => Kind::Sha256,
            EntryValue::Pdq(_) => Kind::Pdq,
            EntryValue::Face(_) => Kind::Face,
        }
    }
}

/// An active exclusion entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u64,
    #[serde(flatten)]
    pub value: EntryValue,
}

impl Entry {
    pub fn new(id: u64, value: EntryValue) -> Self {
        Self { id, value }
    }

    pub fn kind(&self) -> Kind {
        self.value.kind()
    }
}

/// Something the indexer wants checked, as it arrives (validated by `check`).
/// JSON: `{"url": "..."}`, `{"sha256": hex}`, `{"pdq": hex}`, `{"face": [128 floats]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Candidate {
    Url(String),
    Sha256(String),
    Pdq(String),
    Face(Vec<f32>),
}

impl Candidate {
    pub fn kind(&self) -> Kind {
        match self {
            Candidate::Url(_) => Kind::Url,
            Candidate::Sha256(_) => Kind::Sha256,
            Candidate::Pdq(_) => Kind::Pdq,
            Candidate::Face(_) => Kind::Face,
        }
    }

    /// The typed value the candidate names, or why it names none: a URL is normalised, hashes
    /// are 64 hex digits (either case), a face is 128 finite numbers of unit length.
    pub fn parse(&self) -> Result<EntryValue, CandidateError> {
        Ok(match self {
            Candidate::Url(s) => EntryValue::Url(normalize_url(s)?),
            Candidate::Sha256(s) => {
                EntryValue::Sha256(Sha256::from_hex(s).map_err(CandidateError::Sha256)?)
            }
            Candidate::Pdq(s) => {
                EntryValue::Pdq(PdqHash::from_hex(s).map_err(CandidateError::Pdq)?)
            }
            Candidate::Face(v) => EntryValue::Face(FaceEmbedding::new(v)?),
        })
    }
}

/// The candidate a typed value makes (as a client sends it: hashes in lower-case hex).
impl From<Sha256> for Candidate {
    fn from(h: Sha256) -> Self {
        Candidate::Sha256(h.to_hex())
    }
}

impl From<PdqHash> for Candidate {
    fn from(h: PdqHash) -> Self {
        Candidate::Pdq(h.to_hex())
    }
}

impl From<&FaceEmbedding> for Candidate {
    fn from(e: &FaceEmbedding) -> Self {
        Candidate::Face(e.as_slice().to_vec())
    }
}

impl From<&NormalizedUrl> for Candidate {
    fn from(u: &NormalizedUrl) -> Self {
        Candidate::Url(u.as_str().to_owned())
    }
}

/// Why a candidate could not be checked.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CandidateError {
    #[error("url: {0}")]
    Url(#[from] UrlError),
    #[error("sha256: {0}")]
    Sha256(HexError),
    #[error("pdq: {0}")]
    Pdq(HexError),
    #[error("face: {0}")]
    Face(#[from] EmbeddingError),
}

/// How close a match is.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Score {
    /// Same normalised URL or same SHA-256.
    Exact,
    /// PDQ Hamming distance in bits.
    Hamming(u32),
    /// Face cosine similarity.
    Cosine(Similarity),
}

/// The active entry a candidate matched.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Match {
    pub entry_id: u64,
    pub kind: Kind,
    pub score: Score,
}

fn face_match(hit: crate::face::FaceHit) -> Match {
    Match {
        entry_id: hit.id,
        kind: Kind::Face,
        score: Score::Cosine(hit.similarity),
    }
}

/// Settings of an [`ExclusionIndex`].
#[derive(Clone, Debug, PartialEq)]
pub struct ExclusionConfig {
    pub pdq_radius: u32,
    pub face: FaceConfig,
}

impl Default for ExclusionConfig {
    fn default() -> Self {
        Self {
            pdq_radius: crate::PDQ_MATCH_DISTANCE,
            face: FaceConfig::default(),
        }
    }
}

/// All active exclusion entries, checked by URL, SHA-256, PDQ or face.
#[derive(Clone, Debug)]
pub struct ExclusionIndex {
    urls: UrlIndex,
    sha: Sha256Index,
    pdq: PdqIndex,
    face: FaceIndex,
    /// Above every id ever inserted: a bulk load of ascending ids then knows each one is new.
    next_id: u64,
}

impl Default for ExclusionIndex {
    fn default() -> Self {
        Self::new(ExclusionConfig::default())
    }
}

impl ExclusionIndex {
    pub fn new(cfg: ExclusionConfig) -> Self {
        Self {
            urls: UrlIndex::new(),
            sha: Sha256Index::new(),
            pdq: PdqIndex::new(cfg.pdq_radius),
            face: FaceIndex::new(cfg.face),
            next_id: 0,
        }
    }

    /// Adds an entry; an entry with the same id is replaced. Returns the replaced kind.
    pub fn insert(&mut self, entry: Entry) -> Option<Kind> {
        let previous = self.remove_kind(entry.id);
        let id = entry.id;
        self.next_id = self.next_id.max(id.saturating_add(1));
        match &entry.value {
            EntryValue::Url(u) => self.urls.insert(id, u),
            EntryValue::Sha256(d) => self.sha.insert(id, *d),
            EntryValue::Pdq(h) => self.pdq.insert(id, *h),
            EntryValue::Face(e) => self.face.insert(id, e),
        }
        previous
    }

    /// Makes room for more entries of each kind (`[url, sha256, pdq, face]`), so that a load of
    /// known size allocates each table once.
    pub fn reserve(&mut self, additional: [usize; 4]) {
        let [url, sha, pdq, face] = additional;
        self.urls.reserve(url);
        self.sha.reserve(sha);
        self.pdq.reserve(pdq);
        self.face.reserve(face);
    }

    /// Adds a face entry from its derived record (see [`FaceIndex::insert_record`]); an entry
    /// with the same id is replaced.
    pub fn insert_face_record(
        &mut self,
        id: u64,
        record: &FaceRecord,
    ) -> Result<Option<Kind>, RecordMismatch> {
        if record.keys.len() != self.face.params().tables {
            return Err(RecordMismatch {
                expected: self.face.params().tables,
                found: record.keys.len(),
            });
        }
        let previous = self.remove_kind(id);
        self.next_id = self.next_id.max(id.saturating_add(1));
        self.face.insert_record(id, record)?;
        Ok(previous)
    }

    /// Adds an entry of a bulk load: an id above every id inserted so far (a snapshot's come
    /// in ascending order) is stored without a lookup, and faces and PDQ hashes are filed in
    /// their buckets by [`finish_bulk`](Self::finish_bulk), all at once. An id that is not
    /// above is inserted the ordinary way. Until `finish_bulk` those faces and hashes do not
    /// match.
    pub fn bulk_insert(&mut self, entry: Entry) {
        if entry.id < self.next_id {
            self.insert(entry);
            return;
        }
        self.next_id = entry.id.saturating_add(1);
        match &entry.value {
            EntryValue::Url(u) => self.urls.insert(entry.id, u),
            EntryValue::Sha256(d) => self.sha.insert(entry.id, *d),
            EntryValue::Pdq(h) => self.pdq.push_unfiled(entry.id, *h),
            EntryValue::Face(e) => self.face.insert(entry.id, e),
        }
    }

    /// [`bulk_insert`](Self::bulk_insert) of a face from its derived record.
    pub fn bulk_face_record(&mut self, id: u64, record: &FaceRecord) -> Result<(), RecordMismatch> {
        if id < self.next_id {
            return self.insert_face_record(id, record).map(|_| ());
        }
        self.face.push_unfiled(id, record)?;
        self.next_id = id.saturating_add(1);
        Ok(())
    }

    /// Files what [`bulk_insert`](Self::bulk_insert) left pending: afterwards every entry matches.
    pub fn finish_bulk(&mut self) {
        self.face.file_pending();
        self.pdq.file_pending();
        self.urls.shrink_to_fit();
    }

    /// Withdraws entry `id`: it never matches again. Returns whether it was present.
    pub fn remove(&mut self, id: u64) -> bool {
        self.remove_kind(id).is_some()
    }

    /// Removes `id` from the index that holds it (an id is in at most one: the sub-indexes are
    /// asked in turn rather than keeping a map of kinds, 70 MB at 2.5M entries).
    fn remove_kind(&mut self, id: u64) -> Option<Kind> {
        if id >= self.next_id {
            return None;
        }
        if self.urls.remove(id) {
            Some(Kind::Url)
        } else if self.sha.remove(id) {
            Some(Kind::Sha256)
        } else if self.pdq.remove(id) {
            Some(Kind::Pdq)
        } else if self.face.remove(id) {
            Some(Kind::Face)
        } else {
            None
        }
    }

    pub fn len(&self) -> usize {
        self.urls.len() + self.sha.len() + self.pdq.len() + self.face.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind of entry `id`, if active.
    pub fn kind_of(&self, id: u64) -> Option<Kind> {
        if self.urls.contains_id(id) {
            Some(Kind::Url)
        } else if self.sha.contains_id(id) {
            Some(Kind::Sha256)
        } else if self.pdq.contains(id) {
            Some(Kind::Pdq)
        } else if self.face.contains(id) {
            Some(Kind::Face)
        } else {
            None
        }
    }

    /// Checks one candidate against the active entries of its kind.
    pub fn check(&self, candidate: &Candidate) -> Result<Option<Match>, CandidateError> {
        Ok(self.check_value(&candidate.parse()?))
    }

    /// Checks one (parsed) value against the active entries of its kind.
    pub fn check_value(&self, value: &EntryValue) -> Option<Match> {
        match value {
            EntryValue::Url(u) => self.urls.get(u).map(|id| Match {
                entry_id: id,
                kind: Kind::Url,
                score: Score::Exact,
            }),
            EntryValue::Sha256(d) => self.sha.get(d).map(|id| Match {
                entry_id: id,
                kind: Kind::Sha256,
                score: Score::Exact,
            }),
            EntryValue::Pdq(h) => self.pdq.nearest(h).map(|hit| Match {
                entry_id: hit.id,
                kind: Kind::Pdq,
                score: Score::Hamming(hit.distance),
            }),
            EntryValue::Face(e) => self.face.search(e).map(face_match),
        }
    }

    /// Checks many candidates; result `i` belongs to candidate `i`, and a malformed
    /// candidate yields an error in its own position only. Face candidates are searched
    /// together ([`FaceIndex::search_batch`]), with the same results as one by one.
    pub fn check_batch(
        &self,
        candidates: &[Candidate],
    ) -> Vec<Result<Option<Match>, CandidateError>> {
        let parsed: Vec<Result<EntryValue, CandidateError>> =
            candidates.iter().map(Candidate::parse).collect();
        let valid: Vec<EntryValue> = parsed
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .cloned()
            .collect();
        let mut matches = self.check_values(&valid).into_iter();
        parsed
            .into_iter()
            .map(|p| p.map(|_| matches.next().flatten()))
            .collect()
    }

    /// Checks many (parsed) values; result `i` belongs to value `i`. Faces are searched
    /// together ([`FaceIndex::search_batch`]), with the same results as one by one.
    pub fn check_values(&self, values: &[EntryValue]) -> Vec<Option<Match>> {
        let mut out = Vec::with_capacity(values.len());
        let mut face_pos = Vec::new();
        let mut faces = Vec::new();
        for (i, v) in values.iter().enumerate() {
            match v {
                EntryValue::Face(e) => {
                    face_pos.push(i);
                    faces.push(e.clone());
                    out.push(None);
                }
                other => out.push(self.check_value(other)),
            }
        }
        if !faces.is_empty() {
            let hits = self.face.search_batch(&faces);
            for (pos, hit) in face_pos.into_iter().zip(hits) {
                if let Some(slot) = out.get_mut(pos) {
                    *slot = hit.map(face_match);
                }
            }
        }
        out
    }

    pub fn urls(&self) -> &UrlIndex {
        &self.urls
    }

    pub fn sha256(&self) -> &Sha256Index {
        &self.sha
    }

    pub fn pdq(&self) -> &PdqIndex {
        &self.pdq
    }

    pub fn faces(&self) -> &FaceIndex {
        &self.face
    }

    /// Approximate heap bytes of all indexes.
    pub fn heap_bytes(&self) -> usize {
        self.urls.heap_bytes()
            + self.sha.heap_bytes()
            + self.pdq.heap_bytes()
            + self.face.heap_bytes()
    }
}
