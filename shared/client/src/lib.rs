//! optout-client: the search engine's side of the indexer API.
//!
//! - [`Client`]: batch checks (`POST /v1/exclusions/check`, split into requests of at most
//!   [`MAX_BATCH`] candidates), the change feed (`GET /v1/exclusions/changes`) and the snapshot
//!   (`GET /v1/exclusions/snapshot`, following a 303 to a presigned URL without the key), with
//!   typed errors ([`ClientError`]) and bounded retries of 429/503 honouring `Retry-After`
//!   ([`RetryPolicy`]).
//! - [`Mirror`]: a local copy of the exclusion data in a directory, brought up to date with
//!   [`Mirror::sync`] and checked offline with [`Mirror::check`] (same answers as the API for
//!   the same thresholds and position).
//!
//! The JSON types are those of [`optout_matcher::wire`], shared with the server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use optout_client::{ApiKey, Client, Mirror};
//! use optout_matcher::Candidate;
//!
//! let key: ApiKey = std::env::var("OPTOUT_API_KEY")?.parse()?;
//! let client = Client::new("https://optout.example.org", key)?;
//! let answer = client
//!     .check(&[Candidate::Url("https://example.com/a.jpg".into())])
//!     .await?;
//! println!("excluded: {} (as of position {})", answer.results[0].excluded, answer.position);
//!
//! let mut mirror = Mirror::open("/var/lib/indexer/exclusions")?;
//! let report = mirror.sync(&client).await?;
//! println!("{} active entries at position {}", report.active, report.position);
//! # Ok(()) }
//! ```

mod client;
mod error;
mod mirror;
mod retry;
mod state;

pub use client::{ApiKey, Client, ExclusionFeed, merge_checks};
pub use error::{ClientError, MirrorError};
pub use mirror::{Mirror, STATE_FILE, SyncReport, kind_name};
pub use optout_matcher::wire::{
    ChangesResponse, CheckRequest, CheckResponse, CheckResult, MAX_BATCH, Snapshot, WireEntry,
    WireState, WireValue,
};
pub use retry::{RetryPolicy, parse_retry_after};
