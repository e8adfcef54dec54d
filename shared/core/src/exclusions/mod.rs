//! The exclusion table as the search engine's indexer uses it: batch checks against an in-memory
//! index kept in step with the store's change feed, the feed itself and snapshots.
//!
//! [`ExclusionService`] holds an [`ExclusionIndex`] and the change position it reflects. Before
//! every check it applies the store's changes after that position, so an entry withdrawn before
//! the check began never matches, and an approval or a withdrawal shows in the very next check.
//! Checks share the index (a read lock) and run on the blocking pool; applying changes takes the
//! write lock for the time of one page.
//!
//! The first check loads the index. With a [`MatcherSnapshots`] port (AWS) it loads the stored
//! snapshot (one sequential read of a compact binary state whose faces carry what the index
//! derives, see [`optout_matcher::state`]) and catches up from the feed after its position; a
//! missing, damaged or foreign snapshot is logged and the service reads the whole table instead,
//! as it does without the port. The snapshot is kept current by [`snapshot::refresh`] (the
//! housekeeper, every few minutes).

mod convert;
pub mod snapshot;

pub use convert::{entry_value, wire_entry};

use optout_matcher::state::{StateError, StateReader, load_index};
use optout_matcher::wire::{
    ChangesResponse, CheckResponse, CheckResult, MAX_BATCH, MAX_CHANGES_LIMIT, Snapshot,
};
use optout_matcher::{
    Candidate, Entry, ExclusionConfig, ExclusionIndex, FACE_MATCH_THRESHOLD, FaceConfig,
    FaceDeriver, PDQ_MATCH_DISTANCE, Similarity,
};
use std::sync::{Arc, RwLock};

use crate::ports::StoreError;
use crate::ports::{
    EntryState, ExclusionEntry, ExclusionStore, IndexerKeyStore, MatcherSnapshots,
    SnapshotPublisher, SnapshotStream,
};

/// The largest accepted PDQ radius (random hashes are 128 bits apart on average).
pub const MAX_PDQ_RADIUS: u32 = 64;
/// Changes read from the store per page while catching up.
const SYNC_PAGE: usize = 5000;

/// How close a candidate must be to an entry to match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatchSettings {
    pub pdq_radius: u32,
    pub face_threshold: Similarity,
}

/// The thresholds of `optout_matcher::thresholds` (the calibrated face threshold, the customary
/// PDQ distance).
impl Default for MatchSettings {
    fn default() -> Self {
        MatchSettings {
            pdq_radius: PDQ_MATCH_DISTANCE,
            face_threshold: FACE_MATCH_THRESHOLD,
        }
    }
}

/// Why [`MatchSettings`] cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatchSettingsError {
    #[error("the PDQ radius must be between 0 and {MAX_PDQ_RADIUS} bits")]
    PdqRadius,
    #[error("the face threshold must be a cosine similarity above 0 and at most 1")]
    FaceThreshold,
}

impl MatchSettings {
    pub fn validate(&self) -> Result<(), MatchSettingsError> {
        if self.pdq_radius > MAX_PDQ_RADIUS {
            return Err(MatchSettingsError::PdqRadius);
        }
        if !(self.face_threshold > Similarity(0.0) && self.face_threshold <= Similarity(1.0)) {
            return Err(MatchSettingsError::FaceThreshold);
        }
        Ok(())
    }

    /// The derivation of face records every index of these settings uses (the snapshot's).
    pub fn face_deriver(&self) -> FaceDeriver {
        let f = self.index_config().face;
        FaceDeriver::new(f.tables, f.seed)
    }

    fn index_config(&self) -> ExclusionConfig {
        ExclusionConfig {
            pdq_radius: self.pdq_radius,
            face: FaceConfig {
                threshold: self.face_threshold,
                ..FaceConfig::default()
            },
        }
    }
}

