//! The housekeeper's use cases, run periodically in both modes (a loop in the embedded mode, a
//! scheduled function in AWS): the relay that finishes what a failure interrupted, and the
//! sweeps that end the cases waiting too long for a photo and erase personal data.

use chrono::{DateTime, Utc};

use crate::case::{Command, ExecError};
use crate::desk::{Desk, DeskError};
use crate::model::CaseState;
use crate::ports::{CaseFilter, Paging};

/// What one round of [`Desk::housekeep`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Housekeeping {
    /// Cases whose pending dispatches or decision effects were retried.
    pub relayed: usize,
    /// Cases whose personal data was erased at the end of the retention period.
    pub erased: usize,
    /// Cases that lapsed without a usable photo.
    pub lapsed: usize,
}

impl Desk {
    /// Finishes interrupted dispatches (jobs not enqueued, emails not sent, effects not done).
    /// Returns how many cases it looked at.
    ///
    /// Cases changed within the last [`Settings::relay_grace`](crate::settings::Settings) are
    /// left to the request that is still dispatching them (an email would otherwise go out twice).
    pub async fn relay(&self, limit: usize) -> Result<usize, DeskError> {
        let pending = self.ports.cases.undispatched(limit).await?;
        let settled = self.now() - self.settings.relay_grace;
        let mut n = 0;
        for case in pending {
            if case.created_at.max(case.updated_at) > settled {
                continue;
            }
            n += 1;
            self.dispatch(case).await;
        }
        Ok(n)
    }

    /// Erases the personal data of closed cases whose last change is older than the retention
    /// period: the case becomes `erased` and keeps only what the audit needs (state, dates,
    /// decision and its statement without the reviewer's note, hashes); its outbox deletes its
    /// biometrics and photo. Exclusion entries of approved cases stay. Returns how many cases
    /// were erased.
    pub async fn sweep_retention(&self, now: DateTime<Utc>) -> Result<usize, DeskError> {
        let filter = CaseFilter {
            states: vec![
                CaseState::Approved,
                CaseState::Rejected,
                CaseState::Withdrawn,
                CaseState::Lapsed,
            ],
            updated_before: Some(now - self.settings.retention),
            ..Default::default()
        };
        let erased = self.sweep(&filter, Command::Erase).await?;
        if erased > 0 {
            tracing::info!(erased, "personal data erased after the retention period");
        }
        Ok(erased)
    }

    /// Ends the cases that waited for a usable photo longer than the lapse period: each becomes
    /// `lapsed`, and its outbox deletes its photo and tells the requester. Returns how many.
    pub async fn sweep_lapsed(&self, now: DateTime<Utc>) -> Result<usize, DeskError> {
        let filter = CaseFilter {
            states: vec![CaseState::NeedsBetterPhoto],
            updated_before: Some(now - self.settings.lapse_after),
            ..Default::default()
        };
        let lapsed = self.sweep(&filter, Command::Lapse).await?;
        if lapsed > 0 {
            tracing::info!(lapsed, "cases lapsed without a usable photo");
        }
        Ok(lapsed)
    }

    /// Applies `command` to every case `filter` lists, page by page, and runs each outbox.
    /// A case that changed meanwhile (a complaint, a withdrawal, a new photo) is left for the
    /// next sweep. Returns how many cases the command moved.
    async fn sweep(&self, filter: &CaseFilter, command: Command) -> Result<usize, DeskError> {
        let mut after = None;
        let mut moved = 0;
        loop {
            let page = self
                .ports
                .cases
                .list_cases(filter, Paging::new(100, after))
                .await?;
            for case in page.cases {
                match self
                    .cases()
                    .run_from(case, |_| Ok(Some(command.clone())))
                    .await
                {
                    Ok(done) => {
                        moved += 1;
                        self.dispatch(done.case).await;
                    }
                    Err(ExecError::Refused(_) | ExecError::Busy | ExecError::NotFound) => {}
                    Err(ExecError::Store(e)) => return Err(e.into()),
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        Ok(moved)
    }

    /// One round of the periodic work: finish interrupted dispatches and decision effects (at
    /// most `batch` cases), end the cases whose lapse period ended, then erase personal data
    /// whose retention period ended. Every step runs even when an earlier one fails; the first
    /// error is returned after the last step.
    pub async fn housekeep(&self, batch: usize) -> Result<Housekeeping, DeskError> {
        let relayed = self.relay(batch).await;
        let now = self.now();
        let lapsed = self.sweep_lapsed(now).await;
        let erased = self.sweep_retention(now).await;
        match (relayed, lapsed, erased) {
            (Ok(relayed), Ok(lapsed), Ok(erased)) => Ok(Housekeeping {
                relayed,
                erased,
                lapsed,
            }),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
        }
    }
}
