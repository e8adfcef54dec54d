//! Keeping the matcher snapshot current: [`refresh`] (run by the housekeeper every few minutes).
//!
//! A refresh reads the change feed after the stored snapshot's position and merges those changes
//! into it as it streams the old snapshot through ([`optout_matcher::state::merge`]): the old
//! snapshot is never held in memory, only the changes are. It writes the result to a temporary
//! file and stores it. When the table's head has not moved past the stored position, nothing is
//! read or written.
//!
//! Without a usable snapshot (none yet, damaged, beyond the head, or of other face parameters
//! that cannot be converted) it starts from an empty state at position 0: reading the whole feed
//! then. A refresh reads at most [`RefreshLimits`] worth of changes, so a first snapshot of a
//! large table is built over several runs, each storing what it reached. That is correct because
//! a snapshot only promises that replaying the feed after its position converges (applying an
//! entry's current state is idempotent, and the feed holds every entry at its latest position).

use std::collections::BTreeMap;
use std::io::BufWriter;
use std::time::{Duration, Instant};

use optout_matcher::state::{StateEntry, StateError, StateReader, StateValue, merge};

use super::{MatchSettings, entry_value};
use crate::ports::{EntryState, ExclusionStore, MatcherSnapshots, StoreError};

/// Changes read from the store per page.
const PAGE: usize = 2000;

/// How much one refresh reads before it stores what it has.
#[derive(Debug, Clone, Copy)]
pub struct RefreshLimits {
    /// Changes held in memory at most (a face change takes ~450 bytes).
    pub max_changes: usize,
    /// Time spent reading the feed at most.
    pub max_reading: Duration,
}

impl Default for RefreshLimits {
    fn default() -> Self {
        RefreshLimits {
            max_changes: 100_000,
            max_reading: Duration::from_secs(40),
        }
    }
}

/// What one [`refresh`] did (counts only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Refreshed {
    /// The stored snapshot's position before (`None`: none usable).
    pub from: Option<u64>,
    /// The stored snapshot's position after.
    pub position: u64,
    /// The table's head when the refresh began.
    pub head: u64,
    /// Whether a new snapshot was stored.
    pub written: bool,
    /// Changes merged.
    pub changes: usize,
    /// Entries in the stored snapshot.
    pub entries: u64,
}

/// Why a refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the snapshot: {0}")]
    Write(StateError),
    #[error("temporary file: {0}")]
    Io(#[from] std::io::Error),
}

/// Brings the stored snapshot up to the table's head (or as far as `limits` allow). See the
/// module documentation.
pub async fn refresh(
    store: &dyn ExclusionStore,
    snapshots: &dyn MatcherSnapshots,
    settings: MatchSettings,
    limits: RefreshLimits,
) -> Result<Refreshed, RefreshError> {
    let head = store.head().await?;
    let mut from = snapshots.position().await?;
    if from.is_some_and(|p| p > head) {
        tracing::warn!(
            snapshot = from,
            head,
            "the stored matcher snapshot is beyond the table's head: rebuilding it"
        );
        from = None;
    }
    if from == Some(head) {
        return Ok(Refreshed {
            from,
            position: head,
            head,
            written: false,
            changes: 0,
            entries: 0,
        });
    }
    let first = write(store, snapshots, settings, limits, from, head).await;
    match first {
        Err(RefreshError::Write(e)) if from.is_some() => {
            // The old snapshot could not be read back (damaged, truncated): start over.
            tracing::warn!(error = %e, "the stored matcher snapshot is unusable: rebuilding it");
            write(store, snapshots, settings, limits, None, head).await
        }
        other => other,
    }
}

/// One attempt: the changes after `from` (or from the start), merged into the stored snapshot.
async fn write(
    store: &dyn ExclusionStore,
    snapshots: &dyn MatcherSnapshots,
    settings: MatchSettings,
    limits: RefreshLimits,
    from: Option<u64>,
    head: u64,
) -> Result<Refreshed, RefreshError> {
    let deriver = settings.face_deriver();
    let started = Instant::now();
    let mut after = from.unwrap_or(0);
    let mut changes: BTreeMap<u64, Option<StateEntry>> = BTreeMap::new();
    let mut read = 0usize;
    let page_size = PAGE.min(limits.max_changes.max(1));
    loop {
        let page = store.changes(after, page_size).await?;
        let Some(last) = page.last().map(|e| e.position) else {
            break;
        };
        for e in &page {
            let value = match e.state {
                EntryState::Withdrawn => None,
                EntryState::Active => {
                    Some(StateValue::for_snapshot(&entry_value(&e.value), &deriver))
                }
            };
            changes.insert(
                e.id,
                value.map(|value| StateEntry {
                    id: e.id,
                    position: e.position,
                    value,
                }),
            );
        }
        read += page.len();
        after = last;
        if page.len() < page_size
            || changes.len() >= limits.max_changes
            || started.elapsed() >= limits.max_reading
        {
            break;
        }
    }
    if from == Some(after) {
        // The head moved but the feed shows nothing new yet (a write still being applied).
        return Ok(Refreshed {
            from,
            position: after,
            head,
            written: false,
            changes: 0,
            entries: 0,
        });
    }
    let old = match from {
        Some(_) => snapshots.open().await?,
        None => None,
    };
    if from.is_some() && old.is_none() {
        // Deleted between the two reads: the next run starts over.
        return Err(StoreError::Unavailable("the matcher snapshot disappeared".into()).into());
    }
    let position = after;
    let file = tokio::task::spawn_blocking(move || {
        let tmp = tempfile::NamedTempFile::new()?;
        let old = match old {
            Some(s) => Some(StateReader::new(s.reader).map_err(RefreshError::Write)?),
            None => None,
        };
        let (out, merged) = merge(old, &changes, position, &deriver, BufWriter::new(tmp))
            .map_err(RefreshError::Write)?;
        let tmp = out
            .into_inner()
            .map_err(|e| RefreshError::Io(e.into_error()))?;
        Ok::<_, RefreshError>((tmp, merged))
    })
    .await
    .map_err(|e| StoreError::Unavailable(format!("snapshot task failed: {e}")))?;
    let (tmp, merged) = file?;
    snapshots.store(tmp.path(), position).await?;
    drop(tmp);
    tracing::info!(
        from,
        position,
        head,
        changes = read,
        entries = merged.entries,
        millis = started.elapsed().as_millis() as u64,
        "matcher snapshot stored"
    );
    Ok(Refreshed {
        from,
        position,
        head,
        written: true,
        changes: read,
        entries: merged.entries,
    })
}
