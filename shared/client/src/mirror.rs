//! [`Mirror`]: a local copy of the exclusion data, kept current from the change feed and
//! checked offline.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use optout_matcher::wire::{
    ChangesResponse, CheckResponse, CheckResult, DEFAULT_CHANGES_LIMIT, MAX_CHANGES_LIMIT,
    Snapshot, WireEntry, WireState, WireValue,
};
use optout_matcher::{Candidate, Entry, ExclusionConfig, ExclusionIndex, Kind};

use crate::client::ExclusionFeed;
use crate::error::{ClientError, MirrorError};
use crate::state;

/// File name of the state inside the mirror directory.
pub const STATE_FILE: &str = "mirror.bin";
/// During a long catch-up the state is also saved every this many pages, so an interrupted sync
/// resumes close to where it stopped.
const SAVE_EVERY_PAGES: usize = 100;

/// What one [`Mirror::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether the mirror started from a snapshot (it had no state).
    pub snapshot_loaded: bool,
    /// Change-feed pages fetched.
    pub pages: usize,
    /// Changes applied (entries added, replaced or withdrawn).
    pub applied: usize,
    /// The mirror's position afterwards: every change up to it is applied.
    pub position: u64,
    /// Active entries afterwards.
    pub active: usize,
}

/// A local copy of the exclusion data in a directory (one state file, [`STATE_FILE`]).
///
/// Its **position** means: every change of the server's feed up to that position is applied.
/// [`sync`](Mirror::sync) starts from a snapshot when there is no state, then replays the change
/// feed after the position page by page: an active entry is inserted (or replaces the same id),
/// a withdrawn one is removed, so it never matches again. Applying an entry's current state is
/// idempotent, so a page applied twice (an interrupted sync, a retry) changes nothing.
///
/// The state is written atomically (a temporary file in the same directory, fsynced, then
/// renamed over the old one): a crash leaves the previous state or the new one, never a mix.
/// One writer at a time: two processes syncing the same directory do not corrupt it (each
/// rename is atomic) but the last one to finish wins.
pub struct Mirror {
    dir: PathBuf,
    cfg: ExclusionConfig,
    /// `None` until the first snapshot is loaded.
    position: Option<u64>,
    /// The active entries as the server sent them (canonical hex for hashes), by id.
    entries: BTreeMap<u64, WireEntry>,
    index: ExclusionIndex,
    page_limit: usize,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("dir", &self.dir)
            .field("position", &self.position)
            .field("active", &self.entries.len())
            .finish_non_exhaustive()
    }
}

