//! optout-core: the domain of the opt-out desk and the rules that hold in every runtime.
//!
//! The domain:
//! - [`model`]: parsed, always-valid field types (email, phone, country, ...) and the case model;
//! - [`case`]: the case as an aggregate: [`Case::apply`](model::Case) is the only way a case
//!   changes (state diagram, version, audit, outbox), and its [`case::Executor`] the only writer;
//! - [`photo`]: verification of an uploaded photo (sniffed type, size, pixels, every pixel decoded under limits);
//! - [`pixels`] and [`decode_gate`]: decoding photos reduced (never more pixels than needed), and
//!   the limit on decodes at once;
//! - [`verdict`]: whether a photo can be used for a face opt-out, and if not, why;
//! - [`signing`]: HMAC-signed, expiring tokens (status links, upload policies) with key rotation;
//! - [`lang`], [`i18n`] and [`mail`]: the languages, the texts of the product in English and
//!   Thai, and the emails built from them.
//!
//! The ports: [`ports`], one small trait per capability (case store, photo store, job queue,
//! mailer, clock, ...); [`testing`] (feature `testing`) has an in-memory fake of each.
//!
//! The use cases, by who acts, over the [`desk::Desk`] (the ports and settings they share):
//! [`requester`] (submit, status, withdraw, better photo, complaint), [`reviewer`] (queue, case,
//! decision), [`worker`] (the embedding job), [`housekeeper`] (relay, retention sweep) and the
//! indexer's [`exclusions`] (batch checks, change feed, snapshot; keys in [`indexer_keys`]).
//! [`outbox`] does what a transition scheduled; [`send_once`] sends each email once.

pub mod case;
pub mod config;
pub mod countries;
pub mod decode_gate;
pub mod desk;
pub mod error;
pub mod exclusions;
pub mod housekeeper;
pub mod i18n;
pub mod indexer_keys;
pub mod lang;
pub mod mail;
pub mod model;
pub mod outbox;
pub mod photo;
pub mod pixels;
pub mod ports;
pub mod requester;
pub mod reviewer;
pub mod send_once;
pub mod settings;
pub mod signing;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod upload_check;
pub mod upload_policy;
pub mod verdict;
pub mod worker;

pub use case::{DecisionInput, DomainError};
pub use desk::{Desk, DeskError, Ports};
pub use error::{FieldError, FieldErrors};
pub use lang::Lang;
pub use requester::{StatusView, SubmissionInput, Submitted};
pub use reviewer::ReviewError;
pub use verdict::Verdict;
pub use worker::EmbedJobs;
