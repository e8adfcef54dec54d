//! The housekeeper's part in keeping the api function's cold start short: bring the matcher
//! snapshot (S3) up to the exclusion table's head when it moved, so that a cold start loads one
//! object and replays only a few minutes of the change feed. See
//! [`optout_core::exclusions::snapshot`].

use optout_core::Desk;
use optout_core::exclusions::MatchSettings;
use optout_core::exclusions::snapshot::{self, RefreshLimits, Refreshed};

/// Refreshes the snapshot when the desk has a snapshot store. A failure is logged and left to
/// the next run (the api function then replays a longer tail of the feed, or reads the table):
/// it must not keep the rest of the housekeeping from being reported.
///
/// The snapshot's face records depend only on the index's LSH tables and seed, which no setting
/// changes, so the default match settings describe every deployment's index.
pub async fn refresh(desk: &Desk) -> Option<Refreshed> {
    let snapshots = desk.ports.matcher_snapshots.as_ref()?;
    let result = snapshot::refresh(
        desk.ports.exclusions.as_ref(),
        snapshots.as_ref(),
        MatchSettings::default(),
        RefreshLimits::default(),
    )
    .await;
    match result {
        Ok(r) => {
            if !r.written {
                tracing::debug!(position = r.position, "matcher snapshot is current");
            }
            Some(r)
        }
        Err(e) => {
            tracing::error!(error = %e, "matcher snapshot not refreshed");
            None
        }
    }
}
