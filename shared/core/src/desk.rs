//! The desk: the ports and settings every use case runs on, and what they share (the executor
//! of case transitions, the links a case's emails carry). The use cases themselves are grouped
//! by who acts: [`crate::requester`], [`crate::reviewer`], [`crate::worker`],
//! [`crate::housekeeper`] (and the indexer's [`crate::exclusions`]); what follows a transition
//! runs in [`crate::outbox`].

use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::case::{DomainError, ExecError, Executor};
use crate::error::FieldErrors;
use crate::model::{Case, CaseState, ComplaintClosed};
use crate::ports::*;
use crate::settings::Settings;
use crate::signing::{KeyRing, scope};

/// The capabilities a [`Desk`] runs on.
#[derive(Clone)]
pub struct Ports {
    pub cases: Arc<dyn CaseStore>,
    pub photos: Arc<dyn PhotoStore>,
    pub queue: Arc<dyn JobQueue>,
    pub mailer: Arc<dyn Mailer>,
    /// What was sent: every email goes through [`Desk::send_once`].
    pub mail_ledger: Arc<dyn MailLedger>,
    pub biometrics: Arc<dyn BiometricStore>,
    /// The exclusion table (entries written when a case is approved).
    pub exclusions: Arc<dyn ExclusionStore>,
    /// Where the matcher's snapshot of that table is kept (AWS: S3; the embedded mode loads
    /// from its local database and has none).
    pub matcher_snapshots: Option<Arc<dyn MatcherSnapshots>>,
    pub clock: Arc<dyn Clock>,
}

/// Why a use case of the public desk did not complete.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The input is wrong; nothing was stored and nothing was sent.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// A link is unknown, tampered with or expired (answered without saying which).
    #[error("invalid or expired link")]
    InvalidLink,
    /// The case is not in a state that allows this.
    #[error("not allowed in state {0}")]
    WrongState(CaseState),
    /// The decision cannot be contested (any more), and why.
    #[error("no complaint possible: {}", .0.as_str())]
    ComplaintClosed(ComplaintClosed),
    /// An infrastructure failure; the caller may retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<StoreError> for DeskError {
    fn from(e: StoreError) -> Self {
        DeskError::Unavailable(e.to_string())
    }
}

impl From<ExecError> for DeskError {
    fn from(e: ExecError) -> Self {
        match e {
            // A link's case that is gone is answered like any invalid link.
            ExecError::NotFound | ExecError::Refused(DomainError::Gone) => DeskError::InvalidLink,
            ExecError::Refused(DomainError::WrongState { state, .. })
            | ExecError::Refused(DomainError::Stale(state)) => DeskError::WrongState(state),
            ExecError::Refused(e) => DeskError::Unavailable(e.to_string()),
            ExecError::Busy => DeskError::Unavailable(ExecError::Busy.to_string()),
            ExecError::Store(e) => e.into(),
        }
    }
}

/// The opt-out desk: its ports, signing keys and settings.
#[derive(Clone)]
pub struct Desk {
    pub ports: Ports,
    pub keys: KeyRing,
    pub settings: Arc<Settings>,
}

impl Desk {
    pub fn new(ports: Ports, keys: KeyRing, settings: Settings) -> Self {
        Desk {
            ports,
            keys,
            settings: Arc::new(settings),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.ports.clock.now()
    }

    /// The executor of case transitions on this desk's store, clock and rules.
    pub fn cases(&self) -> Executor<'_> {
        Executor {
            store: self.ports.cases.as_ref(),
            clock: self.ports.clock.as_ref(),
            policy: self.settings.policy(),
        }
    }

    /// The status token and link of a case, and when it expires.
    pub fn status_link(&self, case: &Case) -> (String, String, DateTime<Utc>) {
        let expires = case.created_at + self.settings.status_link_ttl;
        let token = self.keys.sign(scope::STATUS, &case.id.to_string(), expires);
        let url = format!("{}/status/{}", self.settings.public_url, token);
        (token, url, expires)
    }

    pub fn status_url(&self, case: &Case) -> String {
        self.status_link(case).1
    }

    /// The complaint form of a case (from its status link).
    pub fn complaint_url(&self, case: &Case) -> String {
        format!("{}/complaint", self.status_url(case))
    }

    /// The link that lets the requester upload a better photo for the same case.
    pub fn better_photo_url(&self, case: &Case) -> String {
        format!("{}/photo", self.status_url(case))
    }
}

/// Runs CPU-bound work off the async executor when there is one.
pub(crate) async fn tokio_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