/// Why a check was not answered.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("no candidates")]
    Empty,
    #[error("{count} candidates; at most {MAX_BATCH} per request")]
    TooMany { count: usize },
    /// Candidate `index` cannot be checked (bad hex, wrong embedding length, bad URL ...).
    #[error("candidate {index}: {message}")]
    InvalidCandidate { index: usize, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a page of the change feed was not answered.
#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    /// `after` names a position the table never reached (a client of another deployment, or a
    /// table that was reset).
    #[error("position {after} is beyond the newest position {head}")]
    BeyondHead { after: u64, head: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the indexer API runs on: the service, where keys are looked up and (in AWS) where
/// snapshots are published.
#[derive(Clone)]
pub struct IndexerPorts {
    pub exclusions: Arc<ExclusionService>,
    pub keys: Arc<dyn IndexerKeyStore>,
    pub snapshots: Option<Arc<dyn SnapshotPublisher>>,
}

/// The in-memory index and the change position it reflects.
struct Mirror {
    index: ExclusionIndex,
    position: u64,
    /// Whether the active set was loaded once (until then the index is empty).
    loaded: bool,
}

/// One step of bringing the mirror up to date.
enum Op {
    Put(Entry),
    Remove(u64),
}

/// Batch checks, the change feed and snapshots of the exclusion table.
pub struct ExclusionService {
    store: Arc<dyn ExclusionStore>,
    /// Where the first load comes from, when there is a stored snapshot.
    snapshots: Option<Arc<dyn MatcherSnapshots>>,
    settings: MatchSettings,
    mirror: Arc<RwLock<Mirror>>,
    /// Serialises catching up, so two requests never apply the same page twice.
    sync: tokio::sync::Mutex<()>,
}

fn poisoned() -> StoreError {
    StoreError::Unavailable("the exclusion index lock is poisoned".into())
}

/// The mirror's step for one entry in its current state.
fn op(e: &ExclusionEntry) -> Op {
    match e.state {
        EntryState::Withdrawn => Op::Remove(e.id),
        EntryState::Active => Op::Put(Entry::new(e.id, entry_value(&e.value))),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("exclusion index task failed: {e}")))?
}

impl ExclusionService {
    /// A service on `store`; its index is loaded on the first check. `settings` must be valid
    /// ([`MatchSettings::validate`]).
    pub fn new(store: Arc<dyn ExclusionStore>, settings: MatchSettings) -> Self {
        ExclusionService {
            store,
            snapshots: None,
            settings,
            mirror: Arc::new(RwLock::new(Mirror {
                index: ExclusionIndex::new(settings.index_config()),
                position: 0,
                loaded: false,
            })),
            sync: tokio::sync::Mutex::new(()),
        }
    }

    /// Loads the index from the snapshot in `snapshots` (when there is a usable one) instead of
    /// reading the whole table.
    pub fn with_snapshots(mut self, snapshots: Arc<dyn MatcherSnapshots>) -> Self {
        self.snapshots = Some(snapshots);
        self
    }

    pub fn settings(&self) -> MatchSettings {
        self.settings
    }

    /// Checks 1 to [`MAX_BATCH`] candidates against the active entries, after applying every
    /// change the store had when the call began. Result `i` belongs to candidate `i`. Every
    /// candidate is parsed first: the first that cannot be checked fails the whole request with
    /// its index, before anything is read.
    pub async fn check(&self, candidates: Vec<Candidate>) -> Result<CheckResponse, CheckError> {
        if candidates.is_empty() {
            return Err(CheckError::Empty);
        }
        if candidates.len() > MAX_BATCH {
            return Err(CheckError::TooMany {
                count: candidates.len(),
            });
        }
        let values = candidates
            .iter()
            .enumerate()
            .map(|(index, c)| {
                c.parse().map_err(|e| CheckError::InvalidCandidate {
                    index,
                    message: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.catch_up().await?;
        let mirror = self.mirror.clone();
        let (position, results) = blocking(move || {
            let m = mirror.read().map_err(|_| poisoned())?;
            Ok((m.position, m.index.check_values(&values)))
        })
        .await?;
        Ok(CheckResponse {
            position,
            results: results.into_iter().map(CheckResult::from).collect(),
        })
    }

    /// Entries whose position is greater than `after`, by position, at most `limit` (clamped to
    /// 1..=[`MAX_CHANGES_LIMIT`]), each in its current state; `head` is read after them, so it is
    /// never below `next_after`.
    pub async fn changes(&self, after: u64, limit: usize) -> Result<ChangesResponse, ChangesError> {
        let limit = limit.clamp(1, MAX_CHANGES_LIMIT);
        let entries = self.store.changes(after, limit).await?;
        let head = self.store.head().await?;
        if after > head {
            return Err(ChangesError::BeyondHead { after, head });
        }
        let next_after = entries.last().map_or(after, |e| e.position);
        Ok(ChangesResponse {
            changes: entries.iter().map(wire_entry).collect(),
            next_after,
            head: head.max(next_after),
        })
    }

    /// Every active entry, labelled with the head read before them: replaying the change feed
    /// after `position` converges whatever changed while they were read.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let position = self.store.head().await?;
        let entries = self.store.active().await?;
        Ok(Snapshot {
            position,
            entries: entries.iter().map(wire_entry).collect(),
        })
    }

    /// Brings the index up to the store's current head (loading the active set the first time).
    /// Returns the position it reflects.
    pub async fn catch_up(&self) -> Result<u64, StoreError> {
        let _one_at_a_time = self.sync.lock().await;
        let (loaded, mut position) = {
            let m = self.mirror.read().map_err(|_| poisoned())?;
            (m.loaded, m.position)
        };
        if !loaded {
            let from_snapshot = match &self.snapshots {
                Some(s) => self.load_snapshot(s.as_ref()).await?,
                None => None,
            };
            position = match from_snapshot {
                Some(p) => p,
                None => {
                    let head = self.store.head().await?;
                    let active = self.store.active().await?;
                    self.apply(active.iter().map(op).collect(), head, true)
                        .await?;
                    head
                }
            };
        }
        loop {
            let page = self.store.changes(position, SYNC_PAGE).await?;
            let Some(last) = page.last().map(|e| e.position) else {
                break;
            };
            self.apply(page.iter().map(op).collect(), last, false)
                .await?;
            position = last;
            if page.len() < SYNC_PAGE {
                break;
            }
        }
        Ok(position)
    }

    /// Loads the index from the stored snapshot and returns its position, or `None` (logged)
    /// when there is no usable snapshot: none stored, unreadable, damaged, or foreign (a
    /// position beyond the table's head). Only the store's own failures are errors.
    async fn load_snapshot(
        &self,
        snapshots: &dyn MatcherSnapshots,
    ) -> Result<Option<u64>, StoreError> {
        let started = std::time::Instant::now();
        let stream = match snapshots.open().await {
            Ok(Some(s)) => s,
            Ok(None) => {
                tracing::info!("no matcher snapshot stored yet: reading the whole exclusion table");
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!(error = %e, "matcher snapshot unreadable: reading the whole exclusion table");
                return Ok(None);
            }
        };
        let cfg = self.settings.index_config();
        let loaded = tokio::task::spawn_blocking(move || {
            let SnapshotStream { reader, len } = stream;
            let mut index = ExclusionIndex::new(cfg);
            let reader = StateReader::new(reader)?;
            let loaded = load_index(reader, len, &mut index)?;
            Ok::<_, StateError>((index, loaded))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("snapshot load task failed: {e}")))?;
        let (index, loaded) = match loaded {
            Ok(l) => l,
            Err(e) => {
                // the partial index is dropped here, before the table is read
                tracing::warn!(error = %e, "matcher snapshot refused: reading the whole exclusion table");
                return Ok(None);
            }
        };
        let head = self.store.head().await?;
        if loaded.position > head {
            tracing::warn!(
                snapshot = loaded.position,
                head,
                "matcher snapshot is beyond the table's head (another deployment's?): reading the whole exclusion table"
            );
            return Ok(None);
        }
        let entries = index.len();
        {
            let mut m = self.mirror.write().map_err(|_| poisoned())?;
            m.index = index;
            m.position = loaded.position;
            m.loaded = true;
        }
        tracing::info!(
            position = loaded.position,
            entries,
            rederived = loaded.rederived,
            millis = started.elapsed().as_millis() as u64,
            "exclusion index loaded from the matcher snapshot"
        );
        Ok(Some(loaded.position))
    }

    async fn apply(&self, ops: Vec<Op>, position: u64, loaded: bool) -> Result<(), StoreError> {
        let mirror = self.mirror.clone();
        blocking(move || {
            let mut m = mirror.write().map_err(|_| poisoned())?;
            for o in ops {
                match o {
                    Op::Put(e) => {
                        m.index.insert(e);
                    }
                    Op::Remove(id) => {
                        m.index.remove(id);
                    }
                }
            }
            m.position = m.position.max(position);
            m.loaded |= loaded;
            Ok(())
        })
        .await
    }

    /// How many active entries the index holds.
    pub fn indexed(&self) -> Result<usize, StoreError> {
        Ok(self.mirror.read().map_err(|_| poisoned())?.index.len())
    }
}
