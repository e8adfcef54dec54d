//! The housekeeping Lambda's handler, run by an EventBridge schedule: the AWS counterpart of the
//! embedded mode's housekeeping loop. It finishes what a failed step left pending (a receipt that
//! could not be sent, a job not yet enqueued, a decision's emails, exclusion entries and photo
//! deletion) and erases personal data whose retention period ended (the personal table's TTL
//! removes the personal item; this sweep erases what the case item keeps, such as a complaint's
//! text, and deletes the photo and biometrics).

use optout_core::review::Housekeeping;
use optout_core::service::{Desk, DeskError};
use serde::Serialize;

/// How many pending cases one invocation retries at most (the schedule runs every few minutes).
pub const RELAY_BATCH: usize = 200;

/// What an invocation reports (also its log line): counts only, never case data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Report {
    pub relayed: usize,
    pub erased: usize,
}

impl From<Housekeeping> for Report {
    fn from(h: Housekeeping) -> Self {
        Self {
            relayed: h.relayed,
            erased: h.erased,
        }
    }
}

/// One scheduled run. An error fails the invocation, so it shows in the function's error metric
/// and alarm; the next scheduled run tries again.
pub async fn run(desk: &Desk) -> Result<Report, DeskError> {
    let report = Report::from(desk.housekeep(RELAY_BATCH).await?);
    tracing::info!(
        relayed = report.relayed,
        erased = report.erased,
        "housekeeping done"
    );
    Ok(report)
}
