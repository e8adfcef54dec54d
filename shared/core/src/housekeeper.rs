//! The housekeeper's use cases, run periodically in both modes (a loop in the embedded mode, a
//! scheduled function in AWS): the relay that finishes what a failure interrupted, and the
//! retention sweep that erases personal data.

use chrono::{DateTime, Utc};

use crate::case::{Command, ExecError};
use crate::desk::{Desk, DeskError};
use crate::model::CaseState;
use crate::ports::CaseFilter;

/// What one round of [`Desk::housekeep`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Housekeeping {
    /// Cases whose pending dispatches or decision effects were retried.
    pub relayed: usize,
    /// Cases whose personal data was erased at the end of the retention period.
    pub erased: usize,
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
            ],
            updated_before: Some(now - self.settings.retention),
            ..Default::default()
        };
        let mut after = None;
        let mut erased = 0;
        loop {
            let page = self
                .ports
                .cases
                .list_cases(&filter, 100, after.as_ref())
                .await?;
            for case in page.cases {
                match self
                    .cases()
                    .run_from(case, |_| Ok(Some(Command::Erase)))
                    .await
                {
                    Ok(done) => {
                        erased += 1;
                        self.dispatch(done.case).await;
                    }
                    // It changed (a complaint, a withdrawal): the next sweep looks again.
                    Err(ExecError::Refused(_) | ExecError::Busy | ExecError::NotFound) => {}
                    Err(ExecError::Store(e)) => return Err(e.into()),
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        if erased > 0 {
            tracing::info!(erased, "personal data erased after the retention period");
        }
        Ok(erased)
    }

    /// One round of the periodic work: finish interrupted dispatches and decision effects (at
    /// most `batch` cases), then erase personal data whose retention period ended. Both steps run
    /// even when the first fails; the first error is returned after the second step.
    pub async fn housekeep(&self, batch: usize) -> Result<Housekeeping, DeskError> {
        let relayed = self.relay(batch).await;
        let erased = self.sweep_retention(self.now()).await;
        match (relayed, erased) {
            (Ok(relayed), Ok(erased)) => Ok(Housekeeping { relayed, erased }),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }
}
