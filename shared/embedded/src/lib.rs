//! optout-embedded: everything the system needs on one machine, under one data directory.
//!
//! - [`db`]: the SQLite database (cases, personal data, audit trail, idempotency keys, jobs, uploads);
//! - [`store`]: the [`CaseStore`](optout_core::ports::CaseStore) on it;
//! - [`queue`]: the durable job queue and the worker that drains it;
//! - [`photos`]: photos as files, and the signed upload forms the app itself receives;
//! - [`outbox`]: emails as RFC 5322 `.eml` files;
//! - [`exclusions`]: the exclusion table; [`indexer_keys`]: the indexer's API keys.

pub mod biometrics;
pub mod db;
pub mod exclusions;
pub mod indexer_keys;
pub mod outbox;
pub mod photos;
pub mod queue;
pub mod store;

pub use biometrics::SqliteBiometrics;
pub use db::Db;
pub use exclusions::SqliteExclusions;
pub use indexer_keys::SqliteIndexerKeys;
pub use outbox::OutboxMailer;
pub use photos::FilePhotoStore;
pub use queue::{SqliteQueue, Worker, WorkerConfig};
pub use store::SqliteCaseStore;
