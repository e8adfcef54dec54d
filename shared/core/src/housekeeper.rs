//! The housekeeper's use cases, run periodically in both modes (a loop in the embedded mode, a
//! scheduled function in AWS): the relay that finishes what a failure interrupted, and the
//! sweeps that end the cases waiting too long for a photo and erase personal data.

use chrono::{DateTime, Utc};

use crate::case::{Command, ExecError};
use crate::desk::{Desk, DeskError};
use crate::model::{Case, CaseState};
use crate::ports::{CaseFilter, Paging, QueueCursor, StoreError};

/// What one round of [`Desk::housekeep`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Housekeeping {
    /// Cases whose pending dispatches or decision effects were retried.
    pub relayed: usize,
    /// Cases whose personal data was erased at the end of the retention period.
    pub erased: usize,
    /// Cases that lapsed without a usable photo.
    pub lapsed: usize,
    /// Cases whose decision is overdue (for the operator's metric and alarm).
    pub overdue: usize,
}

/// What [`Desk::check_deadlines`] found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadlines {
    /// Cases awaiting a decision past their due time.
    pub overdue: usize,
    /// Cases due within the next 48 hours.
    pub due_soon: usize,
    /// Reviewers the day's list went to (or had gone to already today).
    pub mailed: usize,
}

/// How far ahead the reviewers' daily list looks.
const DUE_SOON: chrono::Duration = chrono::Duration::hours(48);

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
        use CaseState::*;
        let closed = vec![Approved, Rejected, Withdrawn, Lapsed];
        let before = now - self.settings.retention;
        self.sweep(closed, before, Command::Erase).await
    }

    /// Ends the cases that waited for a usable photo longer than the lapse period: each becomes
    /// `lapsed`, and its outbox deletes its photo and tells the requester. Returns how many.
    pub async fn sweep_lapsed(&self, now: DateTime<Utc>) -> Result<usize, DeskError> {
        let waiting = vec![CaseState::NeedsBetterPhoto];
        let before = now - self.settings.lapse_after;
        self.sweep(waiting, before, Command::Lapse).await
    }

    /// Finds the cases awaiting a decision that are overdue or due within 48 hours and, from the
    /// configured hour of the day on, sends the reviewers their list once a day (each reviewer's
    /// email has a key of its own for the day: a relay, a retry or a second run sends nothing
    /// more). Nothing is sent on a day with nothing due or to an empty list of reviewers.
    pub async fn check_deadlines(&self, now: DateTime<Utc>) -> Result<Deadlines, DeskError> {
        use CaseState::*;
        use chrono::Timelike;
        let filter = CaseFilter {
            states: vec![Received, Embedding, AwaitingReview],
            ..Default::default()
        };
        let (mut overdue, mut due_soon) = (Vec::new(), Vec::new());
        let mut pages = Pages::new(filter);
        while let Some(cases) = pages.next(self).await? {
            for case in cases {
                if case.due_at <= now {
                    overdue.push(case);
                } else if case.due_at <= now + DUE_SOON {
                    due_soon.push(case);
                }
            }
        }
        overdue.sort_by_key(|c| c.due_at);
        due_soon.sort_by_key(|c| c.due_at);
        let mut found = Deadlines {
            overdue: overdue.len(),
            due_soon: due_soon.len(),
            mailed: 0,
        };
        let due = !overdue.is_empty() || !due_soon.is_empty();
        if !due || now.hour() < self.settings.digest_hour {
            return Ok(found);
        }
        for to in &self.settings.reviewer_emails {
            let m = crate::mail::deadline_digest(&self.settings, to, now, &overdue, &due_soon);
            match self.send_once(&m).await {
                Ok(()) => found.mailed += 1,
                // The next round tries again (the key is the day's).
                Err(e) => {
                    tracing::warn!(error = %e, "the reviewers' list of deadlines not sent yet")
                }
            }
        }
        Ok(found)
    }

    /// Applies `command` to every case in one of `states` last changed before `updated_before`,
    /// page by page, and runs each outbox.
    /// A case that changed meanwhile (a complaint, a withdrawal, a new photo) is left for the
    /// next sweep. Returns how many cases the command moved.
    async fn sweep(
        &self,
        states: Vec<CaseState>,
        updated_before: DateTime<Utc>,
        command: Command,
    ) -> Result<usize, DeskError> {
        let filter = CaseFilter {
            states,
            updated_before: Some(updated_before),
            ..Default::default()
        };
        let mut moved = 0;
        let mut pages = Pages::new(filter);
        while let Some(cases) = pages.next(self).await? {
            for case in cases {
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
        }
        if moved > 0 {
            tracing::info!(
                command = command.name(),
                cases = moved,
                "housekeeping sweep"
            );
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
        let deadlines = self.check_deadlines(now).await;
        match (relayed, lapsed, erased, deadlines) {
            (Ok(relayed), Ok(lapsed), Ok(erased), Ok(deadlines)) => Ok(Housekeeping {
                relayed,
                erased,
                lapsed,
                overdue: deadlines.overdue,
            }),
            (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => Err(e),
        }
    }
}

/// The cases of a filter, a page at a time (the housekeeper's sweeps and lists).
struct Pages {
    filter: CaseFilter,
    after: Option<QueueCursor>,
    done: bool,
}

impl Pages {
    fn new(filter: CaseFilter) -> Self {
        Pages {
            filter,
            after: None,
            done: false,
        }
    }

    /// The next page, `None` after the last.
    async fn next(&mut self, desk: &Desk) -> Result<Option<Vec<Case>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = desk
            .ports
            .cases
            .list_cases(&self.filter, Paging::new(100, self.after.take()))
            .await?;
        self.after = page.next;
        self.done = self.after.is_none();
        Ok(Some(page.cases))
    }
}