impl Mirror {
    /// Opens the mirror in `dir` with the matcher's default thresholds
    /// ([`ExclusionConfig::default`]); use [`open_with`](Mirror::open_with) to match the
    /// thresholds the server is configured with. A directory without state (or that does not
    /// exist yet) gives an empty, unsynced mirror.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, MirrorError> {
        Self::open_with(dir, ExclusionConfig::default())
    }

    /// Opens the mirror in `dir`, matching with `cfg` (PDQ radius, face threshold).
    pub fn open_with(dir: impl Into<PathBuf>, cfg: ExclusionConfig) -> Result<Self, MirrorError> {
        let dir = dir.into();
        let mut mirror = Mirror {
            index: ExclusionIndex::new(cfg.clone()),
            cfg,
            dir,
            position: None,
            entries: BTreeMap::new(),
            page_limit: DEFAULT_CHANGES_LIMIT,
        };
        let path = mirror.state_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(mirror),
            Err(source) => return Err(MirrorError::Io { path, source }),
        };
        let corrupt = |reason: String| MirrorError::Corrupt {
            path: path.clone(),
            reason,
        };
        let file = state::decode(&bytes).map_err(corrupt)?;
        for e in file.entries {
            let entry = index_entry(&e).map_err(|r| corrupt(format!("entry {}: {r}", e.id)))?;
            mirror.entries.insert(e.id, canonical(&e, &entry));
            mirror.index.insert(entry);
        }
        mirror.position = Some(file.position);
        Ok(mirror)
    }

    /// The mirror's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state file.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Every change up to this position is applied; `None` before the first sync.
    pub fn position(&self) -> Option<u64> {
        self.position
    }

    /// The number of active entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The active entries, by id.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &WireEntry> {
        self.entries.values()
    }

    /// The active entry `id`.
    pub fn get(&self, id: u64) -> Option<&WireEntry> {
        self.entries.get(&id)
    }

    /// The matching thresholds in use.
    pub fn config(&self) -> &ExclusionConfig {
        &self.cfg
    }

    /// Sets the page size of the change feed (clamped to 1..=[`MAX_CHANGES_LIMIT`]).
    pub fn set_page_limit(&mut self, limit: usize) {
        self.page_limit = limit.clamp(1, MAX_CHANGES_LIMIT);
    }

    /// Replaces everything with a snapshot (not saved: see [`save`](Mirror::save)). Every entry
    /// is checked first; on error the mirror is unchanged. Withdrawn entries in a snapshot are
    /// ignored (they never match); of two entries with the same id, the later position wins.
    pub fn load_snapshot(&mut self, snapshot: Snapshot) -> Result<(), MirrorError> {
        let mut entries = BTreeMap::new();
        let mut index = ExclusionIndex::new(self.cfg.clone());
        for e in snapshot.entries {
            if e.state != WireState::Active {
                continue;
            }
            if entries
                .get(&e.id)
                .is_some_and(|old: &WireEntry| old.position > e.position)
            {
                continue;
            }
            let entry = index_entry(&e).map_err(|reason| MirrorError::InvalidEntry {
                id: e.id,
                position: e.position,
                reason,
            })?;
            entries.insert(e.id, canonical(&e, &entry));
            index.insert(entry);
        }
        self.entries = entries;
        self.index = index;
        self.position = Some(snapshot.position);
        Ok(())
    }

    /// Applies one page of the change feed, in position order, and moves the position to the
    /// page's `next_after`. Changes at or below the current position are already reflected and
    /// skipped, so re-applying a page is a no-op. All entries are checked before anything
    /// changes: on error the mirror is unchanged. Returns how many changes were applied.
    pub fn apply(&mut self, page: &ChangesResponse) -> Result<usize, MirrorError> {
        let Some(position) = self.position else {
            return Err(MirrorError::NotSynced {
                dir: self.dir.clone(),
            });
        };
        if let Some(c) = page.changes.iter().find(|c| c.position > page.next_after) {
            return Err(MirrorError::Protocol(format!(
                "entry {} at position {} is beyond the page's next_after {}",
                c.id, c.position, page.next_after
            )));
        }
        let mut changes: Vec<&WireEntry> = page
            .changes
            .iter()
            .filter(|c| c.position > position)
            .collect();
        changes.sort_by_key(|c| c.position);
        let mut prepared = Vec::with_capacity(changes.len());
        for c in changes {
            let entry = match c.state {
                WireState::Active => {
                    Some(index_entry(c).map_err(|reason| MirrorError::InvalidEntry {
                        id: c.id,
                        position: c.position,
                        reason,
                    })?)
                }
                WireState::Withdrawn => None,
            };
            prepared.push((c, entry));
        }
        let mut applied = 0;
        for (c, entry) in prepared {
            // an entry already known at a later position is newer than this change
            if self
                .entries
                .get(&c.id)
                .is_some_and(|known| known.position > c.position)
            {
                continue;
            }
            match entry {
                Some(entry) => {
                    self.entries.insert(c.id, canonical(c, &entry));
                    self.index.insert(entry);
                }
                None => {
                    self.index.remove(c.id);
                    self.entries.remove(&c.id);
                }
            }
            applied += 1;
        }
        self.position = Some(position.max(page.next_after));
        Ok(applied)
    }

    /// Brings the mirror up to date: a snapshot when it has no state, then the change feed
    /// after its position until caught up (`next_after == head`, or an empty page). Saves the
    /// state when it changed, also when a later page fails (what was applied is kept, and the
    /// next sync resumes from there).
    pub async fn sync(&mut self, feed: &impl ExclusionFeed) -> Result<SyncReport, MirrorError> {
        let mut report = SyncReport::default();
        let mut dirty = false;
        let result = self.sync_pages(feed, &mut report, &mut dirty).await;
        if dirty {
            match (&result, self.save()) {
                (_, Ok(())) => {}
                (Ok(()), Err(e)) => return Err(e),
                (Err(_), Err(e)) => {
                    tracing::warn!(error = %e, "could not save the mirror's progress")
                }
            }
        }
        result?;
        report.position = self.position.unwrap_or(0);
        report.active = self.entries.len();
        Ok(report)
    }

    async fn sync_pages(
        &mut self,
        feed: &impl ExclusionFeed,
        report: &mut SyncReport,
        dirty: &mut bool,
    ) -> Result<(), MirrorError> {
        let mut after = match self.position {
            Some(p) => p,
            None => {
                let snapshot = feed.snapshot().await?;
                self.load_snapshot(snapshot)?;
                report.snapshot_loaded = true;
                self.save()?;
                self.position.unwrap_or(0)
            }
        };
        let mut unsaved_pages = 0;
        loop {
            let page = match feed.changes(after, self.page_limit).await {
                Ok(page) => page,
                // the server refuses an `after` beyond its newest position (409): learn its
                // head to say how far this mirror is ahead of that data
                Err(e @ ClientError::BadRequest { .. }) if after > 0 && is_beyond_head(&e) => {
                    let head = feed.changes(0, 1).await?.head;
                    if head < after {
                        return Err(MirrorError::Diverged {
                            dir: self.dir.clone(),
                            local: after,
                            head,
                        });
                    }
                    return Err(e.into());
                }
                Err(e) => return Err(e.into()),
            };
            if page.head < after {
                return Err(MirrorError::Diverged {
                    dir: self.dir.clone(),
                    local: after,
                    head: page.head,
                });
            }
            if page.next_after < after || (!page.changes.is_empty() && page.next_after == after) {
                return Err(MirrorError::Protocol(format!(
                    "a page after {after} with {} changes ends at next_after {}",
                    page.changes.len(),
                    page.next_after
                )));
            }
            report.applied += self.apply(&page)?;
            report.pages += 1;
            let position = self.position.unwrap_or(after);
            *dirty |= position != after || !page.changes.is_empty();
            after = position;
            if page.changes.is_empty() || page.next_after >= page.head {
                return Ok(());
            }
            unsaved_pages += 1;
            if unsaved_pages >= SAVE_EVERY_PAGES {
                self.save()?;
                *dirty = false;
                unsaved_pages = 0;
            }
        }
    }

    /// Checks candidates against the mirror, offline. The answer carries the mirror's position
    /// (see [`Mirror`]), exactly like the API's; a malformed candidate is an error naming its
    /// index, like the API's `invalid_candidate`.
    pub fn check(&self, candidates: &[Candidate]) -> Result<CheckResponse, MirrorError> {
        let Some(position) = self.position else {
            return Err(MirrorError::NotSynced {
                dir: self.dir.clone(),
            });
        };
        let results = self
            .index
            .check_batch(candidates)
            .into_iter()
            .enumerate()
            .map(|(index, r)| {
                r.map(CheckResult::from)
                    .map_err(|source| MirrorError::InvalidCandidate { index, source })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CheckResponse { position, results })
    }

    /// Writes the state atomically (creating the directory if needed).
    pub fn save(&self) -> Result<(), MirrorError> {
        let Some(position) = self.position else {
            return Err(MirrorError::NotSynced {
                dir: self.dir.clone(),
            });
        };
        let path = self.state_path();
        let bytes = state::encode(position, self.entries.values()).map_err(|reason| {
            MirrorError::Corrupt {
                path: path.clone(),
                reason,
            }
        })?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| MirrorError::Io { path, source }
        };
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let tmp = self.dir.join(format!(
            ".{STATE_FILE}.{}.{}.tmp",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(source) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(MirrorError::Io { path, source });
        }
        // make the rename itself durable
        #[cfg(unix)]
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(())
    }
}

fn is_beyond_head(e: &ClientError) -> bool {
    matches!(e, ClientError::BadRequest { code, .. } if code == "beyond_head")
}

/// The matcher entry for a wire entry (its value parsed as a check candidate is), or why its
/// value does not fit its kind.
fn index_entry(e: &WireEntry) -> Result<Entry, String> {
    match (e.kind, &e.value) {
        (Kind::Url | Kind::Sha256 | Kind::Pdq, WireValue::Text(_))
        | (Kind::Face, WireValue::Vector(_)) => {}
        (kind, _) => {
            return Err(format!(
                "a {} entry with a value of the wrong shape",
                kind_name(kind)
            ));
        }
    }
    let value = e.candidate().parse().map_err(|err| err.to_string())?;
    Ok(Entry::new(e.id, value))
}

/// The entry as the mirror keeps it: its value in canonical form, from the parsed value (the
/// state file gives the same back).
fn canonical(e: &WireEntry, entry: &Entry) -> WireEntry {
    WireEntry::active(e.id, e.position, &entry.value)
}

/// The kind as the wire spells it.
pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Url => "url",
        Kind::Sha256 => "sha256",
        Kind::Pdq => "pdq",
        Kind::Face => "face",
    }
}
