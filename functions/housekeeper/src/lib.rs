//! The housekeeping Lambda's handler, run by an EventBridge schedule: the AWS counterpart of the
//! embedded mode's housekeeping loop. It finishes what a failed step left pending (a receipt that
//! could not be sent, a job not yet enqueued, a decision's emails, exclusion entries and photo
//! deletion), ends the requests that waited too long for a usable photo (`lapsed`), and erases
//! personal data whose retention period ended (the personal table's TTL
//! removes the personal item; this sweep erases what the case item keeps, such as a complaint's
//! text, and deletes the photo and biometrics).

pub mod matcher_snapshot;

use optout_core::housekeeper::Housekeeping;
use optout_core::ports::{Hold, Lease};
use optout_core::{Desk, DeskError};
use serde::Serialize;

/// The name of the housekeeper's lease: one run at a time. EventBridge Scheduler delivers at least
/// once and a slow run can meet the next schedule; a second run at the same time would only race
/// the first on the same cases. (Reserved concurrency of 1 would say the same, but a new account's
/// limit of 10 concurrent executions refuses any reservation.)
pub const LEASE: &str = "housekeeper";

/// How long a run holds the lease: longer than the function's timeout (120 s in the template), so
/// a run is never overlapped, and shorter than the schedule (5 minutes), so a run that died does
/// not hold up the next one.
pub const LEASE_FOR: chrono::Duration = chrono::Duration::seconds(150);

/// How many pending cases one invocation retries at most (the schedule runs every few minutes).
pub const RELAY_BATCH: usize = 200;

/// What an invocation reports (also its log line): counts only, never case data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Report {
    pub relayed: usize,
    pub erased: usize,
    /// Cases that lapsed without a usable photo.
    pub lapsed: usize,
    /// Cases past the due time of their decision (logged: the template's metric and alarm).
    pub overdue: usize,
    /// Another run held the lease: this one did nothing.
    pub skipped: bool,
}

impl From<Housekeeping> for Report {
    fn from(h: Housekeeping) -> Self {
        Self {
            relayed: h.relayed,
            erased: h.erased,
            lapsed: h.lapsed,
            overdue: h.overdue,
            skipped: false,
        }
    }
}

/// One scheduled run, under the lease. An error fails the invocation, so it shows in the
/// function's error metric and alarm; the next scheduled run tries again.
pub async fn run(desk: &Desk, lease: &dyn Lease) -> Result<Report, DeskError> {
    let holder = ulid::Ulid::new().to_string();
    let now = desk.ports.clock.now();
    if !lease
        .acquire(LEASE, Hold::new(&holder, now, now + LEASE_FOR))
        .await?
    {
        tracing::info!("another housekeeping run holds the lease; nothing to do");
        return Ok(Report {
            relayed: 0,
            erased: 0,
            lapsed: 0,
            overdue: 0,
            skipped: true,
        });
    }
    let result = desk.housekeep(RELAY_BATCH).await;
    matcher_snapshot::refresh(desk).await;
    // Given back either way; if this fails the lease simply expires.
    if let Err(e) = lease.release(LEASE, &holder).await {
        tracing::warn!(error = %e, "the housekeeping lease was not given back; it expires by itself");
    }
    let report = Report::from(result?);
    tracing::info!(
        relayed = report.relayed,
        erased = report.erased,
        lapsed = report.lapsed,
        overdue = report.overdue,
        "housekeeping done"
    );
    Ok(report)
}
