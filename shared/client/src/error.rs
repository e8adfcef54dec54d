//! The errors of the client and of the mirror.

use std::path::PathBuf;
use std::time::Duration;

use optout_matcher::CandidateError;
use thiserror::Error;

/// Why a call to the indexer API failed. No variant ever carries the API key, and none carries
/// the presigned URL of a snapshot redirect (it is a bearer credential too).
#[derive(Debug, Error)]
pub enum ClientError {
    /// The client was given something it cannot work with (base URL, API key).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// 401/403: the key is unknown, malformed or revoked.
    #[error("the API refused the key (unauthorized): {message}")]
    Unauthorized { message: String },
    /// 429, still after the retries the [`RetryPolicy`](crate::RetryPolicy) allows.
    #[error("rate limited by the API{}", after(*retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 400/409/413/422: the request was refused. `index` names the offending candidate in the
    /// slice given to [`Client::check`](crate::Client::check) (already offset for split batches).
    #[error("the API refused the request ({code}{}): {message}", index.map(|i| format!(", candidate {i}")).unwrap_or_default())]
    BadRequest {
        code: String,
        message: String,
        index: Option<usize>,
    },
    /// 503, still after the retries the [`RetryPolicy`](crate::RetryPolicy) allows.
    #[error("the API is unavailable{}", after(*retry_after))]
    Unavailable { retry_after: Option<Duration> },
    /// Any other unexpected HTTP status.
    #[error("unexpected HTTP status {status}: {message}")]
    Http { status: u16, message: String },
    /// The request did not complete (connection refused, TLS, timeout, body cut short).
    #[error("request failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// A successful response whose body is not what the wire format says.
    #[error("cannot decode the API response: {0}")]
    Decode(String),
}

fn after(d: Option<Duration>) -> String {
    d.map(|d| format!(" (retry after {} s)", d.as_secs_f64().ceil()))
        .unwrap_or_default()
}

impl ClientError {
    /// Whether trying again later may succeed (rate limits, unavailability, network trouble),
    /// as opposed to errors that need someone to change something (key, request, client).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::RateLimited { .. }
            | ClientError::Unavailable { .. }
            | ClientError::Transport(_) => true,
            ClientError::Http { status, .. } => *status >= 500,
            ClientError::Config(_)
            | ClientError::Unauthorized { .. }
            | ClientError::BadRequest { .. }
            | ClientError::Decode(_) => false,
        }
    }
}

/// Why a [`Mirror`](crate::Mirror) operation failed.
#[derive(Debug, Error)]
pub enum MirrorError {
    /// The directory holds no mirror state yet.
    #[error("{} holds no synced mirror: run `optout sync --into {}` first", dir.display(), dir.display())]
    NotSynced { dir: PathBuf },
    /// Reading or writing the state file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The state file exists but is not a valid mirror state.
    #[error("mirror state {} is corrupt ({reason}); delete it and sync again", path.display())]
    Corrupt { path: PathBuf, reason: String },
    /// The server sent an entry whose value does not fit its kind. Nothing of that page is
    /// applied: a mirror that silently skipped entries would let excluded images through.
    #[error("the server sent an invalid entry {id} at position {position}: {reason}")]
    InvalidEntry {
        id: u64,
        position: u64,
        reason: String,
    },
    /// The change feed broke its contract (e.g. a page that does not advance).
    #[error("the change feed broke its contract: {0}")]
    Protocol(String),
    /// The server's feed ends before the mirror's position: the mirror was made from other
    /// exclusion data (another deployment, or data restored from an older backup).
    #[error("the server's change feed ends at position {head} but the mirror is at {local}: the mirror does not belong to this server's data; delete {} and sync again", dir.display())]
    Diverged { dir: PathBuf, local: u64, head: u64 },
    /// A candidate given to [`Mirror::check`](crate::Mirror::check) is malformed.
    #[error("candidate {index}: {source}")]
    InvalidCandidate {
        index: usize,
        #[source]
        source: CandidateError,
    },
    /// The API call behind a sync failed.
    #[error(transparent)]
    Client(#[from] ClientError),
}
