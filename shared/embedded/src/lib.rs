//! optout-embedded: everything the system needs on one machine, under one data directory.
//!
//! - [`db`]: the SQLite database (cases, personal data, audit trail, idempotency keys, jobs, uploads);
//! - [`store`]: the [`CaseStore`](optout_core::ports::CaseStore) on it;
//! - [`queue`]: the durable job queue and the worker that drains it;
//! - [`photos`]: photos as files, and the signed upload forms the app itself receives;
//! - [`outbox`]: emails as RFC 5322 `.eml` files; [`mail_ledger`]: what was sent (each email once);
//! - [`exclusions`]: the exclusion table; [`indexer_keys`]: the indexer's API keys;
//! - [`sessions`]: reviewers' sign-outs (sessions revoked server-side).

pub mod biometrics;
pub mod db;
pub mod exclusions;
pub mod indexer_keys;
pub mod mail_ledger;
pub mod outbox;
pub mod photos;
pub mod queue;
pub mod sessions;
pub mod store;

pub use biometrics::SqliteBiometrics;
pub use db::Db;
pub use exclusions::SqliteExclusions;
pub use indexer_keys::SqliteIndexerKeys;
pub use mail_ledger::SqliteMailLedger;
pub use outbox::OutboxMailer;
pub use photos::FilePhotoStore;
pub use queue::{SqliteQueue, Worker, WorkerConfig};
pub use sessions::SqliteReviewerSessions;
pub use store::SqliteCaseStore;
