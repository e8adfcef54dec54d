//! Persisting transitions: read the case, decide the command, [`Case::apply`] it, and write the
//! result with one conditional write (case, audit event and outbox together, on the version
//! read). A lost race re-reads and decides again, at most [`MAX_ATTEMPTS`] times: the one retry
//! policy of every use case, whatever the store.

use super::{Command, DomainError, Policy, Transition};
use crate::model::{Case, CaseId};
use crate::ports::{CaseStore, Clock, StoreError};

/// How many times a command is tried against a case that others keep changing.
pub const MAX_ATTEMPTS: usize = 3;

/// Why a command was not persisted.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("no such case")]
    NotFound,
    /// The case refused the command (nothing was written).
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// Every attempt lost a race with another writer.
    #[error("the case kept changing; try again")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of [`Executor::run`]: the case as it now is, and the transition written (none
/// when the decision found nothing to do).
#[derive(Debug, Clone)]
pub struct Executed {
    pub case: Case,
    pub transition: Option<Transition>,
}

/// Runs commands against stored cases.
#[derive(Clone, Copy)]
pub struct Executor<'a> {
    pub store: &'a dyn CaseStore,
    pub clock: &'a dyn Clock,
    pub policy: Policy,
}

impl Executor<'_> {
    /// Reads case `id` and runs `decide` on it: `Ok(None)` means there is nothing to do (an
    /// idempotent repeat), `Ok(Some(command))` is applied and written.
    pub async fn run(
        &self,
        id: CaseId,
        decide: impl FnMut(&Case) -> Result<Option<Command>, DomainError>,
    ) -> Result<Executed, ExecError> {
        let case = self.store.get_case(id).await?.ok_or(ExecError::NotFound)?;
        self.run_from(case, decide).await
    }

    /// Like [`Executor::run`], starting from a case just read (the first attempt saves a read).
    pub async fn run_from(
        &self,
        mut case: Case,
        mut decide: impl FnMut(&Case) -> Result<Option<Command>, DomainError>,
    ) -> Result<Executed, ExecError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let Some(command) = decide(&case)? else {
                return Ok(Executed {
                    case,
                    transition: None,
                });
            };
            let t = case.apply(command, self.clock.now(), &self.policy)?;
            match self.store.update_case(&t.case, &t.audit).await {
                Ok(()) => {
                    return Ok(Executed {
                        case: t.case.clone(),
                        transition: Some(t),
                    });
                }
                Err(StoreError::Conflict) if attempt < MAX_ATTEMPTS => {
                    case = self
                        .store
                        .get_case(case.id)
                        .await?
                        .ok_or(ExecError::NotFound)?;
                }
                Err(StoreError::Conflict) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ExecError::Busy)
    }
}
